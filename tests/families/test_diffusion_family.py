"""F1-F6 through the `diffusion` family: exact resume, seeds, guidance, latent mode, bad input."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from huashi.core.errors import HuashiError
from huashi.data import ImageSet
from huashi.diffusion import samplers
from huashi.diffusion.samplers import SAMPLERS
from huashi.families import FAMILIES, DataInfo, StepContext
from huashi.families.autoencoder import LatentAutoencoder
from huashi.families.diffusion import Diffusion, DiffusionConfig
from huashi.runs import RunConfig, build_family

CPU = torch.device("cpu")


TINY = dict(
    base_channels=8, channel_mults=(1, 2), res_blocks=1, attention_resolutions=(8,), heads=2,
    norm_groups=8, timesteps=100, sample_steps=4,
)  # fmt: skip
INFO = DataInfo(3, 16, num_classes=3, class_names=("a", "b", "c"), has_captions=True)
WORDS = ["red circle", "blue square", "green star"]


class Labelled(ImageSet):
    """A real :class:`ImageSet` of random images with labels (i % 3) and their captions."""

    def __init__(self, n: int = 24, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        images = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
        labels = torch.arange(n) % 3
        captions = [WORDS[int(k)] for k in labels]
        super().__init__("labelled", images, labels, list(INFO.class_names), captions)


def make(condition="none", info=INFO, autoencoder=None, **options) -> Diffusion:
    torch.manual_seed(0)
    config = DiffusionConfig(**(TINY | options), condition=condition)
    return Diffusion(config, info, CPU, autoencoder=autoencoder)


def perturbed(family: Diffusion) -> Diffusion:
    """Move the zero-initialized output layers off zero so the network's output matters."""
    with torch.no_grad():
        for p in family.modules["unet"].parameters():
            p.add_(torch.randn_like(p) * 0.05)
    family.train(False)
    return family


def test_registered():
    assert FAMILIES["diffusion"] is Diffusion


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_the_same_seed_paints_the_same_image_at_any_batch_size(sampler):
    family = perturbed(make("class"))
    eta = 0.5 if sampler == "ddim" else 0.0
    batch = family.generate([5, 6, 7], sampler=sampler, steps=3, label=[0, 1, 2], eta=eta)
    alone = family.generate([6], sampler=sampler, steps=3, label=1, eta=eta)
    assert batch.shape == (3, 3, 16, 16) and batch.min() >= -1 and batch.max() <= 1
    # Batched convolutions round differently from single ones (by kernel and CPU); the
    # perturbed U-Net's large outputs amplify that to ~4e-5 through Euler/Heun on AMD Zen 5,
    # still 200x below one 8-bit PNG level (2/255).
    assert torch.allclose(batch[1:2], alone, atol=2e-4)
    assert not torch.allclose(batch[0], batch[2], atol=1e-3)
    other_seed = family.generate([8], sampler=sampler, steps=3, label=1, eta=eta)
    assert not torch.allclose(other_seed, alone, atol=1e-3)


def test_bf16_sampling_is_close_to_fp32():
    family = perturbed(make("class"))
    unet = family.modules["unet"]
    cond, uncond = family._condition(2, None, 0)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([30.0, 30.0])
    fp32 = family._model_fn(unet, cond, uncond, 2.0, "fp32")(x, t)
    bf16 = family._model_fn(unet, cond, uncond, 2.0, "bf16")(x, t)
    assert bf16.dtype == torch.float32
    assert (bf16 - fp32).norm() / fp32.norm() < 0.03  # bf16 keeps ~3 significant digits
    images = family.generate([1, 2], label=0, steps=4, cfg=2.0)
    fast = family.generate([1, 2], label=0, steps=4, cfg=2.0, precision="bf16")
    assert (fast - images).abs().mean() < 0.05


def test_guidance_scale_one_is_the_conditional_prediction():
    family = perturbed(make("class", clip_denoised=False))
    unet = family.modules["unet"]
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([30.0, 30.0])
    cond, uncond = family._condition(2, None, [0, 2])
    c, u = unet(x, t, **cond), unet(x, t, **uncond)
    assert not torch.allclose(c, u, atol=1e-4)
    one = family._model_fn(unet, cond, uncond, 1.0, "fp32")(x, t)
    assert torch.allclose(one, c, atol=1e-6)
    four = family._model_fn(unet, cond, uncond, 4.0, "fp32")(x, t)
    assert torch.allclose(four, u + 4 * (c - u), atol=1e-5)
    zero = family._model_fn(unet, cond, uncond, 0.0, "fp32")(x, t)
    assert torch.allclose(zero, u, atol=1e-5)


