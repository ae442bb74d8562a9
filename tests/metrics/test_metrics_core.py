"""FID, KID, precision/recall, IS and CLIP score against independent computations and planted
cases (features are given directly; which network makes them is tested elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from huashi.core.errors import HuashiError
from huashi.metrics.clip_score import caption_retrieval_top1, clip_score
from huashi.metrics.fid import GaussianStats, fid, frechet_distance, gaussian_stats
from huashi.metrics.inception_score import inception_score
from huashi.metrics.kid import kid, mmd2_unbiased
from huashi.metrics.precision_recall import precision_recall


def _features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    mix = torch.randn(d, d, generator=torch.Generator().manual_seed(d)) / d**0.5  # correlated
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g) @ mix) * scale + shift


def _scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


class _Identity(nn.Module):
    """torchmetrics' custom feature extractor: the 'images' already are features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.parametrize("shift,scale", [(0.3, 1.0), (0.0, 1.5), (1.0, 0.7)])
def test_fid_matches_scipy_sqrtm_and_torchmetrics(shift: float, scale: float) -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance

    x, y = _features(600, 32, 0), _features(500, 32, 1, shift, scale)
    ours = fid(x, y)
    reference = _scipy_fid(x.double().numpy(), y.double().numpy())
    assert ours == pytest.approx(reference, rel=1e-3)
    metric = FrechetInceptionDistance(feature=_Identity(32), normalize=True)
    metric.update(x, real=True)
    metric.update(y, real=False)
    assert ours == pytest.approx(float(metric.compute()), rel=1e-3)


