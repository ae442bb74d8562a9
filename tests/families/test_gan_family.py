"""The gan family: options and their errors, DiffAugment, the matching-aware batch, one step
checked by hand, conditioning, per-seed sampling and exact resume."""

import dataclasses
import re

import pytest
import torch
from gan_fakes import Squares

from huashi.augment.diffaugment import color, cutout, diff_augment, parse_policy, shift, translation
from huashi.core.errors import HuashiError
from huashi.families import DataInfo, StepContext, get_family
from huashi.families.gan import GAN, GANConfig, matching_aware_batch, mean_pairwise_distance
from huashi.losses.gan import hinge_d_loss, hinge_g_loss, label_targets, top_fraction
from huashi.training.checkpoint import load_checkpoint, save_checkpoint

CPU = torch.device("cpu")
PLAIN = DataInfo(3, 16)
LABELLED = DataInfo(3, 16, num_classes=3, class_names=("red", "green", "blue"), has_captions=True)
TINY = {"g_width": 4, "d_width": 4, "z_dim": 8}


def family(data=PLAIN, **options) -> GAN:
    torch.manual_seed(0)
    return GAN(GANConfig(**TINY | options), data, CPU)


def ctx(step=0, seed=0) -> StepContext:
    return StepContext(step, CPU, "fp32", 1, torch.Generator().manual_seed(seed))


# --- options and their errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        ({"loss": "gan"}, "hinge, bce, nsgan, wgan, wgan-gp, lsgan"),
        ({"arch": "stylegan"}, "dcgan, resnet"),
        ({"norm": "layer"}, "batch, instance, none"),
        ({"upsample": "bilinear"}, "convtranspose, pixelshuffle"),
        ({"condition": "image"}, "none, class, text"),
        ({"diffaugment": "color,blur"}, "color, translation, cutout"),
        ({"loss": "hinge", "label_smoothing": True}, "bce, nsgan or lsgan"),
        ({"loss": "wgan-gp", "d_norm": "batch"}, "--d-norm instance or none"),
        ({"arch": "fastgan", "condition": "class"}, "fastgan arch is unconditional"),
        ({"top_k": 0}, "fraction of the batch"),
    ],
)
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(HuashiError, match=message):
        get_family("gan").make_config(options)


def test_defaults_pick_the_discriminator_norm_and_penalty():
    assert GANConfig().discriminator_norm == "batch" and GANConfig().penalty_weight == 0
    gp = GANConfig(loss="wgan-gp")
    assert gp.penalty_weight == 10 and gp.discriminator_norm == "instance"
    assert GANConfig(arch="resnet").discriminator_norm == "none"
    assert GANConfig(loss="hinge", gp_weight=1.0).penalty_weight == 1.0


def test_conditions_the_data_cannot_provide_are_errors():
    with pytest.raises(HuashiError, match="needs labelled data"):
        GAN.check_data(PLAIN, GANConfig(condition="class"))
    with pytest.raises(HuashiError, match="needs captions"):
        GAN.check_data(DataInfo(3, 16, num_classes=3, class_names=("a", "b", "c")),
                       GANConfig(condition="text"))  # fmt: skip
    with pytest.raises(HuashiError, match="power-of-two"):
        GAN.check_data(DataInfo(3, 24), GANConfig())


# --- DiffAugment --------------------------------------------------------------------------


