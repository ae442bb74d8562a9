"""Measure a trained run: generate ``n`` images from fixed seeds, compare them with
the run's real dataset under one feature network, and record how every score was made.

    >>> result = evaluate("runs/dcgan", "classifier:runs/cls", n=5000)
    >>> result["metrics"]["fid"]

Scores: every metric of :mod:`huashi.metrics.registry` whose needs the run and the feature
network offer (FID, KID, precision/recall always; the Inception Score when the network
classifies; the CLIP score for text-conditioned runs with a clip: network; exact attribute
accuracy for runs prompted with ``shapes`` captions; L1/PSNR/SSIM for image-to-image runs). The JSON written beside the run records the feature network and its
checkpoint hash, the resize, the sample count, the seed, the real split and its size, and every
warning (e.g. a feature network trained on another dataset or resolution).

Real features are cached under ``$HUASHI_CACHE/reference`` keyed by the dataset's parameters and
the feature network's hash, so measuring ten runs against one dataset encodes it once.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from huashi import __version__
from huashi.core.errors import HuashiError
from huashi.core.progress import Progress
from huashi.core.validation import (
    MAX_EVAL_SAMPLES,
    check_count,
    check_number,
    check_sampling_options,
    check_seed,
)
from huashi.metrics import require_samples
from huashi.metrics.features import FeatureNet, load_features
from huashi.metrics.real import load_real, real_features
from huashi.metrics.registry import (
    Metric,
    MetricInputs,
    MetricSettings,
    applicable,
    compute_all,
    minimum_samples,
)
from huashi.runs import LoadedRun, load_run

RELIABLE_FACTOR = 5  # below n = 5 x feature dimension, FID is warned about (see docs/metrics.md)


class EvalWarning(UserWarning):
    """A measurement that is valid but not comparable in the usual way (recorded in the JSON)."""


# --- generating ----------------------------------------------------------------------------


def generate_all(
    run: LoadedRun,
    seeds: Sequence[int],
    batch_size: int = 64,
    per_image: dict[str, Sequence[Any] | torch.Tensor] | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> torch.Tensor:
    """Images for ``seeds`` in batches. ``per_image`` maps options (prompt, label or inputs; an
    image-to-image run may take inputs and prompt) to one value per seed: passed as lists to
    families that take one value per seed (and image inputs always), otherwise the seeds are
    grouped by the one option's value. ``progress(done, total, message)`` counts the images."""
    family = run.family
    per_image = per_image or {}
    if not per_image or family.condition_per_seed or family.condition == "image":
        batches = [list(range(i, min(i + batch_size, len(seeds))))
                   for i in range(0, len(seeds), batch_size)]  # fmt: skip
        per_call = None
    else:
        ((key, values),) = per_image.items()
        values = list(values)
        batches, per_call = [], []
        for value in dict.fromkeys(values):
            where = [i for i, v in enumerate(values) if v == value]
            for i in range(0, len(where), batch_size):
                batches.append(where[i : i + batch_size])
                per_call.append(value)
    images: list[torch.Tensor | None] = [None] * len(seeds)
    done = 0
    for b, where in enumerate(batches):
        extra = {}
        if per_call is not None:
            extra[key] = per_call[b]
        else:
            for name, values in per_image.items():
                if isinstance(values, torch.Tensor):
                    extra[name] = values[where[0] : where[-1] + 1]
                else:
                    extra[name] = [values[i] for i in where]
        made = family.generate([seeds[i] for i in where], **extra, **options).float().cpu()
        for i, image in zip(where, made, strict=True):
            images[i] = image
        done += len(where)
        if progress is not None:
            progress(done, len(seeds), "generating")
    return torch.stack(images)


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


def offered_needs(run: LoadedRun, net: FeatureNet) -> set[str]:
    """What a measurement of ``run`` with ``net`` can give the metrics (see
    :mod:`huashi.metrics.registry`): decided by the family's condition, the network and the
    dataset's own declaration, never by names."""
    from huashi.data import has_exact_captions

    offered = {"features"}
    if net.has_logits:
        offered.add("logits")
    condition = run.family.condition
    if condition == "text":
        offered.add("captions")
        if net.embed_text is not None:
            offered.add("text_embeddings")
        if has_exact_captions(run.config.data["spec"]) and run.family.data.channels == 3:
            offered.add("shapes_captions")
    if condition == "image":
        offered.add("pairs")
    return offered


