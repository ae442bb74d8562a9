"""DeepDream (Mordvintsev et al. 2015): gradient ascent on the pixels of an image so that a fixed
network responds more strongly, with the tricks that make the result look like a picture.

The network is a huashi ``classifier`` or ``clip`` run, or torchvision's Inception-v3 from a
local weights file (``inception:PATH``). The objective is one of:

- a layer's activation strength: mean of the squared outputs of a module picked by name
  (``--layer encoder.body.2``; ``list_layers`` names them), or the mean of one channel;
- a class logit (classifier or Inception): "what does the network see as a 3?";
- a CLIP image-text similarity (clip run + prompt): the cosine of the image and text embeddings.

Each step rolls the image by a random offset (jitter), takes the gradient of objective minus the
optional regularizers (total variation; a range penalty on pixels outside [-1, 1]), divides it
by its mean absolute value (gradient normalization) and steps ``lr`` along it. Octaves repeat
this from a small copy of the image up to the full size; at each octave the detail added so far
(the image minus its plain resized start) is enlarged and carried up. Every random number comes
from a generator seeded by ``seed``, so the same seed makes the same pixels.

Transformation robustness (as in Olah et al. 2017, "Feature Visualization"): with ``scale`` or
``rotate``, the network sees randomly zoomed, rotated and sub-pixel shifted views instead of
rolls, and with ``copies`` the gradient is averaged over several such views per step. Only
what survives small transformations is kept, so a class dream shows more of the class and less
of one network's pixel-level quirks (it convinces other classifiers more often).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from huashi.core.errors import HuashiError
from huashi.core.validation import (
    MAX_OPTIMIZATION_STEPS,
    MAX_RESOLUTION,
    check_count,
    check_number,
    check_output_file,
    check_seed,
)
from huashi.metrics.features import convert_channels
from huashi.tools.dream_net import (
    DreamNet,
    find_layer,
    layer_output,
    load_dream_net,
)

OBJECTIVES = ("layer", "class", "prompt")


# --- objectives and regularizers (pure functions) ---------------------------------------------


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels (across and down), per image [B]."""
    across = (images[..., :, 1:] - images[..., :, :-1]).pow(2).mean(dim=(1, 2, 3))
    down = (images[..., 1:, :] - images[..., :-1, :]).pow(2).mean(dim=(1, 2, 3))
    return across + down


def range_penalty(images: torch.Tensor) -> torch.Tensor:
    """Mean squared excess of pixels beyond [-1, 1], per image [B] (0 inside the range)."""
    return F.relu(images.abs() - 1.0).pow(2).mean(dim=(1, 2, 3))


