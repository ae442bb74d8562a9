"""Every sampler against the exact denoiser of Gaussian data, DDIM inversion, and every sampler
(DDPM, DDIM, DPM-Solver++(2M), Euler, Heun) cross-checked step by step with diffusers'
schedulers."""

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.diffusion.samplers import (
    SAMPLERS,
    ddim_invert,
    karras_timesteps,
    per_sample_noise,
    sample,
    strength_start,
    trailing_timesteps,
)
from huashi.diffusion.schedules import (
    alphas_cumprod,
    at,
    linear_betas,
    make_betas,
    make_schedule,
    sigmas,
)

D = 4  # data dimension, seen by the samplers as [1, 2, 2] images
N = 4000
MU = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
LAMBDAS = torch.tensor([4.0, 1.0, 0.25, 0.04], dtype=torch.float64)
U = torch.linalg.qr(torch.randn(D, D, generator=torch.Generator().manual_seed(0)).double())[0]
SIGMA = U @ torch.diag(LAMBDAS) @ U.T


def gaussian_eps_model(abar, lambdas=LAMBDAS):
    """The exact ε-prediction for x_0 ~ N(MU, U diag(λ) Uᵀ): E[x_0 | x_t] = μ + √ᾱ Σ (ᾱΣ +
    (1-ᾱ)I)⁻¹ (x_t - √ᾱ μ), then ε̂ = (x_t - √ᾱ x̂_0) / √(1-ᾱ)."""

    def model_fn(x, t):
        a = float(at(abar, t[:1]))
        flat = x.reshape(len(x), D)
        gain = U @ torch.diag(a**0.5 * lambdas / (a * lambdas + 1 - a)) @ U.T
        x0 = MU + (flat - a**0.5 * MU) @ gain.T
        return ((flat - a**0.5 * x0) / (1 - a) ** 0.5).reshape(x.shape)

    return model_fn


def moments_error(x):
    flat = x.reshape(len(x), D)
    cov = torch.cov(flat.T)
    return (flat.mean(0) - MU).norm().item(), ((cov - SIGMA).norm() / SIGMA.norm()).item()


# (sampler, steps, eta): stochastic samplers need more steps for the same accuracy
CASES = [
    ("ddpm", 200, 0.0),
    ("ddim", 200, 1.0),
    ("ddim", 100, 0.0),
    ("dpmpp-2m", 25, 0.0),
    ("euler", 100, 0.0),
    ("heun", 25, 0.0),
]


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_every_sampler_with_the_exact_denoiser_draws_the_data_distribution(schedule):
    """4,000 samples each. Standard error of the mean's norm ≈ sqrt(tr Σ / N) = 0.036, of the
    covariance ≈ 2-3 % relative; tolerances: mean error < 0.12, covariance error < 8 % (relative
    Frobenius). A denoiser for a 30 % wider distribution fails them (checked below)."""
    assert {case[0] for case in CASES} == set(SAMPLERS)
    abar = make_schedule(schedule, 1000)
    torch.manual_seed(1)
    x_T = torch.randn(N, 1, 2, 2, dtype=torch.float64)
    for sampler, steps, eta in CASES:
        x = sample(gaussian_eps_model(abar), x_T, abar, sampler, steps, eta=eta)
        mean_err, cov_err = moments_error(x)
        assert mean_err < 0.12 and cov_err < 0.08, (sampler, steps, eta, mean_err, cov_err)
    wrong = sample(gaussian_eps_model(abar, LAMBDAS * 1.3), x_T, abar, "dpmpp-2m", 25)
    assert moments_error(wrong)[1] > 0.2


def test_ddim_inversion_round_trips():
    abar = make_schedule("linear", 1000)
    model = gaussian_eps_model(abar)
    g = torch.Generator().manual_seed(2)
    x0 = (torch.randn(16, D, generator=g).double() @ torch.linalg.cholesky(SIGMA).T + MU).reshape(
        16, 1, 2, 2
    )
    x_T = ddim_invert(model, x0, abar, steps=50, refine=8)
    assert (x_T - x0).abs().max() > 0.5  # it went somewhere
    back = sample(model, x_T, abar, "ddim", 50)
    assert (back - x0).abs().max() < 1e-6
    plain = sample(model, ddim_invert(model, x0, abar, steps=50, refine=0), abar, "ddim", 50)
    assert (plain - x0).abs().max() > 1e-3  # without the fixed-point refinement it is only close


