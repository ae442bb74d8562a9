"""``huashi data export`` (D7): real dataset images as PNG files, picked by index, caption or count."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.core.images import read_params
from huashi.data import load_dataset

SHAPES = ["shapes", "--resolution", "32", "--data-option", "n=60"]


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", resolution=32, n=60, cache=False)


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_export_by_index_writes_the_dataset_pixels(tmp_path, shapes, capsys):
    assert (
        main(
            [
                "data",
                "export",
                *SHAPES,
                "--index",
                "7",
                "--index",
                "3",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 0
    )
    files = sorted((tmp_path / "x").iterdir())
    assert [f.name[:6] for f in files] == ["000003", "000007"]
    for file, index in zip(files, (3, 7), strict=True):
        assert np.array_equal(_pixels(file), shapes.images[index].permute(1, 2, 0).numpy())
        params = read_params(file)
        assert params["index"] == index and params["caption"] == shapes.captions[index]
    out = capsys.readouterr().out
    assert f"wrote 2 images to {tmp_path / 'x'}/" in out and shapes.captions[3] in out


def test_export_by_caption_into_one_file(tmp_path, shapes):
    caption = shapes.captions[11]
    photo = tmp_path / "photo.png"
    assert main(["data", "export", *SHAPES, "--caption", caption.upper(), "--out", str(photo)]) == 0
    first = shapes.captions.index(caption)
    assert np.array_equal(_pixels(photo), shapes.images[first].permute(1, 2, 0).numpy())


def test_export_caption_contained_and_first_n(tmp_path, shapes):
    assert (
        main(
            [
                "data",
                "export",
                *SHAPES,
                "--caption",
                "circle",
                "--n",
                "2",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    files = sorted((tmp_path / "c").iterdir())
    expected = [i for i, c in enumerate(shapes.captions) if "circle" in c][:2]
    assert [int(f.name[:6]) for f in files] == expected
    assert main(["data", "export", *SHAPES, "--n", "3", "--out", str(tmp_path / "n")]) == 0
    assert [int(f.name[:6]) for f in sorted((tmp_path / "n").iterdir())] == [0, 1, 2]


def test_export_paired_targets(tmp_path):
    options = ["calligraphy", "--resolution", "32", "--data-option", "n_chars=4"]
    assert (
        main(
            [
                "data",
                "export",
                *options,
                "--index",
                "1",
                "--target",
                "--out",
                str(tmp_path / "t.png"),
            ]
        )
        == 0
    )
    ds = load_dataset("calligraphy", resolution=32, n_chars=4)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "t.png")), ds.targets[1][0].numpy())


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--index", "60"], "--index 60 is outside shapes's 60 images: use 0 to 59"),
        (["--caption", "a purple unicorn"], "no image of shapes has a caption or label matching"),
        (["--n", "2"], "names one file but 2 images are selected"),
        (["--target"], "shapes has no paired targets: drop --target"),
    ],
)
def test_export_errors_are_one_line(tmp_path, capsys, flags, message):
    out = str(tmp_path / "one.png")
    argv = ["data", "export", *SHAPES, *flags, "--out", out]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "one.png").exists()


def test_select_needs_captions_or_labels(shapes):
    from huashi.data.export import select

    bare = dataclasses.replace(shapes, captions=None, labels=None, attributes=None)
    with pytest.raises(HuashiError, match="neither captions nor labels"):
        select(bare, 1, caption="x")


def test_quiet_prints_nothing(tmp_path, capsys):
    assert main(["data", "export", *SHAPES, "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "") and len(list((tmp_path / "q").iterdir())) == 1


def test_export_reports_progress_and_quiet_prints_nothing(tmp_path, capsys):
    calls = []
    written = api.export_data("shapes", tmp_path / "p", n=3, resolution=32, data_options={"n": 60},
                              progress=lambda *c: calls.append(c))  # fmt: skip
    assert len(written) == 3 and [c[:2] for c in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert calls[0][2] == "writing 3 PNG files"
    assert (
        main(["data", "export", *SHAPES, "--n", "2", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    )
    assert capsys.readouterr() == ("", "") and len(list((tmp_path / "q").iterdir())) == 2
