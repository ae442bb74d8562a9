"""StyleGAN's Fourier input (``--input fourier``): the input map moves exactly with its
translation, the whole generator moves its picture and features with it (so the drag self-check
finds a moved face), noise can be switched off, and the option round-trips through a run while
the default keeps the old layout."""

import pytest
import torch
import torch.nn.functional as F

from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.families import DataInfo, get_family
from huashi.families.stylegan import StyleGAN, StyleGANConfig
from huashi.gan.drag_check import check_drag
from huashi.models.stylegan.fourier import FourierInput
from huashi.runs import load_run

CPU = torch.device("cpu")
TINY = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 256, "channel_max": 8}


def fourier(resolution=32, **options) -> StyleGAN:
    torch.manual_seed(0)
    config = StyleGANConfig(**TINY | {"input": "fourier", "noise": False} | options)
    return StyleGAN(config, DataInfo(3, resolution), CPU)


def ws_of(sg: StyleGAN, seed: int = 3) -> torch.Tensor:
    with torch.no_grad():
        return sg.broadcast(sg.map_latents(sg.latents_for_seeds([seed])))


@pytest.mark.parametrize("k", [1, 2])
def test_the_input_map_moves_by_whole_pixels_with_its_translation(k):
    torch.manual_seed(0)
    layer = FourierInput(6, w_dim=4, size=4, margin=3, bandwidth=2.0)
    w = torch.randn(2, 4)
    with torch.no_grad():
        layer.affine.weight.normal_()  # a translation that depends on w
        still = layer(w)
        right = layer(w, torch.tensor([k / 4, 0.0]))  # k px of the 4-px grid, in image widths
        down = layer(w, torch.tensor([0.0, k / 4]))
    assert still.shape == (2, 6, 10, 10) and still.std() > 0.1
    torch.testing.assert_close(right[..., :, k:], still[..., :, :-k], rtol=0, atol=1e-5)
    torch.testing.assert_close(down[..., k:, :], still[..., :-k, :], rtol=0, atol=1e-5)
    assert (right[..., :, :k] - still[..., :, :k]).abs().max() > 0.1  # not a constant map


def test_a_new_input_layer_ignores_w_until_trained():
    layer = FourierInput(6, w_dim=4)
    torch.testing.assert_close(layer(torch.randn(1, 4)), layer(torch.randn(1, 4)))


def test_the_picture_and_features_move_with_the_input_and_the_drag_check_sees_it():
    sg = fourier()
    synthesis = sg.modules["generator"].synthesis
    ws = ws_of(sg)
    shift = torch.tensor([0.25, 0.25])  # 8 px at 32 px: one pixel of the 4-px input grid
    with torch.no_grad():
        image, feats = synthesis(ws, "const", return_features=True)
        moved, moved_feats = synthesis(ws, "const", return_features=True, shift=shift)
    assert image.shape == (1, 3, 32, 32) and feats[16].shape[-1] == 16
    torch.testing.assert_close(moved[..., 8:, 8:], image[..., :-8, :-8], rtol=0, atol=1e-4)
    f, g = feats[16], moved_feats[16]
    torch.testing.assert_close(g[..., 4:, 4:], f[..., :-4, :-4], rtol=0, atol=1e-4)
    handles = [(10.0, 12.0), (20.0, 12.0)]
    a, b = (F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False) for x in (f, g))
    moved_checks = check_drag(a, b, handles, [(x + 8, y + 8) for x, y in handles])
    assert all(c.moved and c.mismatch < 0.01 for c in moved_checks)
    stayed = check_drag(a, a, handles, [(x + 8, y + 8) for x, y in handles])
    assert not any(c.moved for c in stayed)  # a picture that did not move reads "did NOT move"


def test_noise_can_be_switched_off():
    quiet, noisy = fourier(16), fourier(16, noise=True)
    for sg in (quiet, noisy):
        for conv in sg.modules["generator"].synthesis.convs:
            conv.noise.strength.data.fill_(1.0)
    for sg, same in ((quiet, True), (noisy, False)):
        ws = ws_of(sg)
        a, b = sg.synthesize(ws, "const"), sg.synthesize(ws, "random")
        assert torch.equal(a, b) == same


def test_the_default_keeps_the_learned_constant_and_shift_needs_fourier():
    sg = StyleGAN(StyleGANConfig(**TINY), DataInfo(3, 16), CPU)
    names = set(sg.modules["generator"].state_dict())
    assert "synthesis.const" in names and not any(".input." in n for n in names)
    assert get_family("stylegan").make_config({}).input == "const"  # an old config.json
    with pytest.raises(ValueError, match="Fourier input"):
        sg.modules["generator"].synthesis(ws_of(sg), shift=torch.zeros(2))
    with pytest.raises(HuashiError, match="const, fourier"):
        get_family("stylegan").make_config({"input": "sines"})
    with pytest.raises(HuashiError, match="--input-bandwidth"):
        StyleGANConfig(input_bandwidth=0.0)


def test_weights_carry_the_fixed_frequencies():
    a, b = fourier(16), fourier(16, input_bandwidth=0.5)
    b.load_state_tensors(*a.state_tensors())
    seeds = [0, 1]
    torch.testing.assert_close(a.generate(seeds), b.generate(seeds), rtol=0, atol=0)


def test_the_option_round_trips_through_a_run(tmp_path):
    out = tmp_path / "sg"
    args = ["train", "stylegan", "--data", "shapes", "--data-option", "n=16", "--resolution", "16",
            "--z-dim", "8", "--w-dim", "8", "--mapping-layers", "2", "--channel-base", "64",
            "--channel-max", "8", "--batch-size", "4", "--steps", "1", "--quiet", "--input",
            "fourier", "--input-bandwidth", "1.5", "--input-margin", "2", "--no-noise",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    loaded = load_run(out, None, "cpu")
    config = loaded.family.config
    saved = (config.input, config.input_bandwidth, config.input_margin, config.noise)
    assert saved == ("fourier", 1.5, 2, False)
    synthesis = loaded.family.modules["generator"].synthesis
    assert synthesis.fourier and synthesis.margin == 2 and not synthesis.use_noise
    assert float(synthesis.input.freqs.norm(dim=1).max()) <= 1.5
    again = load_run(out, None, "cpu").family
    torch.testing.assert_close(loaded.family.generate([4]), again.generate([4]), rtol=0, atol=0)