def toy_model(x, t):
    """A deterministic, nonlinear stand-in for a network's ε output."""
    return torch.tanh(x) * 0.7 + 0.05 * torch.cos(t.view(-1, 1, 1, 1) / 100.0)


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_ddim_matches_diffusers(eta):
    from diffusers import DDIMScheduler

    betas = make_betas("linear", 1000)
    abar = make_schedule("linear", 1000)
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, trained_betas=betas.numpy(), timestep_spacing="trailing",
        set_alpha_to_one=True, clip_sample=False, prediction_type="epsilon",
    )  # fmt: skip
    scheduler.set_timesteps(10)
    assert scheduler.timesteps.tolist() == trailing_timesteps(1000, 10)[:-1].long().tolist()
    x_T = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    ours = sample(
        toy_model, x_T, abar, "ddim", 10, eta=eta,
        generators=[torch.Generator().manual_seed(s) for s in range(3)],
    )  # fmt: skip
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    x = x_T
    for t in scheduler.timesteps:
        eps = toy_model(x, torch.full((3,), float(t)))
        noise = per_sample_noise(gens, x) if eta > 0 else None
        x = scheduler.step(eps, t, x, eta=eta, variance_noise=noise).prev_sample
    assert torch.allclose(ours, x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("steps", [5, 12, 20])
def test_dpm_solver_pp_2m_matches_diffusers(steps):
    from diffusers import DPMSolverMultistepScheduler

    betas = make_betas("cosine", 1000)
    abar = make_schedule("cosine", 1000)
    scheduler = DPMSolverMultistepScheduler(
        num_train_timesteps=1000, trained_betas=betas.numpy(), algorithm_type="dpmsolver++",
        solver_order=2, timestep_spacing="trailing", final_sigmas_type="zero",
        prediction_type="epsilon", lower_order_final=False,
    )  # fmt: skip
    scheduler.set_timesteps(steps)
    assert scheduler.timesteps.tolist() == trailing_timesteps(1000, steps)[:-1].long().tolist()
    x_T = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(4))
    trajectory = []
    ours = sample(
        lambda x, t: trajectory.append(x) or toy_model(x, t), x_T, abar, "dpmpp-2m", steps
    )
    x = x_T
    for i, t in enumerate(scheduler.timesteps):
        assert torch.allclose(trajectory[i], x, atol=1e-4, rtol=1e-4), i  # every step agrees
        x = scheduler.step(toy_model(x, torch.full((3,), float(t))), t, x).prev_sample
    assert torch.allclose(ours, x, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("steps", [10, 12])
def test_ddpm_matches_diffusers(steps):
    """Ancestral DDPM (posterior variance, "fixed_small") with the same noise per step; each
    sample draws from its own generator, so diffusers is stepped one sample at a time."""
    from diffusers import DDPMScheduler

    betas = make_betas("linear", 1000)
    abar = make_schedule("linear", 1000)
    scheduler = DDPMScheduler(
        num_train_timesteps=1000, trained_betas=betas.numpy(), timestep_spacing="trailing",
        clip_sample=False, variance_type="fixed_small", prediction_type="epsilon",
    )  # fmt: skip
    scheduler.set_timesteps(steps)
    assert scheduler.timesteps.tolist() == trailing_timesteps(1000, steps)[:-1].long().tolist()
    x_T = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(6))
    trajectory = []
    ours = sample(
        lambda x, t: trajectory.append(x) or toy_model(x, t), x_T, abar, "ddpm", steps,
        generators=[torch.Generator().manual_seed(s) for s in range(3)],
    )  # fmt: skip
    for row in range(3):
        g = torch.Generator().manual_seed(row)
        x = x_T[row : row + 1]
        for i, t in enumerate(scheduler.timesteps):
            assert torch.allclose(trajectory[i][row : row + 1], x, atol=1e-4, rtol=1e-4), (row, i)
            eps = toy_model(x, torch.full((1,), float(t)))
            x = scheduler.step(eps, t, x, generator=g).prev_sample
        assert torch.allclose(ours[row : row + 1], x, atol=1e-4, rtol=1e-4), row


def float32_table(betas):
    """diffusers' alpha-bar table: a cumulative product in float32. Its rounding moves the
    fractional Karras timesteps by up to 0.006 against our float64 table (so the per-step
    states differ by up to 2e-3, the final images by 5e-5); with the same table they agree
    to 2e-5 timesteps, which isolates the samplers themselves."""
    table = torch.cumprod(1 - betas.float(), 0).double()
    assert (table - alphas_cumprod(betas)).abs().max() < 1e-5
    return table


def karras_reference(name, betas, steps, sigma_max=None):
    """diffusers' Euler or Heun scheduler on our grid: Karras sigmas (rho 7) from sigma_max (or
    sigma(T-1)) down to sigma(0), then 0. "linspace" spacing makes its sigma range the whole
    table, as ours."""
    import diffusers

    options = {"sigma_max": sigma_max} if sigma_max is not None else {}
    scheduler = getattr(diffusers, name)(
        num_train_timesteps=len(betas), trained_betas=betas.numpy(), use_karras_sigmas=True,
        timestep_spacing="linspace", prediction_type="epsilon", **options,
    )  # fmt: skip
    scheduler.set_timesteps(steps)
    return scheduler


def run_reference(scheduler, x_T, first_t):
    """Step a diffusers sigma-space scheduler from our x_T. Their state is x~ = x_t / sqrt(abar)
    = x_t * sqrt(sigma^2 + 1) and the model sees scale_model_input(x~) = x_t. Their initial noise
    is randn * sigma_max (init_noise_sigma, which drops the signal's share of the variance); ours
    is x_t at the top timestep, so we hand them x_T * sqrt(sigma_max^2 + 1): the same state."""
    x = x_T * (scheduler.sigmas[0] ** 2 + 1).sqrt()
    seen = []
    for t in scheduler.timesteps:
        model_in = scheduler.scale_model_input(x, t)
        seen.append((model_in, float(t)))
        x = scheduler.step(toy_model(model_in, torch.full((len(x),), float(t))), t, x).prev_sample
    assert seen[0][1] == pytest.approx(first_t, abs=1e-3)
    return x, seen