def test_batched_guidance_paints_what_two_separate_passes_paint():
    """The conditional and unconditional passes run as one forward of a doubled batch; a
    sampler driven by two separate forwards per step paints the same images."""
    family = perturbed(make("class", clip_denoised=False))
    unet = family.modules["unet"]
    calls = []
    hook = unet.register_forward_hook(lambda m, args, out: calls.append(len(args[0])))
    images = family.generate(
        [4, 5], label=[0, 2], sampler="dpmpp-2m", steps=3, cfg=3.0, precision="fp32"
    )
    hook.remove()
    assert calls == [4, 4, 4]  # one forward per step, of 2 x 2 rows

    cond, uncond = family._condition(2, None, [0, 2])

    def two_pass(x, t):
        c, u = unet(x, t, **cond), unet(x, t, **uncond)
        return u + 3.0 * (c - u)

    generators = [torch.Generator().manual_seed(s) for s in (4, 5)]
    x = samplers.per_sample_noise(generators, torch.empty(2, 3, 16, 16))
    with torch.no_grad():
        x = samplers.sample(two_pass, x, family.abar, "dpmpp-2m", 3, generators=generators)
    assert torch.allclose(images, family.decode(x), atol=1e-4)


def test_guidance_without_a_condition_is_one_unconditional_pass():
    """Without a label, ε̂(∅) + cfg·(ε̂(∅) - ε̂(∅)) is ε̂(∅): no doubled batch."""
    family = perturbed(make("class"))
    unet = family.modules["unet"]
    calls = []
    hook = unet.register_forward_hook(lambda m, args, out: calls.append(len(args[0])))
    images = family.generate([4, 5], sampler="ddim", steps=2, cfg=3.0)
    hook.remove()
    assert calls == [2, 2]
    unguided = family.generate([4, 5], sampler="ddim", steps=2, cfg=1.0)
    assert torch.equal(images, unguided)


def test_v_prediction_is_converted_to_eps_for_the_samplers():
    family = perturbed(make("none", prediction="v", clip_denoised=False))
    unet = family.modules["unet"]
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([40.0, 40.0])
    a = float(family.abar[40])
    v = unet(x, t)
    eps = family._model_fn(unet, {}, {}, 1.0, "fp32")(x, t)
    assert torch.allclose(eps, (1 - a) ** 0.5 * x + a**0.5 * v, atol=1e-5)


def test_pixel_models_clip_the_predicted_x0():
    """Near t = T the x̂_0 of an ε-model divides ε̂'s error by √ᾱ (≈ 5·10⁻⁵ for cosine): the
    samplers see the ε̂ of x̂_0 clipped to [-1, 1], unchanged where x̂_0 is inside."""
    family = perturbed(make("none"))
    unet = family.modules["unet"]
    for t in (99.0, 50.0, 3.0):  # T = 100 here
        x, tt = torch.randn(2, 3, 16, 16) * 1.5, torch.tensor([t, t])
        a = float(family.abar[int(t)])
        raw = unet(x, tt)
        x0 = ((x - (1 - a) ** 0.5 * raw) / a**0.5).clamp(-1, 1)
        eps = family._model_fn(unet, {}, {}, 1.0, "fp32")(x, tt)
        assert torch.allclose(eps, (x - a**0.5 * x0) / (1 - a) ** 0.5, atol=1e-4)
    images = family.generate([0], sampler="ddim", steps=10)
    assert images.abs().max() <= 1


def test_condition_dropout_swaps_in_the_null_class():
    family = make("class", cond_dropout=0.5)
    labels = torch.arange(2000) % 3
    chunk = {"image": torch.zeros(2000, 1), "label": labels}
    out = family._train_condition(chunk, torch.Generator().manual_seed(0))["labels"]
    dropped = out == 3
    assert 0.45 < dropped.float().mean() < 0.55
    assert torch.equal(out[~dropped], labels[~dropped])
    assert (
        make("class", cond_dropout=0.0)
        ._train_condition(chunk, torch.Generator())["labels"]
        .equal(labels)
    )


def test_pixel_inpainting_keeps_the_known_region_and_img2img_stays_near_the_init():
    family = perturbed(make("none"))
    init = torch.rand(3, 16, 16) * 2 - 1
    mask = torch.zeros(16, 16)
    mask[:, 8:] = 1  # repaint the right half
    out = family.generate([1, 2], sampler="dpmpp-2m", steps=4, init=init, mask=mask)
    assert torch.allclose(out[:, :, :, :8], init[:, :, :8].expand(2, -1, -1, -1), atol=1e-6)
    assert (out[:, :, :, 8:] - init[:, :, 8:]).abs().mean() > 0.1
    near = family.generate([1], steps=10, init=init, strength=0.05)
    far = family.generate([1], steps=10, init=init, strength=1.0)
    assert (near - init).abs().mean() < 0.5 * (far - init).abs().mean()


