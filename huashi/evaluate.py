"""Measure a trained run (M1, M2, M3): generate ``n`` images from fixed seeds, compare them with
the run's real dataset under one feature network, and record how every score was made.

    >>> result = evaluate("runs/dcgan", "classifier:runs/cls", n=5000)
    >>> result["metrics"]["fid"]

Scores: FID, KID (mean ± std over subsets), precision/recall (k-NN manifolds), the Inception
Score when the network classifies, the CLIP score for text-conditioned runs (with a clip:
network), exact attribute accuracy for runs prompted with ``shapes`` captions, and L1/PSNR/SSIM
for image-to-image runs. The JSON written beside the run records the feature network and its
checkpoint hash, the resize, the sample count, the seed, the real split and its size, and every
warning (e.g. a feature network trained on another dataset or resolution).

Real features are cached under ``$HUASHI_CACHE/reference`` keyed by the dataset's parameters and
the feature network's hash, so measuring ten runs against one dataset encodes it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from huashi import __version__
from huashi.errors import HuashiError
from huashi.features import FeatureNet, load_features
from huashi.metrics import require_samples
from huashi.metrics.clip_score import clip_score
from huashi.metrics.fid import fid, min_samples
from huashi.metrics.inception_score import inception_score
from huashi.metrics.kid import kid
from huashi.metrics.precision_recall import precision_recall
from huashi.runs import LoadedRun, load_run

REFERENCE_VERSION = 1
RELIABLE_FACTOR = 5  # below n = 5 x feature dimension, FID is warned about (see docs/metrics.md)


class EvalWarning(UserWarning):
    """A measurement that is valid but not comparable in the usual way (recorded in the JSON)."""


# --- the real set --------------------------------------------------------------------------


def reference_dir() -> Path:
    env = os.environ.get("HUASHI_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "huashi"
    return root / "reference"


def load_real(run: LoadedRun, split: str, n: int, seed: int):
    """The run's dataset (its spec, resolution and options) in ``split``: up to ``n`` images,
    picked by a permutation seeded with ``seed``; returns (batch dict, description)."""
    from huashi.data import load_dataset

    data = run.config.data
    dataset = load_dataset(
        data["spec"], resolution=data["resolution"], split=split, **data["options"]
    )
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    described = {
        "dataset": data["spec"],
        "resolution": data["resolution"],
        "options": data["options"],
        "split": split,
        "dataset_size": len(dataset),
        "size": len(order),
        "picked_with_seed": seed,
    }
    return dataset.batch(order), described


def real_features(
    net: FeatureNet, images: torch.Tensor, described: dict[str, Any], cache: bool = True
) -> tuple[torch.Tensor, str]:
    """Features of the real images, from the cache when the same set was encoded before."""
    key_text = json.dumps(
        {"real": described, "net": net.checkpoint_hash, "kind": net.kind,
         "input": [net.resolution, net.channels], "version": REFERENCE_VERSION},
        sort_keys=True, default=str,
    )  # fmt: skip
    key = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    path = reference_dir() / f"{key}.safetensors"
    from safetensors.torch import load_file, save_file

    if cache and path.exists():
        return load_file(str(path))["features"], "hit"
    feats = net.features(images)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"features": feats.contiguous()}, str(tmp), metadata={"key": key_text})
        os.replace(tmp, path)
    return feats, "miss" if cache else "off"


# --- generating ----------------------------------------------------------------------------


def condition_of(run: LoadedRun) -> str:
    """ "text", "class", "image" (image-to-image) or "none"."""
    if run.config.data_info.get("has_targets") and run.config.family == "pix2pix":
        return "image"
    condition = run.config.model.get("condition", "none")
    return condition if condition in ("text", "class") else "none"


def generate_all(
    run: LoadedRun,
    seeds: Sequence[int],
    batch_size: int = 64,
    per_image: dict[str, Sequence[Any]] | None = None,
    **options: Any,
) -> torch.Tensor:
    """Images for ``seeds`` in batches. ``per_image`` maps an option (prompt, label, inputs) to one
    value per seed: passed as a list when the family takes lists, otherwise grouped by value."""
    family = run.family
    per_image = per_image or {}
    out: list[torch.Tensor] = []
    for start in range(0, len(seeds), batch_size):
        chunk = list(seeds[start : start + batch_size])
        extra = {k: v[start : start + batch_size] for k, v in per_image.items()}
        if "inputs" in extra:
            extra["inputs"] = torch.as_tensor(extra["inputs"])
            out.append(family.generate(chunk, **extra, **options).float().cpu())
            continue
        out.append(_generate_conditioned(family, chunk, extra, options))
    return torch.cat(out)


def _generate_conditioned(family, seeds: list[int], extra: dict, options: dict) -> torch.Tensor:
    if not extra:
        return family.generate(seeds, **options).float().cpu()
    ((key, values),) = extra.items()
    values = list(values)
    try:
        images = family.generate(seeds, **{key: values}, **options)
        if len(images) == len(seeds):
            return images.float().cpu()
    except (HuashiError, TypeError, ValueError, RuntimeError):
        pass  # this family takes one value per call: group the seeds by value
    images = [None] * len(seeds)
    for value in dict.fromkeys(values):
        where = [i for i, v in enumerate(values) if v == value]
        made = family.generate([seeds[i] for i in where], **{key: value}, **options)
        for i, image in zip(where, made, strict=True):
            images[i] = image.float().cpu()
    return torch.stack(images)


def takes_option(run: LoadedRun, name: str) -> bool:
    """Whether the family's ``generate`` takes the option ``name`` (e.g. ``steps``)."""
    return name in run.family.sampling_option_names()


