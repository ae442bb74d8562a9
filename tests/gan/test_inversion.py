"""Inversion and latent files on a tiny untrained-but-fixed StyleGAN.

What this proves: the optimizer, the w+ parametrization, the masks and the files work; a picture
that lies on the generator's own image manifold is found again. It does not show how well a
trained model inverts real pictures (docs/stylegan.md measures that)."""

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.families import DataInfo
from huashi.families.base import noise_for_seeds
from huashi.families.stylegan import StyleGAN, StyleGANConfig
from huashi.gan.inversion import invert, psnr
from huashi.gan.latents import Latent, load_latent, render, save_latent

CPU = torch.device("cpu")


def tiny() -> StyleGAN:
    torch.manual_seed(0)
    sg = StyleGAN(
        StyleGANConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=8),
        DataInfo(3, 16),
        CPU,
    )
    with torch.no_grad():  # an untrained mapping has w_avg = 0: set it as training would
        z = noise_for_seeds(range(256), (16,), CPU)
        sg.modules["generator"].mapping.w_avg.copy_(sg.map_latents(z).mean(dim=0))
    return sg


@pytest.fixture(scope="module")
def sg():
    return tiny()


def test_psnr_is_the_textbook_formula():
    a = torch.zeros(3, 4, 4)
    assert psnr(a, a + 0.2) == pytest.approx(10 * torch.log10(torch.tensor(4 / 0.04)).item())
    mask = torch.zeros(1, 4, 4)
    mask[:, :2] = 1
    b = a.clone()
    b[:, 2:] = 1.0  # errors only outside the mask
    assert psnr(a, b, mask) > 100


def test_w_plus_inversion_recovers_a_generated_image_and_beats_z(sg):
    target = sg.generate([7])[0]
    in_w_plus = invert(sg, target, "w+", steps=100, lr=0.1)
    in_z = invert(sg, target, "z", steps=100, lr=0.1)
    assert in_w_plus.psnr >= 30, in_w_plus.psnr
    assert in_w_plus.psnr > in_z.psnr + 3, (in_w_plus.psnr, in_z.psnr)
    assert in_w_plus.latent.shape == (1, sg.num_ws, sg.w_dim) and in_z.latent.shape == (1, 16)
    # the stored latent remakes the reconstruction, and the snapshots end at it
    again = render(sg, in_w_plus.latent, "w+")[0]
    torch.testing.assert_close(again, in_w_plus.image)
    assert len(in_w_plus.snapshots) == 8
    assert in_w_plus.losses[-1] < in_w_plus.losses[0] / 10
    assert all(p.requires_grad for p in sg.modules["generator"].parameters())  # left as found


def test_masked_inversion_fills_the_hole_better_than_leaving_it(sg):
    target = sg.generate([11])[0]
    mask = torch.ones(1, 16, 16)
    mask[:, 5:11, 5:11] = 0
    damaged = target * mask  # the hole is zeros (mid-gray)
    result = invert(sg, damaged, "w+", steps=100, lr=0.1, mask=mask)
    hole = 1 - mask
    assert psnr(result.image, target, hole) > psnr(damaged, target, hole) + 6


def test_latent_files_round_trip_and_bad_files_are_clear_errors(tmp_path):
    latent = Latent(torch.randn(2, 6, 16), "w+", "/runs/x", "step-00000010.json", {"label": "red"})
    path = save_latent(tmp_path / "l.safetensors", latent)
    back = load_latent(path)
    assert torch.equal(back.tensor, latent.tensor)
    assert (back.space, back.run, back.checkpoint, back.options) == (
        "w+", "/runs/x", "step-00000010.json", {"label": "red"},
    )  # fmt: skip
    (tmp_path / "bad.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(HuashiError, match="not a readable latent file"):
        load_latent(tmp_path / "bad.safetensors")
    with pytest.raises(HuashiError, match="does not exist"):
        load_latent(tmp_path / "missing.safetensors")


def test_a_space_the_family_lacks_is_a_clear_error(sg):
    with pytest.raises(HuashiError, match="choose --space"):
        invert(sg, torch.zeros(3, 16, 16), "s")


class LinearFamily:
    """A stand-in for a z-only generator (dcgan, gan): images = tanh(A z), no mapping network."""

    name = "linear"
    device = CPU
    style_latents = noise_inputs = False  # the abilities it declares: z only, no noise maps

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.a = torch.randn(3 * 8 * 8, 6, generator=g) / 6**0.5
        self.modules = {}
        self.latent_shape = (6,)

    def generate_from_latents(self, z):
        return torch.tanh(z @ self.a.T).view(len(z), 3, 8, 8)

    def discriminator_features(self):
        return None  # no discriminator to measure with


def test_z_only_generators_invert_in_z_and_refuse_w():
    family = LinearFamily()
    target = family.generate_from_latents(
        torch.randn(1, 6, generator=torch.Generator().manual_seed(5))
    )[0]
    result = invert(family, target, "z", steps=150, lr=0.1)
    assert result.psnr >= 30, result.psnr
    with pytest.raises(HuashiError, match="no 'w\\+' latent space"):
        invert(family, target, "w+")
