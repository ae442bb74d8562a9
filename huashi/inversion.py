"""GAN inversion: find the latent whose image matches a given picture, by optimization.

The latent (z, w or w+ for a StyleGAN; z for any generator with a latent) starts at the average
w (StyleGAN's w spaces) or at the best of a few seeds (z), and Adam minimizes

    mean squared pixel error + feature_weight * feature distance

over the known pixels (``mask``: 1 where the picture is known; a hole is left for the generator
to fill: masked inversion restores damaged pictures). The feature distance compares a frozen
network's activations: by default the run's own discriminator (per-channel normalized maps of
every block), or an in-domain huashi ``clip:RUN`` / ``classifier:RUN`` (cosine distance of their
features), or none. Nothing is downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from huashi.errors import HuashiError
from huashi.families.base import noise_for_seeds
from huashi.images import make_grid, save_png, to_pil
from huashi.latents import Latent, check_space, render, save_latent, spaces_of

#: How many seeds are tried to start a z-space inversion.
Z_CANDIDATES = 16
#: ... with these seeds (far from the small seeds people sample with).
Z_SEED = 1_000_000
#: Step size of w+'s per-layer offsets, relative to the shared w's.
W_PLUS_OFFSET_LR = 0.3


@dataclass
class Inversion:
    latent: torch.Tensor  # [1, *shape] in ``space``
    space: str
    image: torch.Tensor  # [C, H, W] reconstruction in [-1, 1]
    target: torch.Tensor  # [C, H, W]
    psnr: float  # over the known pixels
    snapshots: torch.Tensor  # [K, C, H, W] images during the optimization
    losses: list[float] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Peak signal-to-noise ratio in dB of images in [-1, 1] (peak-to-peak 2), over ``mask``."""
    error = (a.float() - b.float()).square()
    if mask is not None:
        mask = mask.expand_as(error)
        mse = float((error * mask).sum() / mask.sum().clamp_min(1))
    else:
        mse = float(error.mean())
    return 10 * math.log10(4.0 / max(mse, 1e-12))


def _channel_normalize(f: torch.Tensor) -> torch.Tensor:
    return f * torch.rsqrt(f.square().mean(dim=(2, 3), keepdim=True) + 1e-8)


