"""The ``parameters`` PNG text chunk that other painting tools write and read.

AUTOMATIC1111's web UI started the convention and ComfyUI importers, InvokeAI and image viewers
show it: the prompt on the first line(s), an optional ``Negative prompt:`` line, then one line of
``Key: value`` pairs separated by commas, e.g.::

    a red apple
    Steps: 20, Sampler: DPM++ 2M, CFG scale: 4, Seed: 7, Size: 32x32, Model: run, Model hash: ...

huashi writes it beside its own JSON chunk (which stays the exact record ``huashi regenerate``
uses); :func:`parse_parameters` reads the chunk back, from huashi or from another tool.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from huashi import __version__

PARAMETERS_KEY = "parameters"

#: huashi sampler names and the names the convention uses for the same samplers.
SAMPLER_NAMES = {
    "ddpm": "DDPM",
    "ddim": "DDIM",
    "dpmpp-2m": "DPM++ 2M",
    "euler": "Euler",
    "heun": "Heun",
}
_SAMPLERS_BACK = {v.lower(): k for k, v in SAMPLER_NAMES.items()}

# One "Key: value" pair; a value holding a comma, colon or newline is written as a JSON string.
_PAIR = re.compile(r'\s*([\w][\w \-/+.()]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
# The settings line: the last line, holding at least one of the keys every writer puts there.
_SETTINGS = re.compile(r"(^|, )(Steps|Seed|Size|Sampler|Model): ")


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:\n"') else text


def _number(value: float) -> str:
    return f"{value:g}"


@lru_cache(maxsize=64)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:10]


def model_hash(run: str | Path, checkpoint: str) -> str | None:
    """The first 10 hex digits of the SHA-256 of the checkpoint's weights (the convention's
    "AutoV2" hash), or None when the file is not there."""
    weights = (Path(run) / "checkpoints" / checkpoint).with_suffix(".safetensors")
    try:
        stat = weights.stat()
    except OSError:
        return None
    return _file_hash(str(weights), stat.st_size, stat.st_mtime_ns)


def locate(path: str, near: str | Path | None = None) -> Path:
    """A run folder or file that a PNG's parameters name: ``zoo:NAME`` is the zoo's folder, an
    absolute path itself; a relative one (the studio writes them relative to its runs folder)
    is taken from the current folder when it is there, else from the nearest folder above the
    PNG ``near`` that holds it."""
    if str(path).startswith("zoo:"):
        from huashi.core.zoo_folders import resolve

        return resolve(path)
    found = Path(path)
    if found.is_absolute() or found.exists() or near is None:
        return found
    for folder in Path(near).resolve().parents:
        if (folder / found).exists():
            return folder / found
    return found


def localized(params: dict[str, Any], near: str | Path) -> dict[str, Any]:
    """``params`` with its run and the files it names (init, mask, latent, input) located
    (:func:`locate`) from the PNG ``near``: what ``huashi regenerate`` loads."""
    out = dict(params)
    if isinstance(out.get("run"), str):
        out["run"] = str(locate(out["run"], near))
    for key in ("latent", "input"):
        if isinstance(out.get(key), str):
            out[key] = str(locate(out[key], near))
    options = dict(out.get("options") or {})
    for key in ("init", "mask"):
        if isinstance(options.get(key), str):
            options[key] = str(locate(options[key], near))
    if "options" in out:
        out["options"] = options
    record = out.get("upscale")
    if isinstance(record, dict) and isinstance(record.get("input"), str):
        out["upscale"] = record | {"input": str(locate(record["input"], near))}
    return out


def format_parameters(
    params: dict[str, Any], size: tuple[int, int], near: str | Path | None = None
) -> str:
    """The ``parameters`` text for an image of ``size`` (width, height) made with ``params``
    (huashi's own record: ``seed``/``seeds``, ``options``, ``run``, ``checkpoint``, ...);
    ``near``, the PNG's path, locates a run named relative to it (:func:`locate`)."""
    options = params.get("options") or {}
    prompt = options.get("prompt")
    if isinstance(prompt, (list, tuple)):
        prompt = prompt[0] if prompt else None
    pairs: list[tuple[str, Any]] = []
    if options.get("steps") is not None:
        pairs.append(("Steps", int(options["steps"])))
    if options.get("sampler"):
        pairs.append(("Sampler", SAMPLER_NAMES.get(options["sampler"], options["sampler"])))
    if options.get("cfg") is not None:
        pairs.append(("CFG scale", _number(float(options["cfg"]))))
    seed = params.get("seed", (params.get("seeds") or [None])[0])
    if seed is not None:
        pairs.append(("Seed", int(seed)))
    pairs.append(("Size", f"{size[0]}x{size[1]}"))
    if params.get("run"):
        pairs.append(("Model", Path(str(params["run"])).name.removeprefix("zoo:")))
        if params.get("checkpoint"):
            try:
                run = locate(str(params["run"]), near)
            except Exception:  # noqa: BLE001 - a zoo name that is not installed: no hash
                run = Path(str(params["run"]))
            digest = model_hash(run, str(params["checkpoint"]))
            if digest:
                pairs.append(("Model hash", digest))
    if options.get("strength") is not None and options.get("init"):
        pairs.append(("Denoising strength", _number(float(options["strength"]))))
    label = options.get("label")
    if label is not None and not isinstance(label, (list, tuple)):
        pairs.append(("Label", int(label)))
    if options.get("eta"):
        pairs.append(("Eta", _number(float(options["eta"]))))
    if params.get("family"):
        pairs.append(("Family", params["family"]))
    if params.get("step") is not None:
        pairs.append(("Training step", int(params["step"])))
    pairs.append(("Version", f"huashi {__version__}"))
    line = ", ".join(f"{key}: {_quote(value)}" for key, value in pairs)
    negative = options.get("negative_prompt")
    negative = f"Negative prompt: {negative}\n" if negative else ""
    return f"{prompt or ''}\n{negative}{line}"


def parse_parameters(text: str) -> dict[str, Any]:
    """Read a ``parameters`` text (huashi's or another tool's) into plain fields: ``prompt``,
    ``negative_prompt`` and every ``Key: value`` pair, with the ones huashi uses typed and
    renamed (``steps``, ``sampler`` (huashi's name when it has one), ``cfg``, ``seed``,
    ``width``/``height``, ``model``, ``model_hash``, ``strength``, ``label``)."""
    lines = text.rstrip("\n").split("\n")
    settings = ""
    if _SETTINGS.search(lines[-1]):
        settings = lines.pop()
    prompt_lines, negative = [], []
    for line in lines:
        if line.startswith("Negative prompt:") or negative:
            negative.append(line.removeprefix("Negative prompt:").strip())
        else:
            prompt_lines.append(line)
    fields: dict[str, Any] = {"prompt": "\n".join(prompt_lines).strip()}
    if negative:
        fields["negative_prompt"] = "\n".join(negative).strip()
    for key, value in _PAIR.findall(settings):
        value = value.strip()
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = value.strip('"')
        fields[key.strip()] = value
    typed = {
        "Steps": ("steps", int),
        "CFG scale": ("cfg", float),
        "Seed": ("seed", int),
        "Denoising strength": ("strength", float),
        "Label": ("label", int),
        "Model": ("model", str),
        "Model hash": ("model_hash", str),
    }
    for key, (name, kind) in typed.items():
        if key in fields:
            with contextlib.suppress(ValueError):
                fields[name] = kind(fields[key])
    if "Sampler" in fields:
        fields["sampler"] = _SAMPLERS_BACK.get(fields["Sampler"].lower(), fields["Sampler"])
    size = re.fullmatch(r"(\d+)x(\d+)", str(fields.get("Size", "")))
    if size:
        fields["width"], fields["height"] = int(size[1]), int(size[2])
    return fields
