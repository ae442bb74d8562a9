"""`huashi paint`: options into PNG metadata, regenerate, sweeps, img2img/inpainting files, errors."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from huashi.cli import main
from huashi.core.images import read_params, save_png
from huashi.families import DataInfo
from huashi.families.diffusion import Diffusion, DiffusionConfig
from huashi.runs import RunConfig
from huashi.training.device import resolve_precision
from huashi.training.loop import TrainConfig, Trainer


class Labelled:
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(12, 1, 16, 16, generator=g) * 2 - 1
        self.labels = torch.arange(12) % 2

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices):
        return {"image": self.images[indices], "label": self.labels[indices], "index": indices}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny class-conditional run trained for 2 steps, saved as `huashi train` would."""
    folder = tmp_path_factory.mktemp("runs") / "tiny"
    config = DiffusionConfig(
        base_channels=8, channel_mults=(1, 2), res_blocks=1, attention_resolutions=(), heads=2,
        norm_groups=8, timesteps=100, sample_steps=3, condition="class",
    )  # fmt: skip
    info = DataInfo(1, 16, num_classes=2, class_names=("zero", "one"))
    train = TrainConfig(steps=2, batch_size=4, n_fixed=2, precision="fp32")
    torch.manual_seed(0)
    family = Diffusion(config, info, torch.device("cpu"))
    with torch.no_grad():  # weights off zero, so images depend on the network
        for p in family.modules["unet"].parameters():
            p.add_(torch.randn_like(p) * 0.05)
    RunConfig(
        "diffusion", dataclasses.asdict(config), {"spec": "fake", "resolution": 16, "options": {}},
        dataclasses.asdict(info), dataclasses.asdict(train),
    ).save(folder)  # fmt: skip
    Trainer(family, Labelled(), train, folder, progress=False).run()
    return folder


def pixels(path):
    return torch.from_numpy(np.array(Image.open(path))).short()


def test_paint_writes_parameters_that_regenerate_the_image(run_dir, tmp_path, capsys):
    out = tmp_path / "paint.png"
    args = [
        "paint", str(run_dir), "--label", "1", "--sampler", "dpmpp-2m", "--steps", "3",
        "--cfg", "2.5", "--seed", "7", "--n", "3", "--out", str(out), "--quiet",
    ]  # fmt: skip
    assert main(args) == 0
    grid = read_params(out)
    assert grid["seeds"] == [7, 8, 9] and grid["family"] == "diffusion"
    precision = resolve_precision("auto", torch.device("cpu"))  # what painted it, recorded
    assert grid["options"] == {
        "label": 1, "sampler": "dpmpp-2m", "steps": 3, "cfg": 2.5, "precision": precision
    }  # fmt: skip
    single = tmp_path / "paint" / "seed-000008.png"
    assert read_params(single)["seed"] == 8
    again = tmp_path / "again.png"
    assert main(["regenerate", str(single), "--out", str(again)]) == 0
    assert (pixels(again) - pixels(single)).abs().max() <= 1
    # a different label gives a different image for the same seed
    main(args[:3] + ["0"] + args[4:-3] + ["--out", str(tmp_path / "zero.png"), "--quiet"])
    assert (pixels(tmp_path / "zero" / "seed-000008.png") - pixels(single)).abs().max() > 1


def test_the_png_records_the_precision_and_regenerate_repeats_it(run_dir, tmp_path, capsys):
    common = ["--label", "1", "--steps", "2", "--seed", "3", "--n", "1", "--quiet"]
    for precision in ("bf16", "fp32"):
        out = tmp_path / f"{precision}.png"
        assert (
            main(["paint", str(run_dir), *common, "--precision", precision, "--out", str(out)]) == 0
        )
        single = tmp_path / precision / "seed-000003.png"
        assert read_params(single)["options"]["precision"] == precision
        again = tmp_path / f"again-{precision}.png"
        assert main(["regenerate", str(single), "--out", str(again)]) == 0
        assert torch.equal(pixels(again), pixels(single))  # same machine, same precision: exact
    # a PNG written before the precision was recorded was painted in fp32, and regenerates so
    fp32 = tmp_path / "fp32" / "seed-000003.png"
    params = read_params(fp32)
    del params["options"]["precision"], params["huashi_version"]
    old = save_png(Image.open(fp32), tmp_path / "old.png", params)
    assert main(["regenerate", str(old), "--out", str(tmp_path / "old-again.png")]) == 0
    assert torch.equal(pixels(tmp_path / "old-again.png"), pixels(fp32))