def _image_run(run: str | Path | LoadedRun, checkpoint: Any, device: str) -> LoadedRun:
    loaded = run if isinstance(run, LoadedRun) else load_run(run, checkpoint, device)
    if not loaded.family.makes_images:
        raise HuashiError(
            f"{loaded.run_dir} is a '{loaded.config.family}' run: it makes features, not images, "
            "so there is nothing to evaluate. Pass the run of an image generator."
        )
    return loaded


def _feature_dim(net: FeatureNet, run: LoadedRun) -> int:
    info = run.family.data
    probe = torch.zeros(1, info.channels, info.resolution, info.resolution)
    return net.features(probe).shape[1]


def _targets(real: dict[str, Any]) -> torch.Tensor:
    """What an image-conditioned run should paint: the pairs' targets, or for unpaired data (an
    upsampler, given the real images and painting them again) the images themselves."""
    return real["target"] if "target" in real else real["image"]


def _conditions(
    condition: str, real: dict[str, Any], n: int, split: str, text: bool = False
) -> dict[str, Any]:
    """The per-image options that condition the generated images on the real ones: their
    captions, labels or (image-to-image) input images, cycled to ``n``; ``text``: an
    image-to-image run that also reads the captions."""
    if condition == "text":
        return {"prompt": _cycle(real["caption"], n)}
    if condition == "class":
        return {"label": _cycle(real["label"].tolist(), n)}
    if condition == "image":
        if len(real["image"]) < n:
            raise HuashiError(
                f"an image-to-image run is measured on held-out pairs: the {split} split has "
                f"{len(real['image'])}, fewer than --n {n}."
            )
        if text:
            return {"inputs": real["image"][:n], "prompt": list(real["caption"][:n])}
        return {"inputs": real["image"][:n]}
    return {}


def _metric_inputs(
    net: FeatureNet,
    fake: torch.Tensor,
    real_feats: torch.Tensor,
    real: dict[str, Any],
    per_image: dict[str, Any],
    metrics: list[Metric],
    settings: MetricSettings,
) -> MetricInputs:
    """Encode the generated images (and prompts) once for all ``metrics``."""
    needs = set().union(*(m.needs for m in metrics))
    fake_feats, fake_logits = net.run(fake)
    prompts = per_image.get("prompt")
    inputs = MetricInputs(real_feats, fake_feats, fake, settings, fake_logits=fake_logits,
                          captions=prompts)  # fmt: skip
    if "text_embeddings" in needs:
        inputs.image_embeddings = net.image_embeddings(fake)
        inputs.text_embeddings = net.text_embeddings(prompts)
    if "pairs" in needs:
        inputs.targets = _targets(real)[: len(fake)]
    return inputs


def default_views(run: LoadedRun) -> tuple[list[str], str | None]:
    """The views of the run's dataset's shipped reference network (the one trained at the
    run's resolution when one ships), the one that passed its validation ladder first: the
    texture view ``texture:zoo:reference-<dataset>`` unless only the plain one passed, led by
    the ensemble of both networks where only that passed (shapes; docs/metrics.md); then the
    validated view of the second network shipped beside it (``zoo:reference-<dataset>-exemplar``
    or ``-clip``) when there is one; and a note for each network of which no view passed."""
    from huashi.zoo import second_reference

    reference = _reference(run)
    views, passed = _validated_first(reference)
    notes = [] if passed else [reference]
    second = second_reference(reference)
    if second is not None:
        second_views, second_passed = _validated_first(second)
        views.append(second_views[0])
        notes += [] if second_passed else [second]
    note = None
    if notes:
        note = (f"no view of {' nor of '.join(notes)} passes its validation ladder yet "
                "(docs/metrics.md): read its floor multiples with care")  # fmt: skip
    return views, note


def reference_views(reference: str) -> list[tuple[str, str]]:
    """A zoo reference network's views as ``(spec, kind)``, kind ``plain``, ``texture`` or
    ``ensemble``, the one that passed its validation ladder first: texture when it passed,
    plain otherwise, led by its ensemble with the second network when only that passed
    (shapes). ``huashi eval`` and the studio both list them in this order."""
    from huashi.zoo import ensemble_reference, resolve, zoo_entry

    passed = zoo_entry(resolve(reference)).scores.get("ladder_passed", {})
    views = [(reference, "plain"), (f"texture:{reference}", "texture")]
    if passed.get("texture"):
        views.reverse()
    ensemble = ensemble_reference(reference)
    if passed.get("ensemble") and ensemble and not (passed.get("texture") or passed.get("plain")):
        views.insert(0, (ensemble, "ensemble"))
    return views


