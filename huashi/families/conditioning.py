"""What a conditional model is asked to paint: labels and prompts, checked once for every family.

A label is a class number or a class name, a prompt is a string; either is one value for every
seed or one value per seed. The rules and the error messages are the same for every family; what
a family does when no label or prompt is given is its own choice (a GAN cycles its classes by
seed, diffusion paints unconditionally).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from huashi.core.errors import HuashiError

if TYPE_CHECKING:
    from huashi.families.base import DataInfo


@dataclass(frozen=True)
class Condition:
    """The checked condition of ``n`` images: class indices or prompts (None: not given)."""

    labels: list[int] | None = None
    prompts: list[str] | None = None


def check_condition_data(condition: str, data: DataInfo) -> None:
    """A clear error when a model conditioned on classes or text is given data without them."""
    if condition == "class" and data.num_classes < 2:
        raise HuashiError(
            "--condition class needs labelled data (mnist, shapes, or a folder with one "
            "subfolder per class); this dataset has no class labels."
        )
    if condition == "text" and not data.has_captions:
        raise HuashiError(
            "--condition text needs captions (emoji, shapes, or a folder with .txt sidecars "
            "or metadata.jsonl); this dataset has none."
        )


def resolve_condition(
    condition: str, data: DataInfo, n: int, prompt: Any = None, label: Any = None
) -> Condition:
    """Check ``prompt`` and ``label`` against what a model is conditioned on ("none", "class",
    "text" or "image") and expand them to one value per image."""
    if prompt is not None and condition != "text":
        raise HuashiError(_wrong_kind(condition, "prompt"))
    if label is not None and condition != "class":
        raise HuashiError(_wrong_kind(condition, "label"))
    labels = None if label is None else [label_index(v, data) for v in per_image(label, n, "label")]
    prompts = None
    if prompt is not None:
        prompts = per_image(prompt, n, "prompt")
        if not all(isinstance(p, str) for p in prompts):
            raise HuashiError("a prompt must be a string (or one string per seed).")
    return Condition(labels, prompts)


def prompt_needed(examples: Sequence[str] = ()) -> HuashiError:
    """The error for a text-conditioned model asked to paint without a prompt; its example is a
    caption the model trained on when it kept any."""
    example = examples[0] if examples else "a small red circle"
    return HuashiError(f'this model is conditioned on text: pass --prompt "{example}".')


def required_prompts(
    data: DataInfo, n: int, prompt: Any, examples: Sequence[str] = ()
) -> list[str]:
    """One non-empty prompt per image for a text-conditioned model, or a clear error."""
    prompts = resolve_condition("text", data, n, prompt).prompts
    if prompts is None or not all(p.strip() for p in prompts):
        raise prompt_needed(examples)
    return prompts


def _wrong_kind(condition: str, given: str) -> str:
    drop = "drop the prompt" if given == "prompt" else "drop --label"
    if condition == "none":
        other = "text" if given == "prompt" else "class"
        kind = "text-conditioned" if given == "prompt" else "class-conditioned"
        return (
            f"this model is unconditional: it is not {kind}, so {drop} (train with --condition "
            f"{other} for that)."
        )
    if condition == "class":
        return f"this model is not text-conditioned but class-conditioned: {drop} and use --label."
    if condition == "text":
        return f"this model is not class-conditioned but text-conditioned: {drop} and use --prompt."
    return f"this model translates images: it takes no {given}, only the images to translate."


def per_image(value: Any, n: int, what: str) -> list:
    """``value`` repeated ``n`` times, or a list/tuple of exactly ``n`` values as a list."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise HuashiError(f"got {len(value)} values for {what} but {n} seeds: give one or {n}.")
        return list(value)
    return [value] * n


def label_index(value: Any, data: DataInfo) -> int:
    """A class number (int, or a string of digits) or a class name -> the class index. A string
    that names a class means that class, even when it is made of digits."""
    names, k = list(data.class_names), data.num_classes
    listed = ", ".join(f"{i}={c}" for i, c in enumerate(names))
    known = f"{k} classes (0..{k - 1}{': ' + listed if listed else ''})"
    if isinstance(value, str):
        if value in names:
            return names.index(value)
        if not value.strip().lstrip("-").isdigit():
            choices = ", ".join(names) if names else "none are named"
            raise HuashiError(
                f"unknown class {value!r}: choose one of {choices} (or a number 0..{k - 1})."
            )
        value = int(value)
    try:
        if isinstance(value, bool):
            raise TypeError
        index = operator.index(value)
    except TypeError:
        raise HuashiError(f"a label is a class number or name, not {value!r}.") from None
    if not 0 <= index < k:
        raise HuashiError(
            f"label {index} is out of range: this model knows {known}; a label must be below {k}."
        )
    return index


def preview_options(
    condition: str, n: int, data: DataInfo, captions: Sequence[str]
) -> dict[str, Any]:
    """The options of the training-progress grids: image i shows class ``i % classes``, or the
    i-th caption seen in training (cycling); nothing for other models or before any caption."""
    if condition == "class" and data.num_classes > 0:
        return {"label": [i % data.num_classes for i in range(n)]}
    if condition == "text" and captions:
        return {"prompt": [captions[i % len(captions)] for i in range(n)]}
    return {}