def test_sweep_writes_a_grid_per_sampler_and_steps(run_dir, tmp_path, capsys):
    out = tmp_path / "sweep.png"
    assert (
        main(
            [
                "paint",
                str(run_dir),
                "--sweep",
                "ddim:2,heun:3",
                "--n",
                "2",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert read_params(tmp_path / "sweep-ddim-2.png")["options"]["steps"] == 2
    assert read_params(tmp_path / "sweep-heun-3.png")["options"]["sampler"] == "heun"
    assert read_params(out)["sweep"] == ["ddim 2", "heun 3"]
    printed = capsys.readouterr().out
    assert "ddim    2 steps" in printed and "heun    3 steps" in printed


def test_img2img_of_another_size_is_resized_with_a_note_and_masks_must_match(
    run_dir, tmp_path, capsys
):
    init = tmp_path / "init.png"
    Image.new("L", (40, 32), 200).save(init)
    out = tmp_path / "i2i.png"
    common = ["paint", str(run_dir), "--init", str(init), "--n", "1", "--steps", "4", "--quiet"]
    assert main(common + ["--strength", "0.3", "--out", str(out)]) == 0
    assert "center-cropped to a square and resized to the model's 16x16" in capsys.readouterr().out
    assert read_params(out)["options"]["init"] == str(init.resolve())
    mask = tmp_path / "mask.png"
    Image.new("L", (16, 16), 255).save(mask)
    assert main(common + ["--mask", str(mask), "--out", str(tmp_path / "m.png")]) == 2
    assert "is 16x16 but the init image is 40x32" in capsys.readouterr().err
    good = tmp_path / "good-mask.png"
    Image.new("L", (40, 32), 0).save(good)  # all black: keep everything
    assert (
        main(common + ["--mask", str(good), "--out", str(tmp_path / "k.png"), "--no-per-image"])
        == 0
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["a red apple"], "not text-conditioned"),
        (["--label", "5"], "out of range: this model knows 2 classes (0..1: 0=zero, 1=one)"),
        (["--sampler", "plms"], "choose one of ddpm, ddim, dpmpp-2m, euler, heun"),
        (["--steps", "0"], ">= 1, not 0"),
        (["--sweep", "ddim10"], "SAMPLER:STEPS"),
        (["--init", "nowhere.png"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(run_dir, tmp_path, capsys, extra, message):
    code = main(
        ["paint", str(run_dir), *extra, "--n", "1", "--out", str(tmp_path / "x.png"), "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_sample_takes_precision_like_paint(run_dir, tmp_path, capsys, precision):
    out = tmp_path / "s.png"
    argv = ["sample", str(run_dir), "--n", "2", "--label", "1", "--out", str(out)]
    assert main([*argv, "--precision", precision]) == 0
    expected = resolve_precision(precision, torch.device("cpu"))
    assert read_params(out)["options"]["precision"] == expected
    assert f"wrote {out} and 2 images in {tmp_path / 's'}/" in capsys.readouterr().out


def test_paint_with_the_run_defaults_records_sampler_steps_and_cfg(run_dir, tmp_path, capsys):
    out = tmp_path / "d.png"
    assert (
        main(["paint", str(run_dir), "--label", "1", "--n", "1", "--out", str(out), "--quiet"]) == 0
    )
    options = read_params(out)["options"]
    assert (options["sampler"], options["steps"], options["cfg"]) == ("ddim", 3, 3.0)
    text = Image.open(out).text["parameters"]
    assert "Steps: 3" in text and "Sampler:" in text and "CFG scale:" in text
