"""``huashi data export --shift PX --copies K``: each image written at random offsets, so a
generator trained on the files sees its content at many places (a drag can then carry it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from huashi.cli import main
from huashi.core.images import read_params
from huashi.data import load_dataset
from huashi.data.export import shifted

SHAPES = ["shapes", "--resolution", "32", "--data-option", "n=60"]


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_shifted_moves_the_content_and_repeats_the_border():
    image = torch.zeros(1, 8, 8, dtype=torch.uint8)
    image[0, 2, 3] = 200  # a dot at x=3, y=2
    image[0, :, 0] = 50  # the left column
    moved = shifted(image, 2, 1)  # 2 px right, 1 px down
    assert moved.shape == image.shape and moved.dtype == torch.uint8
    assert moved[0, 3, 5] == 200 and (moved == 200).sum() == 1
    assert (moved[0, 1:, :3] == 50).all()  # the uncovered left strip repeats the left column
    assert (moved[0, 0] == moved[0, 1]).all()  # the uncovered top row repeats the one below
    assert torch.equal(shifted(image, 0, 0), image)


def test_export_shift_writes_copies_at_their_recorded_offsets(tmp_path, capsys):
    ds = load_dataset("shapes", resolution=32, n=60, cache=False)
    argv = ["data", "export", *SHAPES, "--index", "5", "--shift", "3", "--copies", "6"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    files = sorted((tmp_path / "a").iterdir())
    assert [f.name.rsplit("-", 1)[1] for f in files] == [f"{k}.png" for k in range(6)]
    original = ds.images[5].permute(1, 2, 0).numpy()
    offsets = set()
    for file in files:
        params = read_params(file)
        dx, dy = params["shift"]
        assert params["index"] == 5 and max(abs(dx), abs(dy)) <= 3
        offsets.add((dx, dy))
        pixels = _pixels(file)  # the picture itself is moved by (dx, dy)
        assert np.array_equal(pixels[3 + dy : 29 + dy, 3 + dx : 29 + dx], original[3:29, 3:29])
    assert len(offsets) > 1  # the copies sit at different places
    assert "wrote 6 images" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "b"), "--quiet"]) == 0  # same seed, same files
    assert all(np.array_equal(_pixels(f), _pixels(tmp_path / "b" / f.name)) for f in files)
    assert main([*argv, "--seed", "1", "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert {tuple(read_params(f)["shift"]) for f in (tmp_path / "c").iterdir()} != offsets


def test_export_lists_at_most_20_files(tmp_path, capsys):
    argv = ["data", "export", *SHAPES, "--n", "5", "--shift", "2", "--copies", "5"]
    assert main([*argv, "--out", str(tmp_path / "many")]) == 0
    out = capsys.readouterr().out
    assert "... and 5 more" in out and "wrote 25 images" in out
    assert len(list((tmp_path / "many").iterdir())) == 25


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--copies", "3"], "--copies without --shift writes identical files: add --shift PX"),
        (["--shift", "16"], "--shift 16 moves a 32-px image out of itself: use under 16"),
        (["--shift", "-1"], "--shift must be 0 or more"),
    ],
)
def test_shift_errors_are_one_line(tmp_path, capsys, flags, message):
    assert main(["data", "export", *SHAPES, *flags, "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "e").exists()
