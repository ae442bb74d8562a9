"""Measuring: metrics of a run, the comparison page of several, zero-shot CLIP labels and the
training doctor."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from huashi.api.runs import load_run, resolve_run
from huashi.core import tiny
from huashi.core.errors import HuashiError
from huashi.core.progress import Progress
from huashi.runs import LoadedRun, RunConfig


@dataclass(frozen=True)
class MetricRow:
    """One metric of a record as a table shows it: its name, label, formatted value and what it
    measures (from the metric registry)."""

    name: str
    label: str
    value: str
    description: str


def metric_rows(record: dict[str, Any]) -> list[MetricRow]:
    """The metrics of an evaluation record, in the registry's order, labelled and formatted."""
    from huashi.metrics.registry import METRICS, format_value

    metrics = record["metrics"]
    return [MetricRow(name, metric.label, format_value(name, metrics[name]), metric.description)
            for name, metric in METRICS.items() if name in metrics]  # fmt: skip


@dataclass
class EvalResult:
    """An evaluation: its metrics (``{name: value}``, see :mod:`huashi.metrics.registry`), the
    whole record saved as JSON (how every score was made), its path and its warnings."""

    metrics: dict[str, Any]
    record: dict[str, Any]
    path: Path | None  # the record in the run folder (None for a zoo painter)
    warnings: list[str]
    out: Path | None = None  # the record's copy asked for with ``out``

    def yardsticks(self) -> list[tuple[str, str]]:
        """(label, text) rows beside the metrics: the FID's floor multiple under each view, the
        finding when the views disagree, the copy check (as ``huashi eval`` prints them)."""
        from huashi.metrics.yardsticks import summary_rows

        return summary_rows(self.record)

    def table(self) -> list[MetricRow]:
        """The metrics as table rows (:func:`metric_rows`)."""
        return metric_rows(self.record)


def card_fid(scores: dict[str, Any]) -> str | None:
    """A zoo card's FID as a person should read it: its floor multiple when the card records
    one, else the raw FID labelled as raw (:func:`huashi.metrics.yardsticks.describe_card`)."""
    from huashi.metrics.yardsticks import describe_card

    return describe_card(scores)


def card_other_scores(scores: dict[str, Any]) -> dict[str, Any]:
    """A zoo card's scores that its :func:`card_fid` line does not already say."""
    from huashi.metrics.yardsticks import CARD_FID_KEYS

    return {k: v for k, v in scores.items() if k not in CARD_FID_KEYS}


def reference_views(name: str) -> list[tuple[str, str]]:
    """The views of the zoo reference network ``zoo:NAME`` as ``(spec, kind)`` (kind
    ``plain``, ``texture`` or ``ensemble``), in the order ``huashi eval`` uses them: the one
    that passed its validation ladder first."""
    from huashi.metrics.evaluate import reference_views as views

    return views(name)


def evaluate(
    run: str | Path | LoadedRun,
    features: str | None = None,
    n: int = 5000,
    seed: int = 0,
    *,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
    out: str | Path | None = None,
    **settings: Any,
) -> EvalResult:
    """Measure ``run`` on ``n`` generated images with the feature network ``features``
    (``classifier:RUN``, ``clip:RUN``, ``texture:SPEC``, ``ensemble:A+B`` or
    ``inception:WEIGHTS``; default: the dataset's validated view, ``texture:zoo:reference-<dataset>``
    or on shapes the ensemble of its two networks, with the other views beside it) against its
    real data, with every registered metric that
    applies, the FID's multiple of its floor and the copy check; ``options`` are sampling
    options (e.g. steps). ``settings`` go to :func:`huashi.metrics.evaluate.evaluate` (split,
    batch_size, kid_subsets, kid_subset_size, pr_k, is_splits, cache, save, also).
    ``progress`` counts the generated images. ``out`` (a .json file): the record is written
    there too (a zoo painter's only copy: its shipped folder is not written into).
    Values that need no model are checked before the run loads."""
    from huashi.core.validation import check_output_file
    from huashi.metrics.evaluate import EvalWarning, check_request
    from huashi.metrics.evaluate import evaluate as measure

    check_request(n, seed, options, **settings)
    if out is not None:
        if Path(out).suffix.lower() != ".json":
            raise HuashiError(f"--out must name a .json file, got {out}.")
        check_output_file(out)
    loaded = resolve_run(run, checkpoint, device)
    n = tiny.cap("eval_n", n)
    if options and "steps" in options:
        options = {**options, "steps": tiny.cap("steps", options["steps"])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalWarning)  # they are in the record
        record = measure(loaded, features, n=n, seed=seed, checkpoint=checkpoint, device=device,
                         options=options, progress=progress, **settings)  # fmt: skip
    path = Path(record["path"]) if "path" in record else None
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(record, indent=2) + "\n")
    return EvalResult(record["metrics"], record, path, list(record["warnings"]),
                      None if out is None else Path(out))  # fmt: skip


