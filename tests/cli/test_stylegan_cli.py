"""The StyleGAN commands end to end on a tiny run: train, sample with truncation and a mixing
grid, invert (plain and masked), edit, drag, and regenerate from the written PNGs."""

import numpy as np
import pytest
from PIL import Image

from huashi import api
from huashi.cli import main
from huashi.core.images import read_params
from huashi.gan.latents import load_latent

TINY = [
    "--data", "shapes", "--data-option", "n=64", "--resolution", "16", "--z-dim", "8",
    "--w-dim", "8", "--mapping-layers", "2", "--channel-base", "64", "--channel-max", "8",
    "--batch-size", "8", "--quiet", "--sample-every", "100", "--n-fixed", "4",
]  # fmt: skip


def pixels(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "sg"
    assert main(["train", "stylegan", *TINY, "--out", str(out), "--steps", "2"]) == 0
    return out


def test_truncation_zero_paints_one_image_and_regenerates(run_dir, tmp_path):
    grid = tmp_path / "t.png"
    assert main(["sample", str(run_dir), "--n", "3", "--truncation", "0", "--out", str(grid)]) == 0
    files = sorted((tmp_path / "t").glob("*.png"))
    assert len(files) == 3
    assert np.array_equal(pixels(files[0]), pixels(files[2]))
    assert read_params(files[1])["options"] == {"truncation": 0.0}
    assert main(["regenerate", str(files[1]), "--out", str(tmp_path / "again.png")]) == 0
    assert np.array_equal(pixels(files[1]), pixels(tmp_path / "again.png"))


def test_mixing_grid(run_dir, tmp_path):
    out = tmp_path / "mix.png"
    assert (
        main(["sample", str(run_dir), "--mix", "3", "11", "--mix-layers", "0-3", "--out", str(out)])
        == 0
    )
    assert read_params(out)["mix"] == [3, 11]
    assert Image.open(out).size == (3 * 18 + 2, 3 * 18 + 2)  # 3x3 cells of 16 px, 2 px gaps


def test_invert_edit_drag_and_regenerate(run_dir, tmp_path):
    main(["sample", str(run_dir), "--n", "2", "--seed", "5", "--out", str(tmp_path / "s.png")])
    photo, other = sorted((tmp_path / "s").glob("*.png"))
    inv = tmp_path / "inv"
    assert main(["invert", str(run_dir), str(photo), "--steps", "5", "--out", str(inv)]) == 0
    for name in ("latent.safetensors", "reconstruction.png", "progress.png", "target.png"):
        assert (inv / name).exists()
    assert load_latent(inv / "latent.safetensors").space == "w+"
    assert (
        main(["regenerate", str(inv / "reconstruction.png"), "--out", str(tmp_path / "r.png")]) == 0
    )
    assert np.array_equal(pixels(inv / "reconstruction.png"), pixels(tmp_path / "r.png"))

    hole = np.zeros((16, 16), np.uint8)
    hole[4:10, 4:10] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    fix = tmp_path / "fix"
    assert main(["invert", str(run_dir), str(photo), "--mask", str(tmp_path / "hole.png"),
                 "--steps", "3", "--out", str(fix)]) == 0  # fmt: skip

    edits = tmp_path / "edits.png"
    latent = str(inv / "latent.safetensors")
    assert main(["edit", str(run_dir), latent, "--direction", "sefa:0", "--strength", "-2..2:5",
                 "--out", str(edits)]) == 0  # fmt: skip
    assert Image.open(edits).size == (5 * 18 + 2, 18 + 2)
    walk = tmp_path / "walk.png"
    assert main(["edit", str(run_dir), latent, "--toward", str(fix / "latent.safetensors"),
                 "--steps", "4", "--out", str(walk)]) == 0  # fmt: skip
    assert Image.open(walk).size == (4 * 18 + 2, 18 + 2)

    drag = tmp_path / "drag"
    assert main(["drag", str(run_dir), latent, "--point", "5,8:7,8", "--mask",
                 str(tmp_path / "hole.png"), "--steps", "3", "--out", str(drag)]) == 0  # fmt: skip
    for name in ("before.png", "after.png", "frames.png", "latent.safetensors"):
        assert (drag / name).exists()
    told = []  # the library reports each step (the CLI's progress bar reads it)
    again = api.drag(run_dir, latent, ["5,8:7,8"], tmp_path / "drag2", steps=3,
                     progress=lambda done, total, message: told.append((done, total)))  # fmt: skip
    assert told == [(i, 3) for i in range(1, again.steps + 1)] and again.steps >= 1
    assert main(["regenerate", str(drag / "after.png"), "--out", str(tmp_path / "d.png")]) == 0
    assert np.array_equal(pixels(drag / "after.png"), pixels(tmp_path / "d.png"))


def test_invert_with_noise_stores_the_maps_and_regenerates(run_dir, tmp_path):
    main(["sample", str(run_dir), "--n", "1", "--seed", "2", "--out", str(tmp_path / "s.png")])
    (photo,) = sorted((tmp_path / "s").glob("*.png"))
    inv = tmp_path / "inv"
    assert main(["invert", str(run_dir), str(photo), "--steps", "3", "--optimize-noise",
                 "--out", str(inv)]) == 0  # fmt: skip
    latent = load_latent(inv / "latent.safetensors")
    assert latent.extra["optimize_noise"] is True and len(latent.noise) == 5  # convs at 16 px
    assert [tuple(n.shape) for n in latent.noise][-1] == (1, 1, 16, 16)
    assert (
        main(["regenerate", str(inv / "reconstruction.png"), "--out", str(tmp_path / "r.png")]) == 0
    )
    assert np.array_equal(pixels(inv / "reconstruction.png"), pixels(tmp_path / "r.png"))


def test_bad_requests_are_one_line_errors(run_dir, tmp_path, capsys):
    assert main(["invert", str(run_dir), str(tmp_path / "none.png"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["sample", str(run_dir), "--mix", "3", "--out", str(tmp_path / "m.png")]) == 2
    assert "at least two seeds" in capsys.readouterr().err
