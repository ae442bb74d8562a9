"""Shapes scenes drawn again with attributes fixed (the yardstick's 'attributes lost' ladder,
issue 27) and labels joined from several attributes (a richer-label reference classifier)."""

from __future__ import annotations

import itertools

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.data.shapes import BACKGROUNDS, SHAPES_ATTRIBUTES, load_shapes, redraw_shapes
from huashi.metrics.ladder import ATTRIBUTES_LOST, attributes_lost
from huashi.metrics.shapes_accuracy import read_attributes


def test_redrawing_without_a_change_gives_the_dataset_pixel_for_pixel() -> None:
    for split, seed in (("train", 0), ("test", 3)):
        loaded = load_shapes(32, split=split, n=40, seed=seed)
        assert torch.equal(redraw_shapes(32, split=split, n=40, seed=seed), loaded.images)


def test_a_fixed_attribute_changes_only_that_attribute_as_the_exact_reader_reads_it() -> None:
    loaded = load_shapes(32, n=60)
    redrawn = redraw_shapes(32, n=60, fixed={"shape": "circle", "color": "red"})
    for image, before, asked in zip(redrawn, loaded.images, loaded.attributes, strict=True):
        assert read_attributes(image) == asked | {"shape": "circle", "color": "red"}
        unchanged = asked["shape"] == "circle" and asked["color"] == "red"
        assert torch.equal(image, before) == unchanged


def test_empty_scenes_are_their_backgrounds() -> None:
    loaded = load_shapes(16, n=30)
    empty = redraw_shapes(16, n=30, empty=True)
    for image, asked in zip(empty, loaded.attributes, strict=True):
        colour = torch.tensor(BACKGROUNDS[asked["background"]], dtype=torch.uint8)
        assert torch.equal(image, colour[:, None, None].expand(3, 16, 16))


def test_bad_fixed_values_and_labels_say_what_to_use() -> None:
    with pytest.raises(HuashiError, match="not a shapes attribute value"):
        redraw_shapes(16, n=2, fixed={"shape": "blob"})
    with pytest.raises(HuashiError, match="joined by"):
        load_shapes(16, n=2, label="shape+shape")
    with pytest.raises(HuashiError, match="joined by"):
        load_shapes(16, n=2, label="shape+mood")


def test_a_joined_label_is_one_class_per_combination() -> None:
    data = load_shapes(16, n=200, label="shape+color+size")
    keys = ("shape", "color", "size")
    assert len(data.class_names) == 6 * 8 * 2
    expected = [" ".join(c) for c in itertools.product(*(SHAPES_ATTRIBUTES[k] for k in keys))]
    assert data.class_names == expected
    for label, attributes in zip(data.labels.tolist(), data.attributes, strict=True):
        assert data.class_names[label] == " ".join(attributes[k] for k in keys)
    single = load_shapes(16, n=200)  # one attribute: as before
    assert single.class_names == SHAPES_ATTRIBUTES["shape"]


def test_the_attributes_lost_ladder_loses_one_more_attribute_per_rung() -> None:
    name, rungs = attributes_lost(32, 40)
    assert name == "attributes lost" and len(rungs) == len(ATTRIBUTES_LOST) + 1
    asked = load_shapes(32, n=40).attributes
    for (label, images), (_, fixed) in zip(rungs, ATTRIBUTES_LOST, strict=False):
        assert images.min() >= -1 and images.max() <= 1
        pixels = ((images + 1) * 127.5).round().to(torch.uint8)
        assert [read_attributes(x) for x in pixels] == [a | fixed for a in asked], label
    assert len({len(f) for _, f in ATTRIBUTES_LOST}) == len(ATTRIBUTES_LOST)  # nested, growing
    assert all(set(a.items()) < set(b.items()) for (_, a), (_, b)
               in itertools.pairwise(ATTRIBUTES_LOST))  # fmt: skip
    background = ((rungs[-1][1] + 1) * 127.5).round()
    assert (background == background[:, :, :1, :1]).all()  # one colour per image