def _validated_first(reference: str) -> tuple[list[str], bool]:
    """:func:`reference_views`' specs, and whether any view passed its ladder."""
    from huashi.zoo import resolve, zoo_entry

    passed = zoo_entry(resolve(reference)).scores.get("ladder_passed", {})
    return [spec for spec, _ in reference_views(reference)], any(passed.values())


def default_features(run: LoadedRun) -> str:
    """The first of :func:`default_views`: what ``huashi eval`` measures with by default."""
    return default_views(run)[0][0]


def _reference(run: LoadedRun) -> str:
    from huashi.zoo import reference_features

    spec = reference_features(str(run.config.data["spec"]), int(run.config.data["resolution"]))
    if spec is None:
        raise HuashiError(
            f"no reference feature network ships for '{run.config.data['spec']}': pass --features "
            "clip:RUN or classifier:RUN (train one with huashi train clip/classifier)."
        )
    return spec


def check_request(
    n: int, seed: int, options: dict[str, Any] | None = None, **settings: Any
) -> dict[str, Any]:
    """The checks of an evaluation that need no model (``settings``: batch_size, kid_subsets,
    kid_subset_size, pr_k, is_splits, as given), so a wrong value fails before the run loads.
    Returns the checked sampling options."""
    options = check_sampling_options(dict(options or {}))
    check_count("--n", n, MAX_EVAL_SAMPLES, "FID is customarily measured on 50,000")
    check_seed(seed, n)
    flags = {"batch_size": "--batch-size", "kid_subsets": "--kid-subsets",
             "kid_subset_size": "--kid-subset-size", "pr_k": "pr_k", "is_splits": "is_splits"}  # fmt: skip
    for name, flag in flags.items():
        if name in settings:
            check_number(flag, settings[name], 1, whole=True)
    return options


def evaluate(
    run: str | Path | LoadedRun,
    features: str | FeatureNet | None = None,
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
    progress: Progress | None = None,
    also: Sequence[str | FeatureNet] | None = None,
) -> dict[str, Any]:
    """Measure ``run`` with the feature network ``features`` on ``n`` generated images (seeds
    ``seed .. seed+n-1``) against up to ``n`` real images of the run's dataset ``split``
    (default: "train", or "test" for image-to-image runs, which are measured on held-out pairs).
    Every registered metric whose needs the run and network offer is computed, and beside them
    (:mod:`huashi.metrics.yardsticks`) the FID's multiple of its real-vs-real floor under ``features``
    and each network of ``also`` (default with default features: the reference network's other
    view, and the validated view of the second network shipped beside it; the record is
    measured under that other view, with a note, when the held-out split or ``n`` is too small
    for the first), and the copy check. Returns the record that is also saved as
    ``eval-<features>-<n>.json`` in the run folder (the closest pairs of the copy check beside
    it as ``...-copies.png``); ``progress(done, n, message)`` counts the generated images."""
    options = check_request(n, seed, options, batch_size=batch_size, kid_subsets=kid_subsets,
                            kid_subset_size=kid_subset_size, pr_k=pr_k, is_splits=is_splits)  # fmt: skip
    loaded = _image_run(run, checkpoint, device)
    loaded.family.parse_sampling_options(**options)  # names and types, before any work
    condition = loaded.family.condition
    split = split or ("test" if condition == "image" else "train")
    defaulted, view_note = features is None, None
    if defaulted:
        (features, *rest), view_note = default_views(loaded)
        also = rest if also is None else also
    net = features if isinstance(features, FeatureNet) else load_features(features, device)
    others = [x if isinstance(x, FeatureNet) else load_features(x, device) for x in also or ()]
    settings = MetricSettings(kid_subsets, kid_subset_size, pr_k, is_splits, seed)
    dim = _feature_dim(net, loaded)
    if defaulted and others:  # the default view needs more images than its dimension
        other, too_few = others[0].spec, None
        if _split_size(loaded, split) <= dim:
            too_few = (f"the {split} split is too small for {net.spec}'s {dim} dimensions: "
                       f"measured under {other}")  # fmt: skip
        elif n <= dim:
            too_few = (f"--n {n} is too few for {net.spec}'s {dim} dimensions: measured under "
                       f"{other} (--n {RELIABLE_FACTOR * dim} or more for {net.spec})")  # fmt: skip
        if too_few:
            view_note, net, others = too_few, others[0], [net, *others[1:]]
            dim = _feature_dim(net, loaded)
    metrics = applicable(offered_needs(loaded, net))
    need, what = minimum_samples(metrics, settings, dim)
    if n < need:
        raise HuashiError(f"{what} needs at least {need} samples, got --n {n}: raise --n.")
    notes = _check_network(net, loaded) + ([view_note] if view_note else [])
    if n < RELIABLE_FACTOR * dim:
        notes.append(
            f"FID from {n} samples of {dim}-dim features is dominated by estimation bias (use "
            f"at least {RELIABLE_FACTOR * dim}); compare FIDs only at equal n, or prefer KID"
        )

    real, real_described = load_real(loaded, split, n, seed)
    require_samples(f"the real set ({real_described['dataset']}, {split})", len(real["image"]),
                    need, what)  # fmt: skip
    if len(real["image"]) < n:
        notes.append(f"the real split has only {len(real['image'])} images (n = {n} generated)")
    reads_text = getattr(loaded.family.config, "condition", "none") == "text"
    per_image = _conditions(condition, real, n, split, text=condition == "image" and reads_text)

    started = time.perf_counter()
    fake = generate_all(loaded, list(range(seed, seed + n)), batch_size, per_image, progress,
                        **options)  # fmt: skip
    gen_seconds = time.perf_counter() - started

    reference = _targets(real) if condition == "image" else real["image"]
    real_feats, cache_state = real_features(net, reference, real_described, cache)
    inputs = _metric_inputs(net, fake, real_feats, real, per_image, metrics, settings)
    values = compute_all(metrics, inputs)
    for note in notes:
        warnings.warn(note, EvalWarning, stacklevel=2)

    record = _record(loaded, net, n, seed, condition, options, batch_size, gen_seconds, dim,
                     real_described | {"reference_cache": cache_state}, values, settings, notes)  # fmt: skip
    writes = save and not _in_zoo(loaded.run_dir)  # a shipped painter's folder stays as shipped
    path = eval_path(loaded.run_dir, net, n, None if checkpoint is None else loaded.step)
    picture = path.with_name(path.stem + "-copies.png") if writes else None
    record["yardsticks"] = _yardsticks(loaded, [net, *others], fake, split, seed, cache,
                                       condition != "image", picture)  # fmt: skip
    if writes:
        path.write_text(json.dumps(record, indent=2) + "\n")
        record["path"] = str(path)
    return record