@pytest.mark.parametrize("steps", [4, 10])
def test_euler_matches_diffusers(steps):
    """The linear schedule's sigma(999) ~ 157 is capped at 80 on both sides (sigma_max)."""
    betas = make_betas("linear", 1000)
    abar = float32_table(betas)
    scheduler = karras_reference("EulerDiscreteScheduler", betas, steps, sigma_max=80.0)
    ts = karras_timesteps(abar, steps)
    assert torch.allclose(scheduler.timesteps.double(), ts[:-1], atol=1e-4)
    x_T = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(7))
    calls = []
    ours = sample(lambda x, t: calls.append((x, t)) or toy_model(x, t), x_T, abar, "euler", steps)
    theirs, seen = run_reference(scheduler, x_T, float(ts[0]))
    assert len(calls) == len(seen) == steps
    for (x, t), (x_ref, t_ref) in zip(calls, seen, strict=True):
        assert float(t[0]) == pytest.approx(t_ref, abs=1e-4)
        assert torch.allclose(x, x_ref, atol=1e-5, rtol=1e-5)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("steps", [3, 8])
def test_heun_matches_diffusers(steps):
    """2 * steps - 1 model calls on both sides (the last step, to sigma 0, is an Euler step).
    diffusers' Heun has no sigma_max option, so the schedule here (betas up to 0.01, sigma(999)
    ~ 12.5) stays below our cap of 80."""
    betas = linear_betas(1000, 1e-4, 0.01)
    abar = float32_table(betas)
    assert sigmas(abar[-1:]).item() < 80
    scheduler = karras_reference("HeunDiscreteScheduler", betas, steps)
    x_T = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(8))
    calls = []
    ours = sample(lambda x, t: calls.append((x, t)) or toy_model(x, t), x_T, abar, "heun", steps)
    theirs, seen = run_reference(scheduler, x_T, 999.0)
    assert len(calls) == len(seen) == 2 * steps - 1
    for (x, t), (x_ref, t_ref) in zip(calls, seen, strict=True):
        assert float(t[0]) == pytest.approx(t_ref, abs=1e-4)
        assert torch.allclose(x, x_ref, atol=1e-5, rtol=1e-5)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5)


def test_karras_grid_runs_from_sigma_max_to_the_smallest_sigma():
    abar = make_schedule("linear", 1000)
    ts = karras_timesteps(abar, 10, t_max=400)  # img2img from t = 400 (σ ≈ 1.1)
    assert ts[0] == 400 and ts[-1] == -1 and ts[-2] == pytest.approx(0, abs=1e-6)
    assert (ts.diff() < 0).all()
    sigma = ((1 - at(abar, ts[:-1])) / at(abar, ts[:-1])).sqrt() ** (1 / 7)
    assert torch.allclose(sigma.diff(), sigma.diff()[:1].expand(9), rtol=1e-6)  # ρ = 7 spacing
    for schedule in ("linear", "cosine"):  # σ(999) ≈ 157 and ≈ 2·10⁴ are capped at 80
        a = make_schedule(schedule, 1000)
        top = karras_timesteps(a, 10)[0]
        assert ((1 - at(a, top)) / at(a, top)).sqrt().item() == pytest.approx(80, rel=1e-6)


def test_img2img_strength_and_inpainting_keep_the_known_region():
    assert strength_start(1000, 0.6, 20) == (599, 12)
    assert strength_start(1000, 1.0, 20) == (999, 20)
    assert strength_start(1000, 0.01, 20) == (9, 1)
    abar = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(8, 1, 2, 2, generator=g).double()
    keep = torch.zeros(8, 1, 2, 2, dtype=torch.float64)
    keep[:, :, 0] = 1  # keep the top row, repaint the bottom row
    for sampler in SAMPLERS:
        gens = [torch.Generator().manual_seed(i) for i in range(8)]
        x_T = per_sample_noise(gens, x0)
        out = sample(
            gaussian_eps_model(abar), x_T, abar, sampler, 6, generators=gens, known=(x0, keep)
        )
        assert torch.equal(out[:, :, 0], x0[:, :, 0]), sampler
        assert not torch.allclose(out[:, :, 1], x0[:, :, 1]), sampler


def test_bad_sampler_and_steps_are_user_errors():
    abar = make_schedule("linear", 100)
    x = torch.zeros(1, 1, 2, 2)
    with pytest.raises(HuashiError, match="ddpm, ddim, dpmpp-2m, euler, heun"):
        sample(toy_model, x, abar, "plms", 10)
    for steps in (0, -3):
        with pytest.raises(HuashiError, match="at least 1"):
            sample(toy_model, x, abar, "ddim", steps)
    with pytest.raises(HuashiError, match="strength"):
        strength_start(100, 1.5, 10)
