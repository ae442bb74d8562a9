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

from huashi.core.errors import HuashiError
from huashi.core.images import make_grid, save_png, to_pil
from huashi.core.validation import (
    MAX_OPTIMIZATION_STEPS,
    check_count,
    check_number,
    check_output_dir,
)
from huashi.families.base import noise_for_seeds
from huashi.gan.latents import Latent, check_space, render, save_latent, spaces_of

#: How many seeds are tried to start a z-space inversion.
Z_CANDIDATES = 16
#: ... with these seeds (far from the small seeds people sample with).
Z_SEED = 1_000_000
#: Step size of w+'s per-layer offsets, relative to the shared w's.
W_PLUS_OFFSET_LR = 0.3
#: Step size of the noise maps (with --optimize-noise), relative to the latent's.
NOISE_LR = 1.0
#: Weight of the noise regularization (with --optimize-noise).
NOISE_WEIGHT = 0.1


@dataclass
class Inversion:
    latent: torch.Tensor  # [1, *shape] in ``space``
    space: str
    image: torch.Tensor  # [C, H, W] reconstruction in [-1, 1]
    target: torch.Tensor  # [C, H, W]
    psnr: float  # over the known pixels
    snapshots: torch.Tensor  # [K, C, H, W] images during the optimization
    losses: list[float] = field(default_factory=list)
    noise: list[torch.Tensor] | None = None  # optimized noise maps [1, 1, r, r] (or None)
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
    """A differentiable distance per image [B] between two image batches from the ``--features``
    choice:
    "auto" (the run's D when it exposes features, else none), "d", "none", or an in-domain
    ``clip:RUN`` / ``classifier:RUN``."""
    if spec == "none":
        return None
    if spec in ("auto", "d"):
        d_features = family.discriminator_features()
        if d_features is None:
            if spec == "auto":
                return None
            raise HuashiError(
                f"a {family.name} run's discriminator gives no features: pass --features none, "
                "clip:RUN or classifier:RUN."
            )

        def d_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            fa, fb = d_features(a), d_features(b)
            return sum(
                (_channel_normalize(x) - _channel_normalize(y)).square().mean(dim=(1, 2, 3))
                for x, y in zip(fa, fb, strict=True)
            ) / len(fa)

        return d_distance
    from huashi.metrics.features import load_features

    net = load_features(spec, family.device)

    def net_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa = net.extract(net.prepare(a))[0].flatten(1)
        fb = net.extract(net.prepare(b))[0].flatten(1)
        return 1 - F.cosine_similarity(fa, fb, dim=1)

    return net_distance


def noise_regularization(noise: list[torch.Tensor]) -> torch.Tensor:
    """Per image [B]: how far the noise maps are from white noise, as the sum of squared
    one-pixel autocorrelations (horizontal and vertical, wrapping around) of every map and of its
    coarser versions (2x2 average pools, rescaled by 2 to keep unit variance) down to 4x4. Maps
    of independent unit Gaussian noise score near 0; a map that copies image structure does not.
    """
    total = torch.zeros(len(noise[0]), device=noise[0].device)
    for n in noise:
        n = n.float()
        while True:
            for dim in (2, 3):
                total = total + (n * torch.roll(n, 1, dims=dim)).mean(dim=(1, 2, 3)).square()
            if n.shape[-1] <= 4:
                break
            n = F.avg_pool2d(n, 2) * 2
    return total


def _normalize_noise(noise: list[torch.Tensor]) -> None:
    """Each map back to mean 0 and variance 1 (per image), in place."""
    with torch.no_grad():
        for n in noise:
            n.sub_(n.mean(dim=(1, 2, 3), keepdim=True))
            n.mul_(torch.rsqrt(n.square().mean(dim=(1, 2, 3), keepdim=True) + 1e-8))