def test_translation_is_a_zero_filled_shift_of_at_most_an_eighth():
    x = torch.randn(6, 2, 16, 16)
    out = translation(x, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    shifts = set()
    for i in range(6):
        matches = [
            (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
            if torch.equal(out[i], padded[i, :, 2 + dy : 18 + dy, 2 + dx : 18 + dx])
        ]  # fmt: skip
        assert len(matches) == 1, i
        shifts.add(matches[0])
    assert len(shifts) > 1  # each image gets its own shift


def test_an_edge_shift_moves_the_image_and_repeats_its_border():
    x = torch.randn(3, 2, 8, 8)
    out = shift(x, torch.tensor([0, 2, -1]), torch.tensor([0, 1, -3]), border="edge")
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[1, :, :6, :7], x[1, :, 2:, 1:])  # pixel (y, x) <- (y + 2, x + 1)
    assert torch.equal(out[1, :, 6:, :7], x[1, :, 7:, 1:].expand(2, 2, 7))  # last row repeated
    assert torch.equal(out[2, :, 1:, 3:], x[2, :, :7, :5])
    assert torch.equal(out[2, :, 0, 3:], x[2, :, 0, :5])  # first row repeated
    assert torch.equal(out[2, :, 1:, :3], x[2, :, :7, :1].expand(2, 7, 3))  # first column


def test_cutout_zeroes_one_square_of_half_the_size():
    x = torch.ones(8, 3, 16, 16)
    out = cutout(x, torch.Generator().manual_seed(2))
    for image in out:
        zero = image[0] == 0
        assert torch.equal(zero, (image == 0).all(0))  # same hole in every channel
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert zero.sum() == len(rows) * len(cols)  # one rectangle
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8
        interior = rows.min() >= 4 and rows.max() <= 11 and cols.min() >= 4 and cols.max() <= 11
        assert not interior or (len(rows), len(cols)) == (8, 8)


def test_color_is_a_per_image_affine_map_and_brightness_shifts_the_mean():
    x = torch.randn(4, 3, 8, 8)
    out = color(x, torch.Generator().manual_seed(3))
    for i in range(4):  # each channel's output is an affine function of the input pixels
        a = torch.stack([x[i].flatten(), x[i].mean(0).repeat(3, 1, 1).flatten(),
                         torch.ones(192)], 1).double()  # fmt: skip
        solution = torch.linalg.lstsq(a, out[i].flatten().double()).solution
        residual = a @ solution - out[i].flatten().double()
        assert residual.abs().max() < 1e-4


def test_diffaugment_is_differentiable_and_reproducible_from_the_generator():
    policy = parse_policy("color,translation,cutout")
    x = torch.randn(2, 3, 8, 8, dtype=torch.double, requires_grad=True)

    def augment(v):
        return diff_augment(v, policy, torch.Generator().manual_seed(5))

    assert torch.autograd.gradcheck(augment, (x,))
    assert torch.equal(augment(x), augment(x))
    assert not torch.equal(augment(x), diff_augment(x, policy, torch.Generator().manual_seed(6)))
    assert parse_policy("") == () and parse_policy(" color , cutout") == ("color", "cutout")


# --- the matching-aware discriminator's batch ------------------------------------------------


def test_matching_aware_batch_has_all_three_pair_types_with_the_right_labels():
    real, fake = torch.arange(6.0).view(6, 1, 1, 1), -torch.arange(1.0, 7.0).view(6, 1, 1, 1)
    captions = ["a red square", "a red square", "a blue circle", "a green star", "a blue circle",
                "a red square"]  # fmt: skip
    images, index, is_real = matching_aware_batch(real, fake, captions, torch.Generator())
    assert len(images) == len(index) == len(is_real) == 18
    right_real = slice(0, 6)
    assert torch.equal(images[right_real], real) and torch.equal(index[right_real], torch.arange(6))
    assert is_real[right_real].all()
    assert torch.equal(images[6:12], fake) and torch.equal(index[6:12], torch.arange(6))
    assert not is_real[6:12].any()
    wrong_images, wrong_index = images[12:].flatten().long(), index[12:]
    assert not is_real[12:].any()
    assert sorted(wrong_images.tolist()) == list(range(6))  # every real image, once
    for image, caption in zip(wrong_images.tolist(), wrong_index.tolist(), strict=True):
        assert captions[caption] != captions[image]  # a caption that differs from the right one


def test_matching_aware_batch_skips_images_without_a_different_caption():
    real, fake = torch.zeros(3, 1, 2, 2), torch.ones(3, 1, 2, 2)
    images, _, is_real = matching_aware_batch(real, fake, ["same"] * 3, torch.Generator())
    assert len(images) == 6 and is_real.sum() == 3


# --- training steps ---------------------------------------------------------------------------


def test_a_hinge_step_logs_the_losses_recomputed_by_hand():
    gan = family(loss="hinge", lr_g=0.0, lr_d=0.0, d_norm="none")
    G, D = gan.modules["generator"], gan.modules["discriminator"]
    real = torch.rand(6, 3, 16, 16) * 2 - 1
    logged = gan.train_step({"image": real}, ctx(seed=3))
    noise = torch.Generator().manual_seed(3)
    z_d, z_g = torch.randn(6, 8, generator=noise), torch.randn(6, 8, generator=noise)
    with torch.no_grad():
        fake_d = G(z_d)
        d_loss = hinge_d_loss(D(real), D(fake_d))
        g_loss = hinge_g_loss(D(G(z_g)))
    assert logged["d_loss"] == pytest.approx(d_loss.item(), rel=1e-5)
    assert logged["g_loss"] == pytest.approx(g_loss.item(), rel=1e-5)
    assert logged["diversity"] == pytest.approx(mean_pairwise_distance(fake_d), rel=1e-5)
    assert logged["d_grad_norm"] > 0 and logged["g_grad_norm"] > 0


def test_mixed_and_separate_batches_agree_without_batchnorm():
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    runs = [family(d_batches=mode, d_norm="none", lr_d=0.0).train_step({"image": real}, ctx())
            for mode in ("separate", "mixed")]  # fmt: skip
    assert runs[0]["d_loss"] == pytest.approx(runs[1]["d_loss"], rel=1e-5)


def test_smoothed_and_flipped_labels_lie_in_the_seed_ranges():
    gan = family(loss="nsgan", label_smoothing=True)
    real_t, fake_t = label_targets(gan.config, 4000, 4000, ctx().generator, CPU)
    assert real_t.min() >= 0.7 and real_t.max() <= 1.2 and real_t.std() > 0.1
    assert fake_t.min() >= 0.0 and fake_t.max() <= 0.3
    flipped = family(loss="bce", label_flip=0.2)
    real_t, fake_t = label_targets(flipped.config, 4000, 4000, ctx().generator, CPU)
    assert set(real_t.unique().tolist()) == {0.0, 1.0}
    assert (real_t == 0).float().mean().item() == pytest.approx(0.2, abs=0.03)
    assert (fake_t == 1).float().mean().item() == pytest.approx(0.2, abs=0.03)


def test_wgan_clips_the_critic_and_the_penalties_are_logged():
    gan = family(loss="wgan", clip=0.005, lr_d=0.1)
    gan.train_step({"image": torch.rand(4, 3, 16, 16)}, ctx())
    assert max(p.abs().max() for p in gan.modules["discriminator"].parameters()) <= 0.005
    logged = family(loss="wgan-gp", r1_weight=1.0, r1_every=4).train_step(
        {"image": torch.rand(4, 3, 16, 16)}, ctx(step=8)
    )
    assert logged["gp"] > 0 and logged["r1"] > 0
    assert "r1" not in family(r1_weight=1.0, r1_every=4, d_norm="none").train_step(
        {"image": torch.rand(4, 3, 16, 16)}, ctx(step=9)
    )


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_every_switch_trains_both_networks(arch):
    gan = family(
        arch=arch, loss="lsgan", diffaugment="color,translation,cutout", label_smoothing=True,
        label_flip=0.1, instance_noise=0.1, d_batches="mixed", spectral_norm=True,
        upsample="pixelshuffle", dropout=0.2, norm="instance", d_optimizer="sgd",
        r1_weight=0.1, r1_every=1, d_steps=2,
    )  # fmt: skip
    before = {k: [p.clone() for p in m.parameters()] for k, m in gan.modules.items()}
    gan.train_step({"image": torch.rand(4, 3, 16, 16) * 2 - 1}, ctx())
    for name, module in gan.modules.items():
        changed = [
            not torch.equal(a, b) for a, b in zip(before[name], module.parameters(), strict=True)
        ]
        assert all(changed), name
    assert isinstance(gan.optimizers["discriminator"], torch.optim.SGD)


def test_a_fastgan_step_trains_every_parameter_and_its_d_redraws_the_reals(tmp_path):
    gan = family(arch="fastgan", loss="hinge", diffaugment="translation", recon_weight=2.0)
    before = {k: [p.clone() for p in m.parameters()] for k, m in gan.modules.items()}
    images = torch.rand(4, 3, 16, 16) * 2 - 1
    logged = gan.train_step({"image": images}, ctx())
    for name, module in gan.modules.items():
        pairs = zip(before[name], module.parameters(), strict=True)
        changed = [not torch.equal(a, b) for a, b in pairs]
        assert all(changed), name  # the decoder of D learns from the redrawing loss alone
    assert logged["redraw"] > 0
    assert set(logged) >= {"d_loss", "g_loss", "redraw", "real_score", "fake_score"}
    # save and load through the family: the same images from the same seeds
    path = save_checkpoint(tmp_path, 1, *gan.state_tensors(), keep_last=1)
    again = family(arch="fastgan", loss="hinge", diffaugment="translation", recon_weight=2.0)
    again.load_state_tensors(*load_checkpoint(path), weights_only=True)
    gan.train(False), again.train(False)
    torch.testing.assert_close(again.generate([1, 2]), gan.generate([1, 2]), rtol=0, atol=0)


def test_top_k_keeps_the_fakes_d_rates_most_real():
    logits = torch.tensor([0.5, -2.0, 3.0, 1.0])
    assert top_fraction(logits, 0.5).tolist() == [3.0, 1.0]
    assert top_fraction(logits, 0.01).tolist() == [3.0]  # at least one
    assert top_fraction(logits, 1.0) is logits
    # in a step, G's loss is the loss of the kept fakes only: the same step with top_k 1 differs
    half, full = (family(loss="hinge", top_k=k) for k in (0.5, 1.0))
    images = {"image": torch.rand(4, 3, 16, 16) * 2 - 1}
    g_half, g_full = (
        half.train_step(images, ctx())["g_loss"],
        full.train_step(images, ctx())["g_loss"],
    )
    assert g_half < g_full  # hinge G loss -mean(logits) is lowest over the best-rated half


# --- sampling and conditioning --------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"dropout": 0.3}, {"arch": "resnet"}, {"arch": "fastgan"}])
def test_same_seed_same_image_at_any_batch_size(options):
    gan = family(**options)
    gan.train_step({"image": torch.rand(4, 3, 16, 16) * 2 - 1}, ctx())
    together = gan.generate([5, 6, 7])
    alone = torch.cat([gan.generate([s]) for s in (7, 6, 5)]).flip(0)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)
    assert not torch.allclose(together[0], together[1])


