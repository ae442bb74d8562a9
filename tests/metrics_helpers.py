"""Small feature networks and runs trained once per test process, shared by the metrics tests."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from huashi import api

FAST = {"precision": "fp32", "progress": False, "checkpoint_every": 10_000, "log_every": 10,
        "n_fixed": 4, "sample_every": 10_000}  # fmt: skip


@functools.cache
def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="huashi-metrics-tests-"))


@functools.cache
def trained_classifier(steps: int = 60) -> Path:
    """A classifier trained briefly on mnist at 16 px (~85% train accuracy)."""
    out = workdir() / "classifier"
    api.train(out, "classifier", "mnist", 16, model={"width": 16}, steps=steps, batch_size=64,
              **FAST)  # fmt: skip
    return out


@functools.cache
def trained_exemplar(steps: int = 30) -> Path:
    """An exemplar classifier (each mnist image its own class, under random shifts), 16 px."""
    out = workdir() / "exemplar"
    api.train(out, "classifier", "mnist", 16, model={"width": 8, "augment": "translation"},
              data_options={"exemplar": True}, steps=steps, batch_size=64, **FAST)  # fmt: skip
    return out


@functools.cache
def tiny_dcgan(data: str = "mnist", resolution: int = 16, steps: int = 2) -> Path:
    """A DCGAN trained for a couple of steps (its samples are bad, which is all we need)."""
    out = workdir() / f"dcgan-{data}-{resolution}-{steps}"
    api.train(out, "dcgan", data, resolution, steps=steps, batch_size=16,
              data_options={"n": 64} if data == "shapes" else {}, **FAST)  # fmt: skip
    return out


@functools.cache
def trained_clip() -> Path:
    """A CLIP trained briefly on 256 shapes scenes at 16 px."""
    out = workdir() / "clip"
    api.train(out, "clip", "shapes", 16, model={"width": 16}, data_options={"n": 256},
              steps=100, batch_size=32, **FAST)  # fmt: skip
    return out
