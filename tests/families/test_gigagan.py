"""GigaGAN, small: adaptive kernel selection against StyleGAN2's modulated convolution, stable
attention's invariances and closed form, the consistent image pyramid, the matching-aware
discriminator batches, and prompts, truncation and seeds at sampling time."""

import math

import pytest
import torch
import torch.nn.functional as F

from huashi.api import data_info_of
from huashi.core.errors import HuashiError
from huashi.data import load_dataset
from huashi.families import StepContext
from huashi.families.gigagan import GigaGAN, GigaGANConfig
from huashi.models.gigagan.generator import add_detail, image_pyramid
from huashi.models.gigagan.layers import AdaptiveModulatedConv2d, StableAttention
from huashi.models.stylegan.layers import ModulatedConv2d, modulated_conv2d

CPU = torch.device("cpu")
TINY = {
    "z_dim": 8, "w_dim": 8, "mapping_layers": 1, "text_width": 8, "text_layers": 1,
    "channel_base": 64, "channel_max": 8, "num_kernels": 3, "attention_resolutions": (8,),
}  # fmt: skip


@pytest.fixture
def shapes():
    return load_dataset("shapes", resolution=16, n=16)


@pytest.fixture
def family(tiny_text_encoder, shapes) -> GigaGAN:
    torch.manual_seed(0)
    config = GigaGANConfig(**TINY, text_encoder=tiny_text_encoder)
    return GigaGAN(config, data_info_of(shapes), CPU)


# --- layers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_one_kernel_is_exactly_stylegan2s_modulated_convolution(up, demodulate):
    torch.manual_seed(0)
    adaptive = AdaptiveModulatedConv2d(4, 5, 3, 6, num_kernels=1, demodulate=demodulate, up=up)
    plain = ModulatedConv2d(4, 5, 3, 6, demodulate=demodulate, up=up)
    plain.load_state_dict(
        {
            "affine.weight": adaptive.affine.weight,
            "affine.bias": adaptive.affine.bias,
            "weight": adaptive.weight,
        }  # fmt: skip
    )
    x, w = torch.randn(3, 4, 6, 6), torch.randn(3, 6)
    torch.testing.assert_close(adaptive(x, w), plain(x, w), atol=1e-5, rtol=1e-5)


def test_a_kernel_bank_mixes_one_kernel_per_sample_by_softmax_of_w():
    torch.manual_seed(0)
    conv = AdaptiveModulatedConv2d(4, 5, 3, 6, num_kernels=3)
    with torch.no_grad():
        conv.select.bias.copy_(torch.randn(3))
    x, w = torch.randn(2, 4, 6, 6), torch.randn(2, 6)
    out = conv(x, w)
    bank = conv.weight.reshape(3, 5, 4, 3, 3) * conv.scale
    logits = F.linear(w, conv.select.weight * conv.select.scale, conv.select.bias)
    mix = torch.softmax(logits, dim=1)
    assert not torch.allclose(mix[0], mix[1])  # the two samples select differently
    styles = conv.affine(w)
    for i in range(2):
        kernel = sum(mix[i, k] * bank[k] for k in range(3))
        expected = modulated_conv2d(x[i : i + 1], kernel, styles[i : i + 1], demodulate=True)
        torch.testing.assert_close(out[i : i + 1], expected, atol=1e-5, rtol=1e-5)


def test_stable_attention_is_softmax_of_minus_squared_l2_distance_with_tied_projection():
    torch.manual_seed(0)
    attention = StableAttention(6, attn_dim=4)
    x = torch.randn(2, 5, 6)
    project = attention.qk  # queries and keys: one projection
    q = project(x)
    expected = torch.softmax(-torch.cdist(q, q).square() / math.sqrt(4), dim=-1)
    torch.testing.assert_close(attention.weights(x), expected, atol=1e-5, rtol=1e-5)


def test_stable_self_attention_ignores_translation_and_the_query_key_bias():
    """-|W(x_i - x_j)|^2: translating every token by t, or changing the tied projection's bias,
    leaves the weights unchanged; scaling the tokens by c equals scaling the projection by c."""
    torch.manual_seed(0)
    attention = StableAttention(6)
    x = torch.randn(2, 5, 6)
    before = attention.weights(x)
    torch.testing.assert_close(attention.weights(x + torch.randn(6)), before, atol=1e-5, rtol=0)
    with torch.no_grad():
        attention.qk.bias.add_(torch.randn(6))
    torch.testing.assert_close(attention.weights(x), before, atol=1e-5, rtol=0)
    scaled = attention.weights(3.0 * x)
    with torch.no_grad():
        attention.qk.weight.mul_(3.0)
    torch.testing.assert_close(attention.weights(x), scaled, atol=1e-5, rtol=0)
    assert not torch.allclose(scaled, before, atol=1e-3)  # not scale invariant: c matters


def test_cross_attention_never_looks_at_padding():
    torch.manual_seed(0)
    attention = StableAttention(6, context_dim=4)
    x, tokens = torch.randn(2, 5, 6), torch.randn(2, 7, 4)
    mask = torch.tensor([[True] * 3 + [False] * 4, [True] * 7])
    weights = attention.weights(x, tokens, mask)
    assert torch.all(weights[0, :, 3:] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5))
    changed = tokens.clone()
    changed[0, 3:] = torch.randn(4, 4)  # what the padding holds does not matter
    torch.testing.assert_close(attention(x, changed, mask), attention(x, tokens, mask))