def _start(family: Any, space: str, target: torch.Tensor, mask: torch.Tensor, options: dict):
    """The starting latents [B, ...]: the average w for w / w+, for z the best of a few seeds for
    each image."""
    if space in ("w", "w+"):
        w = family.w_avg.to(family.device).unsqueeze(0).repeat(len(target), 1)
        return w if space == "w" else family.broadcast(w)
    candidates = noise_for_seeds(
        range(Z_SEED, Z_SEED + Z_CANDIDATES), family.latent_shape, family.device
    )
    with torch.no_grad():
        images = render(family, candidates, "z", **options)
        errors = ((images.unsqueeze(0) - target.unsqueeze(1)) * mask.unsqueeze(1)).square()
        best = errors.flatten(2).mean(dim=2).argmin(dim=1)  # [B]
    return candidates[best]


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
    optimize_noise: bool = False,
    noise_weight: float = NOISE_WEIGHT,
    *,
    on_step: Callable[[int, int, str], None] | None = None,
    **options: Any,
) -> Inversion:
    """Invert one image ``target`` [C, H, W] in [-1, 1]. ``mask`` [1, H, W] (1 = known) limits
    every loss to the known pixels. ``optimize_noise`` also fits the generator's per-layer noise
    maps (kept near white noise by ``noise_weight`` times :func:`noise_regularization`).
    ``options`` are sampling options (label, prompt)."""
    masks = None if mask is None else mask.unsqueeze(0)
    return invert_many(
        family, target.unsqueeze(0), space, steps, lr, masks, features, feature_weight,
        snapshots, optimize_noise, noise_weight, on_step=on_step, **options,
    )[0]  # fmt: skip


def invert_many(
    family: Any,
    targets: torch.Tensor,
    space: str = "w+",
    steps: int = 300,
    lr: float = 0.05,
    masks: torch.Tensor | None = None,
    features: str = "auto",
    feature_weight: float = 0.1,
    snapshots: int = 8,
    optimize_noise: bool = False,
    noise_weight: float = NOISE_WEIGHT,
    *,
    on_step: Callable[[int, int, str], None] | None = None,
    **options: Any,
) -> list[Inversion]:
    """Invert a batch ``targets`` [B, C, H, W] at once (``masks`` [B, 1, H, W]). Every image's
    loss and latent are its own, so each result is what :func:`invert` finds for it alone (up
    to rounding); a batch only runs faster. ``on_step(done, steps, message)`` reports progress."""
    check_space(family, space)
    check_count("--steps", steps, MAX_OPTIMIZATION_STEPS, "lower --steps")
    check_number("--lr", lr, 0, low_included=False)
    check_number("--feature-weight", feature_weight, 0)
    check_number("--noise-weight", noise_weight, 0)
    if optimize_noise and not family.noise_inputs:
        raise HuashiError(
            f"--optimize-noise needs a generator with noise inputs (stylegan); a {family.name} "
            "model has none."
        )
    targets = targets.detach().to(family.device).float()
    masks = (
        torch.ones_like(targets[:, :1])
        if masks is None
        else masks.to(family.device).float().view(len(targets), 1, *targets.shape[2:])
    )
    distance = feature_distance(family, features)
    frozen = [p for m in family.modules.values() for p in m.parameters() if p.requires_grad]
    for p in frozen:  # only the latent learns (and no weight gradients are computed)
        p.requires_grad_(False)
    try:
        return _optimize(
            family, targets, space, steps, lr, masks, distance, feature_weight, snapshots,
            noise_weight if optimize_noise else None, options, on_step,
        )  # fmt: skip
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _optimize(
    family, target, space, steps, lr, mask, distance, feature_weight, snapshots, noise_weight,
    options, on_step=None,
):  # fmt: skip
    """Adam on the latents. In w+ the ws are a shared w plus per-layer offsets (offsets at
    ``W_PLUS_OFFSET_LR`` of the step size): the shared part converges as fast as a w inversion,
    the offsets add w+'s freedom on top. With noise, the maps start at the model's constant noise
    (so step 0 paints what a plain inversion paints) and are renormalized after every step."""
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

    noise = None
    if noise_weight is not None:
        noise = [
            n.to(family.device).repeat(len(target), 1, 1, 1).requires_grad_(True)
            for n in family.const_noise()
        ]
        groups.append({"params": noise, "scale": NOISE_LR})
    optimizer = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999))
    keep_at = {round(i * (steps - 1) / max(1, snapshots - 1)) for i in range(snapshots)}
    kept, losses = [], []
    pixels = mask.sum(dim=(1, 2, 3)) * target.shape[1]  # [B] known values per image
    for step in range(steps):
        if on_step is not None and step:
            on_step(step, steps, "inverting")
        for group in optimizer.param_groups:  # cosine ramp-down of the step size
            group["lr"] = group["scale"] * lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        image = render(family, current(), space, noise=noise, **options)
        per_image = ((image - target) * mask).square().sum(dim=(1, 2, 3)) / pixels
        if distance is not None and feature_weight > 0:
            per_image = per_image + feature_weight * distance(image * mask, target * mask)
        if noise is not None and noise_weight > 0:
            per_image = per_image + noise_weight * noise_regularization(noise)
        loss = per_image.sum()  # a sum: each image's gradient is what it would be alone
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if noise is not None:
            _normalize_noise(noise)
        losses.append(per_image.detach().cpu())
        if step in keep_at:
            kept.append(image.detach().cpu())
    with torch.no_grad():
        latent = current().detach()
        final = render(family, latent, space, noise=noise, **options).cpu()
    history = torch.stack(losses, dim=1)  # [B, steps]
    progress = torch.stack(kept, dim=1)  # [B, K, C, H, W]
    target_cpu, mask_cpu = target.cpu(), mask.cpu()
    return [
        Inversion(
            latent[i : i + 1].cpu(),
            space,
            final[i],
            target_cpu[i],
            psnr(final[i], target_cpu[i], mask_cpu[i]),
            progress[i],
            history[i].tolist(),
            noise=None if noise is None else [n[i : i + 1].detach().cpu() for n in noise],
        )  # fmt: skip
        for i in range(len(target))
    ]


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
               {"psnr": result.psnr, "steps": len(result.losses),
                "optimize_noise": result.noise is not None},
               result.noise),
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


