"""Model families by name. Each family is one module that fills in :class:`Family`."""

from __future__ import annotations

from huashi.errors import HuashiError
from huashi.families.base import DataInfo, Family, StepContext
from huashi.families.classifier import ClassifierFamily
from huashi.families.clip import CLIPFamily
from huashi.families.dcgan import DCGAN

FAMILIES: dict[str, type[Family]] = {
    family.name: family for family in (DCGAN, CLIPFamily, ClassifierFamily)
}


def get_family(name: str) -> type[Family]:
    try:
        return FAMILIES[name]
    except KeyError:
        raise HuashiError(
            f"unknown model family '{name}': choose one of {', '.join(sorted(FAMILIES))}."
        ) from None


__all__ = ["FAMILIES", "DataInfo", "Family", "StepContext", "get_family"]
