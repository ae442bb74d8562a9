"""The shapes attribute reader is exact on the dataset's own images (M2)."""

from __future__ import annotations

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.data import load_dataset
from huashi.metrics.shapes_accuracy import attribute_accuracy, read_attributes


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