def test_fid_closed_form_for_diagonal_gaussians() -> None:
    # FD of N(m1, diag a) and N(m2, diag b) = |m1 - m2|^2 + sum (sqrt a - sqrt b)^2
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    m1, m2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    value = frechet_distance(
        GaussianStats(m1.double(), torch.diag(a).double(), 10),
        GaussianStats(m2.double(), torch.diag(b).double(), 10),
    )
    expected = float(((m1 - m2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum())
    assert value == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_a_shift() -> None:
    x = _features(400, 24, 3)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)
    distances = [fid(x, x + s) for s in (0.1, 0.2, 0.4)]
    # a pure shift adds exactly |shift|^2 * D
    assert distances == pytest.approx([24 * s**2 for s in (0.1, 0.2, 0.4)], rel=1e-6)


def test_fid_refuses_too_few_samples_with_the_minimum() -> None:
    with pytest.raises(HuashiError, match="at least 33"):
        gaussian_stats(torch.randn(20, 32))


def _naive_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    def k(a, b):
        return (float(a @ b) / len(a) + 1) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_a_naive_loop_and_torchmetrics() -> None:
    from torchmetrics.image.kid import KernelInceptionDistance

    x, y = _features(30, 8, 4).double(), _features(30, 8, 5, shift=0.5).double()
    assert mmd2_unbiased(x, y) == pytest.approx(_naive_mmd2(x, y), rel=1e-9)
    # one subset holding every sample: no randomness left, so torchmetrics must agree
    x, y = _features(300, 16, 6), _features(300, 16, 7, shift=0.3)
    ours = kid(x, y, subsets=1, subset_size=300)
    metric = KernelInceptionDistance(feature=_Identity(16), subsets=1, subset_size=300)
    metric.update(x, real=True)
    metric.update(y, real=False)
    assert ours.mean == pytest.approx(float(metric.compute()[0]), rel=1e-3)


def test_kid_is_unbiased_on_two_draws_of_one_distribution() -> None:
    draws = [kid(_features(60, 8, 2 * i), _features(60, 8, 2 * i + 1), subsets=1).mean
             for i in range(40)]  # fmt: skip
    t = torch.tensor(draws)
    sem = float(t.std() / len(t) ** 0.5)
    assert abs(float(t.mean())) < 3 * sem  # mean ≈ 0 over draws
    assert (t < 0).any()  # single unbiased estimates do go negative
    different = kid(_features(60, 8, 100), _features(60, 8, 101, shift=0.5), subsets=1).mean
    assert different > float(t.mean()) + 10 * sem


def test_kid_reports_spread_over_subsets_and_refuses_single_samples() -> None:
    result = kid(_features(200, 8, 0), _features(200, 8, 1, shift=0.2), subsets=20, subset_size=50)
    assert result.std > 0 and result.subset_size == 50
    with pytest.raises(HuashiError, match="at least 2"):
        kid(torch.randn(1, 8), torch.randn(5, 8))


def test_precision_recall_on_planted_cases() -> None:
    real = _features(1000, 16, 8)
    # a generator that copies 10% of the data (with tiny noise): realistic but not diverse
    copies = real[:100].repeat(10, 1) + 1e-4 * torch.randn(1000, 16)
    copied = precision_recall(real, copies)
    assert copied.precision > 0.95 and copied.recall < 0.2
    same = precision_recall(real, _features(1000, 16, 8 + 1000))
    assert same.precision > 0.8 and same.recall > 0.8
    far = precision_recall(real, _features(1000, 16, 9, shift=20.0))
    assert far.precision == 0.0 and far.recall == 0.0
    with pytest.raises(HuashiError, match="at least 4"):
        precision_recall(real, real[:3], k=3)


def test_inception_score_extremes() -> None:
    k = 5
    confident_diverse = torch.eye(k).repeat(20, 1) * 50  # 100 sharp predictions, all classes
    assert inception_score(confident_diverse, splits=2).mean == pytest.approx(k, rel=1e-6)
    one_class = torch.zeros(100, k)
    one_class[:, 0] = 50
    assert inception_score(one_class, splits=2).mean == pytest.approx(1.0, abs=1e-6)
    unsure = torch.zeros(100, k)
    assert inception_score(unsure, splits=2).mean == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(HuashiError, match="at least 20"):
        inception_score(torch.zeros(10, k), splits=10)


def test_inception_score_with_n_not_divisible_by_the_splits_uses_every_split() -> None:
    """N=25, 10 splits: sizes 2 or 3 (i*N//splits bounds), checked against a plain loop."""
    logits = torch.randn(25, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = torch.softmax(logits, dim=1).numpy()
    scores = []
    for i in range(10):
        part = p[i * 25 // 10 : (i + 1) * 25 // 10]
        marginal = part.mean(axis=0)
        kl = [sum(q[c] * np.log(q[c] / marginal[c]) for c in range(4)) for q in part]
        scores.append(np.exp(np.mean(kl)))
    result = inception_score(logits, splits=10)
    assert result.splits == 10
    assert result.mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert result.std == pytest.approx(np.std(scores), rel=1e-9)


def test_clip_score_by_hand() -> None:
    images = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    texts = torch.tensor([[1.0, 0.0], [0.0, -1.0], [1.0, 0.0]])  # cos = 1, -1 (-> 0), 1/sqrt 2
    assert clip_score(images, texts) == pytest.approx(100 * (1 + 0 + 2**-0.5) / 3)
    with pytest.raises(HuashiError, match="one prompt per image"):
        clip_score(images, texts[:2])


def test_caption_retrieval_ranks_the_own_caption_among_fifty() -> None:
    captions = [f"emoji {k}" for k in range(99)] * 20  # 99 distinct, each painted 20 times
    texts = torch.eye(99)[torch.arange(99).repeat(20)]
    assert caption_retrieval_top1(texts, texts, captions) == 1.0  # every painting is its caption
    assert caption_retrieval_top1(-texts, texts, captions) == 0.0
    # each painting looks more like the next caption than its own: it wins only when that one is
    # not among its 49 rivals, drawn from 98 others: 1 - 49/98 = a half
    after = torch.roll(torch.arange(99), -1).repeat(20)
    confused = 0.5 * texts + torch.eye(99)[after]
    assert caption_retrieval_top1(confused, texts, captions) == pytest.approx(0.5, abs=0.04)
    # with 10 candidates it is missing from 9 of 98 rivals far more often
    assert caption_retrieval_top1(confused, texts, captions, candidates=10) == pytest.approx(
        1 - 9 / 98, abs=0.03
    )
    with pytest.raises(HuashiError, match="2 different captions"):
        caption_retrieval_top1(texts[:3], texts[:3], ["same"] * 3)
