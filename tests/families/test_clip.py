"""The in-domain CLIP (O1): symmetric InfoNCE, training on shapes, held-out caption retrieval,
and the feature families' guards."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from metrics_helpers import trained_clip

from huashi.core.errors import HuashiError
from huashi.data import load_dataset
from huashi.families import DataInfo
from huashi.families.classifier import ClassifierFamily, ClassifierFamilyConfig
from huashi.families.clip import CLIPFamily, CLIPFamilyConfig
from huashi.losses.clip import contrastive_loss
from huashi.metrics.features import caption_top1, load_features, retrieve, zero_shot


def test_contrastive_loss_is_symmetric_cross_entropy_without_duplicates() -> None:
    g = torch.Generator().manual_seed(0)
    images = F.normalize(torch.randn(6, 8, generator=g), dim=1)
    texts = F.normalize(torch.randn(6, 8, generator=g), dim=1)
    scale = torch.tensor(10.0)
    logits = scale * images @ texts.T
    target = torch.arange(6)
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    loss = contrastive_loss(images, texts, scale, torch.eye(6, dtype=torch.bool))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_duplicate_captions_share_the_target() -> None:
    # two images with one caption: the best possible loss puts half the mass on each
    images = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    same = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    loss = contrastive_loss(images, images, torch.tensor(100.0), same)
    assert loss.item() == pytest.approx(2 / 3 * torch.log(torch.tensor(2.0)).item(), rel=1e-3)


@pytest.fixture(scope="module")
def clip_run():
    return trained_clip()


def test_clip_retrieves_held_out_captions_far_above_chance(clip_run) -> None:
    net = load_features(f"clip:{clip_run}")
    test = load_dataset("shapes", 16, split="test", n=100)
    images = test.batch(torch.arange(len(test)))["image"]
    chance = 1 / len(set(test.captions))
    top1 = caption_top1(net, images, test.captions)
    assert top1 > 10 * chance, (top1, chance)
    found = retrieve(net, images, test.captions, k=5)["image_for_text"]
    hits = sum(i in row.tolist() for i, row in enumerate(found)) / len(test)
    assert hits > 10 * 5 / len(test)
    chosen, similarity = zero_shot(net, images[:3], test.captions[:3])
    assert similarity.shape == (3, 3) and all(c in test.captions[:3] for c in chosen)
    assert net.features(images[:4]).shape == (4, 64)
    assert net.describe(16, 3)["checkpoint_sha256"] == net.checkpoint_hash


def test_feature_families_refuse_wrong_data_and_sampling() -> None:
    no_captions = DataInfo(channels=1, resolution=16, num_classes=10)
    with pytest.raises(HuashiError, match="captioned"):
        CLIPFamily.check_data(no_captions, CLIPFamilyConfig())
    with pytest.raises(HuashiError, match="labelled"):
        ClassifierFamily.check_data(DataInfo(channels=3, resolution=16), ClassifierFamilyConfig())
    family = ClassifierFamily(ClassifierFamilyConfig(width=8), no_captions, torch.device("cpu"))
    with pytest.raises(HuashiError, match="features, not images"):
        family.generate([0])
    with pytest.raises(HuashiError, match="text_input"):
        CLIPFamilyConfig(text_input="words")


def test_clip_command_labels_image_files_like_the_api(clip_run, tmp_path, capsys) -> None:
    from huashi.cli import main
    from huashi.core.images import to_pil

    test = load_dataset("shapes", 16, split="test", n=4)
    images = test.batch(torch.arange(4))["image"]
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        to_pil(image).save(paths[-1])
    prompts = test.captions
    expected, _ = zero_shot(load_features(f"clip:{clip_run}"), images, prompts)
    args = ["clip", str(clip_run), "--image", *map(str, paths)]
    assert main([*args, *(x for p in prompts for x in ("--prompt", p))]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1].split("  (")[0] for line in printed] == expected
    assert main([*args[:-1], str(tmp_path / "missing.png"), "--prompt", "x"]) == 2
