"""Samplers: small pure step functions behind one :func:`sample` interface.

A model is seen as ``model_fn(x_t, t) -> ε̂`` (t a float tensor [B]; guidance and the v→ε
conversion live in the caller). Every sampler walks a decreasing timestep grid that ends at
t = -1 (ᾱ = 1, the clean image):

* ``ddpm``: ancestral sampling from the posterior q(x_s | x_t, x̂_0) (Ho et al. 2020);
* ``ddim``: DDIM with stochasticity η (η = 0 deterministic, η = 1 the DDPM variance);
* ``dpmpp-2m``: DPM-Solver++(2M), second-order multistep in x̂_0 (Lu et al. 2022);
* ``euler`` / ``heun``: the probability-flow ODE dx̃/dσ = ε̂ on x̃ = x_t / sqrt(ᾱ), with the
  σ grid of Karras et al. (2022, ρ = 7); Heun adds a second evaluation per step (2·steps − 1
  model calls).

Randomness: with ``generators`` (one ``torch.Generator`` per sample), every random number for
sample i (per-step noise, inpainting noise) comes from generator i, so an image does not depend
on its batch-mates. ``ddpm``, ``ddim`` (trailing spacing) and ``dpmpp-2m`` use the integer grid
t_i = round(T (1 - i/steps)) - 1, as diffusers' ``timestep_spacing="trailing"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from huashi.core.errors import HuashiError
from huashi.core.progress import Progress
from huashi.diffusion.schedules import add_noise, at, sigmas, t_from_sigma, x0_from_eps

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SAMPLERS = ("ddpm", "ddim", "dpmpp-2m", "euler", "heun")
KARRAS_RHO = 7.0
#: Karras grids start at most here (EDM's σ_max): the cosine schedule's σ(T-1) is ~10⁴, and
#: steps spent above σ ≈ 80 change nothing (x is already pure noise at 1/80 of the signal).
KARRAS_SIGMA_MAX = 80.0


def check_sampler(sampler: str, steps: int) -> None:
    if sampler not in SAMPLERS:
        raise HuashiError(f"unknown sampler '{sampler}': choose one of {', '.join(SAMPLERS)}.")
    if int(steps) != steps or steps < 1:
        raise HuashiError(f"--steps must be a whole number of at least 1, got {steps}.")


# --- timestep grids ---------------------------------------------------------------------------


def trailing_timesteps(num_train: int, steps: int, t_max: int | None = None) -> torch.Tensor:
    """Integer timesteps from ``t_max`` (default T-1) down, then -1 (clean): [steps + 1]."""
    top = num_train if t_max is None else int(t_max) + 1
    steps = min(steps, top)
    grid = [round(top * (1 - i / steps)) - 1 for i in range(steps)]
    return torch.tensor([*grid, -1], dtype=torch.float64)


def karras_timesteps(abar: torch.Tensor, steps: int, t_max: int | None = None) -> torch.Tensor:
    """Fractional timesteps whose σ follow Karras et al.'s ρ = 7 spacing from σ(t_max) (at most
    80) to σ(0)."""
    t_max = len(abar) - 1 if t_max is None else int(t_max)
    top = min(float(sigmas(abar[t_max : t_max + 1].double())), KARRAS_SIGMA_MAX)
    hi = top ** (1 / KARRAS_RHO)
    lo = float(sigmas(abar[:1].double())) ** (1 / KARRAS_RHO)
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64) if steps > 1 else torch.zeros(1)
    sigma = (hi + ramp.double() * (lo - hi)) ** KARRAS_RHO
    t = t_from_sigma(abar, sigma)
    if top < KARRAS_SIGMA_MAX:
        t[0] = t_max  # exact at the top, whatever the rounding
    return torch.cat([t, torch.tensor([-1.0], dtype=torch.float64)])


def timesteps_for(sampler: str, abar: torch.Tensor, steps: int, t_max: int | None = None):
    if sampler in ("euler", "heun"):
        return karras_timesteps(abar, steps, t_max)
    return trailing_timesteps(len(abar), steps, t_max)


def strength_start(num_train: int, strength: float, steps: int) -> tuple[int, int]:
    """img2img (SDEdit): the timestep t = strength·T to start from and how many of the ``steps``
    of a full run remain from there (at least 1)."""
    if not 0.0 < strength <= 1.0:
        raise HuashiError(f"--strength must be in (0, 1], got {strength}.")
    t_max = max(0, min(num_train - 1, round(strength * num_train) - 1))
    return t_max, max(1, math.ceil(steps * strength))


# --- one step of each sampler (pure functions of tensors and ᾱ values) ------------------------


def ddpm_step(x: torch.Tensor, eps: torch.Tensor, a_t: float, a_s: float, noise: torch.Tensor):
    """Ancestral step t → s: a draw from the posterior q(x_s | x_t, x̂_0)."""
    x0 = x0_from_eps(x, eps, a_t)
    alpha = a_t / a_s  # the one-step ᾱ between s and t
    mean = (math.sqrt(a_s) * (1 - alpha) * x0 + math.sqrt(alpha) * (1 - a_s) * x) / (1 - a_t)
    var = (1 - a_s) / (1 - a_t) * (1 - alpha)
    return mean + math.sqrt(max(var, 0.0)) * noise


def ddim_step(
    x: torch.Tensor, eps: torch.Tensor, a_t: float, a_s: float, eta: float = 0.0, noise=None
) -> torch.Tensor:
    """DDIM step t → s (Song et al. 2021, eq. 12)."""
    x0 = x0_from_eps(x, eps, a_t)
    sigma = eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
    out = math.sqrt(a_s) * x0 + math.sqrt(max(1 - a_s - sigma**2, 0.0)) * eps
    return out + sigma * noise if sigma > 0 else out


def _lam(a: float) -> float:
    """λ = log(α/σ), the half log-SNR."""
    return 0.5 * math.log(a / (1 - a))


def dpmpp_2m_step(
    x: torch.Tensor,
    x0: torch.Tensor,
    x0_prev: torch.Tensor | None,
    a_t: float,
    a_s: float,
    a_prev: float | None,
) -> torch.Tensor:
    """DPM-Solver++(2M) step t → s from x̂_0 now and at the previous timestep (None: first order).

    The step to the clean image (ᾱ_s = 1) is first order: it returns x̂_0.
    """
    if a_s >= 1.0:
        return x0
    h = _lam(a_s) - _lam(a_t)
    d = x0
    if x0_prev is not None and a_prev is not None:
        r = (_lam(a_t) - _lam(a_prev)) / h
        d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_prev
    return math.sqrt((1 - a_s) / (1 - a_t)) * x - math.sqrt(a_s) * math.expm1(-h) * d


def euler_step(x: torch.Tensor, eps: torch.Tensor, a_t: float, a_s: float) -> torch.Tensor:
    """Euler step of dx̃/dσ = ε̂ on x̃ = x / sqrt(ᾱ), returned in x_t space."""
    sigma_t, sigma_s = math.sqrt((1 - a_t) / a_t), math.sqrt((1 - a_s) / a_s)
    return (x / math.sqrt(a_t) + (sigma_s - sigma_t) * eps) * math.sqrt(a_s)


def heun_step(
    x: torch.Tensor, eps: torch.Tensor, eps_next: torch.Tensor, a_t: float, a_s: float
) -> torch.Tensor:
    """Heun (trapezoid) step: the mean of the slopes at t and at the Euler guess at s."""
    return euler_step(x, (eps + eps_next) / 2, a_t, a_s)


# --- the loop -----------------------------------------------------------------------------------


def per_sample_noise(
    generators: Sequence[torch.Generator] | None, like: torch.Tensor
) -> torch.Tensor:
    """Standard normal noise shaped like ``like``; row i from ``generators[i]`` when given."""
    if generators is None:
        return torch.randn_like(like)
    if len(generators) != len(like):
        raise ValueError(f"{len(generators)} generators for a batch of {len(like)}")
    rows = [torch.randn(like.shape[1:], generator=g, dtype=like.dtype) for g in generators]
    return torch.stack(rows).to(like.device)


def _call(model_fn: ModelFn, x: torch.Tensor, t: float) -> torch.Tensor:
    return model_fn(x, torch.full((len(x),), max(t, 0.0), dtype=x.dtype, device=x.device)).to(
        x.dtype
    )


def sample(
    model_fn: ModelFn,
    x_start: torch.Tensor,
    abar: torch.Tensor,
    sampler: str = "ddim",
    steps: int = 50,
    *,
    eta: float = 0.0,
    generators: Sequence[torch.Generator] | None = None,
    t_max: int | None = None,
    known: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Denoise ``x_start`` (a draw of x at ``t_max``, default T-1: pure noise) to an image.

    ``known = (x0_known, keep)`` inpaints: after every step the region where ``keep`` is 1 is
    replaced by ``x0_known`` noised to the new timestep (exactly the original at the end).
    ``progress(done, total, sampler)`` is called after every step.
    """
    check_sampler(sampler, steps)
    ts = timesteps_for(sampler, abar, int(steps), t_max)
    a = at(abar, ts).tolist()
    ts = ts.tolist()
    x = x_start
    x0_prev, a_prev = None, None
    total = len(ts) - 1
    for i in range(total):
        t, a_t, a_s = ts[i], a[i], a[i + 1]
        eps = _call(model_fn, x, t)
        if sampler == "ddpm":
            x = ddpm_step(x, eps, a_t, a_s, per_sample_noise(generators, x))
        elif sampler == "ddim":
            noise = per_sample_noise(generators, x) if eta > 0 else None
            x = ddim_step(x, eps, a_t, a_s, eta, noise)
        elif sampler == "dpmpp-2m":
            x0 = x0_from_eps(x, eps, a_t)
            x = dpmpp_2m_step(x, x0, x0_prev, a_t, a_s, a_prev)
            x0_prev, a_prev = x0, a_t
        elif sampler == "euler" or a_s >= 1.0:
            x = euler_step(x, eps, a_t, a_s)
        else:  # heun, before the last step
            guess = euler_step(x, eps, a_t, a_s)
            x = heun_step(x, eps, _call(model_fn, guess, ts[i + 1]), a_t, a_s)
        if known is not None:
            x0_known, keep = known
            noised = add_noise(x0_known, per_sample_noise(generators, x), a_s)
            x = keep * noised + (1 - keep) * x
        if progress is not None:
            progress(i + 1, total, sampler)
    return x


