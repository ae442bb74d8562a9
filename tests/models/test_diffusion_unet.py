"""F2: the U-Net's shapes, conditioning paths and the cross-attention padding mask."""

import math

import pytest
import torch

from huashi.models.diffusion.unet import UNet, UNetConfig, timestep_embedding

TINY = UNetConfig(
    in_channels=3, out_channels=3, base_channels=8, channel_mults=(1, 2), res_blocks=1,
    attention_resolutions=(8,), resolution=16, heads=2, norm_groups=8, num_classes=3,
    context_dim=6,
)  # fmt: skip


def randomized(config: UNetConfig) -> UNet:
    """A U-Net whose zero-initialized output layers are perturbed, so every path matters."""
    torch.manual_seed(0)
    net = UNet(config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def test_tiny_config_is_tiny_and_shapes_round_trip():
    net = randomized(TINY)
    assert sum(p.numel() for p in net.parameters()) < 60_000
    x = torch.randn(2, 3, 16, 16)
    ctx, mask = torch.randn(2, 5, 6), torch.tensor([[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]]).bool()
    out = net(x, torch.tensor([3.0, 500.0]), torch.tensor([0, 3]), ctx, mask)
    assert out.shape == x.shape
    out.square().mean().backward()
    unused = {"null_context"}  # a context was given
    assert all(p.grad is not None for n, p in net.named_parameters() if n not in unused)
    # three levels at 32 px, attention at 16 and 8
    big = UNet(UNetConfig(base_channels=8, channel_mults=(1, 2, 2), attention_resolutions=(16, 8)))
    assert big(torch.randn(1, 3, 32, 32), torch.tensor([1.0])).shape == (1, 3, 32, 32)


def test_fresh_unet_predicts_zero():
    """The output conv is zero-initialized: training starts from ε̂ = 0."""
    net = UNet(TINY)
    assert net(torch.randn(2, 3, 16, 16), torch.tensor([1.0, 2.0])).abs().max() == 0


def test_padding_tokens_are_ignored_and_real_tokens_are_not():
    net = randomized(TINY)
    x, t = torch.randn(1, 3, 16, 16), torch.tensor([100.0])
    ctx = torch.randn(1, 5, 6)
    mask = torch.tensor([[1, 1, 0, 0, 0]]).bool()
    base = net(x, t, torch.tensor([1]), ctx, mask)
    changed_pad = ctx.clone()
    changed_pad[:, 2:] = torch.randn(1, 3, 6) * 10
    assert torch.allclose(net(x, t, torch.tensor([1]), changed_pad, mask), base, atol=1e-6)
    changed_real = ctx.clone()
    changed_real[:, 1] += 1.0
    assert not torch.allclose(net(x, t, torch.tensor([1]), changed_real, mask), base, atol=1e-4)
    # no context = the learned null token; the class label matters too
    assert not torch.allclose(net(x, t, torch.tensor([1])), base, atol=1e-4)
    assert not torch.allclose(net(x, t, torch.tensor([2]), ctx, mask), base, atol=1e-4)
    assert torch.equal(net(x, t, None, ctx, mask), net(x, t, torch.tensor([3]), ctx, mask))


def test_batch_rows_are_independent():
    net = randomized(TINY)
    x, t = torch.randn(3, 3, 16, 16), torch.tensor([5.0, 50.0, 500.0])
    labels, ctx = torch.tensor([0, 1, 2]), torch.randn(3, 4, 6)
    mask = torch.ones(3, 4, dtype=torch.bool)
    full = net(x, t, labels, ctx, mask)
    one = net(x[1:2], t[1:2], labels[1:2], ctx[1:2], mask[1:2])
    assert torch.allclose(full[1:2], one, atol=1e-5)


def test_timestep_embedding_is_sinusoidal():
    emb = timestep_embedding(torch.tensor([0.0, 10.0, 10.5]), 8)
    assert emb.shape == (3, 8)
    assert torch.allclose(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    freqs = torch.exp(-math.log(10000.0) * torch.arange(4) / 4)
    assert torch.allclose(emb[1, :4], torch.cos(10 * freqs)) and torch.allclose(
        emb[1, 4:], torch.sin(10 * freqs)
    )
    assert not torch.allclose(emb[1], emb[2])  # fractional timesteps are distinct
    assert timestep_embedding(torch.tensor([1.0]), 7).shape == (1, 7)


@pytest.mark.parametrize("channels_last", [False, True])
def test_channels_last_gives_the_same_output(channels_last):
    net = randomized(TINY)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([3.0, 30.0])
    ref = net(x, t)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(net(x, t), ref, atol=1e-5)
