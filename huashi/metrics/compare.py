"""Side-by-side comparison of trained runs: one self-contained HTML page.

For each run: a sample grid from the same fixed seeds, training time and images seen (from
``log.jsonl``), sampling speed measured now (images/s: one generator pass for a GAN, many
denoising steps for diffusion), and the metric table from the runs' ``eval-*.json`` files (or
computed now with ``features``). Plots: the metric against training time when several
checkpoints were measured, and, for families with sampling steps (diffusion),
quality and speed against the number of sampler steps. Images are embedded as base64 PNG, so
the page is one file that opens anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from warnings import catch_warnings, simplefilter

import torch

from huashi import __version__
from huashi.core.errors import HuashiError
from huashi.core.images import make_grid
from huashi.core.validation import check_output_file
from huashi.metrics.evaluate import EvalWarning, Progress, checkpoint_progress, evaluate
from huashi.metrics.features import FeatureNet, load_features
from huashi.metrics.floor import format_multiple
from huashi.metrics.registry import METRICS, format_value
from huashi.runs import RunConfig, load_run
from huashi.training.checkpoint import list_checkpoints
from huashi.training.device import pick_device
from huashi.training.logging import read_log

DEFAULT_STEPS = (5, 10, 25, 50)


def check_same_data(configs: dict[str, RunConfig], force: bool) -> list[str]:
    """Refuse runs trained on different data (dataset, resolution or options) unless forced."""
    seen = {
        name: (c.data["spec"], c.data["resolution"], json.dumps(c.data["options"], sort_keys=True))
        for name, c in configs.items()
    }
    if len(set(seen.values())) <= 1:
        return []
    listed = "; ".join(f"{name}: {s} at {r} px {o}" for name, (s, r, o) in seen.items())
    if not force:
        raise HuashiError(
            f"these runs were trained on different data ({listed}): their metrics are not "
            "comparable. Compare runs of one dataset, or pass --force to compare anyway."
        )
    return [f"runs trained on different data, compared anyway (--force): {listed}"]


def _png_base64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_base64(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def measure_speed(family: Any, n: int = 32, **options: Any) -> float:
    """Images per second of ``family.preview`` (or ``generate`` with options), after a warm-up."""
    seeds = list(range(n))

    def make(s: Sequence[int]) -> torch.Tensor:
        return family.generate(list(s), **options) if options else family.preview(list(s))

    make(seeds[:2])
    if family.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    make(seeds)
    if family.device.type == "cuda":
        torch.cuda.synchronize()
    return n / max(time.perf_counter() - started, 1e-9)


def _evals_of(run_dir: Path, net: FeatureNet | None) -> list[dict[str, Any]]:
    """The run's saved evaluations (those made with ``net`` when given), oldest step first."""
    found = []
    for path in sorted(run_dir.glob("eval-*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        feats = record.get("features", {})
        if net is not None and (
            feats.get("checkpoint_sha256") != net.checkpoint_hash
            or feats.get("version", "") != net.version
        ):
            continue  # measured by another network, or another version of its view
        record["path"] = str(path)
        found.append(record)
    return sorted(found, key=lambda r: (r.get("step", 0), r.get("n", 0)))


def _summary_metric(record: dict[str, Any] | None, name: str) -> str:
    """A registered metric of an evaluation record as table text ("–" when not measured)."""
    return format_value(name, (record or {}).get("metrics", {}).get(name))


def _floor_cell(record: dict[str, Any] | None) -> str:
    """The FID's floor multiple under each view of a record, e.g. "3.8× texture, 1.4× plain"."""
    views = (record or {}).get("yardsticks", {}).get("views", [])
    cells = [f"{format_multiple(v['multiple'])} {v['network']}" for v in views if "multiple" in v]
    return ", ".join(cells) or "–"


def _copy_cell(record: dict[str, Any] | None) -> str:
    check = (record or {}).get("yardsticks", {}).get("copy_check")
    if not check:
        return "–"
    share = check["pixels"]["share_below_real_median"]
    return f"{'COPIES' if check['flagged'] else 'clean'} ({share:.0%} below the real median)"


def compare(
    runs: Sequence[str | Path],
    out: str | Path = "report.html",
    features: str | None = None,
    n: int = 1000,
    force: bool = False,
    all_checkpoints: bool = False,
    sampler_steps: Sequence[int] | None = DEFAULT_STEPS,
    speed_n: int = 32,
    grid_n: int = 36,
    device: str = "auto",
    title: str = "huashi comparison",
    notes: str = "",
    progress: Progress | None = None,
) -> Path:
    """Write the comparison page of ``runs`` to ``out``; returns its path (and writes the numbers
    beside it as ``<out>.json``). With ``features``, missing evaluations are computed with ``n``
    samples (every kept checkpoint with ``all_checkpoints``; several sampler step counts for
    families with sampling steps). ``progress(done, total, message)`` counts the runs measured."""
    if len(runs) < 1:
        raise HuashiError("compare needs at least one run folder.")
    check_output_file(out)
    run_dirs = [Path(r) for r in runs]
    configs = {str(r): RunConfig.load(r) for r in run_dirs}
    warnings = check_same_data(configs, force)
    net = load_features(features, device) if features else None
    machine = _machine(device)
    entries = []
    with catch_warnings(record=True) as caught:
        simplefilter("always", EvalWarning)
        for done, run_dir in enumerate(run_dirs, 1):
            entries.append(_measure_run(run_dir, net, n, all_checkpoints, sampler_steps,
                                        speed_n, grid_n, device))  # fmt: skip
            if progress is not None:
                progress(done, len(run_dirs), f"measured {run_dir.name}")
    warnings += list(dict.fromkeys(str(w.message) for w in caught if w.category is EvalWarning))
    feature_specs = {
        e["eval"]["features"]["spec"] + " @" + e["eval"]["features"]["checkpoint_sha256"]
        for e in entries
        if e["eval"]
    }
    if len(feature_specs) > 1:
        warnings.append(
            "metrics of different runs come from different feature networks "
            f"({'; '.join(sorted(feature_specs))}): FID and KID are not comparable across them"
        )
    plots = _plots(entries)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_html(title, notes, machine, entries, plots, warnings))
    numbers = {
        "machine": machine,
        "warnings": warnings,
        "runs": [{k: v for k, v in e.items() if k not in ("grid", "losses")} for e in entries],
        "huashi_version": __version__,
    }
    out.with_suffix(".json").write_text(json.dumps(numbers, indent=2, default=str) + "\n")
    return out


def _machine(device: str) -> dict[str, Any]:
    import os
    import platform

    dev = pick_device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor()
    return {
        "device": str(dev),
        "name": name or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _measure_run(
    run_dir: Path,
    net: FeatureNet | None,
    n: int,
    all_checkpoints: bool,
    sampler_steps: Sequence[int] | None,
    speed_n: int,
    grid_n: int,
    device: str,
) -> dict[str, Any]:
    loaded = load_run(run_dir, device=device)
    log = read_log(run_dir / "log.jsonl") if (run_dir / "log.jsonl").exists() else []
    last = log[-1] if log else {}
    progress = checkpoint_progress(loaded.checkpoint) or last
    entry: dict[str, Any] = {
        "run": str(run_dir),
        "name": run_dir.name,
        "family": loaded.config.family,
        "model": loaded.config.model,
        "data": loaded.config.data,
        "step": loaded.step,
        "images_seen": progress.get("images_seen"),
        "train_seconds": progress.get("train_seconds"),
        "sampling_images_per_second": measure_speed(loaded.family, speed_n),
    }
    grid = loaded.family.preview(list(range(grid_n))).float().cpu()
    entry["grid"] = _png_base64(make_grid(grid))
    losses = run_dir / "losses.png"
    entry["losses"] = base64.b64encode(losses.read_bytes()).decode() if losses.exists() else None

    fresh = None  # the newest checkpoint's evaluation, when made here
    if net is not None:
        checkpoints = list_checkpoints(run_dir / "checkpoints") if all_checkpoints else []
        for path in checkpoints[:-1]:  # older ones; the newest is measured below
            if not _evals_at(run_dir, net, n, int(checkpoint_progress(path).get("step", -1))):
                evaluate(run_dir, net, n=n, checkpoint=path, device=device)
        if not _evals_at(run_dir, net, n, loaded.step):
            fresh = evaluate(loaded, net, n=n)
    evals = _evals_of(run_dir, net)
    if fresh is not None and "path" not in fresh:  # not saved: a zoo painter's folder
        evals.append(fresh)
    newest = [e for e in evals if e.get("step") == loaded.step and not e.get("sampling_options")]
    entry["eval"] = max(newest, key=lambda e: e["n"]) if newest else (evals[-1] if evals else None)
    entry["history"] = [
        {"train_seconds": e.get("progress", {}).get("train_seconds"), "step": e.get("step"),
         "fid": e["metrics"]["fid"], "n": e["n"]}
        for e in evals if not e.get("sampling_options")
    ]  # fmt: skip
    entry["steps_sweep"] = []
    if net is not None and sampler_steps and loaded.family.sampling_steps:
        for steps in sampler_steps:
            record = evaluate(loaded, net, n=n, options={"steps": int(steps)}, save=False)
            entry["steps_sweep"].append({
                "steps": int(steps), "fid": record["metrics"]["fid"],
                "images_per_second": measure_speed(loaded.family, speed_n, steps=int(steps)),
            })  # fmt: skip
    return entry


def _evals_at(run_dir: Path, net: FeatureNet, n: int, step: int) -> bool:
    return any(
        e.get("step") == step and e.get("n") == n and not e.get("sampling_options")
        for e in _evals_of(run_dir, net)
    )


def _plots(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    color = {e["name"]: f"C{i % 10}" for i, e in enumerate(entries)}
    timed = [e for e in entries if sum(h["train_seconds"] is not None for h in e["history"]) > 1]
    if timed:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for e in timed:
            points = sorted((h["train_seconds"], h["fid"]) for h in e["history"]
                            if h["train_seconds"] is not None)  # fmt: skip
            ax.plot(*zip(*points, strict=True), marker="o", label=e["name"], color=color[e["name"]])
        ax.set_xlabel("training time (s)")
        ax.set_ylabel("FID (lower is better)")
        ax.legend()
        ax.grid(alpha=0.3)
        plots.append(("FID against training time", _figure_base64(fig)))
    swept = [e for e in entries if e["steps_sweep"]]
    if swept:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        for e in swept:
            s = e["steps_sweep"]
            c = color[e["name"]]
            left.plot([p["steps"] for p in s], [p["fid"] for p in s], marker="o", label=e["name"],
                      color=c)  # fmt: skip
            right.plot([p["steps"] for p in s], [p["images_per_second"] for p in s], marker="o",
                       label=e["name"], color=c)  # fmt: skip
        for e in entries:
            if not e["steps_sweep"] and e["eval"]:
                c, label = color[e["name"]], f"{e['name']} (one pass)"
                left.axhline(e["eval"]["metrics"]["fid"], ls="--", lw=1, color=c, label=label)
                right.axhline(e["sampling_images_per_second"], ls="--", lw=1, color=c, label=label)
        left.set_xlabel("sampler steps")
        left.set_ylabel("FID (lower is better)")
        right.set_xlabel("sampler steps")
        right.set_ylabel("images / s")
        right.set_yscale("log")
        for ax in (left, right):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        plots.append(("Quality and speed against sampler steps", _figure_base64(fig)))
    return plots


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.runs{display:flex;flex-wrap:wrap;gap:1.5em}.run{flex:0 0 auto}.run img{image-rendering:pixelated;
width:300px}.warn{background:#fff3cd;padding:.5em 1em;border-left:4px solid #e0a800}
small{color:#666}
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return f"{value:,}" if isinstance(value, int) else html.escape(str(value))


def _html(
    title: str,
    notes: str,
    machine: dict[str, Any],
    entries: list[dict[str, Any]],
    plots: list[tuple[str, str]],
    warnings: list[str],
) -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1>"]  # fmt: skip
    if notes:
        parts.append(f"<p>{esc(notes)}</p>")
    parts.append(
        f"<p><small>Measured on {esc(str(machine['name']))} ({esc(machine['device'])}, "
        f"{machine['cpu_count']} CPUs, torch {esc(machine['torch'])}, "
        f"{machine['torch_threads']} threads) on {esc(machine['date'])}.</small></p>"
    )
    for w in warnings:
        parts.append(f"<p class='warn'>{esc(w)}</p>")
    columns = ["run", "family", "step", "images seen", "train time (s)", "sampling img/s",
               "FID × floor (views)", "copy check",
               *(metric.label for metric in METRICS.values())]  # fmt: skip
    parts.append(
        "<h2>Metrics</h2><table><tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
    )
    for e in entries:
        r = e["eval"]
        cells = [esc(e["name"]), esc(e["family"]), _fmt(e["step"]), _fmt(e["images_seen"]),
                 _fmt(e["train_seconds"], 4), _fmt(e["sampling_images_per_second"]),
                 esc(_floor_cell(r)), esc(_copy_cell(r)),
                 *(_summary_metric(r, name) for name in METRICS)]  # fmt: skip
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    made = []
    for e in entries:
        r = e["eval"]
        if r:
            f = r["features"]
            made.append(
                f"<li>{esc(e['name'])}: {r['n']:,} samples (seeds {esc(r['seeds'])}) vs "
                f"{r['real']['size']:,} real images of {esc(str(r['real']['dataset']))} "
                f"({esc(r['real']['split'])} split); features {esc(f['spec'])} "
                f"(sha256 {esc(f['checkpoint_sha256'])}, resize {esc(f.get('resize', '?'))}); "
                f"checkpoint {esc(r['checkpoint'])}</li>"
            )
        else:
            made.append(
                f"<li>{esc(e['name'])}: not measured (run huashi eval, or pass --features)</li>"
            )
    parts.append(
        "<p><small>How the scores were made:</small></p><ul><small>"
        + "".join(made)
        + "</small></ul>"
    )
    for caption, data in plots:
        parts.append(
            f"<h2>{esc(caption)}</h2><img alt='{esc(caption)}' src='data:image/png;base64,{data}'>"
        )
    parts.append("<h2>Samples (same seeds for every run)</h2><div class='runs'>")
    for e in entries:
        sweep = ""
        if e["steps_sweep"]:
            sweep = (
                "<br><small>"
                + ", ".join(
                    f"{p['steps']} steps: FID {p['fid']:.3g}, {p['images_per_second']:.3g} img/s"
                    for p in e["steps_sweep"]
                )
                + "</small>"
            )
        losses = (
            f"<br><img alt='losses' src='data:image/png;base64,{e['losses']}'>"
            if e["losses"]
            else ""
        )
        parts.append(
            f"<div class='run'><h3>{esc(e['name'])} <small>({esc(e['family'])})</small></h3>"
            f"<img alt='samples of {esc(e['name'])}' src='data:image/png;base64,{e['grid']}'>"
            f"<br><small>{esc(json.dumps(e['model'])[:300])}</small>{sweep}{losses}</div>"
        )
    parts.append(f"</div><p><small>huashi {__version__}</small></p></body></html>\n")
    return "\n".join(parts)
