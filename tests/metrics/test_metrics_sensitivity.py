"""Metrics are sensitive: blurring, noise or dropping half the classes of REAL mnist images
worsens them monotonically, under a briefly trained in-domain classifier."""

from __future__ import annotations

import pytest
import torch
from metrics_helpers import trained_classifier
from torchvision.transforms.functional import gaussian_blur

from huashi.data import load_dataset
from huashi.metrics.features import classify, load_features
from huashi.metrics.fid import fid
from huashi.metrics.kid import kid
from huashi.metrics.precision_recall import precision_recall


@pytest.fixture(scope="module")
def setup():
    net = load_features(f"classifier:{trained_classifier()}")
    train = load_dataset("mnist", 16)
    test = load_dataset("mnist", 16, split="test")
    g = torch.Generator().manual_seed(0)
    real = train.batch(torch.randperm(len(train), generator=g)[:1000])["image"]
    return net, net.features(real), test


def _noisy(images: torch.Tensor, std: float) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    return (images + std * noise).clamp(-1, 1)


def test_classifier_predicts_held_out_digits(setup) -> None:
    net, _, test = setup
    names, probs = classify(net, test.batch(torch.arange(len(test)))["image"])
    accuracy = sum(n == str(k) for n, k in zip(names, test.labels.tolist(), strict=True))
    assert accuracy / len(test) > 0.6  # chance: 0.1
    assert torch.allclose(probs.sum(1), torch.ones(len(test)), atol=1e-5)


@pytest.mark.parametrize(
    "damage,levels",
    [(lambda x, s: gaussian_blur(x, 7, s), (0.6, 1.0, 1.6)), (_noisy, (0.2, 0.4, 0.7))],
    ids=["blur", "noise"],
)
def test_fid_and_kid_worsen_monotonically(setup, damage, levels) -> None:
    net, real, test = setup
    held_out = test.batch(torch.arange(len(test)))["image"]
    fids, kids = [], []
    for level in (None, *levels):
        feats = net.features(held_out if level is None else damage(held_out, level))
        fids.append(fid(real, feats))
        kids.append(kid(real, feats, subsets=20, subset_size=200).mean)
    assert fids == sorted(fids) and fids[-1] > 2 * fids[0], fids
    assert kids == sorted(kids), kids


def test_dropping_half_the_classes_worsens_fid_and_recall(setup) -> None:
    net, real, test = setup
    g = torch.Generator().manual_seed(2)
    low = torch.nonzero(test.labels < 5).flatten()  # digits 0-4 only
    everything = torch.randperm(len(test), generator=g)[: len(low)]  # same sample size
    whole = net.features(test.batch(everything)["image"])
    half = net.features(test.batch(low)["image"])
    assert fid(real, half) > fid(real, whole) * 1.5
    assert precision_recall(real, half).recall < precision_recall(real, whole).recall - 0.1
