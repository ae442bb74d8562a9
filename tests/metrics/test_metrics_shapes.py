"""The shapes attribute reader is exact on the dataset's own images and reads painted images as a
person does (M2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from huashi.core.errors import HuashiError
from huashi.data import load_dataset, shapes
from huashi.metrics.shapes_accuracy import (
    ATTRIBUTES,
    _corners_seen,
    attribute_accuracy,
    name_color,
    read_attributes,
    template,
    upright_triangle_moment,
)

LABELLED = Path(__file__).parent / "shapes_labelled"


@pytest.mark.parametrize("resolution,n", [(16, 200), (32, 200), (64, 60)])
def test_reader_is_exact_on_dataset_images(resolution: int, n: int) -> None:
    ds = load_dataset("shapes", resolution, n=n, seed=7, cache=False)
    for image, attributes in zip(ds.images, ds.attributes, strict=True):
        assert read_attributes(image) == attributes


def test_accuracy_is_one_for_true_prompts_and_low_for_shuffled_ones() -> None:
    ds = load_dataset("shapes", 32, split="test", n=120, cache=False)
    images = ds.batch(torch.arange(len(ds)))["image"]
    right = attribute_accuracy(images, ds.captions)
    assert right == dict.fromkeys(right, 1.0)
    shuffled = ds.captions[1:] + ds.captions[:1]
    wrong = attribute_accuracy(images, shuffled)
    # five attributes right by chance: 1/(6*8*2*9*3); one attribute: 1/2 to 1/9
    assert wrong["all"] < 0.05
    assert wrong["color"] < 0.35 and wrong["position"] < 0.35 and wrong["size"] < 0.75


def test_reader_is_robust_to_mild_noise() -> None:
    ds = load_dataset("shapes", 32, n=60, seed=3, cache=False)
    images = ds.batch(torch.arange(len(ds)))["image"]
    noisy = images + 0.03 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    assert attribute_accuracy(noisy.clamp(-1, 1), ds.captions)["all"] >= 0.95


def test_bad_inputs() -> None:
    images = torch.zeros(2, 3, 16, 16)
    with pytest.raises(HuashiError, match="one prompt per image"):
        attribute_accuracy(images, ["a small red circle in the center on a white background"])
    with pytest.raises(HuashiError, match="RGB"):
        attribute_accuracy(torch.zeros(2, 1, 16, 16), ["x", "y"])
    with pytest.raises(HuashiError, match="cannot read shapes caption"):
        attribute_accuracy(images, ["a red thing", "a blue thing"])


def _agreement(entries: list[dict]) -> dict[str, float]:
    """Share of the labelled attributes that the reader reads as the person did (a label may list
    the answers a person could not tell apart; null = a person cannot tell, not counted)."""
    hits, counted = dict.fromkeys(ATTRIBUTES, 0), dict.fromkeys(ATTRIBUTES, 0)
    for entry in entries:
        pixels = np.array(Image.open(LABELLED / "images" / entry["file"]).convert("RGB"))
        got = read_attributes(torch.from_numpy(pixels).permute(2, 0, 1).contiguous())
        for key, label in entry["labels"].items():
            if label is not None:
                counted[key] += 1
                hits[key] += got[key] in ([label] if isinstance(label, str) else label)
    return {key: hits[key] / counted[key] for key in ATTRIBUTES if counted[key]}


def test_reader_agrees_with_a_person_on_painted_images() -> None:
    """196 images painted by the zoo, labelled by eye (tests/metrics/shapes_labelled/paint.py)."""
    entries = json.loads((LABELLED / "labels.json").read_text())
    assert len(entries) == 196
    agreement = _agreement(entries)
    for key in ("shape", "color", "position", "background"):
        assert agreement[key] >= 0.97, (key, agreement)
    # size (185 of 193) misses the 97 % target: blobs 7 to 8 pixels across, between the two
    # sizes, where two people differ as often (docs/metrics.md)
    assert agreement["size"] >= 0.955, agreement
    fresh = _agreement([e for e in entries if e["part"] == "fresh"])  # labelled after the change
    assert min(fresh.values()) >= 0.95, fresh
    # labelled before the corner and triangle rules were tried: 36 of 36 shapes, 34 of 36 sizes
    fresh_2 = _agreement([e for e in entries if e["part"] == "fresh-2"])
    assert fresh_2["shape"] == 1.0 and min(fresh_2.values()) >= 0.94, fresh_2
    # painted and labelled after the rules were written down, before they were run on them
    fresh_3 = _agreement([e for e in entries if e["part"] == "fresh-3"])
    assert min(fresh_3.values()) >= 0.97, fresh_3
    # labelled by the second person after the size rules were written down: 37 of 39 sizes
    fresh_4 = _agreement([e for e in entries if e["part"] == "fresh-4"])
    assert fresh_4["shape"] == 1.0 and min(fresh_4.values()) >= 0.94, fresh_4


def test_reader_agrees_with_a_second_person_on_shapes() -> None:
    """A second person labelled the first 84 shapes blind to the reader and to the first labels;
    the two people agree on 78 of 80, the reader with the second on 82 of 83 (docs/metrics.md)."""
    entries = json.loads((LABELLED / "labels.json").read_text())
    seconds = [dict(e, labels={"shape": e.get("second_person_shape")}) for e in entries]
    counted = [e for e in seconds if e["labels"]["shape"] is not None]
    assert len(counted) == 83
    assert _agreement(counted)["shape"] >= 0.97


def test_two_people_differ_on_sizes_as_often_as_the_reader() -> None:
    """A second person labelled the size of the first 156 images blind to the reader, the prompts
    and the first labels: the people agree on 149 of 154, the reader with the second on 155 of 156
    and with at least one of them on 153 of 154 (docs/metrics.md)."""
    entries = json.loads((LABELLED / "labels.json").read_text())[:156]
    assert all(e["second_person_size"] in shapes.SIZES for e in entries)
    both = [e for e in entries if e["labels"]["size"] is not None]
    assert sum(e["second_person_size"] == e["labels"]["size"] for e in both) == 149
    seconds = [dict(e, labels={"size": e["second_person_size"]}) for e in entries]
    assert _agreement(seconds)["size"] >= 0.99
    either = [
        dict(e, labels={"size": [e["labels"]["size"], e["second_person_size"]]}) for e in both
    ]
    assert _agreement(either)["size"] >= 0.99


def test_corners_are_seen_only_beyond_the_blur() -> None:
    """A 4-pixel square's corners (0.84 px out of its inscribed circle) show when sharp, not
    under a 0.5-pixel blur; a triangle's (half its circumradius) show under both."""
    assert _corners_seen("square", 2.88, 0.0) and not _corners_seen("square", 2.88, 0.5)
    assert not _corners_seen("diamond", 2.88, 0.5) and _corners_seen("diamond", 4.8, 0.5)
    assert _corners_seen("triangle", 2.88, 0.8) and _corners_seen("star", 2.88, 0.8)
    assert _corners_seen("circle", 1.0, 1.2) and _corners_seen("hexagon", 1.0, 1.2)


