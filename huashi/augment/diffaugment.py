"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to real *and* fake
images before D, so that a GAN can train on a few hundred images without D memorizing them.

Every random number comes from the ``torch.Generator`` passed in (the trainer's checkpointed noise
generator), so a resumed run draws exactly the same augmentations. Images are [B, C, H, W] in
[-1, 1]; each image gets its own random parameters.

- color: brightness shift in [-0.5, 0.5), saturation factor in [0, 2), contrast factor in
  [0.5, 1.5)
- translation: a shift by up to 1/8 of the size in each direction, zeros filling in
- cutout: a zeroed square of half the size at a random place
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from huashi.core.errors import HuashiError

Tensor = torch.Tensor


def _uniform(n: int, x: Tensor, g: torch.Generator) -> Tensor:
    """[n, 1, 1, 1] uniform numbers in [0, 1), drawn on the generator's device."""
    return torch.rand(n, 1, 1, 1, generator=g, device=g.device).to(x.device, x.dtype)


def color(x: Tensor, g: torch.Generator) -> Tensor:
    n = len(x)
    x = x + (_uniform(n, x, g) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(n, x, g) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(n, x, g) + 0.5) + mean


def random_shifts(n: int, max_dy: int, max_dx: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per-image integer shifts: dy [n] in [-max_dy, max_dy], then dx [n] in [-max_dx, max_dx]."""
    dy = torch.randint(-max_dy, max_dy + 1, (n,), generator=g, device=g.device)
    dx = torch.randint(-max_dx, max_dx + 1, (n,), generator=g, device=g.device)
    return dy, dx


def shift(x: Tensor, dy: Tensor, dx: Tensor, border: str = "zeros") -> Tensor:
    """Output pixel (y, x) of image i = input pixel (y + dy[i], x + dx[i]); outside the image
    ``border`` fills in: "zeros", or "edge" (the nearest border pixel)."""
    if border not in ("zeros", "edge"):
        raise ValueError(f"unknown border {border!r}: use 'zeros' or 'edge'")
    b, _, h, w = x.shape
    dy, dx = dy.to(x.device).view(b, 1, 1), dx.to(x.device).view(b, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    if border == "edge":
        source, rows, cols = x, rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    else:  # a zero frame one pixel wide, where every index outside the image lands
        source, rows, cols = F.pad(x, (1, 1, 1, 1)), rows.clamp(-1, h) + 1, cols.clamp(-1, w) + 1
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return source.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def translation(x: Tensor, g: torch.Generator, ratio: float = 0.125) -> Tensor:
    """A shift by up to ``ratio`` of the size (each image its own), zero outside the image."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    return shift(x, *random_shifts(b, sy, sx, g))


def cutout(x: Tensor, g: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Zero a (ratio H) x (ratio W) square centred at a random pixel (clipped at the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=g, device=g.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=g, device=g.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy.to(x.device) - ch // 2, cx.to(x.device) - cw // 2
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTS = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
    """``"color,translation"`` -> ("color", "translation"); unknown names are an error."""
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in AUGMENTS]
    if unknown:
        raise HuashiError(
            f"unknown DiffAugment policy {', '.join(unknown)}: choose from "
            f"{', '.join(AUGMENTS)} (comma-separated, e.g. --diffaugment color,translation)."
        )
    return tuple(names)


def diff_augment(x: Tensor, policy: Sequence[str], generator: torch.Generator) -> Tensor:
    """Apply the augmentations of ``policy`` in order; differentiable with respect to ``x``."""
    for name in policy:
        x = AUGMENTS[name](x, generator)
    return x.contiguous()
