"""Choosing a dataset's images by caption (``--data-option caption=face``)."""

from __future__ import annotations

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.data import load_dataset, with_caption
from huashi.data.base import ImageSet


@pytest.mark.parametrize("split", ["train", "test"])
def test_caption_option_keeps_exactly_the_matching_images_in_order(split):
    everything = load_dataset("emoji", resolution=16, split=split)
    faces = load_dataset("emoji", resolution=16, split=split, caption="Face")
    expected = [i for i, c in enumerate(everything.captions) if "face" in c.split()]
    assert 0 < len(faces) == len(expected) < len(everything)
    assert faces.captions == [everything.captions[i] for i in expected]
    assert torch.equal(faces.images, everything.images[torch.tensor(expected)])
    assert faces.info["caption"] == "face" and faces.info["chosen_of"] == len(everything)


def test_caption_subset_keeps_every_per_image_field_aligned():
    images = torch.arange(4, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
    ds = ImageSet(
        "toy", images, labels=torch.tensor([0, 1, 0, 1]), class_names=["a", "b"],
        captions=["red star", "blue circle", "red circle", "green star"],
        targets=images.flip(0).contiguous(), attributes=[{"k": i} for i in range(4)],
    )  # fmt: skip
    red = with_caption(ds, "red")
    assert red.captions == ["red star", "red circle"]
    assert red.images[:, 0, 0, 0].tolist() == [0, 2]
    assert red.labels.tolist() == [0, 0] and red.class_names == ["a", "b"]
    assert red.targets[:, 0, 0, 0].tolist() == [3, 1]
    assert red.attributes == [{"k": 0}, {"k": 2}]


def test_a_caption_matches_whole_words_or_a_whole_phrase():
    images = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)
    ds = ImageSet("toy", images, captions=["cat face", "heavy multiplication x", "a red circle",
                                            "a red star"])  # fmt: skip
    assert with_caption(ds, "cat").captions == ["cat face"]
    assert with_caption(ds, "Red Circle").captions == ["a red circle"]
    with pytest.raises(HuashiError, match="no image of toy"):
        with_caption(ds, "tar")


def test_caption_option_errors_say_what_to_do():
    with pytest.raises(
        HuashiError, match=r'no image of emoji \(train split\).*words "xyzzy".*data preview'
    ):
        load_dataset("emoji", resolution=16, caption="xyzzy")
    unlabelled = ImageSet("toy", torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(HuashiError, match="toy has no captions.*drop the caption option"):
        with_caption(unlabelled, "face")
    with pytest.raises(HuashiError, match="caption is empty"):
        load_dataset("emoji", resolution=16, caption="  ")
