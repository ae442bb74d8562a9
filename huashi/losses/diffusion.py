"""The diffusion training loss (Ho et al. 2020) as a pure function.

The network sees x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps and predicts eps or
v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0; the loss is the mean squared error to that target,
per sample, optionally weighted by min-SNR-gamma (Hang et al. 2023), then averaged over the batch.
"""

from __future__ import annotations

import torch

from huashi.diffusion.schedules import min_snr_weight, v_from_eps


def diffusion_loss(
    prediction: torch.Tensor,
    x0: torch.Tensor,
    noise: torch.Tensor,
    abar: torch.Tensor,
    kind: str = "eps",
    weighting: str = "none",
    min_snr_gamma: float = 5.0,
) -> torch.Tensor:
    """MSE of the network's ``prediction`` [B, C, H, W] against its target (``kind`` "eps" or
    "v"), for clean ``x0``, the ``noise`` added and ``abar`` = alpha-bar_t [B, 1, 1, 1];
    ``weighting`` "none" or "min-snr"."""
    target = noise if kind == "eps" else v_from_eps(x0, noise, abar)
    per_sample = (prediction - target).pow(2).mean(dim=tuple(range(1, prediction.dim())))
    if weighting == "min-snr":
        per_sample = per_sample * min_snr_weight(abar.flatten(), kind, min_snr_gamma)
    return per_sample.mean()
