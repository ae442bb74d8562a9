"""What the faces read to build their flags and forms, and the process settings a command makes,
through :mod:`huashi.api` (the CLI imports no config class, thread or torchrun module)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from huashi import api
from huashi.core.config_fields import choices_of, help_of
from huashi.core.errors import HuashiError
from huashi.families import FAMILIES
from huashi.tools.interpolate import PATHS
from huashi.training.device import PRECISIONS
from huashi.training.loop import TrainConfig


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_options_are_the_config_fields_with_their_help_and_choices(name) -> None:
    fields = dataclasses.fields(FAMILIES[name].config_class)
    options = api.family_options(name)
    assert [o.name for o in options] == [f.name for f in fields]
    for option, field in zip(options, fields, strict=True):
        assert (option.default, option.help, option.choices) == (
            field.default, help_of(field), choices_of(field),
        )  # fmt: skip
    info = api.family_info(name)
    assert info.upscales == FAMILIES[name].upscales
    assert info.summary.endswith(".") and info.summary != name


def test_train_options_precisions_and_walk_paths_come_from_their_sources() -> None:
    options = api.train_options()
    assert [o.name for o in options] == api.train_option_names()
    assert [o.default for o in options] == [f.default for f in dataclasses.fields(TrainConfig)]
    assert next(o for o in options if o.name == "precision").choices == PRECISIONS
    assert api.precisions() == PRECISIONS and api.walk_paths() == PATHS
    with pytest.raises(HuashiError, match="unknown family 'gann': choose one of .*gan"):
        api.family_options("gann")


def test_a_command_sets_its_threads_and_ends_alone_as_it_began() -> None:
    before = torch.get_num_threads()
    try:
        assert api.set_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(HuashiError, match="--threads must be a positive number"):
            api.set_threads("many")
    finally:
        torch.set_num_threads(before)
    assert api.is_main_process() and api.finish_command(3) == 3
    api.check_arguments(["train", "画师"])
    with pytest.raises(HuashiError, match="an argument is not valid UTF-8 text"):
        api.check_arguments(["ok", "bad\udcff"])