def test_class_conditioning_labels_and_their_errors():
    gan = family(LABELLED, condition="class")
    seeds = [0, 0, 0]
    by_label = [gan.generate(seeds, label=k) for k in range(3)]
    assert not torch.allclose(by_label[0], by_label[1])
    torch.testing.assert_close(gan.generate(seeds, label="green"), by_label[1])
    # the projection discriminator's output depends on the label
    D, x = gan.modules["discriminator"].eval(), torch.rand(2, 3, 16, 16)
    assert not torch.allclose(D(x, torch.tensor([0, 0])), D(x, torch.tensor([1, 1])))
    # without --label the samples cycle the classes by seed (as the progress grid does)
    torch.testing.assert_close(gan.generate([4])[0], gan.generate([4], label=1)[0])
    with pytest.raises(HuashiError, match="out of range.*3 classes"):
        gan.generate([0], label=3)
    with pytest.raises(HuashiError, match="unknown class 'purple'.*red, green, blue"):
        gan.generate([0], label="purple")
    with pytest.raises(HuashiError, match="use --label"):
        gan.generate([0], prompt="a red square")
    with pytest.raises(HuashiError, match="unconditional"):
        family().generate([0], prompt="a small red circle")
    with pytest.raises(HuashiError, match="unconditional"):
        family().generate([0], label=2)


