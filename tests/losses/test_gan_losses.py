"""G2 losses and regularizers against hand-computed values and autograd by hand."""

import math

import pytest
import torch
from torch import nn

from huashi.losses.gan import (
    LOSSES,
    bce_d_loss,
    clip_weights,
    gradient_penalty,
    hinge_d_loss,
    hinge_g_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    minimax_g_loss,
    nonsaturating_g_loss,
    r1_due,
    r1_penalty,
    wgan_d_loss,
    wgan_g_loss,
)
from huashi.models.gan.layers import add_spectral_norm

REAL = torch.tensor([0.0, 2.0])
FAKE = torch.tensor([-1.0, 1.0])


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_bce_discriminator_loss_by_hand():
    # -[mean log D(real) + mean log(1 - D(fake))]
    expected = -(
        (math.log(sigmoid(0)) + math.log(sigmoid(2))) / 2
        + (math.log(1 - sigmoid(-1)) + math.log(1 - sigmoid(1))) / 2
    )
    assert bce_d_loss(REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)
    # smoothed/flipped targets t: -[t log D + (1 - t) log(1 - D)]
    t_real, t_fake = torch.tensor([0.9, 1.1]), torch.tensor([0.2, 0.0])

    def bce(logit: float, t: float) -> float:
        return -(t * math.log(sigmoid(logit)) + (1 - t) * math.log(1 - sigmoid(logit)))

    expected = (bce(0, 0.9) + bce(2, 1.1)) / 2 + (bce(-1, 0.2) + bce(1, 0.0)) / 2
    assert bce_d_loss(REAL, FAKE, t_real, t_fake).item() == pytest.approx(expected, rel=1e-6)


def test_generator_bce_losses_by_hand():
    minimax = (math.log(1 - sigmoid(-1)) + math.log(1 - sigmoid(1))) / 2
    nonsat = -(math.log(sigmoid(-1)) + math.log(sigmoid(1))) / 2
    assert minimax_g_loss(FAKE).item() == pytest.approx(minimax, rel=1e-6)
    assert nonsaturating_g_loss(FAKE).item() == pytest.approx(nonsat, rel=1e-6)
    # the point of the non-saturating loss: when D rejects a fake (logit -10) the minimax
    # gradient vanishes while the non-saturating one does not
    fake = torch.tensor([-10.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(minimax_g_loss(fake), fake)
    (g_nonsat,) = torch.autograd.grad(nonsaturating_g_loss(fake), fake)
    assert abs(g_minimax.item()) < 1e-4 < 0.99 < abs(g_nonsat.item())


def test_wgan_losses_by_hand():
    real, fake = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -0.5])
    assert wgan_d_loss(real, fake).item() == pytest.approx(-(2.0 - 0.0))
    assert wgan_g_loss(fake).item() == pytest.approx(0.0)
    assert wgan_g_loss(real).item() == pytest.approx(-2.0)


def test_lsgan_losses_by_hand():
    real, fake = torch.tensor([0.5, 1.5]), torch.tensor([0.2, -0.4])
    expected_d = 0.5 * (0.25 + 0.25) / 2 + 0.5 * (0.04 + 0.16) / 2
    assert lsgan_d_loss(real, fake).item() == pytest.approx(expected_d)
    assert lsgan_g_loss(fake).item() == pytest.approx(0.5 * (0.64 + 1.96) / 2)
    targets = torch.tensor([0.8, 0.8]), torch.tensor([0.1, 0.1])
    expected_t = 0.5 * (0.09 + 0.49) / 2 + 0.5 * (0.01 + 0.25) / 2
    assert lsgan_d_loss(real, fake, *targets).item() == pytest.approx(expected_t)


def test_hinge_losses_by_hand():
    real, fake = torch.tensor([0.5, 2.0, -1.0]), torch.tensor([-2.0, 0.0, 0.5])
    # relu(1 - real) = [0.5, 0, 2]; relu(1 + fake) = [0, 1, 1.5]
    assert hinge_d_loss(real, fake).item() == pytest.approx(2.5 / 3 + 2.5 / 3)
    assert hinge_g_loss(fake).item() == pytest.approx(0.5)


def test_loss_table_names_and_label_support():
    assert set(LOSSES) == {"bce", "nsgan", "wgan", "wgan-gp", "lsgan", "hinge"}
    assert [name for name, (_, _, labels) in LOSSES.items() if labels] == ["bce", "nsgan", "lsgan"]


