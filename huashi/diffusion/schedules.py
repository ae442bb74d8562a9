"""Noise schedules and the closed-form forward process of DDPM, as pure functions.

Notation: ``a = alphas_cumprod[t]`` (ᾱ_t). The forward process is
``q(x_t | x_0) = N(sqrt(a) x_0, (1 - a) I)``, i.e. ``x_t = sqrt(a) x_0 + sqrt(1 - a) ε``.
The network predicts ε or v = sqrt(a) ε - sqrt(1 - a) x_0; the functions below convert
between ε, x_0 and v given x_t. Everything works for any broadcastable ``a`` (a float, or a
tensor shaped like ``[B, 1, 1, 1]``); :func:`at` picks ᾱ for a batch of (possibly fractional)
timesteps, with the convention ᾱ(-1) = 1 (the clean image).
"""

from __future__ import annotations

import math

import torch

from huashi.core.errors import HuashiError

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("eps", "v")
LOSS_WEIGHTINGS = ("none", "min-snr")


def linear_betas(steps: int, start: float = 1e-4, end: float = 0.02) -> torch.Tensor:
    """DDPM's schedule (Ho et al. 2020): betas rising linearly, scaled for ``steps`` != 1000."""
    scale = 1000.0 / steps
    return torch.linspace(start * scale, end * scale, steps, dtype=torch.float64)


def cosine_betas(steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Improved DDPM's schedule (Nichol & Dhariwal 2021): ᾱ(t) = cos²((t/T + s)/(1 + s) · π/2)."""

    def f(t: float) -> float:
        return math.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - f(i + 1) / f(i), max_beta) for i in range(steps)]
    return torch.tensor(betas, dtype=torch.float64)


def make_betas(schedule: str, steps: int) -> torch.Tensor:
    if steps < 2:
        raise HuashiError(f"a diffusion schedule needs at least 2 timesteps, got {steps}.")
    if schedule == "linear":
        return linear_betas(steps)
    if schedule == "cosine":
        return cosine_betas(steps)
    raise HuashiError(f"unknown noise schedule '{schedule}': choose one of {', '.join(SCHEDULES)}.")


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = Π_{s<=t} (1 - β_s), float64."""
    return torch.cumprod(1.0 - betas.double(), dim=0)


def make_schedule(schedule: str, steps: int) -> torch.Tensor:
    """ᾱ for ``steps`` training timesteps of the named schedule (float64, [steps])."""
    return alphas_cumprod(make_betas(schedule, steps))


def sigmas(abar: torch.Tensor) -> torch.Tensor:
    """σ = sqrt((1 - ᾱ) / ᾱ): the noise level of x_t / sqrt(ᾱ) = x_0 + σ ε (Karras et al.)."""
    return ((1 - abar) / abar).sqrt()


def at(abar: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """ᾱ at timesteps ``t`` (float, may be fractional; -1 means clean, ᾱ = 1).

    Between integer timesteps log σ is interpolated linearly, so that samplers working on a
    continuous σ grid (Euler, Heun with Karras spacing) see a smooth schedule that agrees with
    the table at every integer.
    """
    t = torch.as_tensor(t, dtype=torch.float64)
    table = abar.double().to(t.device)
    clean = t < 0
    tc = t.clamp(0, len(table) - 1)
    lo = tc.floor().long()
    hi = (lo + 1).clamp(max=len(table) - 1)
    w = tc - lo
    log_sigma = torch.lerp(sigmas(table[lo]).log(), sigmas(table[hi]).log(), w)
    value = torch.where(w == 0, table[lo], 1.0 / (1.0 + (2 * log_sigma).exp()))
    return torch.where(clean, torch.ones_like(value), value)


def t_from_sigma(abar: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The (fractional) timestep whose σ is ``sigma``: the inverse of :func:`at` (σ > 0)."""
    log_table = sigmas(abar.double()).log()
    log_sigma = torch.as_tensor(sigma, dtype=torch.float64).log()
    log_sigma = log_sigma.clamp(log_table[0], log_table[-1])
    hi = torch.searchsorted(log_table, log_sigma).clamp(1, len(log_table) - 1)
    lo = hi - 1
    w = (log_sigma - log_table[lo]) / (log_table[hi] - log_table[lo])
    return lo.double() + w


def add_noise(x0: torch.Tensor, noise: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    """Sample q(x_t | x_0) in closed form: sqrt(ᾱ) x_0 + sqrt(1 - ᾱ) ε."""
    a = torch.as_tensor(a, dtype=x0.dtype, device=x0.device)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    a = torch.as_tensor(a, dtype=x_t.dtype, device=x_t.device)
    return (x_t - (1 - a).sqrt() * eps) / a.sqrt()


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    a = torch.as_tensor(a, dtype=x_t.dtype, device=x_t.device)
    return (x_t - a.sqrt() * x0) / (1 - a).sqrt()


def v_from_eps(x0: torch.Tensor, eps: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    """The v target (Salimans & Ho 2022): v = sqrt(ᾱ) ε - sqrt(1 - ᾱ) x_0."""
    a = torch.as_tensor(a, dtype=x0.dtype, device=x0.device)
    return a.sqrt() * eps - (1 - a).sqrt() * x0


def x0_from_v(x_t: torch.Tensor, v: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    a = torch.as_tensor(a, dtype=x_t.dtype, device=x_t.device)
    return a.sqrt() * x_t - (1 - a).sqrt() * v


def eps_from_v(x_t: torch.Tensor, v: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    a = torch.as_tensor(a, dtype=x_t.dtype, device=x_t.device)
    return (1 - a).sqrt() * x_t + a.sqrt() * v


def snr(a: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio ᾱ / (1 - ᾱ)."""
    return a / (1 - a)


def min_snr_weight(a: torch.Tensor, prediction: str, gamma: float = 5.0) -> torch.Tensor:
    """Min-SNR-γ loss weights (Hang et al. 2023) for an MSE on the ``prediction`` target.

    The x_0-loss weight min(SNR, γ) expressed for the target that is regressed:
    ε-MSE = SNR · x_0-MSE, v-MSE = (SNR + 1) · x_0-MSE.
    """
    s = snr(a)
    clipped = s.clamp(max=gamma)
    if prediction == "eps":
        return clipped / s
    if prediction == "v":
        return clipped / (s + 1)
    raise HuashiError(f"unknown prediction '{prediction}': choose one of {', '.join(PREDICTIONS)}.")
