"""The studio's request bodies: what each endpoint accepts, with the bounds of one request (a
422 names the field and the bound)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
RUN = r"^(zoo:)?[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # a run folder's name or a zoo painter's
# a feature network: a run's name or a zoo reference network's, ``texture:`` for its texture view,
# or an ensemble of zoo networks (``ensemble:zoo:A+zoo:B``)
_NET = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
FEATURES = rf"^(texture:)?(zoo:)?{_NET}$|^ensemble:zoo:{_NET}(\+zoo:{_NET}){{1,3}}$"
UPLOAD = r"^[0-9a-f]{20}$"
LATENT = r"^[0-9a-f]{20}$"
TASK = r"^[A-Za-z0-9_-]{1,64}$"
NAME_RE, UPLOAD_RE, LATENT_RE = re.compile(NAME), re.compile(UPLOAD), re.compile(LATENT)
IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$")  # a painted image's file stem
REPORT_RE = re.compile(r"^compare-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")

# Bounds of one request (a 422 names the field and the bound).
MAX_N = 16
MAX_SAMPLING_STEPS = 250
MAX_BATCH = 16
MAX_TRAIN_STEPS = 200_000
MAX_RESOLUTION = 256
MAX_SEED = 2**31 - 1
MAX_SWEEP = 8  # passes of one sweep
MAX_EVAL_N = 5000  # generated images of one eval or compare
MAX_COMPARE_RUNS = 8
MAX_WALK = 16  # images of one latent walk
MAX_INVERT_STEPS = 500
MAX_DRAG_STEPS = 200
MAX_DRAG_POINTS = 8
MAX_DREAM_OCTAVES = 6
MAX_DREAM_STEPS = 100  # per octave


# --- request bodies --------------------------------------------------------------------------


class SweepPass(BaseModel):
    """One pass of a sweep: a sampler (the request's when omitted) and a step count."""

    model_config = ConfigDict(extra="forbid")
    sampler: str | None = Field(None, max_length=20)
    steps: int = Field(ge=1, le=MAX_SAMPLING_STEPS)


class PaintRequest(BaseModel):
    """What to paint: ``n`` images with seeds ``seed, seed+1, ...`` (a random seed when
    omitted). ``init``/``mask`` are upload ids (``POST /api/uploads``). Sampler, steps and CFG
    left out are the run's own defaults. ``sweep`` paints the same seeds once per pass."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    prompt: str | None = Field(None, max_length=500)
    negative_prompt: str | None = Field(None, max_length=500)
    label: int | None = Field(None, ge=0)
    sampler: str | None = Field(None, max_length=20)
    steps: int | None = Field(None, ge=1, le=MAX_SAMPLING_STEPS)
    cfg: float | None = Field(None, ge=0, le=30)
    eta: float | None = Field(None, ge=0, le=1)
    truncation: float | None = Field(None, ge=0, le=2)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    n: int = Field(1, ge=1, le=MAX_N)
    batch_size: int = Field(1, ge=1, le=MAX_BATCH)
    init: str | None = Field(None, pattern=UPLOAD)
    mask: str | None = Field(None, pattern=UPLOAD)
    strength: float | None = Field(None, gt=0, le=1)
    task: str | None = Field(None, pattern=TASK)
    sweep: list[SweepPass] | None = Field(None, min_length=1, max_length=MAX_SWEEP)


class TranslateRequest(BaseModel):
    """Translate (a Pix2Pix run) or upscale (an upsampler run) the upload ``upload``."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    upload: str = Field(pattern=UPLOAD)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    task: str | None = Field(None, pattern=TASK)


class EvalRequest(BaseModel):
    """Measure a run on ``n`` generated images with the feature network ``features`` (the
    name of a classifier or clip run in the runs folder or a zoo reference network, ``texture:``
    for its texture view, see ``GET /api/features``); left out: the view ``huashi eval`` picks,
    the one that passed its validation ladder, with the other view beside it."""

    model_config = ConfigDict(extra="forbid")
    features: str | None = Field(None, pattern=FEATURES)
    n: int = Field(500, ge=2, le=MAX_EVAL_N)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    kid_subsets: int = Field(100, ge=1, le=1000)
    task: str | None = Field(None, pattern=TASK)


class CompareRequest(BaseModel):
    """A `huashi compare` report of ``runs``; with ``features``, missing metrics are measured
    on ``n`` images."""

    model_config = ConfigDict(extra="forbid")
    runs: list[str] = Field(min_length=1, max_length=MAX_COMPARE_RUNS)
    features: str | None = Field(None, pattern=FEATURES)
    n: int = Field(500, ge=2, le=MAX_EVAL_N)
    force: bool = False
    speed_n: int = Field(8, ge=1, le=64)
    grid_n: int = Field(16, ge=1, le=64)
    title: str = Field("huashi comparison", max_length=200)
    task: str | None = Field(None, pattern=TASK)


Scalar = str | int | float | bool


class TrainRequest(BaseModel):
    """A training job: a new run ``name`` (or ``resume`` of an existing one)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME)
    family: str | None = Field(None, max_length=40)
    data: str | None = Field(None, max_length=100)
    resolution: int | None = Field(None, ge=8, le=MAX_RESOLUTION)
    steps: int = Field(500, ge=1, le=MAX_TRAIN_STEPS)
    minutes: float | None = Field(None, gt=0, le=24 * 60)
    batch_size: int | None = Field(None, ge=1, le=1024)
    resume: bool = False
    model: dict[str, Scalar | list[int]] = Field(default_factory=dict)
    data_options: dict[str, Scalar] = Field(default_factory=dict)
    train: dict[str, Scalar] = Field(default_factory=dict)


class WalkRequest(BaseModel):
    """A latent walk of ``steps`` images from seed ``seed_a``'s latent to ``seed_b``'s: a
    straight line in w for a generator with a mapping network (``truncation`` applies there),
    a great circle (slerp) in z otherwise."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    seed_a: int = Field(ge=0, le=MAX_SEED)
    seed_b: int = Field(ge=0, le=MAX_SEED)
    steps: int = Field(8, ge=2, le=MAX_WALK)
    truncation: float | None = Field(None, ge=0, le=2)
    task: str | None = Field(None, pattern=TASK)


class InvertRequest(BaseModel):
    """Find the latent (in ``space``) whose image matches the upload ``upload``."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    upload: str = Field(pattern=UPLOAD)
    space: str = Field("w+", pattern=r"^(z|w|w\+)$")
    steps: int = Field(100, ge=1, le=MAX_INVERT_STEPS)
    task: str | None = Field(None, pattern=TASK)


class DragRequest(BaseModel):
    """Drag handle points to target points ``[[hx, hy, tx, ty], ...]`` (pixels of the image)
    in the image of the latent ``latent`` (an id from an inversion or an earlier drag)."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    latent: str = Field(pattern=LATENT)
    points: list[list[float]] = Field(min_length=1, max_length=MAX_DRAG_POINTS)
    steps: int = Field(50, ge=1, le=MAX_DRAG_STEPS)
    task: str | None = Field(None, pattern=TASK)


Strength = Annotated[float, Field(ge=-20, le=20)]


class EditRequest(BaseModel):
    """Move the latent ``latent`` (an id from an inversion or a drag) along a direction in w
    (``sefa:K``: the K-th strongest direction the generator's style layers vary along) by each
    of ``strengths``: one row of images, as ``huashi edit`` draws it."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    latent: str = Field(pattern=LATENT)
    direction: str = Field("sefa:0", pattern=r"^sefa:[0-9]{1,2}$")
    strengths: list[Strength] = Field([-3, -1.5, 0, 1.5, 3], min_length=1, max_length=MAX_WALK)
    task: str | None = Field(None, pattern=TASK)


class DreamRequest(BaseModel):
    """DeepDream the upload ``upload`` with a classifier or clip run: make the network see more
    of class ``label`` (a classifier), of ``prompt`` (a clip) or of layer ``layer``'s features."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    upload: str = Field(pattern=UPLOAD)
    label: int | None = Field(None, ge=0)
    prompt: str | None = Field(None, max_length=500)
    layer: str | None = Field(None, max_length=100)
    octaves: int = Field(3, ge=1, le=MAX_DREAM_OCTAVES)
    steps: int = Field(20, ge=1, le=MAX_DREAM_STEPS)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    task: str | None = Field(None, pattern=TASK)
