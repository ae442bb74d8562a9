"""The reparameterization trick (Kingma & Welling 2014): z = mean + exp(logvar / 2) * eps with
eps ~ N(0, I), so that a sample z is a differentiable function of (mean, logvar)."""

from __future__ import annotations

import torch


def reparameterize(
    mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A sample of N(mean, exp(logvar)) that gradients flow through."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps
