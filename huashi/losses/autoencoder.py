"""The autoencoders' losses as small pure functions.

* ``kl_to_standard_normal``: KL(N(mean, exp(logvar)) || N(0, I)) in closed form,
  0.5 * sum(mean^2 + exp(logvar) - 1 - logvar), summed over each sample's latent elements.
* ``reconstruction_error``: per-image mean L1 or squared error.

The KL autoencoder's adversarial term uses the hinge pair of :mod:`huashi.losses.gan`.
"""

from __future__ import annotations

import torch

RECONSTRUCTIONS = ("l1", "l2")


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