def validate_features(
    features: str, run: str | Path | None = None, seed: int = 0, device: str = "auto",
    out: str | Path | None = None,
):  # fmt: skip
    """The validation ladder (:mod:`huashi.metrics.ladder`) of a feature network on the real
    images it was trained on; ``run``: a GAN run whose checkpoints at a quarter, half and all
    of its steps add the last ladder. Writes the report as JSON to ``out`` when given."""
    from huashi.data import load_dataset
    from huashi.metrics.features import load_features
    from huashi.metrics.ladder import attributes_lost, validate

    net = load_features(features, device)
    data = net.trained_on or {}
    if "spec" not in data:
        raise HuashiError(f"{features} does not say what it was trained on: validate an "
                          "in-domain network (zoo:reference-*, clip:RUN, classifier:RUN).")  # fmt: skip
    # an exemplar network's labels are its images: the modes are the data's own classes
    options = {k: v for k, v in (data.get("options") or {}).items() if k != "exemplar"}
    dataset = load_dataset(str(data["spec"]), resolution=int(data["resolution"]), **options)
    batch = dataset.batch(torch.arange(len(dataset)))
    images = batch["target"] if "target" in batch else batch["image"]
    count = len(images) // 2
    extra = []
    if data["spec"] == "shapes" and set(options) <= {"label", "n", "seed"}:  # the train split
        extra.append(attributes_lost(images.shape[-1], len(images), options.get("seed", 0)))
    report = validate(net.features, images, batch.get("label"),
                      _ladder_checkpoints(run, count, device) if run else (), seed,
                      features, str(data["spec"]), extra)  # fmt: skip
    if out is not None:
        Path(out).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _ladder_checkpoints(run: str | Path, count: int, device: str) -> list[tuple[str, torch.Tensor]]:
    """(label, ``count`` images) from a run's checkpoints nearest a quarter, half and all of
    its last step, earliest first."""
    from huashi.metrics.evaluate import generate_all

    checkpoints = sorted(Path(run, "checkpoints").glob("step-*.json"))
    if not checkpoints:
        raise HuashiError(f"{run} has no checkpoints: pass a trained GAN run to --run.")
    steps = [int(p.stem.split("-")[1]) for p in checkpoints]
    out = []
    for part in (0.25, 0.5, 1.0):
        step = min(steps, key=lambda s, t=part * steps[-1]: abs(s - t))
        loaded = load_run(run, checkpoints[steps.index(step)], device)
        out.append((f"step {step} of {steps[-1]}", generate_all(loaded, list(range(count)))))
    return out


@dataclass
class CompareResult:
    """The comparison page, the numbers written beside it, and what was warned about."""

    path: Path
    numbers_path: Path
    numbers: dict[str, Any]
    warnings: list[str]


def compare(
    runs: Sequence[str | Path],
    out: str | Path = "report.html",
    features: str | None = None,
    n: int = 1000,
    *,
    progress: Progress | None = None,
    **options: Any,
) -> CompareResult:
    """One self-contained HTML page comparing ``runs`` (samples from the same seeds, metrics,
    training time, sampling speed, plots). With ``features``, missing metrics are computed with
    ``n`` samples. ``options`` go to :func:`huashi.metrics.compare.compare` (force, all_checkpoints,
    sampler_steps, speed_n, grid_n, device, title, notes). ``progress`` counts the runs."""
    from huashi.metrics.compare import compare as write_page

    n = tiny.cap("eval_n", n)
    if tiny.enabled():  # one sampler step count, few images timed and shown
        options |= {"sampler_steps": [tiny.CAPS["steps"]], "speed_n": 4, "grid_n": 4}
    path = write_page(runs, out, features=features, n=n, progress=progress, **options)
    numbers_path = path.with_suffix(".json")
    numbers = json.loads(numbers_path.read_text())
    return CompareResult(path, numbers_path, numbers, list(numbers["warnings"]))