class FakeAutoencoder:
    """encode: 2x2 average pooling plus a copy of the red channel (4 x 8 x 8 latents);
    decode: nearest upsampling of the first 3 channels (exact on 2x2-block images)."""

    latent_shape = (4, 8, 8)
    latent_scale = 2.0
    data = DataInfo(3, 16)

    def __init__(self) -> None:
        self.encoded = []

    def encode(self, images):
        pooled = F.avg_pool2d(images, 2)
        self.encoded.append(images)
        return torch.cat([pooled, pooled[:, :1]], dim=1)

    def decode(self, latents):
        return F.interpolate(latents[:, :3], scale_factor=2, mode="nearest")


def test_latent_diffusion_trains_on_scaled_latents_and_decodes():
    fake_ae = FakeAutoencoder()
    assert isinstance(fake_ae, LatentAutoencoder)  # the protocol the family takes
    family = make("class", latent="some/vae-run", attention_resolutions=(4,), autoencoder=fake_ae)
    assert family.shape == (4, 8, 8) and family.modules["unet"].config.in_channels == 4
    images = Labelled().batch(torch.arange(6))
    seen = []
    family.modules["unet"].register_forward_hook(lambda m, args, out: seen.append(args[0]))
    ctx = StepContext(0, CPU, "fp32", 1, torch.Generator().manual_seed(0))
    assert "loss" in family.train_step(images, ctx)
    assert seen[0].shape == (6, 4, 8, 8) and fake_ae.encoded[0] is not None
    # x_t = sqrt(ᾱ) · 2 · latent + sqrt(1-ᾱ) ε: the scaled latents are what gets noised
    x0 = family.encode_images(images["image"])
    assert torch.allclose(x0, 2.0 * fake_ae.encode(images["image"]))
    perturbed(family)
    out = family.generate([0, 1], label=1, steps=3)
    assert out.shape == (2, 3, 16, 16)
    assert torch.equal(out[:, :, ::2, ::2], out[:, :, 1::2, 1::2])  # decoded by the fake AE
    # latent inpainting: a block image survives exactly where the mask is black
    init = F.interpolate(torch.rand(1, 3, 8, 8) * 2 - 1, scale_factor=2, mode="nearest")[0]
    mask = torch.zeros(16, 16)
    mask[:6, :6] = 1
    painted = family.generate([3], steps=3, init=init, mask=mask, label=0)[0]
    assert torch.allclose(painted[:, 8:, 8:], init[:, 8:, 8:], atol=1e-6)
    assert not torch.allclose(painted[:, :6, :6], init[:, :6, :6], atol=1e-2)


def test_latent_models_clip_the_predicted_x0_latent_to_the_given_bound():
    """Latents have no fixed range: with ``latent_clip`` B the samplers see the ε̂ of x̂_0
    clipped to [-B, B]; with 0 (off) the raw ε̂."""
    for bound in (0.0, 3.0):
        family = perturbed(make("none", latent="some/vae-run", attention_resolutions=(4,),
                                autoencoder=FakeAutoencoder(), latent_clip=bound))  # fmt: skip
        unet = family.modules["unet"]
        for t in (99.0, 50.0):
            x, tt = torch.randn(2, 4, 8, 8) * 1.5, torch.tensor([t, t])
            a = float(family.abar[int(t)])
            raw = unet(x, tt)
            x0 = (x - (1 - a) ** 0.5 * raw) / a**0.5
            eps = family._model_fn(unet, {}, {}, 1.0, "fp32")(x, tt)
            if bound:
                want = (x - a**0.5 * x0.clamp(-bound, bound)) / (1 - a) ** 0.5
                assert x0.abs().max() > bound  # the clip is tested where it bites
            else:
                want = raw
            assert torch.allclose(eps, want, atol=1e-4)