def test_weight_clipping():
    torch.manual_seed(0)
    net = nn.Linear(5, 5)
    nn.init.normal_(net.weight, 0, 1)
    inside = net.weight.detach().abs() < 0.01
    before = net.weight.detach().clone()
    clip_weights(net, 0.01)
    assert net.weight.abs().max() <= 0.01 and net.bias.abs().max() <= 0.01
    assert torch.equal(net.weight[inside], before[inside])  # small weights are untouched


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    # D(x) = <w, x>: grad = w everywhere, so GP = (||w|| - 1)^2 for any interpolate
    w = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # ||w|| = sqrt(26)
    real, fake = torch.randn(4, 2, 2), torch.randn(4, 2, 2)
    gp = gradient_penalty(lambda x: (x * w).sum((1, 2)), real, fake, torch.rand(4))
    assert gp.item() == pytest.approx((math.sqrt(26) - 1) ** 2, rel=1e-6)


def test_gradient_penalty_against_autograd_by_hand():
    # D(x) = sum(a * x^2): grad at x_hat = 2 a x_hat
    torch.manual_seed(0)
    a = torch.rand(3, 4, requires_grad=True)
    real, fake, alpha = torch.randn(5, 3, 4), torch.randn(5, 3, 4), torch.rand(5)
    gp = gradient_penalty(lambda x: (a * x**2).sum((1, 2)), real, fake, alpha)
    x_hat = alpha.view(5, 1, 1) * real + (1 - alpha.view(5, 1, 1)) * fake
    by_hand = (((2 * a * x_hat).flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(by_hand.item(), rel=1e-5)
    # the penalty trains the critic: its gradient w.r.t. a matches the hand formula's
    (grad_gp,) = torch.autograd.grad(gp, a)
    (grad_hand,) = torch.autograd.grad(by_hand, a)
    torch.testing.assert_close(grad_gp, grad_hand)


def test_r1_against_autograd_by_hand():
    # D(x) = sum(x^3): grad = 3 x^2, R1 = mean over samples of sum (3 x^2)^2
    real = torch.randn(4, 2, 3, requires_grad=True)
    logits = (real**3).sum((1, 2))
    expected = ((3 * real.detach() ** 2) ** 2).sum((1, 2)).mean()
    assert r1_penalty(logits, real).item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_loss_scale_keeps_small_fp16_input_gradients_from_flushing_to_zero():
    """fp16 training: an input gradient of 1e-8 passes through fp16 activations and flushes to
    zero unless the logits are scaled first (and the gradient divided back, in fp32)."""
    x = torch.ones(2, 3, requires_grad=True)

    def logits():
        return ((x.half() * 1e-4) * 1e-4).float().sum(dim=1)  # d/dx = 1e-8, below fp16's range

    assert r1_penalty(logits(), x).item() == 0.0
    r1 = r1_penalty(logits(), x, loss_scale=2.0**10)  # 2**16 would overflow fp16 at the logits
    assert r1.item() == pytest.approx(3 * 1e-16, rel=1e-2)  # 3 inputs of gradient 1e-8 each
    # in float64 the scale changes nothing, for R1 and for WGAN-GP
    real = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    cubes = (real**3).sum((1, 2))
    assert r1_penalty(cubes, real, 2.0**16).item() == pytest.approx(
        r1_penalty(cubes, real).item(), rel=1e-12
    )
    w = torch.randn(2, 3, dtype=torch.float64)
    critic = lambda v: (v * w).sum((1, 2))  # noqa: E731
    fake, alpha = torch.randn_like(real), torch.rand(4, dtype=torch.float64)
    assert gradient_penalty(critic, real, fake, alpha, 2.0**16).item() == pytest.approx(
        gradient_penalty(critic, real, fake, alpha).item(), rel=1e-12
    )


def test_lazy_r1_interval():
    assert [s for s in range(40) if r1_due(s, 16)] == [0, 16, 32]
    assert all(r1_due(s, 1) for s in range(5))


@pytest.mark.parametrize("layer", [nn.Linear(20, 10), nn.Conv2d(4, 6, 3)])
def test_spectral_norm_makes_the_largest_singular_value_one(layer):
    torch.manual_seed(0)
    nn.init.normal_(layer.weight, 0, 3.0)
    net = add_spectral_norm(nn.Sequential(layer))
    x = torch.randn(2, *((20,) if isinstance(layer, nn.Linear) else (4, 8, 8)))
    for _ in range(30):  # one power iteration per training-mode forward
        net(x)
    net.eval()
    weight = layer.weight.detach().flatten(1)  # the normalized weight
    original = layer.parametrizations.weight.original.detach().flatten(1)
    assert torch.linalg.svdvals(original)[0] > 10
    assert torch.linalg.svdvals(weight)[0].item() == pytest.approx(1.0, abs=1e-3)