@dataclass
class ClipLabels:
    """Zero-shot labels: for image i, ``labels[i]`` is the prompt with the highest cosine
    similarity (``similarity`` [images, prompts]); ``notes`` say how input files were fitted."""

    labels: list[str]
    similarity: torch.Tensor
    notes: list[str] = field(default_factory=list)

    @property
    def best_cosine(self) -> list[float]:
        return self.similarity.max(dim=1).values.tolist()


def clip_labels(
    run: str | Path,
    images: Sequence[str | Path] | torch.Tensor,
    prompts: Sequence[str],
    device: str = "auto",
    progress: Progress | None = None,
) -> ClipLabels:
    """Label ``images`` (files, or a tensor [N, C, H, W] in [-1, 1]) zero-shot with a trained
    huashi CLIP run: each gets the prompt its embedding is closest to. ``progress`` counts
    loading the run (1), each file read (1 each) and the labelling (1)."""
    from huashi.metrics.features import load_features, zero_shot
    from huashi.tools.translate import load_image

    files = 0 if isinstance(images, torch.Tensor) else len(images)
    total = files + 2

    def tell(done: int, message: str) -> None:
        if progress is not None:
            progress(done, total, message)

    tell(0, f"loading {run}")
    net = load_features(f"clip:{run}", device)
    notes: list[str] = []
    if not isinstance(images, torch.Tensor):
        tell(1, "reading images")
        read = []
        for done, path in enumerate(images, 2):
            image, changed = load_image(Path(path), net.resolution, net.channels)
            read.append(image)
            notes += changed
            tell(done, "reading images" if done < files + 1 else "labelling")
        if not read:
            raise HuashiError("give at least one image to label.")
        images = torch.stack(read)
    else:
        tell(1, "labelling")
    chosen, similarity = zero_shot(net, images, list(prompts))
    tell(total, "labelled")
    return ClipLabels(chosen, similarity, notes)


@dataclass
class DoctorReport:
    run_dir: Path
    records: int
    first_step: int
    last_step: int
    findings: list  # list[huashi.training.doctor.Finding]
    note: str = ""  # e.g. that the GAN checks do not apply to this family

    def summary(self) -> str:
        if not self.records:
            return f"{self.run_dir}: no log records yet."
        if self.note and not self.findings:
            return f"{self.run_dir}: {self.records} log records: {self.note}; no failure signs."
        head = (
            f"{self.run_dir}: {self.records} log records, steps {self.first_step}-{self.last_step}"
        )
        if not self.findings:
            return head + ": no failure signs."
        return head + f": {len(self.findings)} failure sign(s):"


def doctor(run: str | Path, progress: Progress | None = None) -> DoctorReport:
    """The training doctor's findings for a (finished or running) GAN run, from its log and the
    diversity of its fixed-seed progress grids; ``progress`` counts the grids read."""
    from huashi.training.doctor import diagnose, grid_diversity, is_gan_log, run_checks
    from huashi.training.logging import read_log

    run_dir = Path(run)
    config = RunConfig.load(run_dir)
    # What the remedies read: the family's config and the run's precision.
    run_config = {**config.model, "precision": config.train.get("precision", "auto")}
    records = read_log(run_dir / "log.jsonl")
    steps = [int(r["step"]) for r in records] or [0]
    resolution, n_fixed = config.data["resolution"], config.train.get("n_fixed", 64)
    grids = sorted((run_dir / "samples").glob("step-*.png"))
    fixed = []
    for done, path in enumerate(grids, 1):
        fixed.append((int(path.stem.removeprefix("step-")),
                      grid_diversity(path, resolution, n_fixed)))  # fmt: skip
        if progress is not None:
            progress(done, len(grids) + 1, "reading progress grids")
    findings = diagnose(records, run_config, fixed) if is_gan_log(records) else []
    more, note = run_checks(run_dir, records, run_config)
    if progress is not None:
        progress(len(grids) + 1, len(grids) + 1, "diagnosed")
    return DoctorReport(run_dir, len(records), steps[0], steps[-1], more + findings, note)
