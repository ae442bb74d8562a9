"""The seed's DCGAN: architecture, initialization, losses and per-seed sampling."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from huashi.core.errors import HuashiError
from huashi.families import DataInfo, StepContext
from huashi.families.dcgan import DCGAN, DCGANFamilyConfig
from huashi.models.gan.dcgan import DCGANConfig, Discriminator, Generator

CPU = torch.device("cpu")


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
def test_shapes_at_every_power_of_two(resolution):
    config = DCGANConfig(g_width=4, d_width=4)
    G, D = Generator(config, 3, resolution), Discriminator(config, 3, resolution)
    images = G(torch.randn(2, 100))
    assert images.shape == (2, 3, resolution, resolution)
    assert images.abs().max() <= 1  # Tanh output
    assert D(images).shape == (2,)
    # Stages: one ConvTranspose per doubling from 1x1 -> 4x4 -> ... -> resolution.
    n_up = sum(isinstance(m, nn.ConvTranspose2d) for m in G.modules())
    assert 2 ** (n_up + 1) == resolution
    # The seed's building blocks: BatchNorm + ReLU in G, LeakyReLU(0.2) in D, no BN on D's input.
    assert isinstance(G.net[-1], nn.Tanh)
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    assert not isinstance(D.net[1], nn.BatchNorm2d)


def test_weights_start_from_normal_0_002():
    torch.manual_seed(0)
    family = DCGAN(DCGANFamilyConfig(), DataInfo(3, 64), CPU)
    convs = [
        m.weight for m in family.modules["generator"].modules() if isinstance(m, nn.ConvTranspose2d)
    ]
    weights = torch.cat([w.flatten() for w in convs])
    assert abs(weights.mean().item()) < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    bn = torch.cat(
        [m.weight for m in family.modules["generator"].modules() if isinstance(m, nn.BatchNorm2d)]
    )
    assert bn.mean().item() == pytest.approx(1.0, abs=0.01)


def test_seed_optimizer_settings():
    family = DCGAN(DCGANFamilyConfig(), DataInfo(1, 32), CPU)
    for optimizer in family.optimizers.values():
        assert isinstance(optimizer, torch.optim.Adam)
        assert optimizer.param_groups[0]["lr"] == 2e-4
        assert optimizer.param_groups[0]["betas"] == (0.5, 0.999)


def test_rejects_resolution_that_is_not_a_power_of_two():
    with pytest.raises(HuashiError, match="power-of-two"):
        DCGAN.check_data(DataInfo(3, 48), DCGANFamilyConfig())


def test_step_logs_the_bce_losses_of_the_seed():
    """With learning rate 0 nothing moves, so the logged losses can be recomputed by hand:
    D sees an all-real batch (label 1) and an all-fake batch (label 0); G's loss is the
    non-saturating -log D(G(z))."""
    torch.manual_seed(0)
    family = DCGAN(DCGANFamilyConfig(g_width=4, d_width=4, lr=0.0), DataInfo(3, 16), CPU)
    G, D = family.modules["generator"], family.modules["discriminator"]
    real = torch.rand(6, 3, 16, 16) * 2 - 1
    ctx = StepContext(0, CPU, "fp32", 1, torch.Generator().manual_seed(3))
    logged = family.train_step({"image": real}, ctx)

    noise = torch.Generator().manual_seed(3)
    z_d, z_g = torch.randn(6, 100, generator=noise), torch.randn(6, 100, generator=noise)
    real_logits, fake_logits = D(real), D(G(z_d))
    d_loss = -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())
    g_loss = -F.logsigmoid(D(G(z_g))).mean()
    assert logged["d_loss"] == pytest.approx(d_loss.item(), rel=1e-4)
    assert logged["g_loss"] == pytest.approx(g_loss.item(), rel=1e-4)
    assert logged["d_real"] == pytest.approx(torch.sigmoid(real_logits).mean().item(), rel=1e-4)


def test_training_steps_change_both_networks():
    torch.manual_seed(0)
    family = DCGAN(DCGANFamilyConfig(g_width=4, d_width=4), DataInfo(3, 16), CPU)
    before = {k: [p.clone() for p in m.parameters()] for k, m in family.modules.items()}
    ctx = StepContext(0, CPU, "fp32", 1, torch.Generator().manual_seed(0))
    family.train_step({"image": torch.rand(4, 3, 16, 16) * 2 - 1}, ctx)
    for name, module in family.modules.items():
        assert any(
            not torch.equal(a, b) for a, b in zip(before[name], module.parameters(), strict=True)
        ), name


def test_same_seed_same_image_at_any_batch_size():
    torch.manual_seed(0)
    family = DCGAN(DCGANFamilyConfig(g_width=4, d_width=4), DataInfo(3, 16), CPU)
    family.train_step(
        {"image": torch.rand(4, 3, 16, 16) * 2 - 1},
        StepContext(0, CPU, "fp32", 1, torch.Generator()),
    )
    together = family.generate([5, 6, 7, 8])
    alone = torch.cat([family.generate([s]) for s in (5, 6, 7, 8)])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=0)
    assert not torch.allclose(together[0], together[1])