# --- the measurement -------------------------------------------------------------------------


def eval_path(run_dir: Path, net: FeatureNet, n: int, step: int | None = None) -> Path:
    suffix = f"-step{step}" if step is not None else ""
    return Path(run_dir) / f"eval-{net.short_name}-{n}{suffix}.json"


def _check_network(net: FeatureNet, run: LoadedRun) -> list[str]:
    notes = []
    if net.trained_on is None:
        return notes
    ours, theirs = run.config.data, net.trained_on
    if str(theirs.get("spec")) != str(ours["spec"]):
        notes.append(
            f"the feature network was trained on '{theirs.get('spec')}' but the run on "
            f"'{ours['spec']}': its features may miss what matters in this data"
        )
    if int(theirs.get("resolution", 0)) != int(ours["resolution"]):
        notes.append(
            f"the feature network was trained at {theirs.get('resolution')} px but the run "
            f"makes {ours['resolution']} px images: they are resized (bilinear, antialiased)"
        )
    return notes


def _min_count(net: FeatureNet, dim: int, pr_k: int, is_splits: int) -> tuple[int, str]:
    need = {f"FID ({dim}-dim features)": min_samples(dim), "precision/recall": pr_k + 1}
    if net.has_logits:
        need[f"Inception score ({is_splits} splits)"] = 2 * is_splits
    what = max(need, key=need.get)
    return need[what], what


