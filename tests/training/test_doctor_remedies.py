"""The doctor's remedies are built from the run's config: a setting the run already uses is never
proposed again (a stronger dose of it is, or nothing), every proposal is a valid config, and a
run with the defaults still gets the classic remedies."""

import dataclasses
import re

import pytest

from huashi.augment.diffaugment import AUGMENTS
from huashi.families.dcgan import DCGANFamilyConfig
from huashi.families.gan import GANConfig
from huashi.losses.gan import LOSSES
from huashi.training import doctor
from huashi.training.doctor import remedies, remedy, suggestions

CODES = ("nan", "d_collapse", "d_not_working", "saturated", "exploding", "mode_collapse")
SMALL_DATA = {"loss": "hinge", "spectral_norm": True, "d_norm": "none",
              "diffaugment": "color,translation,cutout"}  # fmt: skip
KIT = {"label_smoothing": True, "instance_noise": 0.1, "diffaugment": "color,translation",
       "label_flip": 0.05, "r1_weight": 1.0, "d_norm": "instance", "d_optimizer": "sgd"}  # fmt: skip


def gan_config(precision="auto", **options) -> dict:
    return {**dataclasses.asdict(GANConfig(**options)), "precision": precision}


BASES = [
    gan_config(),
    gan_config("fp32", **SMALL_DATA),
    gan_config("bf16", **KIT),
    gan_config(loss="bce", d_norm="batch"),
    gan_config(loss="wgan-gp", lr_d=1e-4, ada_target=0.6, diffaugment="translation,cutout"),
    gan_config(loss="lsgan", arch="resnet", label_smoothing=True, real_label_range=(0.6, 1.1)),
]


def family_options(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "precision"}


def proposes(text: str, key: str, value) -> bool:
    """Whether ``text`` proposes ``key`` = ``value`` (not: "already --x", "drop --x",
    "without --x and --y")."""
    if value is False:
        return False
    flag = re.escape(remedies._settings_text({key: value}))
    not_after = "(?<!already )(?<!drop )(?<!without )(?<!and )"
    return re.search(rf"{not_after}{flag}(?![\w.,-])", text) is not None


def test_the_remedies_know_the_losses_and_policies_the_gan_family_has():
    assert set(doctor.LABEL_LOSSES) == {name for name, (_, _, labels) in LOSSES.items() if labels}
    assert set(doctor.AUGMENT_ORDER) == set(AUGMENTS)


@pytest.mark.parametrize("code", CODES)
def test_a_setting_in_use_is_never_proposed_again(code):
    for base in BASES:
        for text, settings in suggestions(code, base):
            assert text in remedy(code, base)
            # never the setting in use, and always a valid config of the family
            assert all(base.get(key) != value for key, value in settings.items()), (code, text)
            GANConfig(**family_options(base | settings))
            # a run that already uses it is not told to use it again
            using = base | settings
            again = remedy(code, using)
            for key, value in settings.items():
                assert not proposes(again, key, value), (code, text, again)
            for _, new in suggestions(code, using):
                assert all(using.get(key) != value for key, value in new.items()), (code, new)


def test_the_defaults_still_get_the_classic_remedies():
    base = gan_config()
    d_collapse = remedy("d_collapse", base)
    for flag in ("--lr-d from 2e-4 to 1e-4", "(--label-smoothing)", "(--instance-noise 0.1)",
                 "(--diffaugment color,translation,cutout)", "(--spectral-norm)"):  # fmt: skip
        assert flag in d_collapse
    assert "--loss hinge --spectral-norm" in remedy("mode_collapse", base)
    assert "(--label-flip 0.05)" in remedy("mode_collapse", base)
    assert "--d-steps from 1 to 2" in remedy("d_not_working", base)
    assert "raise --lr-d from 2e-4 to 4e-4" in remedy("d_not_working", base)
    for code in ("nan", "exploding"):
        text = remedy(code, base)
        assert "--lr-g from 2e-4 to 1e-4 and --lr-d from 2e-4 to 1e-4" in text
        assert "--precision fp32" in text and "(--r1-weight 1)" in text
    assert "not bf16" in remedy("nan", gan_config("bf16"))
    assert "--precision" not in remedy("nan", gan_config("fp32"))


def test_the_issue_cases():
    # saturated under nsgan proposed --loss nsgan, the loss already in use
    assert "--loss nsgan" not in remedy("saturated", gan_config())
    assert "(--loss hinge)" in remedy("saturated", gan_config())
    assert "(--loss nsgan)" in remedy("saturated", gan_config(loss="bce"))
    # the small-data recipe collapsed: nothing it already uses comes back
    text = remedy("mode_collapse", gan_config(**SMALL_DATA))
    assert "--spectral-norm" not in text and "--loss hinge" not in text
    assert "already --diffaugment color,translation,cutout: add adaptive augmentation" in text
    assert "--label-flip" not in text  # hinge has no labels to flip
    text = remedy("d_collapse", gan_config(spectral_norm=True, diffaugment="color,translation"))
    assert "--spectral-norm" not in text
    assert "already --diffaugment color,translation: add cutout" in text


def test_a_setting_in_use_gets_a_stronger_dose():
    kit = gan_config(**KIT)
    text = remedy("d_collapse", kit | {"lr_d": 1e-4})
    assert "lower --lr-d from 1e-4 to 5e-5" in text
    assert "widen --real-label-range from [0.7, 1.2] to [0.6, 1.2]" in text
    assert "--instance-noise-steps from 2000 to 4000" in text
    assert "raise --label-flip from 0.05 to 0.1" in remedy("mode_collapse", kit)
    assert "raise the R1 penalty (--r1-weight from 1 to 2)" in remedy("exploding", kit)
    wgan = gan_config(loss="wgan-gp")
    assert "--gp-weight from 10 to 20" in remedy("exploding", wgan)
    assert "WGAN-GP" not in remedy("mode_collapse", wgan)
    # what handicaps D is named only when the run uses it
    assert "drop --label-smoothing" in remedy("d_not_working", kit)
    assert "(--d-optimizer adam)" in remedy("d_not_working", kit)
    assert "drop" not in remedy("d_not_working", gan_config())
    assert "instance-noise" not in remedy("d_not_working", gan_config())


def test_a_label_free_loss_switches_the_label_tricks_off_with_it():
    settings = dict(suggestions("saturated", gan_config(**KIT)))["the hinge loss (--loss hinge, "
                                                               "without --label-smoothing and "
                                                               "--label-flip)"]  # fmt: skip
    assert settings == {"loss": "hinge", "label_smoothing": False, "label_flip": 0.0}
    text = remedy("exploding", gan_config(d_norm="batch"))
    assert "(--r1-weight 1 --d-norm instance)" in text  # penalties need D without BatchNorm


def test_a_dcgan_run_is_told_its_own_options_and_what_it_lacks():
    config = {**dataclasses.asdict(DCGANFamilyConfig()), "precision": "fp32"}
    text = remedy("d_collapse", config)
    assert text.startswith("D wins too easily: lower --lr from 2e-4 to 1e-4; ")
    assert text.endswith(
        "this family has no --label-smoothing, --instance-noise, --diffaugment or "
        "--spectral-norm (`huashi train gan` has)"
    )
    assert "--lr-d" not in remedy("d_not_working", config)  # one --lr: raising it speeds up G
