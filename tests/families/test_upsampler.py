"""The GigaGAN upsampler: the output always downsamples back to its input, the training pairs
are what the docs say, and ``huashi upscale`` end to end (sizes, determinism, metadata kept,
regenerate, clear refusals)."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from huashi import api
from huashi.api import data_info_of
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.core.images import read_params, save_png, to_pil, to_uint8, to_unit_range
from huashi.data import load_dataset
from huashi.families import FAMILIES
from huashi.families.upsampler import UpsamplerFamily
from huashi.metrics.evaluate import generate_all
from huashi.models.gigagan.upsampler import Upsampler, downsample, rebase
from huashi.runs import LoadedRun, load_run
from huashi.tools.upscale import bicubic
from huashi.training.loop import TrainConfig, Trainer

CPU = torch.device("cpu")
TINY = {"width": 16, "w_dim": 8, "z_dim": 4, "num_kernels": 2, "d_channel_max": 8}


def tiny(scale=4, resolution=16, **changes) -> UpsamplerFamily:
    dataset = load_dataset("shapes", resolution=resolution, n=8)
    torch.manual_seed(0)
    config = UpsamplerFamily.make_config(TINY | {"scale": scale} | changes)
    return UpsamplerFamily(config, data_info_of(dataset), CPU)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_every_level_average_pools_to_the_input_exactly(scale):
    torch.manual_seed(scale)
    G = Upsampler(4, scale, 3, z_dim=4, w_dim=8, width=16, num_kernels=2)
    for p in G.parameters():  # large random weights: the property is structural
        p.data.normal_(0, 1)
    low = torch.rand(3, 3, 4, 4) * 2 - 1
    pyramid = G(low, torch.randn(3, 4), noise_mode="random")
    assert [level.shape[-1] for level in pyramid] == [4 * 2**i for i in range(len(pyramid))]
    assert pyramid[-1].shape[-1] == 4 * scale and torch.equal(pyramid[0], low)
    for level in pyramid[1:]:
        pooled = F.avg_pool2d(level, level.shape[-1] // 4)
        torch.testing.assert_close(pooled, low, atol=1e-5, rtol=0)
    assert (pyramid[-1] - F.interpolate(low, scale_factor=scale)).abs().max() > 0.1  # detail


def test_the_training_pairs_are_the_8_bit_block_means_and_the_rebased_image():
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    low = downsample(images, 4)
    expected = to_unit_range(to_uint8(F.avg_pool2d(images, 4)))  # what a PNG of it holds
    torch.testing.assert_close(low, expected, atol=1e-6, rtol=0)
    target = rebase(images, low)
    torch.testing.assert_close(F.avg_pool2d(target, 4), low, atol=1e-6, rtol=0)
    assert (target - images).abs().max() <= 1 / 255 + 1e-6  # half an 8-bit step
    torch.testing.assert_close(rebase(target, low), target, atol=1e-6, rtol=0)  # idempotent


def test_bicubic_baseline_is_pils_and_keeps_flat_images_flat():
    low = to_unit_range(torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8))
    big = bicubic(low, 4)
    assert big.shape == (2, 3, 16, 16)
    pil = to_pil(low[1]).resize((16, 16), Image.Resampling.BICUBIC)
    assert np.array_equal(np.asarray(pil), to_uint8(big[1]).permute(1, 2, 0).numpy())
    flat = torch.full((1, 1, 4, 4), 0.2)
    torch.testing.assert_close(bicubic(flat, 2), torch.full((1, 1, 8, 8), 0.2), atol=1 / 127.5,
                               rtol=0)  # fmt: skip


def test_one_step_judges_the_levels_above_the_input_and_logs_the_losses(tmp_path):
    assert tiny(scale=2).modules["discriminator"].levels == [16]  # 8 px is the input itself
    family = tiny(scale=4, r1_every=1)
    assert family.modules["discriminator"].levels == [8, 16]
    dataset = load_dataset("shapes", resolution=16, n=8)
    config = TrainConfig(steps=1, batch_size=4, sample_every=100, n_fixed=4, precision="fp32",
                         checkpoint_every=100, log_every=1)  # fmt: skip
    before = {k: v.clone() for k, v in family.modules["generator"].state_dict().items()}
    Trainer(family, dataset, config, tmp_path, [], progress=False).run()
    logged = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert {"g_l1", "g_adv", "d_real_8", "d_real_16", "d_fake_16", "r1"} <= set(logged)
    assert "d_real_4" not in logged
    after = family.modules["generator"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_bad_inputs_and_data_are_clear_errors():
    family = tiny()
    family.train(False)
    with pytest.raises(HuashiError, match="huashi upscale"):
        family.generate([0])
    with pytest.raises(HuashiError, match="paints 16 px from 4 px images, got 8x8"):
        family.generate([0], inputs=torch.zeros(1, 3, 8, 8))
    with pytest.raises(HuashiError, match=r"takes images \[B, 3, 4, 4\]"):
        family.generate([0], inputs=torch.zeros(1, 1, 4, 4))
    with pytest.raises(HuashiError, match="2 input images for 1 seeds"):
        family.generate([0], inputs=torch.zeros(2, 3, 4, 4))
    info = data_info_of(load_dataset("shapes", resolution=16, n=8))
    with pytest.raises(HuashiError, match="would start from 2 px"):
        UpsamplerFamily.check_data(info, UpsamplerFamily.make_config({"scale": 8}))
    with pytest.raises(HuashiError, match="choose --scale from 2, 4, 8"):
        UpsamplerFamily.make_config({"scale": 3})
    # images at the output size are downsampled first, as in training
    images = load_dataset("shapes", resolution=16, n=2).batch(torch.arange(2))["image"]
    assert torch.equal(
        family.generate([0, 1], inputs=images),
        family.generate([0, 1], inputs=downsample(images, 4)),
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "up"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    args = ["train", "upsampler", "--data", "shapes", "--data-option", "n=8", "--from", "4",
            "--to", "16", "--batch-size", "4", "--steps", "2", "--quiet", "--ema",
            "0.9", "--sample-every", "100", "--n-fixed", "4", *flags, "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert FAMILIES["upsampler"] is UpsamplerFamily
    return out


def pixels(path):
    return np.asarray(Image.open(path))


def test_from_and_to_are_resolution_and_scale(run_dir, tmp_path, capsys):
    """``--from 4 --to 16`` (the fixture's run) is ``--resolution 16 --scale 4``; sizes that are
    not 2, 4 or 8 apart, or that disagree with --resolution/--scale, are refused in one line."""
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["resolution"] == 16 and config["model"]["scale"] == 4
    base = ["train", "upsampler", "--data", "shapes", "--out", str(tmp_path / "x")]
    for flags, message in [
        (["--from", "32", "--to", "100"], "must be 2, 4 or 8 times --from 32"),
        (["--from", "8", "--to", "32", "--scale", "2"], "means --resolution 32 --scale 4"),
        (["--from", "8", "--to", "32", "--resolution", "64"], "means --resolution 32 --scale 4"),
        (["--to", "32"], "give --from and --to together"),
    ]:
        assert main([*base, *flags]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_upscale_writes_pngs_that_equal_the_family_and_keep_the_source(run_dir, tmp_path):
    folder = tmp_path / "in"
    painted = save_png(
        to_pil(torch.rand(3, 4, 4) * 2 - 1),
        folder / "a.png",
        {"run": "runs/x", "seed": 7, "options": {"prompt": "a red circle"}},
    )
    (folder / "sub").mkdir()
    Image.new("RGB", (12, 8), (200, 30, 30)).save(folder / "sub" / "b.png")
    out = tmp_path / "big"
    assert main(["upscale", str(run_dir), str(folder), "--out", str(out), "--seed", "3",
                 "--quiet"]) == 0  # fmt: skip
    a, b = out / "a.png", out / "sub" / "b.png"
    assert pixels(a).shape == (16, 16, 3) and pixels(b).shape == (16, 16, 3)
    params = read_params(a)
    assert params["upscale"]["scale"] == 4 and params["upscale"]["seed"] == 3
    assert params["upscale"]["source"]["options"] == {"prompt": "a red circle"}
    assert params["upscale"]["input"] == str(painted.resolve()) and params["step"] == 2
    assert "source" not in read_params(b)["upscale"]  # a plain PNG: nothing to keep
    family = load_run(run_dir).family
    low = to_unit_range(torch.from_numpy(pixels(painted).copy()).permute(2, 0, 1))[None]
    expected = to_uint8(family.generate([3], inputs=low))[0].permute(1, 2, 0).numpy()
    assert np.array_equal(pixels(a), expected)
    again = api.upscale(run_dir, [painted], tmp_path / "again", seed=3)
    assert np.array_equal(pixels(again.files[0]), pixels(a))  # deterministic
    other = api.upscale(run_dir, [painted], tmp_path / "other", seed=4)
    assert not np.array_equal(pixels(other.files[0]), pixels(a))  # the seed draws the detail
    assert main(["regenerate", str(a), "--out", str(tmp_path / "re.png")]) == 0
    assert np.array_equal(pixels(tmp_path / "re.png"), pixels(a))
    result = api.upscale(run_dir, [folder / "sub" / "b.png"], tmp_path / "c")
    assert result.notes and "12x8 -> 4x4" in result.notes[0]


def test_upscale_refuses_other_runs_and_bad_files(run_dir, tmp_path):
    loaded = load_run(run_dir)
    dcgan = FAMILIES["dcgan"](FAMILIES["dcgan"].make_config({"g_width": 4, "d_width": 4}),
                              loaded.family.data, CPU)  # fmt: skip
    other = LoadedRun(run_dir, loaded.config, dcgan, loaded.checkpoint, 0)
    with pytest.raises(HuashiError, match="'dcgan' run, which does not upscale") as e:
        api.upscale(other, [tmp_path], tmp_path / "o")
    assert "\n" not in str(e.value)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(HuashiError):
        api.upscale(run_dir, [broken], tmp_path / "o2")
    with pytest.raises(HuashiError, match="does not exist"):
        api.upscale(run_dir, [tmp_path / "missing.png"], tmp_path / "o3")
    with pytest.raises(HuashiError, match="not text-conditioned: drop --prompt"):
        api.upscale(run_dir, [broken], tmp_path / "o4", prompt="a red circle")


def smooth_or_blocky(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random 4 px images and two 16 px versions whose block means are exactly those 4 px:
    nearest upsampling ("blocky") and bilinear upsampling re-based on them ("smooth"). The
    input cannot tell them apart; only the caption can."""
    g = torch.Generator().manual_seed(seed)
    low = to_unit_range(torch.randint(0, 256, (n, 3, 4, 4), generator=g, dtype=torch.uint8))
    blocky = F.interpolate(low, scale_factor=4, mode="nearest")
    smooth = F.interpolate(low, scale_factor=4, mode="bilinear", align_corners=False)
    return low, blocky, rebase(smooth, low).clamp(-1, 1)


def test_a_text_conditioned_upsampler_paints_the_detail_its_prompt_names(tmp_path):
    low, blocky, smooth = smooth_or_blocky(32, seed=0)
    folder = tmp_path / "data"  # a captioned folder: PNGs with .txt sidecars
    for i, image in enumerate(torch.cat([blocky, smooth])):
        caption = "blocky" if i < 32 else "smooth"
        save_png(to_pil(image), folder / f"{i:02d}.png", {})
        (folder / f"{i:02d}.png").with_suffix(".txt").write_text(caption)
    model = TINY | {"scale": 4, "condition": "text", "adv_weight": 0.0, "lr": 0.01}
    api.train(tmp_path / "run", family="upsampler", data=str(folder), resolution=16,
              model=model, progress=False, steps=150, batch_size=16, precision="fp32",
              sample_every=1000, checkpoint_every=1000, n_fixed=4)  # fmt: skip
    family = load_run(tmp_path / "run").family

    family.train(False)
    low, blocky, smooth = smooth_or_blocky(16, seed=1)  # held-out inputs
    seeds = list(range(16))
    as_blocky = family.generate(seeds, inputs=low, prompt="blocky")
    as_smooth = family.generate(seeds, inputs=low, prompt=["smooth"] * 16)

    def distance(a, b):
        return (a - b).abs().flatten(1).mean(dim=1)

    # Each prompt paints its own kind of detail on every input (same z, same input).
    assert (distance(as_blocky, blocky) < distance(as_smooth, blocky)).all()
    assert (distance(as_smooth, smooth) < distance(as_blocky, smooth)).all()
    with pytest.raises(HuashiError, match="conditioned on text: pass --prompt"):
        family.generate(seeds, inputs=low)
    # huashi eval's batching passes each held-out image with its own caption
    per_image = {"inputs": low, "prompt": ["blocky"] * 8 + ["smooth"] * 8}
    both = generate_all(load_run(tmp_path / "run"), seeds, batch_size=5, per_image=per_image)
    torch.testing.assert_close(both, torch.cat([as_blocky[:8], as_smooth[8:]]), atol=1e-5, rtol=0)
    with pytest.raises(HuashiError, match="not text-conditioned: drop the prompt"):
        tiny().generate([0], inputs=low[:1], prompt="blocky")

    # huashi upscale takes the prompt from the input's metadata (or --prompt) and records it.
    source = save_png(to_pil(low[0]), tmp_path / "in" / "a.png", {"options": {"prompt": "smooth"}})
    plain = save_png(to_pil(low[1]), tmp_path / "in2" / "b.png", {})
    made = api.upscale(tmp_path / "run", [source], tmp_path / "big")
    assert read_params(made.files[0])["upscale"]["prompt"] == "smooth"
    told = api.upscale(tmp_path / "run", [source], tmp_path / "told", prompt="blocky")
    assert not np.array_equal(pixels(told.files[0]), pixels(made.files[0]))
    assert main(["regenerate", str(told.files[0]), "--out", str(tmp_path / "re.png")]) == 0
    assert np.array_equal(pixels(tmp_path / "re.png"), pixels(told.files[0]))
    with pytest.raises(HuashiError, match="records no prompt: pass --prompt"):
        api.upscale(tmp_path / "run", [plain], tmp_path / "none")
