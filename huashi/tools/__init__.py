"""One module per painting action beyond sampling: DeepDream (:mod:`~huashi.tools.dream`),
distilling a diffusion model into a one-step student (:mod:`~huashi.tools.distill`),
image-to-image translation (:mod:`~huashi.tools.translate`), super-resolution
(:mod:`~huashi.tools.upscale`), latent walks (:mod:`~huashi.tools.interpolate`) and ONNX export
(:mod:`~huashi.tools.export`).

Each takes a loaded run (or a run folder) and plain values and returns a result object; none
parses arguments or prints. Tools may import every layer below them (core up to metrics and the
GAN latent tools), never :mod:`huashi.api`, the CLI or the studio.
"""
