"""F1: noise schedules, the closed-form forward process, ε/x0/v conversions, SNR weights."""

import math

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.diffusion.schedules import (
    add_noise,
    alphas_cumprod,
    at,
    cosine_betas,
    eps_from_v,
    eps_from_x0,
    linear_betas,
    make_schedule,
    min_snr_weight,
    sigmas,
    snr,
    t_from_sigma,
    v_from_eps,
    x0_from_eps,
    x0_from_v,
)


def test_linear_and_cosine_schedules_match_their_definitions():
    betas = linear_betas(1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    abar = alphas_cumprod(betas)
    assert abar[10].item() == pytest.approx(math.prod(1 - b for b in betas[:11].tolist()))
    # cosine: ᾱ_t = f(t+1)/f(0) with f(t) = cos²((t/T + s)/(1+s) π/2), until β is clipped
    T, s = 1000, 0.008
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    cos_abar = alphas_cumprod(cosine_betas(T))
    for t in (0, 100, 500, 900):
        assert cos_abar[t].item() == pytest.approx(f[t + 1] / f[0], rel=1e-9)
    assert (cosine_betas(T) <= 0.999).all()
    for name in ("linear", "cosine"):
        a = make_schedule(name, 1000)
        assert a.dtype == torch.float64 and (a.diff() < 0).all() and 0 < a[-1] < 1e-4


def test_the_markov_chain_of_betas_has_the_closed_form_marginal():
    """Iterating q(x_t | x_{t-1}) = N(sqrt(1-β) x, β) gives q(x_t | x_0) = N(sqrt(ᾱ) x_0, 1-ᾱ):
    exactly for the coefficients, and by Monte Carlo for the samples."""
    betas = linear_betas(200)
    abar = alphas_cumprod(betas)
    coef, var = 1.0, 0.0
    for beta in betas.tolist():
        coef, var = coef * math.sqrt(1 - beta), (1 - beta) * var + beta
    assert coef == pytest.approx(abar[-1].sqrt().item(), rel=1e-10)
    assert var == pytest.approx(1 - abar[-1].item(), rel=1e-10)

    g = torch.Generator().manual_seed(0)
    x0, n, t = 1.5, 100_000, 60
    x = torch.full((n,), x0, dtype=torch.float64)
    for beta in betas[: t + 1].tolist():
        x = math.sqrt(1 - beta) * x + math.sqrt(beta) * torch.randn(n, generator=g, dtype=x.dtype)
    closed = add_noise(torch.full((n,), x0), torch.randn(n, generator=g), abar[t].float())
    mean, std = math.sqrt(abar[t]) * x0, math.sqrt(1 - abar[t])
    se = std / math.sqrt(n)
    for samples in (x, closed.double()):
        assert abs(samples.mean().item() - mean) < 5 * se
        assert samples.var().item() == pytest.approx(std**2, rel=0.02)


def test_add_noise_is_exactly_the_closed_form():
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    a = torch.tensor([0.9, 0.5, 0.1, 1e-3]).view(-1, 1, 1, 1)
    assert torch.allclose(add_noise(x0, eps, a), a.sqrt() * x0 + (1 - a).sqrt() * eps)


def test_eps_x0_v_conversions_invert_each_other():
    g = torch.Generator().manual_seed(2)
    x0, eps = (
        torch.randn(6, 2, 4, 4, generator=g).double(),
        torch.randn(6, 2, 4, 4, generator=g).double(),
    )
    a = torch.linspace(0.001, 0.999, 6, dtype=torch.float64).view(-1, 1, 1, 1)
    x_t = add_noise(x0, eps, a)
    v = v_from_eps(x0, eps, a)
    assert torch.allclose(x0_from_eps(x_t, eps, a), x0, atol=1e-9)
    assert torch.allclose(eps_from_x0(x_t, x0, a), eps, atol=1e-9)
    assert torch.allclose(x0_from_v(x_t, v, a), x0, atol=1e-12)
    assert torch.allclose(eps_from_v(x_t, v, a), eps, atol=1e-12)
    # v is the velocity of x on the circle (sqrt(ᾱ), sqrt(1-ᾱ)) = (cos φ, sin φ): v = dx/dφ
    phi = torch.acos(a.sqrt())
    dphi = 1e-6
    x_next = torch.cos(phi + dphi) * x0 + torch.sin(phi + dphi) * eps
    assert torch.allclose((x_next - x_t) / dphi, v, atol=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_min_snr_weights_turn_the_loss_into_the_clipped_x0_loss(prediction):
    """weight · MSE(target) = min(SNR, γ) · MSE(x0) for any prediction error."""
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(5, 16, generator=g).double(), torch.randn(5, 16, generator=g).double()
    a = torch.tensor([0.999, 0.9, 0.5, 0.1, 0.01], dtype=torch.float64)[:, None]
    x_t = add_noise(x0, eps, a)
    target = eps if prediction == "eps" else v_from_eps(x0, eps, a)
    pred = target + 0.3 * torch.randn(5, 16, generator=g).double()
    x0_hat = x0_from_eps(x_t, pred, a) if prediction == "eps" else x0_from_v(x_t, pred, a)
    weighted = min_snr_weight(a[:, 0], prediction, 5.0) * (pred - target).pow(2).mean(1)
    expected = snr(a[:, 0]).clamp(max=5.0) * (x0_hat - x0).pow(2).mean(1)
    assert torch.allclose(weighted, expected, rtol=1e-9)
    assert snr(torch.tensor(0.5)).item() == 1.0


def test_fractional_timesteps_interpolate_the_table_and_invert():
    abar = make_schedule("cosine", 1000)
    t = torch.tensor([0.0, 17.0, 999.0])
    assert torch.equal(at(abar, t), abar[[0, 17, 999]])
    assert at(abar, torch.tensor([-1.0])).item() == 1.0
    ts = torch.tensor([0.0, 3.25, 250.5, 998.9])
    assert torch.allclose(t_from_sigma(abar, sigmas(at(abar, ts))), ts.double(), atol=1e-6)
    mid = at(abar, torch.tensor([17.5]))
    assert abar[18] < mid < abar[17]


def test_bad_schedule_names_are_user_errors():
    with pytest.raises(HuashiError, match="linear, cosine"):
        make_schedule("quadratic", 1000)
    with pytest.raises(HuashiError, match="eps, v"):
        min_snr_weight(torch.tensor([0.5]), "x0")