__all__ = [
    "Inversion", "feature_distance", "invert", "invert_file", "invert_many",
    "noise_regularization", "psnr", "spaces_of",
]  # fmt: skip


def read_mask(path: str | Path, resolution: int, image: str | Path | None = None) -> torch.Tensor:
    """A mask image as [1, R, R] in {0, 1}: 1 where the image is white-ish (>= 50% gray). With
    ``image``, the mask must have that image's size (a mask of another size marks other pixels)
    and must leave some pixels known."""
    from huashi.core.images import open_image, read_image_tensor

    if image is not None and Path(image).is_file():
        with open_image(path, "mask") as m, open_image(image) as i:
            if m.size != i.size:
                raise HuashiError(
                    f"--mask {path} is {m.size[0]}x{m.size[1]} pixels but the image {image} is "
                    f"{i.size[0]}x{i.size[1]}: give a mask of the image's size."
                )
    gray, _ = read_image_tensor(path, 1, resolution)
    hole = (gray >= 0).float()
    if image is not None and bool(hole.all()):
        raise HuashiError(
            f"--mask {path} is white everywhere, so no pixel of the image is known: paint the "
            "pixels to keep black."
        )
    return hole


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
    optimize_noise: bool = False,
    noise_weight: float = NOISE_WEIGHT,
    on_step: Callable[[int, int, str], None] | None = None,
    **options: Any,
) -> tuple[Inversion, list[str]]:
    """Invert an image file with a run and write the results into the folder ``out``.
    ``mask`` is an image whose white pixels mark the hole (unknown, to be filled);
    ``optimize_noise`` fits the noise maps too (stored in the latent file). Returns the result
    and notes on how the inputs were converted."""
    from huashi.core.images import read_image_tensor
    from huashi.runs import load_run

    check_output_dir(out)
    loaded = load_run(run, checkpoint, device)
    info = loaded.config.data_info
    target, notes = read_image_tensor(image, int(info["channels"]), int(info["resolution"]))
    known = None if mask is None else 1 - read_mask(mask, int(info["resolution"]), image)
    result = invert(
        loaded.family, target, space, steps, lr, known, features, feature_weight,
        optimize_noise=optimize_noise, noise_weight=noise_weight, on_step=on_step, **options,
    )  # fmt: skip
    return write_inversion(result, out, loaded, options), notes
