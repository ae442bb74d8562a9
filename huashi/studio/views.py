"""What the studio's answers show, read from files and loaded families: a run's summary, its
paint form, a gallery entry, an eval table; and the small formats (validation messages,
server-sent events)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from fastapi.exceptions import RequestValidationError

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.painters import display_name, group_of


def run_summary(run_dir: Path) -> dict[str, Any]:
    """A run as the runs list shows it (:func:`huashi.api.run_info`: nothing is loaded), named
    as the studio names it, with what it does (its group) and its grid's URL."""
    info = api.run_info(run_dir)
    name = display_name(run_dir)
    grid = info.grid
    return {
        "name": name,
        "family": info.family,
        "group": group_of(info.family, info.model),  # what it does (None: features)
        "makes_images": info.makes_images,
        "latent": info.latent,
        "data": info.data,
        "resolution": info.resolution,
        "step": info.step,
        "steps": info.steps,
        "train_seconds": info.train_seconds,
        "trained": info.trained,
        "updated": info.updated,
        "grid": f"/api/runs/{name}/samples.png?v={int(grid.stat().st_mtime_ns)}" if grid else None,
        "metrics": info.metrics,
        # the FID's floor multiple of each eval record, no server path in the network's name
        "floors": {k: v.replace(f"{run_dir.parent}/", "") for k, v in info.floors.items()},
    }


def gallery_entry(run: str, path: Path) -> dict[str, Any]:
    try:
        params = api.read_parameters(path)
    except (HuashiError, json.JSONDecodeError):
        params = {}
    shown = {k: params[k] for k in ("seed", "step", "family") if k in params}
    shown |= {k: v for k, v in (params.get("options") or {}).items() if k not in ("init", "mask")}
    studio = params.get("studio") or {}
    shown |= {k: studio[k] for k in ("init", "mask") if k in studio}
    # what made an image that is no plain paint: an inversion (its space), an edit, a dream
    shown |= {k: params[k] for k in ("space", "direction", "strengths") if k in params}
    if isinstance(params.get("dream"), dict):
        shown["dream"] = params["dream"].get("objective")
    return {
        "id": f"{run}/{path.stem}",
        "url": f"/api/images/{run}/{path.stem}.png",
        "run": run,
        "parameters": shown,
        "created": path.stat().st_mtime,
    }


def validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(x) for x in item.get("loc", ()) if x not in ("body", "query", "path"))
        message = item.get("msg", "invalid")
        if item.get("type") == "string_pattern_mismatch":  # say what is wanted, not the regex
            message = _PATTERN_HELP.get(where, "use letters, digits, '.', '_' and '-'")
            message = (
                f"{item.get('input')!r} is not valid: {message}" if item.get("input") else message
            )
        parts.append(f"{where or 'request'}: {message}")
    return "; ".join(parts)


_PATTERN_HELP = {
    "run": "choose a run of the runs folder or a zoo painter (zoo:NAME)",
    "features": "choose a feature network of GET /api/features",
    "name": "a run name has letters, digits, '.', '_' and '-' (at most 100)",
}


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def paint_form(family: Any) -> dict[str, Any]:
    """What the paint form offers for a loaded family: asked from the family itself."""
    accepts = family.sampling_option_names()
    steps = family.sampling_steps
    form: dict[str, Any] = {
        "condition": family.condition,
        "class_names": list(family.data.class_names),
        "num_classes": family.data.num_classes,
        "resolution": family.data.resolution,
        "channels": family.data.channels,
        "sampling": steps,
        "img2img": family.repaints_images,
        "inpaint": "mask" in accepts,
        "truncation": "truncation" in accepts,
        "paintable": family.paints_from_seeds,
        "latent_spaces": list(
            api.latent_spaces(family)
        ),  # empty: no latent to walk, invert or drag
        "dream": family.feature_kind,  # a classifier or clip network dreams on an image
        # captions seen in training: the page offers them as example prompts
        "examples": list(family.preview_captions[:8]) if family.condition == "text" else [],
    }
    if steps:
        form["samplers"] = api.samplers()
    # what the form leaves open is the family's own default: the form shows its value (the
    # sampler, steps and CFG a paint without them uses), the request leaves it out
    form["defaults"] = {k: v for k, v in family.sampling_defaults({}).items()
                        if k in ("sampler", "steps", "cfg")}  # fmt: skip
    return form


def eval_table(record: dict[str, Any]) -> list[dict[str, str]]:
    """The record's metrics as table rows, labelled and formatted by the metric registry."""
    return [dataclasses.asdict(row) for row in api.metric_rows(record)]
