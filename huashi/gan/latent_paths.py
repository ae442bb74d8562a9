"""Paths between two latents: straight (``lerp``) and spherical (``slerp``), for latent walks."""

from __future__ import annotations

import torch


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points (1 - t) a + t b for each t: a, b [*S], t [T] -> [T, *S]."""
    t = t.to(a.dtype).view(-1, *([1] * a.dim()))
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models): moves along the
    great circle between a and b with the norm interpolated linearly, so that points in the
    middle keep the typical norm of Gaussian latents instead of shrinking toward the origin.
    Falls back to ``lerp`` when a and b are (nearly) parallel."""
    a_flat, b_flat = a.flatten().double(), b.flatten().double()
    cos = torch.dot(a_flat, b_flat) / (a_flat.norm() * b_flat.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4:
        return lerp(a, b, t)
    t = t.double().view(-1, 1)
    unit_a, unit_b = a_flat / a_flat.norm(), b_flat / b_flat.norm()
    direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / torch.sin(
        omega
    )
    norm = (1 - t) * a_flat.norm() + t * b_flat.norm()
    return (direction * norm).to(a.dtype).view(-1, *a.shape)
