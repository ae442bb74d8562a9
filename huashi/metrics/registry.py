"""The metric registry: every score huashi computes, with what it needs and how it is shown.

A metric declares its ``name`` (its key in an evaluation record), a ``label`` for tables, the
inputs it ``needs``, the fewest samples it accepts, how to ``compute`` it from a
:class:`MetricInputs` and how to ``format`` its value. ``huashi eval``, :func:`huashi.metrics.evaluate.
evaluate` and ``huashi compare`` read this registry; a new metric is one :func:`register` call.

What a metric may need (a measurement offers a need when it has it):

- ``features``: feature vectors of real and generated images (always offered);
- ``logits``: class logits of the generated images (the feature network classifies);
- ``captions``: the prompt each generated image was painted from (text-conditioned runs);
- ``text_embeddings``: a network that embeds images and texts in one space (CLIP);
- ``pairs``: the real target each generated image should match (image-to-image runs);
- ``shapes_captions``: RGB images prompted with captions of the procedurally drawn ``shapes``
  set, whose attributes can be read back exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from huashi.core.errors import HuashiError

NEEDS = ("features", "logits", "captions", "text_embeddings", "pairs", "shapes_captions")


@dataclass(frozen=True)
class MetricSettings:
    """The knobs of the metrics that have any (recorded with every evaluation)."""

    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_k: int = 3
    is_splits: int = 10
    seed: int = 0


@dataclass
class MetricInputs:
    """Everything a metric may read. Fields a measurement cannot offer stay None."""

    real_features: torch.Tensor
    fake_features: torch.Tensor
    fake_images: torch.Tensor
    settings: MetricSettings = field(default_factory=MetricSettings)
    fake_logits: torch.Tensor | None = None
    captions: list[str] | None = None
    image_embeddings: torch.Tensor | None = None
    text_embeddings: torch.Tensor | None = None
    targets: torch.Tensor | None = None


@dataclass(frozen=True)
class Metric:
    """One registered metric (see the module docstring)."""

    name: str
    label: str
    needs: frozenset[str]
    compute: Callable[[MetricInputs], Any]
    format: Callable[[Any], str]
    #: ``min_samples(settings, feature_dim)``: the fewest samples the metric accepts.
    min_samples: Callable[[MetricSettings, int], int] = lambda settings, dim: 1
    #: Why it needs that many (shown when refusing too few samples).
    min_reason: str = ""
    description: str = ""

    def applies(self, offered: set[str] | frozenset[str]) -> bool:
        return self.needs <= set(offered)


METRICS: dict[str, Metric] = {}
RETRIEVAL_CANDIDATES = 50  # captions an image's own prompt is ranked among


def register(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (its name must be new and its needs known)."""
    unknown = set(metric.needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"metric {metric.name} needs unknown input(s) {sorted(unknown)}")
    if metric.name in METRICS:
        raise ValueError(f"metric {metric.name} is registered twice")
    METRICS[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise HuashiError(f"unknown metric {name!r}: choose one of {', '.join(METRICS)}.")
    return METRICS[name]


def applicable(offered: set[str] | frozenset[str]) -> list[Metric]:
    """The registered metrics whose needs ``offered`` covers, in registration order."""
    return [metric for metric in METRICS.values() if metric.applies(offered)]


def minimum_samples(metrics: list[Metric], settings: MetricSettings, dim: int) -> tuple[int, str]:
    """The fewest samples all ``metrics`` accept, and which metric asks for it."""
    need = {m.min_reason or m.label: m.min_samples(settings, dim) for m in metrics}
    what = max(need, key=need.get)
    return need[what], what


def compute_all(metrics: list[Metric], inputs: MetricInputs) -> dict[str, Any]:
    """``{name: value}`` for each metric, in order."""
    return {metric.name: metric.compute(inputs) for metric in metrics}


def format_value(name: str, value: Any) -> str:
    """A metric value as table text ("–" when missing)."""
    if value is None or (isinstance(value, dict) and not value):
        return "–"
    return get_metric(name).format(value)


# --- the metrics -----------------------------------------------------------------------------


def _fid(x: MetricInputs) -> float:
    from huashi.metrics.fid import fid

    return fid(x.real_features, x.fake_features)


def _kid(x: MetricInputs) -> dict[str, float]:
    from huashi.metrics.kid import kid

    s = x.settings
    k = kid(x.real_features, x.fake_features, s.kid_subsets, s.kid_subset_size, s.seed)
    return {"mean": k.mean, "std": k.std, "subsets": k.subsets, "subset_size": k.subset_size}


def _precision(x: MetricInputs) -> float:
    from huashi.metrics.precision_recall import precision_recall

    return precision_recall(x.real_features, x.fake_features, x.settings.pr_k).precision


def _recall(x: MetricInputs) -> float:
    from huashi.metrics.precision_recall import precision_recall

    return precision_recall(x.real_features, x.fake_features, x.settings.pr_k).recall


def _inception_score(x: MetricInputs) -> dict[str, float]:
    from huashi.metrics.inception_score import inception_score

    score = inception_score(x.fake_logits, x.settings.is_splits)
    return {"mean": score.mean, "std": score.std, "splits": score.splits}


def _clip_score(x: MetricInputs) -> float:
    from huashi.metrics.clip_score import clip_score

    return clip_score(x.image_embeddings, x.text_embeddings)


def _caption_retrieval(x: MetricInputs) -> float:
    from huashi.metrics.clip_score import caption_retrieval_top1

    return caption_retrieval_top1(
        x.image_embeddings, x.text_embeddings, x.captions, RETRIEVAL_CANDIDATES, x.settings.seed
    )


def _shapes_accuracy(x: MetricInputs) -> dict[str, float]:
    from huashi.metrics.shapes_accuracy import attribute_accuracy

    return attribute_accuracy(x.fake_images, x.captions)


def _image_to_image(x: MetricInputs) -> dict[str, float]:
    from huashi.metrics.image_to_image import l1, psnr, ssim

    out = {}
    for name, fn in (("l1", l1), ("psnr", psnr), ("ssim", ssim)):
        values = fn(x.fake_images, x.targets).double()
        finite = values[values.isfinite()]
        out[name] = float(finite.mean()) if len(finite) else float("inf")  # identical: PSNR ∞
    return out


def _mean_std(value: dict[str, float]) -> str:
    return f"{value['mean']:.4g} ± {value['std']:.2g}"


def _fid_min(settings: MetricSettings, dim: int) -> int:
    from huashi.metrics.fid import min_samples

    return min_samples(dim)


register(Metric(
    "fid", "FID", frozenset({"features"}), _fid, lambda v: f"{v:.4g}",
    min_samples=_fid_min, min_reason="FID (one more sample than feature dimensions)",
    description="Fréchet distance between Gaussians fitted to real and generated features",
))  # fmt: skip
register(Metric(
    "kid", "KID", frozenset({"features"}), _kid, _mean_std, min_samples=lambda s, d: 2,
    min_reason="KID (two samples per subset)",
    description="unbiased MMD² with a cubic kernel, mean ± std over random subsets",
))  # fmt: skip
register(Metric(
    "precision", "precision", frozenset({"features"}), _precision, lambda v: f"{v:.4f}",
    min_samples=lambda s, d: s.pr_k + 1, min_reason="precision/recall (k + 1 neighbours)",
    description="share of generated samples inside the real k-NN manifold (fidelity)",
))  # fmt: skip
register(Metric(
    "recall", "recall", frozenset({"features"}), _recall, lambda v: f"{v:.4f}",
    min_samples=lambda s, d: s.pr_k + 1, min_reason="precision/recall (k + 1 neighbours)",
    description="share of real samples inside the generated k-NN manifold (diversity)",
))  # fmt: skip
register(Metric(
    "inception_score", "Inception score", frozenset({"logits"}), _inception_score, _mean_std,
    min_samples=lambda s, d: 2 * s.is_splits, min_reason="Inception score (two per split)",
    description="exp E[KL(p(y|x) || p(y))] of the feature network's class probabilities",
))  # fmt: skip
register(Metric(
    "clip_score", "CLIP score", frozenset({"captions", "text_embeddings"}), _clip_score,
    lambda v: f"{v:.4g}",
    description="100 x mean cosine (clamped at 0) between each image and its prompt",
))  # fmt: skip
register(Metric(
    "caption_retrieval", f"caption top-1 of {RETRIEVAL_CANDIDATES}",
    frozenset({"captions", "text_embeddings"}), _caption_retrieval, lambda v: f"{v:.1%}",
    description=f"share of images whose prompt ranks first among {RETRIEVAL_CANDIDATES} captions "
    "(itself and others of the measured prompts)",
))  # fmt: skip
register(Metric(
    "shapes_accuracy", "shapes accuracy", frozenset({"captions", "shapes_captions"}),
    _shapes_accuracy,
    lambda v: f"{v['all']:.4f} (" + ", ".join(f"{k} {a:.3f}" for k, a in v.items()
                                           if k != "all") + ")",
    description="share of images whose drawn attributes match their prompt exactly",
))  # fmt: skip
register(Metric(
    "image_to_image", "L1/PSNR/SSIM", frozenset({"pairs"}), _image_to_image,
    lambda v: ", ".join(f"{k.upper()} {a:.4g}" for k, a in v.items()),
    description="mean L1, PSNR (dB) and SSIM of each output against its target",
))  # fmt: skip