# --- the pyramid --------------------------------------------------------------------------------


def test_add_detail_keeps_the_coarse_level_as_the_block_average():
    torch.manual_seed(0)
    coarse, detail = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 8, 8)
    fine = add_detail(coarse, detail)
    torch.testing.assert_close(F.avg_pool2d(fine, 2), coarse, atol=1e-6, rtol=0)
    assert [p.shape[-1] for p in image_pyramid(fine, 2)] == [4, 8]


def test_every_pyramid_level_is_the_area_downsampling_of_the_next(family):
    family.train(False)
    z = family.latents_for_seeds([0, 1])
    pyramid = family.generate_pyramid(z, prompt=["a small red circle", "a large blue square"])
    assert [level.shape[-1] for level in pyramid] == [4, 8, 16]
    for coarse, fine in zip(pyramid[:-1], pyramid[1:], strict=True):
        torch.testing.assert_close(F.avg_pool2d(fine, 2), coarse, atol=1e-5, rtol=0)
        assert coarse.abs().max() > 0
    torch.testing.assert_close(
        pyramid[-1].clamp(-1, 1),
        family.generate([0, 1], prompt=["a small red circle", "a large blue square"]),
    )


# --- the discriminator's batches ----------------------------------------------------------------


def test_the_discriminator_sees_matching_aware_pairs(family, shapes):
    """Real images with their captions, fakes with the same captions, and real images with
    another image's (different) caption, which the loss counts as fake."""
    D = family.modules["discriminator"]
    calls = []
    forward = D.forward

    def recording(pyramid, text):
        calls.append((pyramid[-1].detach().clone(), text.detach().clone()))
        return forward(pyramid, text)

    D.forward = recording
    batch = shapes.batch(torch.arange(8))
    captions = list(batch["caption"])
    assert len(set(captions)) > 1
    ctx = StepContext(0, CPU, "fp32", 1, torch.Generator().manual_seed(0))
    logged = family.train_step(batch, ctx)
    pooled = family.text_encoder.encode(captions).pooled
    real, wrong, g_call = calls[0], calls[2], calls[3]
    assert torch.equal(real[0], batch["image"]) and torch.allclose(real[1], pooled)
    assert calls[1][0].shape == batch["image"].shape and torch.allclose(calls[1][1], pooled)
    assert len(wrong[0]) > 0
    for image, text in zip(*wrong, strict=True):
        row = next(i for i in range(8) if torch.equal(batch["image"][i], image))
        said = next(i for i in range(8) if torch.allclose(pooled[i], text))
        assert captions[said] != captions[row]  # a real image with a caption not its own
    assert torch.allclose(g_call[1], pooled)
    assert {"d_real_8", "d_fake_16", "d_wrong_16", "g_loss", "r1"} <= set(logged)


# --- sampling -----------------------------------------------------------------------------------


def test_the_prompt_changes_the_image_and_a_seed_repeats(family):
    family.train(False)
    red = family.generate([3, 4], prompt="a small red circle")
    assert torch.equal(red, family.generate([3, 4], prompt="a small red circle"))
    assert not torch.allclose(red, family.generate([3, 4], prompt="a large blue square"))
    assert not torch.allclose(red[0], red[1])


def test_truncation_zero_paints_the_prompts_average_image_for_every_seed(family):
    family.train(False)
    with torch.no_grad():  # give w_avg a value, as training does
        family.modules["generator"].mapping.w_avg.normal_()
    images = family.generate([0, 1, 2], prompt="a small red circle", truncation=0.0)
    torch.testing.assert_close(images[0], images[2], atol=1e-6, rtol=0)
    assert not torch.allclose(images[0], family.generate([0], prompt="a small red circle")[0])


def test_a_prompt_is_required(family):
    with pytest.raises(HuashiError, match="--prompt"):
        family.generate([0])
    with pytest.raises(HuashiError, match="unknown sampling option.*prompt"):
        family.generate([0], label=1)


def test_prompt_mixing_paints_the_chosen_layers_from_the_second_prompt(family):
    family.train(False)
    a, b = "a small red circle", "a large blue square"
    only_a, only_b = family.generate([3, 4], prompt=a), family.generate([3, 4], prompt=b)
    every = f"0-{family.num_ws - 1}"
    torch.testing.assert_close(
        family.generate([3, 4], prompt=a, prompt_mix=b, mix_layers=every), only_b
    )
    torch.testing.assert_close(
        family.generate([3, 4], prompt=a, prompt_mix=a, mix_layers="0-3"), only_a
    )
    mixed = family.generate([3, 4], prompt=a, prompt_mix=b, mix_layers="0-1")
    assert not torch.allclose(mixed, only_a) and not torch.allclose(mixed, only_b)
    with pytest.raises(HuashiError, match="layers must be in"):
        family.generate([0], prompt=a, prompt_mix=b, mix_layers="0-99")