def test_a_missing_or_wrong_latent_run_is_a_clear_error(tmp_path):
    with pytest.raises(HuashiError, match="does not exist.*--latent"):
        Diffusion.check_data(INFO, DiffusionConfig(latent=str(tmp_path / "nowhere")))
    (tmp_path / "empty").mkdir()
    config = RunConfig(
        family="diffusion", model=TINY | {"latent": str(tmp_path / "empty")}, data={},
        data_info=dataclasses.asdict(INFO), train={},
    )  # fmt: skip
    with pytest.raises(
        HuashiError, match="cannot use .*empty as the autoencoder run.*not a huashi"
    ):
        build_family(config, CPU)
    with pytest.raises(HuashiError, match="'dcgan' run, not an autoencoder"):
        make(
            latent="a-gan-run",
            autoencoder=FAMILIES["dcgan"](FAMILIES["dcgan"].config_class(), INFO, CPU),
        )
    with pytest.raises(HuashiError, match="built with the autoencoder of its --latent run"):
        make(latent="some/vae-run")  # the autoencoder is passed in, never loaded by the family
    with pytest.raises(HuashiError, match="trained on 3-channel 16 px.*same --data"):
        make(latent="some/vae-run", info=DataInfo(3, 32), autoencoder=FakeAutoencoder())


def test_bad_generation_inputs_are_user_errors():
    plain, classes = make("none"), make("class")
    cases = [
        (plain, {"prompt": "a red apple"}, "not text-conditioned"),
        (plain, {"label": 1}, "not class-conditioned"),
        (classes, {"label": 3}, r"out of range.*3 classes \(0..2: 0=a, 1=b, 2=c\)"),
        (classes, {"label": -1}, "out of range"),
        (classes, {"label": [0, 1, 2]}, "3 values for label but 2 seeds"),
        (classes, {"prompt": "a cat"}, "not text-conditioned.*--label"),
        (plain, {"sampler": "plms"}, "ddpm, ddim, dpmpp-2m, euler, heun"),
        (plain, {"steps": 0}, ">= 1, not 0"),
        (plain, {"mask": torch.ones(16, 16)}, "give --init with --mask"),
        (plain, {"init": torch.zeros(3, 8, 8)}, r"model paints \[3, 16, 16\]"),
        (plain, {"init": torch.zeros(3, 16, 16), "mask": torch.ones(8, 8)}, "same size"),
        (plain, {"strength": 0.5}, "needs an --init"),
        (plain, {"init": torch.zeros(3, 16, 16), "strength": 1.5}, "strength"),
    ]
    for family, options, message in cases:
        with pytest.raises(HuashiError, match=message):
            family.generate([0, 1], **({"steps": 2} | options))


def test_data_and_config_checks():
    with pytest.raises(HuashiError, match="labelled data"):
        Diffusion.check_data(DataInfo(3, 16), DiffusionConfig(condition="class"))
    with pytest.raises(HuashiError, match="needs captions"):
        Diffusion.check_data(DataInfo(3, 16), DiffusionConfig(condition="text"))
    with pytest.raises(HuashiError, match="multiple of 4"):
        Diffusion.check_data(DataInfo(3, 18), DiffusionConfig(channel_mults=(1, 2, 2)))
    with pytest.raises(HuashiError, match="eps, v"):
        Diffusion.check_data(DataInfo(3, 16), DiffusionConfig(prediction="x0"))
    with pytest.raises(HuashiError, match="none, min-snr"):
        Diffusion.check_data(DataInfo(3, 16), DiffusionConfig(loss_weighting="p2"))


def test_text_conditioning_cross_attends_to_prompts(tiny_text_encoder):
    family = make("text", text_encoder=tiny_text_encoder, text_length=8, clip_denoised=False)
    assert family.modules["unet"].config.context_dim == 16
    batch = Labelled().batch(torch.arange(6))
    ctx = StepContext(0, CPU, "fp32", 1, torch.Generator().manual_seed(0))
    family.train_step(batch, ctx)
    assert family.preview_captions == WORDS
    _, meta = family.state_tensors()
    restored = make("text", text_encoder=tiny_text_encoder, text_length=8)
    tensors, meta = family.state_tensors()
    restored.load_state_tensors(tensors, meta)
    assert restored.preview_captions == WORDS
    perturbed(family)
    a = family.generate([1], prompt="red circle", steps=3, cfg=3.0)
    b = family.generate([1], prompt="blue square", steps=3, cfg=3.0)
    assert not torch.allclose(a, b, atol=1e-4)
    both = family.generate([1, 2], prompt=["red circle", "green star"], steps=3, cfg=3.0)
    assert torch.allclose(both[:1], a, atol=1e-5)
    # cfg 1 with a prompt = the conditional model alone; the null text is a learned token
    unet = family.modules["unet"]
    cond, uncond = family._condition(1, "red circle", None)
    x, t = torch.randn(1, 3, 16, 16), torch.tensor([20.0])
    assert torch.allclose(
        family._model_fn(unet, cond, uncond, 1.0, "fp32")(x, t), unet(x, t, **cond)
    )
    assert uncond["context_mask"].sum() == 1
    assert family.preview([0, 1, 2, 3]).shape == (4, 3, 16, 16)