def test_class_conditional_step_uses_the_labels():
    gan = family(LABELLED, condition="class", lr_g=0.0, lr_d=0.0)
    batch = Squares(8).batch(torch.arange(8))
    a = gan.train_step(batch, ctx())
    b = gan.train_step(batch | {"label": (batch["label"] + 1) % 3}, ctx())
    assert a["d_loss"] != pytest.approx(b["d_loss"], rel=1e-6)


def test_text_conditioning_end_to_end(tiny_text_encoder, tmp_path):
    pytest.importorskip("transformers")
    gan = family(LABELLED, condition="text", text_encoder=tiny_text_encoder, cond_dim=8)
    assert gan.text_encoder.dim == 16
    data = Squares(16)
    logged = gan.train_step(data.batch(torch.arange(8)), ctx())
    assert set(gan.preview_captions) == set(data.captions[:8])
    red = gan.generate([1, 2], prompt="a red square")
    assert not torch.allclose(red, gan.generate([1, 2], prompt="a blue square"))
    torch.testing.assert_close(red[1:], gan.generate([2], prompt="a red square"))
    assert logged["d_loss"] > 0
    with pytest.raises(HuashiError, match=re.escape(f'--prompt "{gan.preview_captions[0]}"')):
        gan.generate([0])  # the example is a caption this model trained on
    with pytest.raises(HuashiError, match="use --prompt"):
        gan.generate([0], label=1)
    # the preview grid cycles through captions seen in training, and they survive a checkpoint
    preview = gan.preview([0, 1])
    first_two = gan.generate([0, 1], prompt=gan.preview_captions[:2])
    torch.testing.assert_close(preview, first_two)
    tensors, meta = gan.state_tensors()
    again = family(LABELLED, condition="text", text_encoder=tiny_text_encoder, cond_dim=8)
    again.load_state_tensors(tensors, meta)
    assert again.preview_captions == gan.preview_captions


