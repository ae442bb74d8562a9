"""What there is to choose from, as the faces list it: the model families and their options,
the built-in datasets, the training options, the samplers, precisions and latent-walk paths
and the shipped recipes; read from the classes and registries below, nothing is loaded or
built."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from huashi.recipes import Recipe, get_recipe, list_recipes


@dataclass(frozen=True)
class Option:
    """One config field as a face offers it (a ``--flag``, a form field): its name, its
    declared default (None when it has none), its one-line help and its valid values (None:
    any value of the default's type)."""

    name: str
    default: Any
    help: str
    choices: tuple | None


def _options(config_class: type) -> list[Option]:
    """The fields of a config dataclass in order, with the help and choices their metadata
    declares (:mod:`huashi.core.config_fields`)."""
    from huashi.core.config_fields import choices_of, help_of

    return [
        Option(
            name=f.name,
            default=f.default if f.default is not dataclasses.MISSING else None,
            help=help_of(f),
            choices=choices_of(f),
        )
        for f in dataclasses.fields(config_class)
    ]


@dataclass(frozen=True)
class FamilyInfo:
    """A model family as its class declares it: the first line of its docstring, what it makes
    and needs, its condition kind, whether it has a latent space, and its config fields with
    their defaults (tuples as lists, as JSON shows them)."""

    name: str
    doc: str
    summary: str  # the one-line description `huashi train --help` shows, ending with a period
    makes_images: bool  # False: a feature network (classifier, clip)
    paired_data: bool  # it trains on (input, target) image pairs
    condition_kind: str  # "none", "class", "text" or "image"; "none" may be set by its options
    latent: bool  # it has a latent space (walks, inversion)
    options: dict[str, Any]  # config field -> default
    upscales: bool  # a bigger image from a smaller one (`huashi train upsampler --from --to`)


def _summary(family: Any) -> str:
    """The first line of the family's class docstring, else of its module's docstring."""
    for doc in (family.__doc__, sys.modules[family.__module__].__doc__):
        if doc and doc.strip():
            return doc.strip().splitlines()[0].rstrip(".") + "."
    return family.name


def _family_info(family: Any) -> FamilyInfo:
    from huashi.families.base import Family

    options = {}
    for f in dataclasses.fields(family.config_class):
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        options[f.name] = list(default) if isinstance(default, tuple) else default
    return FamilyInfo(
        name=family.name,
        doc=(family.__doc__ or family.name).strip().splitlines()[0],
        summary=_summary(family),
        makes_images=family.makes_images,
        paired_data=family.paired_data,
        condition_kind=family.condition_kind,
        # the family class fills in the latent contract (asked without loading any weights)
        latent=family.latent_shape is not Family.latent_shape,
        options=options,
        upscales=family.upscales,
    )


def families() -> dict[str, FamilyInfo]:
    """Every model family by name, sorted (see :class:`FamilyInfo`)."""
    from huashi.families import FAMILIES

    return {name: _family_info(FAMILIES[name]) for name in sorted(FAMILIES)}


def family_info(name: str) -> FamilyInfo | None:
    """The family ``name`` as its class declares it, or None when there is none by that name."""
    from huashi.families import FAMILIES

    family = FAMILIES.get(name)
    return None if family is None else _family_info(family)


def family_options(name: str) -> list[Option]:
    """The options of family ``name``'s config, in order (an unknown name is a
    :class:`~huashi.core.errors.HuashiError` listing the families)."""
    from huashi.core.errors import HuashiError
    from huashi.families import FAMILIES

    if name not in FAMILIES:
        raise HuashiError(f"unknown family {name!r}: choose one of {', '.join(sorted(FAMILIES))}.")
    return _options(FAMILIES[name].config_class)


def datasets() -> dict[str, str]:
    """The built-in datasets: name -> one-line description."""
    from huashi.data import DATASETS

    return {name: entry.description for name, entry in DATASETS.items()}


def train_option_names() -> list[str]:
    """The training options (:class:`~huashi.training.loop.TrainConfig`'s fields), in order."""
    from huashi.training.loop import TrainConfig

    return [f.name for f in dataclasses.fields(TrainConfig)]


def train_options() -> list[Option]:
    """The training options (:class:`~huashi.training.loop.TrainConfig`'s fields), in order."""
    from huashi.training.loop import TrainConfig

    return _options(TrainConfig)


def precisions() -> tuple[str, ...]:
    """The numeric precisions a run trains or paints in (``auto`` picks one per device)."""
    from huashi.training.device import PRECISIONS

    return PRECISIONS


def walk_paths() -> tuple[str, ...]:
    """The paths of a latent walk between two images (:func:`huashi.api.interpolate`)."""
    from huashi.tools.interpolate import PATHS

    return PATHS


def samplers() -> list[str]:
    """The diffusion samplers a diffusion family paints with."""
    from huashi.diffusion.samplers import SAMPLERS

    return list(SAMPLERS)


def recipes() -> list[Recipe]:
    """The shipped recipes, by dataset and budget."""
    return list_recipes()


def recipe(name: str) -> Recipe:
    """The shipped recipe ``name``, resolved once: pass it on to :func:`huashi.api.train` as
    ``recipe=`` (an unknown name is a :class:`~huashi.core.errors.HuashiError` listing them)."""
    return get_recipe(name)
