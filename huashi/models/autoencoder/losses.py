"""The autoencoders' pieces of math as small pure functions.

* ``reparameterize``: z = mean + exp(logvar / 2) * eps with eps ~ N(0, I), so that z is a
  differentiable function of (mean, logvar) (Kingma & Welling 2014).
* ``kl_to_standard_normal``: KL(N(mean, exp(logvar)) || N(0, I)) in closed form,
  0.5 * sum(mean^2 + exp(logvar) - 1 - logvar), summed over each sample's latent elements.
* ``reconstruction_error``: per-image mean L1 or squared error.
* ``lerp`` and ``slerp``: straight and spherical paths between two latents.
"""

from __future__ import annotations

import torch

RECONSTRUCTIONS = ("l1", "l2")


def reparameterize(
    mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A sample of N(mean, exp(logvar)) that gradients flow through."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of each sample's diagonal Gaussian from N(0, I), in nats: shape [B]."""
    per_element = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
    return per_element.flatten(1).sum(1)


def reconstruction_error(
    images: torch.Tensor, reconstructions: torch.Tensor, kind: str
) -> torch.Tensor:
    """Per-image mean absolute ("l1") or squared ("l2") error: shape [B]."""
    difference = (reconstructions.float() - images.float()).flatten(1)
    if kind == "l1":
        return difference.abs().mean(1)
    if kind == "l2":
        return difference.pow(2).mean(1)
    raise ValueError(f"unknown reconstruction loss {kind!r}: choose one of {RECONSTRUCTIONS}")


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
