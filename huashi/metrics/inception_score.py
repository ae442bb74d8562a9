"""Inception Score (Salimans et al. 2016) from any classifier's class probabilities:

    IS = exp( E_x KL( p(y|x) || p(y) ) ),  p(y) = mean of p(y|x) over the split,

reported as mean ± std over ``splits`` splits: split i holds samples ``i*N//splits`` up to
``(i+1)*N//splits``, so N need not be divisible by ``splits`` (the sizes differ by at most one). It rewards confident (sharp) and diverse
predictions: its maximum is the number of classes. With huashi's in-domain classifier the
classes are the dataset's own (digits, shapes), so the score means something for that data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from huashi.metrics import require_samples


@dataclass
class InceptionScore:
    mean: float
    std: float
    splits: int


def inception_score(logits: torch.Tensor, splits: int = 10) -> InceptionScore:
    """IS of classifier logits [N, classes]."""
    require_samples("Inception score", len(logits), 2 * splits, f"{splits} splits of 2 or more")
    log_p = torch.log_softmax(logits.detach().double().cpu(), dim=1)
    scores = []
    n = len(log_p)
    for i in range(splits):
        part = log_p[i * n // splits : (i + 1) * n // splits]
        log_marginal = torch.logsumexp(part, dim=0) - math.log(len(part))
        kl = (part.exp() * (part - log_marginal)).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    t = torch.tensor(scores, dtype=torch.float64)
    return InceptionScore(float(t.mean()), float(t.std(unbiased=False)), splits)
