"""Config dataclasses: model configs (huashi/models/) carry no optimizer settings, and splitting
them off changed no flag name and no config.json key of any family."""

import dataclasses
import importlib
import inspect
import pkgutil

import pytest

import huashi.models
from huashi.core.errors import HuashiError
from huashi.families import FAMILIES

# The "model" section of config.json of every family as it was before the split (new keys
# go at the end).
KEYS = {
    "ae": ["z_dim", "width", "max_width", "recon", "lr", "beta1", "beta2"],
    "classifier": ["width", "lr", "weight_decay", "label_smoothing", "augment"],
    "clip": ["width", "embed_dim", "text_hidden", "text_input", "text_encoder", "temperature",
             "lr", "weight_decay"],
    "dcgan": ["z_dim", "g_width", "d_width", "lr", "beta1", "beta2"],
    "kl-vae": ["z_channels", "factor", "width", "max_width", "res_blocks", "recon", "kl_weight",
               "adversarial", "adv_weight", "adv_start", "disc_width", "disc_layers", "lr",
               "beta1", "beta2"],
    "pix2pix": ["g_width", "g_max_mult", "dropout", "dropout_blocks", "test_dropout", "norm",
                "d_width", "d_layers", "l1_weight", "lr", "beta1", "beta2", "jitter"],
    "vae": ["z_dim", "width", "max_width", "recon", "kl_weight", "lr", "beta1", "beta2"],
}  # fmt: skip
OPTIMIZER_FIELDS = {"lr", "lr_g", "lr_d", "beta1", "beta2", "weight_decay", "betas", "momentum"}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_config_json_keys_and_order_are_unchanged_and_old_sections_load(name):
    family = FAMILIES[name]
    assert [f.name for f in dataclasses.fields(family.config_class)] == KEYS[name]
    old = dataclasses.asdict(family.config_class())
    config = family.make_config({**old, "lr": 0.123})
    assert dataclasses.asdict(config) == {**old, "lr": 0.123}


def test_no_model_config_holds_optimizer_settings():
    checked = []
    for module_info in pkgutil.walk_packages(huashi.models.__path__, "huashi.models."):
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, dataclasses.is_dataclass):
            if cls.__module__ == module.__name__:
                names = {f.name for f in dataclasses.fields(cls)}
                assert not names & OPTIMIZER_FIELDS, (cls.__qualname__, names & OPTIMIZER_FIELDS)
                checked.append(cls.__name__)
    assert {"DCGANConfig", "Pix2PixConfig", "VAEConfig", "KLAutoencoderConfig"} <= set(checked)


@pytest.mark.parametrize(
    ("family", "field", "value"), [("gan", "loss", "gan"), ("stylegan", "augment", "crop")]
)
def test_a_value_outside_the_declared_choices_names_them(family, field, value):
    from huashi.core.config_fields import choices_of

    config_class = FAMILIES[family].config_class
    (declared,) = [f for f in dataclasses.fields(config_class) if f.name == field]
    choices = ", ".join(choices_of(declared))
    with pytest.raises(
        HuashiError, match=f"unknown {field} '{value}': choose --{field} from {choices}"
    ):
        config_class(**{field: value})