@pytest.mark.parametrize("blur", [0.0, 1.2])
def test_only_an_upright_triangle_is_lopsided(blur: float) -> None:
    from scipy.ndimage import gaussian_filter

    def moment(shape: str) -> float:
        drawn = template(shape, 20, 20, 10.0, 10.0, 4.0)
        return upright_triangle_moment(gaussian_filter(drawn, blur) if blur else drawn)

    assert moment("triangle") >= 0.3
    for shape in ("circle", "square", "diamond", "hexagon"):
        assert moment(shape) < 0.05, shape
    assert upright_triangle_moment(template("triangle", 20, 20, 10.0, 10.0, 4.0)[::-1]) == 0.0


def test_the_headline_prompt_is_read_as_painted() -> None:
    """The README's prompt: zoo:shapes-ldm paints a dark red star, once read as brown."""
    entries = json.loads((LABELLED / "labels.json").read_text())
    headline = "a large red star in the center on a white background"
    painted = [e for e in entries if e["prompt"] == headline]
    assert len(painted) == 9  # seeds 0-7, and one fresh-2 caption that drew the same prompt
    assert _agreement(painted) == dict.fromkeys(ATTRIBUTES, 1.0)


def test_colours_are_named_in_cielab() -> None:
    for background in shapes.BACKGROUNDS.values():
        bg = np.array(background, dtype=np.float64)
        for k, color in enumerate(shapes.COLORS.values()):
            for a in (1.0, 0.6):  # a whole pixel and an antialiased edge
                assert name_color(bg + a * (np.array(color) - bg), bg) == k
    red, brown = list(shapes.COLORS).index("red"), list(shapes.COLORS).index("brown")
    white = np.array(shapes.BACKGROUNDS["white"], dtype=np.float64)
    # nearer brown (130, 80, 40) than red (220, 40, 40) in RGB, a dark red to the eye
    dark_red = np.array([167.0, 54.0, 53.0])
    assert (
        np.abs(dark_red - shapes.COLORS["brown"]).sum()
        < np.abs(dark_red - shapes.COLORS["red"]).sum()
    )
    assert name_color(dark_red, white) == red
    assert name_color(np.array(shapes.COLORS["brown"], dtype=np.float64), white) == brown


@pytest.mark.parametrize("shape", shapes.SHAPES)
def test_the_readers_drawings_are_the_datasets(shape: str) -> None:
    """The reader draws each shape at any radius; at the dataset's radii it draws its pixels."""
    for size, radius in shapes.SIZES.items():
        scene = {"shape": shape, "size": size, "position": "top right", "color": "yellow",
                 "background": "black"}  # fmt: skip
        drawn = np.asarray(shapes.draw_scene(scene, 32, 0.01, -0.005), dtype=np.float64)
        cx, cy = (2.5 + 0.03) * 32 / 3, (0.5 - 0.015) * 32 / 3
        coverage = template(shape, 32, 32, cx, cy, radius * 32)
        assert np.abs(drawn[..., 0] / 240 - coverage).max() < 0.01