def evaluate(
    run: str | Path | LoadedRun,
    features: str | FeatureNet,
    n: int = 5000,
    seed: int = 0,
    split: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    checkpoint: str | Path | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    pr_k: int = 3,
    is_splits: int = 10,
    cache: bool = True,
    save: bool = True,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure ``run`` with the feature network ``features`` on ``n`` generated images (seeds
    ``seed .. seed+n-1``) against up to ``n`` real images of the run's dataset ``split``
    (default: "train", or "test" for image-to-image runs, which are measured on held-out pairs).
    Returns the record that is also saved as ``eval-<features>-<n>.json`` in the run folder."""
    options = dict(options or {})
    loaded = run if isinstance(run, LoadedRun) else load_run(run, checkpoint, device)
    if not loaded.family.makes_images:
        raise HuashiError(
            f"{loaded.run_dir} is a '{loaded.config.family}' run: it makes features, not images, "
            "so there is nothing to evaluate. Pass the run of an image generator."
        )
    net = features if isinstance(features, FeatureNet) else load_features(features, device)
    info = loaded.config.data_info
    probe = torch.zeros(1, info["channels"], info["resolution"], info["resolution"])
    dim = net.features(probe).shape[1]
    need, what = _min_count(net, dim, pr_k, is_splits)
    if n < need:
        raise HuashiError(f"{what} needs at least {need} samples, got --n {n}: raise --n.")
    notes = _check_network(net, loaded)
    if n < RELIABLE_FACTOR * dim:
        notes.append(
            f"FID from {n} samples of {dim}-dim features is dominated by estimation bias (use "
            f"at least {RELIABLE_FACTOR * dim}); compare FIDs only at equal n, or prefer KID"
        )

    condition = condition_of(loaded)
    split = split or ("test" if condition == "image" else "train")
    real, real_described = load_real(loaded, split, n, seed)
    require_samples(f"the real set ({real_described['dataset']}, {split})", len(real["image"]),
                    need, what)  # fmt: skip
    if len(real["image"]) < n:
        notes.append(f"the real split has only {len(real['image'])} images (n = {n} generated)")
    per_image: dict[str, Any] = {}
    if condition == "text":
        per_image["prompt"] = _cycle(real["caption"], n)
    elif condition == "class":
        per_image["label"] = _cycle(real["label"].tolist(), n)
    elif condition == "image":
        if len(real["image"]) < n:
            raise HuashiError(
                f"an image-to-image run is measured on held-out pairs: the {split} split has "
                f"{len(real['image'])}, fewer than --n {n}."
            )
        per_image["inputs"] = real["image"]

    seeds = list(range(seed, seed + n))
    started = time.perf_counter()
    fake = generate_all(loaded, seeds, batch_size, per_image, **options)
    gen_seconds = time.perf_counter() - started

    reference_images = real["target"] if condition == "image" else real["image"]
    real_feats, cache_state = real_features(net, reference_images, real_described, cache)
    fake_feats, fake_logits = net.run(fake)
    metrics: dict[str, Any] = {"fid": fid(real_feats, fake_feats)}
    k = kid(real_feats, fake_feats, kid_subsets, kid_subset_size, seed)
    metrics["kid"] = {
        "mean": k.mean,
        "std": k.std,
        "subsets": k.subsets,
        "subset_size": k.subset_size,
    }
    pr = precision_recall(real_feats, fake_feats, pr_k)
    metrics["precision"], metrics["recall"], metrics["pr_k"] = pr.precision, pr.recall, pr.k
    if fake_logits is not None:
        score = inception_score(fake_logits, is_splits)
        metrics["inception_score"] = {"mean": score.mean, "std": score.std, "splits": score.splits}
    if condition == "text":
        prompts = per_image["prompt"]
        if net.embed_text is not None:
            metrics["clip_score"] = clip_score(
                net.image_embeddings(fake), net.text_embeddings(prompts)
            )
        if real_described["dataset"] == "shapes" and fake.shape[1] == 3:
            from huashi.metrics.shapes_accuracy import attribute_accuracy

            metrics["shapes_accuracy"] = attribute_accuracy(fake, prompts)
    if condition == "image":
        metrics["image_to_image"] = _image_to_image(fake, real["target"])
    for note in notes:
        warnings.warn(note, EvalWarning, stacklevel=2)

    record = {
        "run": str(loaded.run_dir),
        "family": loaded.config.family,
        "checkpoint": loaded.checkpoint.name,
        "step": loaded.step,
        "progress": checkpoint_progress(loaded.checkpoint),
        "n": n,
        "seed": seed,
        "seeds": f"{seed}..{seed + n - 1}",
        "condition": condition,
        "sampling_options": options,
        "generation": {"seconds": gen_seconds, "images_per_second": n / max(gen_seconds, 1e-9),
                       "device": str(loaded.family.device), "batch_size": batch_size},
        "features": net.describe(info["resolution"], info["channels"]) | {"dim": dim,
                                                                          "notes": net.notes},
        "real": real_described | {"reference_cache": cache_state},
        "metrics": metrics,
        "warnings": notes,
        "huashi_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    if save:
        newest = checkpoint is None
        path = eval_path(loaded.run_dir, net, n, None if newest else loaded.step)
        path.write_text(json.dumps(record, indent=2) + "\n")
        record["path"] = str(path)
    return record


def _cycle(values: Sequence[Any], n: int) -> list[Any]:
    return [values[i % len(values)] for i in range(n)]


def _image_to_image(fake: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    try:
        from huashi.metrics import image_to_image
    except ImportError:
        return {}
    out = {}
    for name in ("l1", "psnr", "ssim"):
        fn = getattr(image_to_image, name, None)
        if fn is not None:
            values = fn(fake, target).double()
            out[name] = (
                float(values[values.isfinite()].mean()) if values.isfinite().any() else float("inf")
            )
    return out


def checkpoint_progress(checkpoint_json: Path) -> dict[str, float]:
    """Training step, images seen and training seconds stored with a checkpoint."""
    try:
        meta = json.loads(Path(checkpoint_json).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: meta[k] for k in ("step", "images_seen", "train_seconds") if k in meta}
