"""StyleGAN2: modulated convolution against its closed form, the synthesis layout, truncation,
style mixing in training, ADA's controller, one training step and exact resume."""

import pytest
import torch
import torch.nn.functional as F
from gan_fakes import Squares

from huashi.augment.ada import AdaptiveAugment, augment, rotate90, translate, xflip
from huashi.core.errors import HuashiError
from huashi.families import DataInfo, StepContext, get_family
from huashi.families.stylegan import StyleGAN, StyleGANConfig
from huashi.models.stylegan.discriminator import minibatch_stddev
from huashi.models.stylegan.layers import ModulatedConv2d, modulated_conv2d
from huashi.training.loop import TrainConfig, Trainer

CPU = torch.device("cpu")
PLAIN = DataInfo(3, 16)
LABELLED = DataInfo(3, 16, num_classes=3, class_names=("red", "green", "blue"), has_captions=True)
TINY = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8}


def family(data=PLAIN, **options) -> StyleGAN:
    torch.manual_seed(0)
    return StyleGAN(StyleGANConfig(**TINY | options), data, CPU)


# --- layers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_modulated_conv_equals_the_per_sample_closed_form(demodulate, fused):
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(3, 4)
    out = modulated_conv2d(x, weight, styles, demodulate, fused)
    for i in range(3):
        w_i = weight * styles[i].view(1, 4, 1, 1)
        if demodulate:  # each output channel's kernel scaled to unit L2 norm
            w_i = w_i / w_i.flatten(1).norm(dim=1).view(5, 1, 1, 1)
        expected = F.conv2d(x[i : i + 1], w_i, padding=1)
        torch.testing.assert_close(out[i : i + 1], expected, rtol=1e-4, atol=1e-5)


def test_demodulation_makes_the_output_blind_to_the_style_scale():
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, w_dim=6)
    x, styles = torch.randn(2, 4, 5, 5), torch.randn(2, 4)
    w = conv.weight * conv.scale
    torch.testing.assert_close(
        modulated_conv2d(x, w, styles), modulated_conv2d(x, w, 7.0 * styles), rtol=1e-4, atol=1e-5
    )


def test_minibatch_stddev_is_the_group_standard_deviation():
    x = torch.randn(4, 3, 2, 2)
    out = minibatch_stddev(x, group_size=4)
    assert out.shape == (4, 4, 2, 2)
    expected = x.std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(
        out[:, 3], torch.full((4, 2, 2), float(expected)), rtol=1e-4, atol=1e-5
    )


# --- the family ---------------------------------------------------------------------------------


def test_bad_options_and_data_are_clear_errors():
    with pytest.raises(HuashiError, match="ada, diffaugment, none"):
        get_family("stylegan").make_config({"augment": "always"})
    with pytest.raises(HuashiError, match="power-of-two"):
        StyleGAN.check_data(DataInfo(3, 24), StyleGANConfig())
    with pytest.raises(HuashiError, match="needs labelled data"):
        StyleGAN.check_data(PLAIN, StyleGANConfig(condition="class"))
    with pytest.raises(HuashiError, match="unknown sampling option"):
        family().generate([0], psi=0.5)
    with pytest.raises(HuashiError, match="latents of shape"):
        family().generate_from_latents(torch.zeros(2, 3))


def test_synthesis_layout_and_the_latent_contract():
    sg = family()
    assert sg.num_ws == 6 and sg.w_dim == 8 and sg.latent_shape == (8,)  # 16 px: 2 log2 16 - 2
    images = sg.generate([3, 5])
    assert images.shape == (2, 3, 16, 16)
    torch.testing.assert_close(sg.generate([5]), images[1:])  # per-seed, batch-independent
    z = sg.latents_for_seeds([3, 5]).requires_grad_(True)
    again = sg.generate_from_latents(z)
    torch.testing.assert_close(again.detach(), images)
    again.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_truncation_zero_gives_the_average_w_image_for_every_seed():
    sg = family()
    sg.modules["generator"].mapping.w_avg.copy_(torch.randn(8))
    images = sg.generate([0, 1, 2], truncation=0.0)
    expected = sg.synthesize(sg.broadcast(sg.w_avg.unsqueeze(0))).clamp(-1, 1)
    for image in images:
        torch.testing.assert_close(image, expected[0])
    assert (sg.generate([0])[0] - expected[0]).abs().max() > 1e-3  # psi=1 is not the average


def test_training_style_mixing_takes_w_a_before_the_crossover_and_w_b_after():
    sg = family(style_mixing=1.0)
    g = torch.Generator().manual_seed(3)
    mapping = sg.modules["generator"].mapping
    ws = sg._training_ws(6, None, g, track=False)
    g = torch.Generator().manual_seed(3)  # replay the same draws
    w_a = mapping(torch.randn(6, 8, generator=g))
    w_b = mapping(torch.randn(6, 8, generator=g))
    torch.rand(6, generator=g)
    cutoff = torch.randint(1, sg.num_ws, (6,), generator=g)
    for i in range(6):
        c = int(cutoff[i])
        torch.testing.assert_close(ws[i, :c], w_a[i].expand(c, -1))
        torch.testing.assert_close(ws[i, c:], w_b[i].expand(sg.num_ws - c, -1))


def test_class_condition_goes_through_the_mapping_network():
    sg = family(LABELLED, condition="class")
    red, blue = sg.generate([0], label="red"), sg.generate([0], label="blue")
    assert (red - blue).abs().max() > 1e-4
    torch.testing.assert_close(sg.generate([3])[0], sg.generate([3], label=0)[0])  # seed % 3
    with pytest.raises(HuashiError, match="unknown class"):
        sg.generate([0], label="pink")


