"""`huashi train FAMILY --help`: a one-line description of the family, and for every option a
help line and its valid choices, all read from the config dataclasses' field metadata."""

import dataclasses

import pytest

from huashi.cli import main
from huashi.core.config_fields import choices_of, help_of
from huashi.families import FAMILIES
from huashi.training.loop import TrainConfig


@pytest.mark.parametrize(
    "config_class", [TrainConfig, *(f.config_class for f in FAMILIES.values())]
)
def test_every_config_field_has_a_help_text_and_valid_default_choices(config_class):
    for field in dataclasses.fields(config_class):
        assert help_of(field).strip(), f"{config_class.__name__}.{field.name} has no help"
        choices = choices_of(field)
        if choices is not None:
            assert field.default in choices, (config_class.__name__, field.name)


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(["train", *argv, "--help"])
    assert exit_.value.code == 0
    return squeeze(capsys.readouterr().out)


def squeeze(text: str) -> str:
    """Without whitespace: argparse wraps lines, also at hyphens."""
    return "".join(text.split())


def test_gan_help_shows_its_description_every_help_line_and_the_loss_choices(capsys):
    from huashi.families.gan import GANConfig

    text = help_text(capsys, "gan")
    assert "--loss{hinge,bce,nsgan,wgan,wgan-gp,lsgan}" in text
    assert "--d-norm{auto,batch,instance,none}" in text
    assert "--precision{auto,fp32,bf16,fp16}" in text
    first_line = (FAMILIES["gan"].__doc__ or "").strip().splitlines()[0]
    assert squeeze(first_line) in text
    for field in [*dataclasses.fields(GANConfig), *dataclasses.fields(TrainConfig)]:
        assert squeeze(help_of(field)) in text, field.name


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_help_has_a_description_and_a_help_line_per_option(capsys, name):
    from huashi import api

    text = help_text(capsys, name)
    summary = api.family_info(name).summary
    assert summary and summary != name and squeeze(summary) in text
    for field in dataclasses.fields(FAMILIES[name].config_class):
        assert "--" + field.name.replace("_", "-") in text
        assert squeeze(help_of(field)) in text, (name, field.name)
