"""Run logs: a JSONL file of metrics, a loss-curve PNG and optional TensorBoard.

``log.jsonl`` holds one JSON object per line: metric records (``step`` and values) and event
records (``step`` and ``event``: a resume with what changed, a divergence). A last line torn by a
crash or power loss is ignored when reading and cut when the run resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError, missing_package


class RunLog:
    """Appends one JSON object per logged step to ``log.jsonl`` in the run folder."""

    def __init__(self, path: Path, tensorboard_dir: Path | None = None) -> None:
        self.path = path
        self.writer = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise missing_package("tensorboard", "tensorboard", "--tensorboard") from None
            self.writer = SummaryWriter(str(tensorboard_dir))

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` and a torn last line (used on resume, so the log matches
        the checkpoint)."""
        kept = [r for r in read_records(self.path) if r["step"] <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, self.path)

    def event(self, step: int, event: str, **values: Any) -> None:
        """Record an event (not a metric): e.g. a resume and what it changed."""
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, "event": event, **values}) + "\n")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record; a write the disk refuses leaves no torn line behind."""
        size = self.path.stat().st_size if self.path.exists() else 0
        try:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError:
            with contextlib.suppress(OSError):  # (a disk that refuses this too keeps it)
                os.truncate(self.path, size)
            raise
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a log (metrics and events). A torn last line is skipped with a warning;
    a damaged line before it is a clear error."""
    if not Path(path).exists():
        return []
    lines = [line for line in Path(path).read_bytes().splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("not a record with a step")
        except (ValueError, UnicodeDecodeError):
            if number == len(lines):
                warnings.warn(f"ignoring the torn last line of {path}", stacklevel=2)
                break
            raise HuashiError(
                f"line {number} of {path} is damaged: delete that line (the log is only read "
                "for plots and the doctor, the checkpoints are not affected)."
            ) from None
        records.append(record)
    return records


def read_log(path: Path) -> list[dict[str, Any]]:
    """The metric records of a log (events left out)."""
    return [r for r in read_records(path) if "event" not in r]


def read_events(path: Path) -> list[dict[str, Any]]:
    """The event records of a log (resumes and what they changed, divergences)."""
    return [r for r in read_records(path) if "event" in r]


def plot_losses(log_path: Path, out_path: Path, keys: list[str] | None = None) -> Path | None:
    """Plot every loss-like series of the log (keys ending in ``loss`` by default)."""
    records = read_log(log_path)
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if keys is None:
        keys = sorted({k for r in records for k in r if k.endswith("loss")})
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for key in keys:
        points = [(r["step"], r[key]) for r in records if key in r]
        ax.plot([p[0] for p in points], [p[1] for p in points], label=key, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(log_path.parent.name)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    tmp = out_path.with_name(out_path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out_path)
    return out_path


class NoLog:
    """The log of a rank other than 0: it writes nothing."""

    def truncate_after(self, step: int) -> None:
        return None

    def write(self, record: dict[str, Any]) -> None:
        return None

    def event(self, step: int, kind: str, **details: Any) -> None:
        return None

    def close(self) -> None:
        return None