def test_one_step_trains_both_networks_and_tracks_w_avg():
    sg = family(pl_weight=2.0, pl_every=1, r1_every=1)
    before = {k: v.clone() for k, v in sg.modules["generator"].state_dict().items()}
    d_before = [p.clone() for p in sg.modules["discriminator"].parameters()]
    batch = Squares(8).batch(torch.arange(8))
    logged = sg.train_step(batch, StepContext(0, CPU, "fp32", 1, torch.Generator().manual_seed(0)))
    for key in ("d_loss", "g_loss", "r1", "pl", "ada_p", "d_real", "d_fake"):
        assert key in logged
    after = sg.modules["generator"].state_dict()
    assert not torch.equal(before["mapping.w_avg"], after["mapping.w_avg"])
    assert not torch.equal(before["synthesis.const"], after["synthesis.const"])
    assert any(
        not torch.equal(a, b)
        for a, b in zip(d_before, sg.modules["discriminator"].parameters(), strict=True)
    )
    assert float(sg.pl_mean) > 0


# --- ADA -----------------------------------------------------------------------------------------


def test_ada_p_rises_when_d_overfits_and_falls_otherwise():
    ada = AdaptiveAugment(target=0.6, interval=2, speed_kimg=0.1)
    for _ in range(4):  # D calls every real real: sign +1 > 0.6
        ada.observe(torch.ones(10))
        ada.step(10)
    assert ada.p == pytest.approx(2 * 10 * 2 / 100)
    high = ada.p
    for _ in range(2):  # D unsure of the reals: mean sign 0 < 0.6
        ada.observe(torch.tensor([1.0, -1.0]))
        ada.step(10)
    assert ada.p == pytest.approx(high - 0.2)
    for _ in range(40):
        ada.observe(-torch.ones(10))
        ada.step(10)
    assert ada.p == 0.0


def test_ada_augmentations_are_what_they_say():
    x = torch.randn(4, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(augment(x, 0.0, g), x)
    torch.testing.assert_close(xflip(x, 1.0, g), x.flip(3))
    turned = rotate90(x, 1.0, g)
    for i in range(4):
        assert any(torch.equal(turned[i], torch.rot90(x[i], k, dims=(1, 2))) for k in (1, 2, 3))
    shifted = translate(x, 1.0, g)
    assert shifted.shape == x.shape
    assert set(shifted.flatten().tolist()) <= set(x.flatten().tolist())  # whole-pixel moves
    y = x.clone().requires_grad_(True)
    augment(y, 1.0, g).sum().backward()
    assert y.grad is not None


def test_ada_p_rises_while_a_stylegan_d_memorizes_four_images():
    sg = family(ada_interval=1, ada_kimg=0.2, r1_gamma=0.0, lr=0.01)
    batch = Squares(4).batch(torch.arange(4))
    g = torch.Generator().manual_seed(0)
    for step in range(12):
        sg.train_step(batch, StepContext(step, CPU, "fp32", 1, g))
    assert sg.ada.p > 0.1


# --- exact resume ------------------------------------------------------------------------------


def make_trainer(run_dir, steps, stop_at=None):
    torch.manual_seed(0)
    sg = StyleGAN(
        StyleGANConfig(**TINY, condition="class", r1_every=3, pl_weight=1.0, pl_every=2,
                       ada_interval=2, ada_kimg=0.5),
        LABELLED, CPU,
    )  # fmt: skip
    sg.ada.p = 0.5  # augmentations on from the start (a resumed run restores its own p)
    config = TrainConfig(steps=steps, batch_size=8, checkpoint_every=100, sample_every=100,
                         n_fixed=4, log_every=1, ema=0.9, precision="fp32")  # fmt: skip
    callbacks = [lambda t, losses: t.request_stop() if t.step == stop_at else None]
    return Trainer(sg, Squares(32), config, run_dir, callbacks, progress=False)


def test_resume_is_exact_with_ada_path_length_and_ema(tmp_path):
    straight = make_trainer(tmp_path / "a", 6)
    straight.run()
    first = make_trainer(tmp_path / "b", 6, stop_at=3)
    assert first.run().interrupted
    resumed = make_trainer(tmp_path / "b", 6)
    assert resumed.resume_latest() and resumed.step == 3
    resumed.run()
    a, meta_a = straight.family.state_tensors()
    b, meta_b = resumed.family.state_tensors()
    assert a.keys() == b.keys() and "ema/generator/mapping.w_avg" in a
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert float(a["modules/ada/probability"]) != 0.5  # p moved, and resumed exactly (above)


def test_the_gan_family_adapts_its_augmentation_too(tmp_path):
    from huashi.families.gan import GAN, GANConfig

    torch.manual_seed(0)
    gan = GAN(GANConfig(g_width=4, d_width=4, z_dim=8, ada_target=0.6), PLAIN, CPU)
    gan.ada.interval, gan.ada.speed_kimg = 1, 0.05
    batch = Squares(4).batch(torch.arange(4))
    g = torch.Generator().manual_seed(0)
    for step in range(10):  # D memorizes four images: its outputs on them turn positive
        logged = gan.train_step(batch, StepContext(step, CPU, "fp32", 1, g))
    assert logged["ada_p"] > 0 and "modules/ada/probability" in gan.state_tensors()[0]