def ddim_invert(
    model_fn: ModelFn,
    x0: torch.Tensor,
    abar: torch.Tensor,
    steps: int = 50,
    refine: int = 3,
    progress: Progress | None = None,
) -> torch.Tensor:
    """DDIM inversion (η = 0): the x_T that ``sample(..., "ddim", steps)`` decodes back to ``x0``.

    Each step upward solves x_s = sqrt(ᾱ_s) x̂_0 + sqrt(1-ᾱ_s) ε̂(x_s, s) for x_s by ``refine``
    fixed-point iterations (``refine=0`` is the plain inversion that reuses ε̂ at the lower
    timestep), so the decoding step from s lands back on the input.
    """
    check_sampler("ddim", steps)
    ts = trailing_timesteps(len(abar), int(steps)).flip(0)
    a = at(abar, ts).tolist()
    ts = ts.tolist()
    x = x0
    total = len(ts) - 1
    for i in range(total):
        a_t, a_s = a[i], a[i + 1]
        eps = _call(model_fn, x, ts[i])
        clean = x0_from_eps(x, eps, a_t) if a_t < 1 else x
        x_s = math.sqrt(a_s) * clean + math.sqrt(1 - a_s) * eps
        for _ in range(refine):
            eps = _call(model_fn, x_s, ts[i + 1])
            clean = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
            x_s = math.sqrt(a_s) * clean + math.sqrt(1 - a_s) * eps
        x = x_s
        if progress is not None:
            progress(i + 1, total, "invert")
    return x


__all__ = [
    "SAMPLERS",
    "ddim_invert",
    "ddim_step",
    "ddpm_step",
    "dpmpp_2m_step",
    "euler_step",
    "heun_step",
    "sample",
    "strength_start",
    "timesteps_for",
]