def test_text_discriminator_judges_one_kind_of_pair_per_batch(tiny_text_encoder):
    """A BatchNorm D normalizes over its batch: in D's step the fakes must form a batch of their
    own, as they do in G's step, or G learns to fool statistics it never meets (on emoji, D won
    at once and G painted noise when fakes shared a batch with the mismatched real pairs)."""
    pytest.importorskip("transformers")
    gan = family(LABELLED, condition="text", text_encoder=tiny_text_encoder, cond_dim=8)
    batch = Squares(8).batch(torch.arange(8))
    sizes: list[int] = []
    hook = gan.modules["discriminator"].register_forward_pre_hook(
        lambda _, args: sizes.append(len(args[0]))
    )
    gan.train_step(batch, ctx())
    hook.remove()
    fakes = sizes[1]
    assert sizes[0] == fakes == 8  # real with its caption, then G's fakes alone
    assert sizes[-1] == fakes  # G's step: a batch of fakes, as D judged them
    assert sum(sizes[:-1]) > 2 * 8  # and the real images with a wrong caption, apart


# --- the latent contract with test-time dropout ----------------------------------------------
# (exact resume of a GAN with every random switch on is part of tests/families/test_family_contract.py)


def test_dropout_masks_come_from_the_seeds_given_with_the_latents():
    gan = family(dropout=0.3)
    seeds = [4, 9]
    z = gan.latents_for_seeds(seeds)
    torch.testing.assert_close(
        gan.generate(seeds), gan.generate_from_latents(z, dropout_seeds=seeds), atol=0, rtol=0
    )
    fixed = gan.generate_from_latents(z)  # default: the same masks on every call
    torch.testing.assert_close(fixed, gan.generate_from_latents(z), atol=0, rtol=0)
    assert not torch.allclose(fixed, gan.generate_from_latents(z, dropout_seeds=[5, 6]))


def test_config_round_trips_through_json():
    config = GANConfig(loss="hinge", real_label_range=(0.8, 1.0))
    values = dataclasses.asdict(config)
    import json

    again = GAN.make_config(json.loads(json.dumps(values)))
    assert again.loss == "hinge" and list(again.real_label_range) == [0.8, 1.0]


@pytest.mark.parametrize("resolution", [16, 32, 64])
@pytest.mark.parametrize("upsample", ["convtranspose", "pixelshuffle"])
def test_resnet_nets_at_every_power_of_two(resolution, upsample):
    from huashi.models.gan.resnet import Discriminator, Generator, ResNetGANConfig

    config = ResNetGANConfig(z_dim=8, g_width=4, d_width=4)
    G = Generator(config, 3, resolution, upsample=upsample)
    D = Discriminator(config, 3, resolution)
    images = G(torch.randn(2, 8))
    assert images.shape == (2, 3, resolution, resolution) and images.abs().max() <= 1
    assert D(images).shape == (2,)
    # one residual up-block per doubling from 4x4, one down-block per halving back to 4x4
    assert len(G.blocks) == len(D.blocks) == int(resolution).bit_length() - 3