def normalize_gradient(grad: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The gradient divided by its mean absolute value, per image (so steps have one size)."""
    return grad / (grad.abs().mean(dim=(1, 2, 3), keepdim=True) + eps)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Square bilinear resize (antialiased when shrinking), differentiable."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrink = size < images.shape[-1]
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=shrink)


def random_views(
    x: torch.Tensor,
    copies: int,
    jitter: int,
    scale: float,
    rotate: float,
    background: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """``copies`` random views of the single image ``x`` [1, C, H, W]. Without ``scale`` and
    ``rotate``: rolls by up to ``jitter`` pixels. With them: a zoom by a factor in
    [1 / (1 + scale), 1 + scale] (log-uniform), a rotation by up to ``rotate`` degrees and a
    shift by up to ``jitter`` pixels (sub-pixel), sampled bilinearly; what comes in from
    outside the image is ``background``."""
    if not scale and not rotate:
        views = []
        for _ in range(copies):
            dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()
            views.append(torch.roll(x, shifts=(dy, dx), dims=(2, 3)))
        return torch.cat(views)

    def uniform(*shape: int) -> torch.Tensor:  # in [-1, 1]
        return torch.rand(*shape, generator=generator) * 2 - 1

    zoom = torch.exp(uniform(copies) * math.log1p(scale))
    angle = uniform(copies) * math.radians(rotate)
    shift = uniform(copies, 2) * 2 * jitter / x.shape[-1]  # in grid units (the image spans 2)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(x)
    views = x.expand(copies, -1, -1, -1)
    grid = F.affine_grid(theta, list(views.shape), align_corners=False)
    sampled = F.grid_sample(views - background, grid, padding_mode="zeros", align_corners=False)
    return sampled + background


def octave_sizes(size: int, octaves: int, scale: float, min_size: int) -> list[int]:
    """Image sizes from the smallest octave to ``size`` (each ``scale`` times the one before,
    never below ``min_size``)."""
    if octaves < 1 or scale < 1.0:
        raise HuashiError("--octaves must be at least 1 and --octave-scale at least 1.0.")
    return [max(min_size, round(size / scale**k)) for k in range(octaves - 1, -1, -1)]


@dataclass
class DreamSettings:
    """Everything that decides a dream's pixels (saved in the PNG so ``regenerate`` remakes it)."""

    objective: str = "layer"  # "layer" | "class" | "prompt"
    layer: str = ""
    channel: int | None = None
    class_index: int | None = None
    prompt: str | None = None
    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 20
    lr: float = 0.05
    jitter: int = 2  # pixels at the full size (scaled down at smaller octaves)
    copies: int = 1  # random views per step (their gradients are averaged)
    scale: float = 0.0  # random zoom of the views, up to 1 + scale either way
    rotate: float = 0.0  # random rotation of the views, up to this many degrees either way
    background: float = 0.0  # mean of the noise start; fills what the views bring in
    tv: float = 0.0
    decay: float = 0.0  # L2 pull of the pixels toward mid-gray
    range_weight: float = 0.0
    size: int | None = None  # output size (default: the network's resolution)
    noise: float = 0.2  # standard deviation of the noise start
    seed: int = 0

    def check(self, net: DreamNet) -> None:
        """Every setting, the objective against ``net`` included."""
        self.check_values()
        self.check_objective(net)

    def check_values(self) -> None:
        """The settings that need no network (ranges, counts, the seed): checkable before a
        network loads."""
        for name in ("octave_scale", "lr", "scale", "rotate", "background", "tv", "decay",
                     "range_weight", "noise"):  # fmt: skip
            flag = "--range" if name == "range_weight" else "--" + name.replace("_", "-")
            check_number(flag, getattr(self, name))
        check_number("--octaves", self.octaves, 1, 64, whole=True)
        check_number("--copies", self.copies, 1, whole=True)
        check_number("--steps", self.steps, 1, whole=True)
        if self.size is not None:
            check_number("--size", self.size, 1, MAX_RESOLUTION, whole=True)
        check_count(
            "--steps x --octaves x --copies", self.steps * self.octaves * self.copies,
            MAX_OPTIMIZATION_STEPS, "lower --steps, --octaves or --copies",
        )  # fmt: skip
        check_seed(self.seed)
        if self.objective not in OBJECTIVES:
            raise HuashiError(f"unknown objective '{self.objective}': use {', '.join(OBJECTIVES)}.")
        if self.steps < 1 or self.lr <= 0 or self.jitter < 0:
            raise HuashiError("--steps must be at least 1, --lr positive and --jitter >= 0.")
        if self.copies < 1 or self.scale < 0 or self.rotate < 0:
            raise HuashiError("--copies must be at least 1, --scale and --rotate >= 0.")
        if self.tv < 0 or self.decay < 0 or self.range_weight < 0:
            raise HuashiError("--tv, --decay and --range must not be negative.")

    def check_objective(self, net: DreamNet) -> None:
        """The layer, class or prompt against what ``net`` offers."""
        if self.objective == "layer":
            find_layer(net, self.layer)
        elif self.objective == "class":
            if net.kind == "clip":
                raise HuashiError(
                    "a clip run has no class logits: give --prompt TEXT, or dream with a "
                    "classifier run."
                )
            k = len(net.class_names)
            if self.class_index is None or not 0 <= self.class_index < k:
                names = ", ".join(f"{i}={c}" for i, c in enumerate(net.class_names[:20]))
                raise HuashiError(
                    f"--class must be one of the network's {k} classes (0..{k - 1}: {names})."
                )
        elif net.embed_text is None:
            raise HuashiError("--prompt needs a clip run (image-text similarity).")
        elif not self.prompt:
            raise HuashiError("--prompt needs some text.")


@dataclass
class DreamProgress:
    octave: int
    step: int
    size: int
    objective: float


@dataclass
class DreamResult:
    image: torch.Tensor  # [C, H, W] in [-1, 1]
    octaves: list[torch.Tensor]  # the image at the end of each octave, at that octave's size
    history: list[list[float]]  # the objective before each step, per octave
    settings: DreamSettings
    params: dict[str, Any]  # what the PNG carries
    files: list[Path] = field(default_factory=list)


def make_objective(
    net: DreamNet, settings: DreamSettings
) -> Callable[[torch.Tensor], torch.Tensor]:
    """images [B, C, H, W] in [-1, 1] -> objective per image [B], to be maximized."""
    if settings.objective == "layer":

        def layer(images: torch.Tensor) -> torch.Tensor:
            out = layer_output(net, settings.layer, images).float()
            if settings.channel is not None:
                if not 0 <= settings.channel < out.shape[1]:
                    raise HuashiError(
                        f"layer '{settings.layer}' has {out.shape[1]} channels: --channel must "
                        f"be 0..{out.shape[1] - 1}."
                    )
                return out[:, settings.channel].flatten(1).mean(1)
            return out.pow(2).flatten(1).mean(1)

        return layer
    if settings.objective == "class":

        def logit(images: torch.Tensor) -> torch.Tensor:
            return net.forward(resize(images, net.resolution)).float()[:, settings.class_index]

        return logit
    with torch.no_grad():
        text = net.embed_text([settings.prompt]).float()  # type: ignore[misc]

    def similarity(images: torch.Tensor) -> torch.Tensor:
        return (net.forward(resize(images, net.resolution)).float() * text).sum(1)

    return similarity


def ascend(
    x: torch.Tensor,
    objective: Callable[[torch.Tensor], torch.Tensor],
    settings: DreamSettings,
    steps: int,
    jitter: int,
    generator: torch.Generator,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """``steps`` steps of normalized gradient ascent on random views of ``x``; returns the image
    and the objective measured before each step (the mean over the views)."""
    history = []
    s = settings
    for step in range(steps):
        x = x.detach().requires_grad_(True)
        views = random_views(x, s.copies, jitter, s.scale, s.rotate, s.background, generator)
        value = objective(views)
        total = value.mean()
        if settings.tv:
            total = total - settings.tv * total_variation(x).sum()
        if settings.decay:
            total = total - settings.decay * x.pow(2).mean(dim=(1, 2, 3)).sum()
        if settings.range_weight:
            total = total - settings.range_weight * range_penalty(x).sum()
        (grad,) = torch.autograd.grad(total, x)
        with torch.no_grad():
            x = x + settings.lr * normalize_gradient(grad)
            if not settings.range_weight:
                x = x.clamp(-1, 1)
        history.append(float(value.detach().mean()))
        if on_step is not None:
            on_step(step, history[-1])
    return x.detach(), history


def dream(
    net: DreamNet | str | Path,
    start: torch.Tensor | str | Path | None = None,
    settings: DreamSettings | None = None,
    out: str | Path | None = None,
    progress: Callable[[DreamProgress], None] | None = None,
    device: str = "cpu",
    **options: Any,
) -> DreamResult:
    """Dream on ``start`` (an image file, an image tensor [C, H, W] in [-1, 1], or None / "noise"
    for seeded noise) with the network ``net`` (a DreamNet, a run folder or inception:PATH).

    ``options`` are :class:`DreamSettings` fields (when ``settings`` is not given). With
    ``out`` (a .png path) the image is written there with the parameters that remake it, and
    the octaves as a strip beside it (``<stem>-octaves.png``).
    """
    if settings is None:
        unknown = sorted(set(options) - {f for f in DreamSettings.__dataclass_fields__})
        if unknown:
            raise HuashiError(f"unknown dream option(s): {', '.join(unknown)}.")
        settings = DreamSettings(**options)
    if out is not None:
        if Path(out).suffix.lower() != ".png":
            raise HuashiError(f"--out must name a .png file, got {out}.")
        check_output_file(out)
    net = net if isinstance(net, DreamNet) else load_dream_net(net, device=device)
    settings.check(net)
    size = settings.size or net.resolution
    if size < net.min_size:
        raise HuashiError(f"--size must be at least {net.min_size} pixels for this network.")
    generator = torch.Generator().manual_seed(int(settings.seed))
    base, start_name = _start_image(start, net, size, settings, generator)
    objective = make_objective(net, settings)
    sizes = octave_sizes(size, settings.octaves, settings.octave_scale, net.min_size)
    detail = torch.zeros_like(resize(base, sizes[0]))
    octaves, history = [], []
    for k, octave_size in enumerate(sizes):
        octave_base = resize(base, octave_size)
        x = octave_base + resize(detail, octave_size)
        jitter = round(settings.jitter * octave_size / size)

        def on_step(step: int, value: float, k: int = k, octave_size: int = octave_size) -> None:
            if progress is not None:
                progress(DreamProgress(k, step, octave_size, value))

        x, values = ascend(x, objective, settings, settings.steps, jitter, generator, on_step)
        detail = x - octave_base
        octaves.append(x[0].clamp(-1, 1).cpu())
        history.append(values)
    params = {
        "run": net.spec,
        "checkpoint": net.checkpoint,
        "seed": settings.seed,
        "dream": asdict(settings) | {"start": start_name},
    }
    result = DreamResult(octaves[-1], octaves, history, settings, params)
    if out is not None:
        result.files = _save(result, Path(out))
    return result


def _start_image(
    start: torch.Tensor | str | Path | None,
    net: DreamNet,
    size: int,
    settings: DreamSettings,
    generator: torch.Generator,
) -> tuple[torch.Tensor, str]:
    """The full-size start [1, C, size, size] and how the PNG names it ("noise" or a path)."""
    if start is None or str(start) == "noise":
        noise = torch.randn(1, net.channels, size, size, generator=generator) * settings.noise
        return (noise + settings.background).to(net.device), "noise"
    if isinstance(start, torch.Tensor):
        image = start.float().reshape(-1, *start.shape[-2:])
        image = convert_channels(image[None], net.channels)
        return resize(image, size).to(net.device), "tensor"
    from huashi.tools.translate import load_image

    path = Path(start).expanduser()
    if not path.is_file():
        raise HuashiError(f"{path} does not exist: give an image file, or 'noise'.")
    image, _ = load_image(path, size, net.channels)
    return image[None].to(net.device), str(path.resolve())


def _save(result: DreamResult, out: Path) -> list[Path]:
    from huashi.core.images import make_grid, save_png, to_pil

    if out.suffix.lower() != ".png":
        raise HuashiError(f"--out must name a .png file, got {out}.")
    if result.params["dream"]["start"] == "tensor":
        result.params["dream"]["start"] = None  # cannot be remade from the PNG alone
    size = result.image.shape[-1]
    strip = torch.stack([resize(o[None], size)[0] for o in result.octaves]).clamp(-1, 1)
    strip_path = out.with_name(f"{out.stem}-octaves.png")
    return [
        save_png(to_pil(result.image), out, result.params),
        save_png(make_grid(strip, nrow=len(strip)), strip_path, {"octaves_of": out.name}),
    ]


def redream(params: dict[str, Any], device: str = "cpu") -> torch.Tensor:
    """The image a dream PNG describes, made again from its parameters: [C, H, W] in [-1, 1].
    Used by ``huashi regenerate``."""
    values = dict(params["dream"])
    start = values.pop("start")
    if start is None:
        raise HuashiError("this dream started from an in-memory image: it cannot be remade.")
    spec = params["run"]
    checkpoint = None
    if not spec.startswith("inception:"):
        checkpoint = Path(spec) / "checkpoints" / params["checkpoint"]
    net = load_dream_net(spec, checkpoint, device)
    if spec.startswith("inception:") and net.checkpoint != params["checkpoint"]:
        raise HuashiError(f"the weights at {spec} changed since this dream was made.")
    return dream(net, start, DreamSettings(**values)).image
