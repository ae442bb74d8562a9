"""The light FastGAN nets: shapes at every resolution, skip-layer excitation as a gate, a D that
redraws its input, gradients to every parameter, and no silent conditions."""

import pytest
import torch

from huashi.models.gan.fastgan import Discriminator, Excitation, FastGANConfig, Generator
from huashi.models.gan.layers import Condition

CONFIG = FastGANConfig(z_dim=8, g_width=8, d_width=4)


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_shapes_at_every_power_of_two(resolution):
    torch.manual_seed(0)
    G, D = Generator(CONFIG, 3, resolution), Discriminator(CONFIG, 3, resolution)
    images = G(torch.randn(2, 8))
    assert images.shape == (2, 3, resolution, resolution) and images.abs().max() <= 1
    logits, redrawn = D.reconstruct(images)
    assert D(images).shape == logits.shape == (2,)
    torch.testing.assert_close(D(images), logits)  # the redrawing path does not change D(x)
    half = resolution // 2
    assert redrawn.shape == (2, 3, half, half) and redrawn.abs().max() <= 1
    # one up-block per doubling from 4x4 to half the size; one gate per block two doublings on
    assert len(G.ups) == resolution.bit_length() - 4 and len(G.excite) == max(len(G.ups) - 1, 0)


def test_excitation_scales_each_channel_by_a_gate_in_0_1():
    torch.manual_seed(0)
    gate = Excitation(4, 6)
    small, big = torch.randn(2, 4, 4, 4), torch.randn(2, 6, 16, 16)
    out = gate(small, big)
    ratio = out / big
    per_channel = ratio.flatten(2)
    torch.testing.assert_close(per_channel, per_channel[..., :1].expand_as(per_channel))
    assert (ratio > 0).all() and (ratio < 1).all()
    assert not torch.allclose(gate(small * 3, big), out)  # the small features steer it


def test_gradients_reach_every_parameter_of_both_nets():
    torch.manual_seed(0)
    G, D = Generator(CONFIG, 3, 64), Discriminator(CONFIG, 3, 64)
    logits, redrawn = D.reconstruct(G(torch.randn(4, 8)))
    (logits.sum() + redrawn.square().sum()).backward()
    for name, p in [*G.named_parameters(), *D.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_same_seed_builds_the_same_nets():
    def build():
        torch.manual_seed(3)
        return Generator(CONFIG, 3, 16)

    z = torch.randn(2, 8)
    torch.testing.assert_close(build().eval()(z), build().eval()(z), rtol=0, atol=0)


def test_conditions_are_refused():
    with pytest.raises(ValueError, match="unconditional"):
        Generator(CONFIG, 3, 16, condition=Condition("class", num_classes=3))
    with pytest.raises(ValueError, match="unconditional"):
        Discriminator(CONFIG, 3, 16, condition=Condition("class", num_classes=3))
    with pytest.raises(ValueError, match="power-of-two"):
        Generator(CONFIG, 3, 24)
