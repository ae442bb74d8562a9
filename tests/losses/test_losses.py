"""Every loss lives in huashi/losses/ as a pure function; the moves kept the numbers."""

import re
from pathlib import Path

import torch
import torch.nn.functional as F

import huashi
from huashi.diffusion.schedules import add_noise, snr, v_from_eps, x0_from_eps, x0_from_v
from huashi.losses.diffusion import diffusion_loss
from huashi.losses.gan import bce_d_loss, nonsaturating_g_loss
from huashi.losses.pix2pix import discriminator_loss, generator_loss


def test_losses_live_in_huashi_losses_and_latent_paths_do_not():
    root = Path(huashi.__file__).parent
    outside, inside = [], []
    for path in root.rglob("*.py"):
        in_losses = "losses" in path.relative_to(root).parts
        for line in path.read_text().splitlines():
            if not in_losses and (
                re.match(r"def \w*_loss\(", line) or "binary_cross_entropy" in line
            ):
                outside.append(f"{path.relative_to(root)}: {line.strip()}")
            if in_losses and re.match(r"def (lerp|slerp)\(", line):
                inside.append(f"{path.relative_to(root)}: {line.strip()}")
    assert outside == [] and inside == [], (outside, inside)


def test_the_shared_bce_pair_equals_bce_with_logits_in_value_and_gradient():
    """DCGAN and Pix2Pix used BCE-with-logits against 1 and 0; they now share bce_d_loss and
    nonsaturating_g_loss, which agree with it up to float rounding, gradients included."""
    logits = torch.linspace(-30, 30, 601, dtype=torch.float64).view(1, 1, -1)
    real, fake = logits.clone().requires_grad_(), logits.flip(-1).clone().requires_grad_()
    ours = bce_d_loss(real, fake) + nonsaturating_g_loss(fake)
    old = (
        F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
        + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    )
    grads = torch.autograd.grad(ours, (real, fake))
    old_grads = torch.autograd.grad(old, (real, fake))
    assert torch.allclose(ours, old, rtol=1e-12)
    for a, b in zip(grads, old_grads, strict=True):
        # softplus turns linear above 20 (gradient 1 instead of 1 - 2e-9): below float32 rounding
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-12)
    # float32, as the families compute it: equal within rounding
    x = torch.randn(4, 1, 6, 6, generator=torch.Generator().manual_seed(0)) * 4
    one = F.binary_cross_entropy_with_logits(x, torch.ones_like(x))
    assert torch.allclose(nonsaturating_g_loss(x), one, rtol=1e-6)


def test_pix2pix_losses_by_hand():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    softplus = torch.nn.functional.softplus
    d = 0.5 * (softplus(-real).mean() + softplus(fake).mean())
    assert torch.allclose(discriminator_loss(real, fake), d)
    total, adversarial, l1 = generator_loss(fake, torch.zeros(4), torch.ones(4), 10.0)
    assert torch.allclose(adversarial, softplus(-fake).mean()) and l1.item() == 1.0
    assert torch.allclose(total, adversarial + 10.0)


def test_diffusion_loss_eps_and_v_targets_and_min_snr_weighting_by_hand():
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64)
    noise = torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64)
    abar = torch.tensor([0.99, 0.7, 0.3, 0.02], dtype=torch.float64).view(-1, 1, 1, 1)
    pred = torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(diffusion_loss(pred, x0, noise, abar), ((pred - noise) ** 2).mean())
    v = abar.sqrt() * noise - (1 - abar).sqrt() * x0
    assert torch.allclose(diffusion_loss(pred, x0, noise, abar, "v"), ((pred - v) ** 2).mean())
    assert torch.allclose(v, v_from_eps(x0, noise, abar))
    # min-SNR: the weighted loss is the x0 error weighted by min(SNR, gamma), for both targets
    x_t = add_noise(x0, noise, abar)
    for kind, to_x0 in (("eps", x0_from_eps), ("v", x0_from_v)):
        x0_hat = to_x0(x_t, pred, abar)
        per_sample = ((x0_hat - x0) ** 2).mean(dim=(1, 2, 3))
        want = (snr(abar.flatten()).clamp(max=2.0) * per_sample).mean()
        got = diffusion_loss(pred, x0, noise, abar, kind, "min-snr", 2.0)
        assert torch.allclose(got, want, rtol=1e-9)