def _yardsticks(
    run: LoadedRun, nets: list[FeatureNet], fake: torch.Tensor, split: str, seed: int,
    cache: bool, check_copies: bool, picture: Path | None,
) -> dict[str, Any]:  # fmt: skip
    """Floor multiples under each view against the whole real split, and the copy check
    against the whole train split (:mod:`huashi.metrics.yardsticks`)."""
    from huashi.metrics import yardsticks

    whole = load_real(run, split, 10**12, seed)
    train = None
    if check_copies:
        train = whole if split == "train" else load_real(run, "train", 10**12, seed)

    def encode(net: FeatureNet, images: torch.Tensor, described: dict) -> torch.Tensor:
        return real_features(net, images, described, cache)[0]

    return yardsticks.measure(nets, fake, *whole, seed, encode, train, picture)


def _split_size(run: LoadedRun, split: str) -> int:
    from huashi.data import load_dataset

    data = run.config.data
    return len(load_dataset(data["spec"], resolution=data["resolution"], split=split,
                            **data["options"]))  # fmt: skip


def _in_zoo(run_dir: Path) -> bool:
    from huashi.zoo import zoo_root

    return Path(run_dir).resolve().is_relative_to(zoo_root().resolve())


def _record(
    loaded: LoadedRun,
    net: FeatureNet,
    n: int,
    seed: int,
    condition: str,
    options: dict[str, Any],
    batch_size: int,
    gen_seconds: float,
    dim: int,
    real: dict[str, Any],
    metrics: dict[str, Any],
    settings: MetricSettings,
    notes: list[str],
) -> dict[str, Any]:
    """How every score was made, as saved in ``eval-*.json``."""
    info = loaded.family.data
    return {
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
        "features": net.describe(info.resolution, info.channels) | {"dim": dim,
                                                                    "notes": net.notes},
        "real": real,
        "metrics": metrics,
        "settings": dataclasses.asdict(settings),
        "warnings": notes,
        "huashi_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip


def _cycle(values: Sequence[Any], n: int) -> list[Any]:
    return [values[i % len(values)] for i in range(n)]


def checkpoint_progress(checkpoint_json: Path) -> dict[str, float]:
    """Training step, images seen and training seconds stored with a checkpoint."""
    try:
        meta = json.loads(Path(checkpoint_json).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: meta[k] for k in ("step", "images_seen", "train_seconds") if k in meta}