def feature_distance(
    family: Any, spec: str
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """A differentiable distance between two image batches from the ``--features`` choice:
    "auto" (the run's D when it exposes features, else none), "d", "none", or an in-domain
    ``clip:RUN`` / ``classifier:RUN``."""
    if spec == "none":
        return None
    if spec in ("auto", "d"):
        d = family.modules.get("discriminator")
        if d is None or not hasattr(d, "features"):
            if spec == "auto":
                return None
            raise HuashiError(
                f"a {family.name} run's discriminator gives no features: pass --features none, "
                "clip:RUN or classifier:RUN."
            )

        def d_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            fa, fb = d.features(a), d.features(b)
            return sum(
                (_channel_normalize(x) - _channel_normalize(y)).square().mean()
                for x, y in zip(fa, fb, strict=True)
            ) / len(fa)

        return d_distance
    from huashi.features import load_features

    net = load_features(spec, family.device)

    def net_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa = net.extract(net.prepare(a))[0].flatten(1)
        fb = net.extract(net.prepare(b))[0].flatten(1)
        return (1 - F.cosine_similarity(fa, fb, dim=1)).mean()

    return net_distance


def _start(family: Any, space: str, target: torch.Tensor, mask: torch.Tensor, options: dict):
    """The starting latent: the average w for w / w+, the best of a few seeds for z."""
    if space in ("w", "w+"):
        w = family.w_avg.to(family.device).unsqueeze(0)
        return w if space == "w" else family.broadcast(w)
    candidates = noise_for_seeds(
        range(Z_SEED, Z_SEED + Z_CANDIDATES), family.latent_shape, family.device
    )
    with torch.no_grad():
        images = render(family, candidates, "z", **options)
        errors = ((images - target) * mask).square().flatten(1).mean(dim=1)
    return candidates[int(errors.argmin()) : int(errors.argmin()) + 1]


def invert(
    family: Any,
    target: torch.Tensor,
    space: str = "w+",
    steps: int = 300,
    lr: float = 0.05,
    mask: torch.Tensor | None = None,
    features: str = "auto",
    feature_weight: float = 0.1,
    snapshots: int = 8,
    **options: Any,
) -> Inversion:
    """Invert one image ``target`` [C, H, W] in [-1, 1]. ``mask`` [1, H, W] (1 = known) limits
    every loss to the known pixels. ``options`` are sampling options (label, prompt)."""
    check_space(family, space)
    if steps < 1:
        raise HuashiError("--steps must be at least 1.")
    target = target.to(family.device).unsqueeze(0).float()
    mask = (
        torch.ones_like(target[:, :1])
        if mask is None
        else mask.to(family.device).view(1, 1, *target.shape[2:])
    ).float()
    distance = feature_distance(family, features)
    frozen = [p for m in family.modules.values() for p in m.parameters() if p.requires_grad]
    for p in frozen:  # only the latent learns (and no weight gradients are computed)
        p.requires_grad_(False)
    try:
        return _optimize(
            family, target, space, steps, lr, mask, distance, feature_weight, snapshots, options
        )
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _optimize(family, target, space, steps, lr, mask, distance, feature_weight, snapshots, options):
    """Adam on the latent. In w+ the ws are a shared w plus per-layer offsets (offsets at
    ``W_PLUS_OFFSET_LR`` of the step size): the shared part converges as fast as a w inversion,
    the offsets add w+'s freedom on top."""
    start = _start(family, space, target, mask, options).detach()
    if space == "w+":
        shared = start[:, :1].clone().requires_grad_(True)
        offsets = torch.zeros_like(start).requires_grad_(True)
        groups = [
            {"params": [shared], "scale": 1.0},
            {"params": [offsets], "scale": W_PLUS_OFFSET_LR},
        ]

        def current() -> torch.Tensor:
            return shared + offsets
    else:
        latent = start.clone().requires_grad_(True)
        groups = [{"params": [latent], "scale": 1.0}]

        def current() -> torch.Tensor:
            return latent

    optimizer = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999))
    keep_at = {round(i * (steps - 1) / max(1, snapshots - 1)) for i in range(snapshots)}
    kept, losses = [], []
    for step in range(steps):
        for group in optimizer.param_groups:  # cosine ramp-down of the step size
            group["lr"] = group["scale"] * lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        image = render(family, current(), space, **options)
        loss = ((image - target) * mask).square().sum() / (mask.sum() * target.shape[1])
        if distance is not None and feature_weight > 0:
            loss = loss + feature_weight * distance(image * mask, target * mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step in keep_at:
            kept.append(image.detach()[0].cpu())
    with torch.no_grad():
        latent = current().detach()
        final = render(family, latent, space, **options)[0].cpu()
    target_cpu, mask_cpu = target[0].cpu(), mask[0].cpu()
    return Inversion(
        latent.cpu(), space, final, target_cpu, psnr(final, target_cpu, mask_cpu),
        torch.stack(kept), losses,
    )  # fmt: skip


def write_inversion(result: Inversion, out: str | Path, loaded: Any, options: dict) -> Inversion:
    """Write ``latent.safetensors``, ``reconstruction.png`` (its metadata remakes it with
    ``huashi regenerate``), ``target.png`` and ``progress.png`` (the target, then the
    optimization's snapshots) into the folder ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = str(Path(loaded.run_dir).resolve())
    latent_path = save_latent(
        out / "latent.safetensors",
        Latent(result.latent, result.space, run, loaded.checkpoint.name, dict(options),
               {"psnr": result.psnr, "steps": len(result.losses)}),
    )  # fmt: skip
    params = {
        "run": run, "checkpoint": loaded.checkpoint.name, "step": loaded.step,
        "family": loaded.config.family, "latent": str(latent_path.resolve()),
        "space": result.space, "options": dict(options),
    }  # fmt: skip
    result.files = {
        "latent": latent_path,
        "reconstruction": save_png(to_pil(result.image), out / "reconstruction.png", params),
        "target": save_png(to_pil(result.target), out / "target.png"),
        "progress": save_png(
            make_grid(
                torch.cat([result.target.unsqueeze(0), result.snapshots]),
                nrow=len(result.snapshots) + 1,
            ),
            out / "progress.png",
        ),
    }
    return result


__all__ = ["Inversion", "feature_distance", "invert", "invert_file", "psnr", "spaces_of"]


def read_mask(path: str | Path, resolution: int) -> torch.Tensor:
    """A mask image as [1, R, R] in {0, 1}: 1 where the image is white-ish (>= 50% gray)."""
    from huashi.interpolate import read_image

    gray, _ = read_image(path, 1, resolution)
    return (gray >= 0).float()


def invert_file(
    run: str | Path,
    image: str | Path,
    out: str | Path,
    space: str = "w+",
    steps: int = 300,
    mask: str | Path | None = None,
    features: str = "auto",
    feature_weight: float = 0.1,
    lr: float = 0.05,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    **options: Any,
) -> tuple[Inversion, list[str]]:
    """Invert an image file with a run and write the results into the folder ``out``.
    ``mask`` is an image whose white pixels mark the hole (unknown, to be filled). Returns the
    result and notes on how the inputs were converted."""
    from huashi.interpolate import read_image
    from huashi.runs import load_run

    loaded = load_run(run, checkpoint, device)
    info = loaded.config.data_info
    target, notes = read_image(image, int(info["channels"]), int(info["resolution"]))
    known = None if mask is None else 1 - read_mask(mask, int(info["resolution"]))
    result = invert(
        loaded.family, target, space, steps, lr, known, features, feature_weight, **options
    )
    return write_inversion(result, out, loaded, options), notes
