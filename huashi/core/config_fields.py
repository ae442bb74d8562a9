"""Config fields that document themselves: each carries its command-line help and, where it has
them, its valid choices as dataclass metadata (``field.metadata["help"]`` and ``["choices"]``).
``huashi train FAMILY --help`` is built from them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any


def option(default: Any, help: str, choices: Sequence[Any] | None = None) -> Any:
    """A dataclass field with ``default``, a one-line ``help`` and optional ``choices``."""
    metadata: dict[str, Any] = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    return dataclasses.field(default=default, metadata=metadata)


def check_choices(config: Any) -> None:
    """Raise a one-line error for the first field of ``config`` whose value is not one of its
    declared choices (e.g. ``unknown loss 'gan': choose --loss from hinge, bce, ...``)."""
    from huashi.core.errors import HuashiError

    for field in dataclasses.fields(config):
        valid = choices_of(field)
        value = getattr(config, field.name)
        if valid is not None and value not in valid:
            flag = "--" + field.name.replace("_", "-")
            raise HuashiError(
                f"unknown {field.name} {value!r}: choose {flag} from "
                f"{', '.join(str(v) for v in valid)}."
            )


def help_of(field: dataclasses.Field) -> str:
    """The help text of a config field ("" when it has none)."""
    return field.metadata.get("help", "")


def choices_of(field: dataclasses.Field) -> tuple | None:
    """The valid values of a config field, or None when any value of its type is allowed."""
    return field.metadata.get("choices")
