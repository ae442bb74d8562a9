"""Pix2Pix's losses (Isola et al. 2017): the BCE GAN pair of :mod:`huashi.losses.gan` on patch
logits, D's halved to slow it relative to G, and G's plus lambda times the L1 distance."""

from __future__ import annotations

import torch

from huashi.losses.gan import bce_d_loss, nonsaturating_g_loss


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """0.5 * (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)), averaged over patches."""
    return 0.5 * bce_d_loss(real_logits, fake_logits)


def generator_loss(
    fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor, l1_weight: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, adversarial, L1): BCE(D(x, G(x)), 1) + l1_weight * mean |G(x) - y|."""
    adversarial = nonsaturating_g_loss(fake_logits)
    l1 = (fake - target).abs().mean()
    return adversarial + l1_weight * l1, adversarial, l1
