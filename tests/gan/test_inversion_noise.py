"""Inversion with the generator's noise maps optimized too (``--optimize-noise``), on a tiny
fixed StyleGAN whose noise inputs have a real strength (a trained model's are learned; here they
are set), so that a picture painted with other noise cannot be matched by the latent alone."""

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.families import DataInfo
from huashi.families.base import noise_for_seeds
from huashi.families.stylegan import StyleGAN, StyleGANConfig
from huashi.gan.inversion import invert, invert_many, noise_regularization
from huashi.gan.latents import Latent, load_latent, render, save_latent

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def sg() -> StyleGAN:
    torch.manual_seed(0)
    sg = StyleGAN(
        StyleGANConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=8),
        DataInfo(3, 16),
        CPU,
    )
    with torch.no_grad():
        z = noise_for_seeds(range(256), (16,), CPU)
        sg.modules["generator"].mapping.w_avg.copy_(sg.map_latents(z).mean(dim=0))
        for conv in sg.modules["generator"].synthesis.convs:
            conv.noise.strength.fill_(0.2)
    return sg


def own_sample(sg: StyleGAN, seed: int) -> torch.Tensor:
    """G's image for a seed, painted with fresh white noise (not the stored constant noise)."""
    g = torch.Generator().manual_seed(seed)
    noise = [torch.randn(n.shape, generator=g) for n in sg.const_noise()]
    with torch.no_grad():
        ws = sg.broadcast(sg.map_latents(sg.latents_for_seeds([seed])))
        return sg.synthesize(ws, noise=noise).clamp(-1, 1)[0]


def test_noise_regularization_scores_white_noise_low_and_smooth_maps_high():
    g = torch.Generator().manual_seed(0)
    white = [torch.randn(4, 1, 32, 32, generator=g)]
    smooth = [torch.nn.functional.avg_pool2d(torch.randn(4, 1, 36, 36, generator=g), 5, 1)]
    smooth[0] = smooth[0] / smooth[0].std(dim=(1, 2, 3), keepdim=True)
    assert noise_regularization(white).shape == (4,)
    assert noise_regularization(smooth).min() > 10 * noise_regularization(white).max()
    # closed form on one map: a checkerboard has autocorrelation -1 at every shift: 2 per level
    board = (torch.arange(4).view(4, 1) + torch.arange(4).view(1, 4)) % 2 * 2.0 - 1
    assert noise_regularization([board.view(1, 1, 4, 4)]).item() == pytest.approx(2.0)


def test_fitting_the_noise_reconstructs_better_at_the_same_steps(sg):
    target = own_sample(sg, 7)
    plain = invert(sg, target, "w+", steps=60, lr=0.1)
    fitted = invert(sg, target, "w+", steps=60, lr=0.1, optimize_noise=True)
    assert fitted.psnr > plain.psnr + 3, (fitted.psnr, plain.psnr)
    assert plain.noise is None and len(fitted.noise) == len(sg.const_noise())
    for n, c in zip(fitted.noise, sg.const_noise(), strict=True):
        assert n.shape == c.shape
        assert abs(n.mean().item()) < 1e-4 and n.std(correction=0).item() == pytest.approx(1, 1e-3)
    assert noise_regularization(fitted.noise) < noise_regularization(sg.const_noise())
    assert all(p.requires_grad for p in sg.modules["generator"].parameters())


def test_the_saved_latent_and_noise_remake_the_reconstruction(sg, tmp_path):
    result = invert(sg, own_sample(sg, 3), "w", steps=20, lr=0.1, optimize_noise=True)
    path = save_latent(
        tmp_path / "l.safetensors", Latent(result.latent, "w", "/r", noise=result.noise)
    )
    back = load_latent(path)
    assert [n.shape for n in back.noise] == [n.shape for n in result.noise]
    again = render(sg, back.tensor, back.space, noise=back.noise)[0]
    torch.testing.assert_close(again, result.image)
    without = render(sg, back.tensor, back.space)[0]  # the stored noise is what makes it
    assert (without - result.image).abs().max() > 0.05
    plain = save_latent(tmp_path / "p.safetensors", Latent(result.latent, "w", "/r"))
    assert load_latent(plain).noise is None


def test_a_batch_inverts_each_image_as_if_alone(sg):
    targets = torch.stack([own_sample(sg, 1), own_sample(sg, 2)])
    together = invert_many(sg, targets, "w+", steps=10, lr=0.1, optimize_noise=True)
    alone = invert(sg, targets[1], "w+", steps=10, lr=0.1, optimize_noise=True)
    torch.testing.assert_close(together[1].latent, alone.latent, atol=1e-4, rtol=0)
    torch.testing.assert_close(together[1].noise[-1], alone.noise[-1], atol=1e-4, rtol=0)
    assert together[1].psnr == pytest.approx(alone.psnr, abs=1e-3)
    z = invert_many(sg, targets, "z", steps=5, lr=0.1)
    assert z[0].latent.shape == (1, 16) and not torch.equal(z[0].latent, z[1].latent)


def test_noise_needs_a_generator_with_noise_inputs():
    class ZOnly:
        name, device, modules, latent_shape = "linear", CPU, {}, (4,)
        style_latents = noise_inputs = False

        def discriminator_features(self):
            return None

        def generate_from_latents(self, z):
            return torch.tanh(z).view(len(z), 1, 2, 2)

    with pytest.raises(HuashiError, match="needs a generator with noise inputs"):
        invert(ZOnly(), torch.zeros(1, 2, 2), "z", steps=1, optimize_noise=True)
