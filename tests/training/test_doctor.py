"""The training doctor (G9): fires on planted failures, stays quiet on healthy training, and the
CLI end to end (train with the doctor watching, `huashi doctor`, `huashi sample --label`)."""

import dataclasses
import io
import json
import math
import random

import numpy as np
import pytest
import torch
from gan_fakes import Squares

from huashi.cli import main
from huashi.core.images import read_params
from huashi.families import DataInfo
from huashi.families.gan import GAN, GANConfig
from huashi.training.doctor import DoctorCallback, diagnose
from huashi.training.loop import TrainConfig, Trainer

CPU = torch.device("cpu")


def synthetic_log(n: int = 40, seed: int = 0, **planted) -> list[dict]:
    """A healthy GAN log (flat curves with 5% noise); ``planted`` maps keys to functions of the
    progress t in [0, 1] that replace the healthy series (with 1% noise)."""
    rng = random.Random(seed)
    healthy = {
        "d_loss": lambda t: 1.2, "g_loss": lambda t: 0.9, "d_real": lambda t: 0.6,
        "d_fake": lambda t: 0.4, "d_grad_norm": lambda t: 2.0, "g_grad_norm": lambda t: 1.0,
        "diversity": lambda t: 0.5, "data_diversity": lambda t: 0.7,
    }  # fmt: skip
    records = []
    for i in range(n):
        t = i / (n - 1)
        record = {"step": 10 * (i + 1)}
        for key, f in (healthy | planted).items():
            noise = 0.01 if key in planted else 0.05
            record[key] = f(t) * (1 + noise * rng.uniform(-1, 1))
        records.append(record)
    return records


def gan_config(**options) -> dict:
    """A gan run's config as the doctor reads it (the family's config and the precision)."""
    return {**dataclasses.asdict(GANConfig(**options)), "precision": "fp32"}


def codes(records, loss="nsgan") -> set[str]:
    return {finding.code for finding in diagnose(records, gan_config(loss=loss))}


def test_quiet_on_a_healthy_log():
    for seed in range(5):
        assert codes(synthetic_log(seed=seed)) == set()
        assert codes(synthetic_log(seed=seed), "hinge") == set()


@pytest.mark.parametrize(
    "planted, expected",
    [
        ({"d_loss": lambda t: 1.2 * math.exp(-12 * t)}, "d_collapse"),
        ({"g_loss": lambda t: 2.0 - 1.5 * t, "d_loss": lambda t: 0.8 + 0.8 * t}, "d_not_working"),
        (
            {
                "d_real": lambda t: 0.6 + 0.399 * min(1, 3 * t),
                "d_fake": lambda t: 0.4 * max(0.002, 1 - 3 * t),
            },
            "saturated",
        ),  # fmt: skip
        ({"d_grad_norm": lambda t: 2.0 * 10 ** (4 * t)}, "exploding"),
        ({"diversity": lambda t: 0.5 * max(0.05, 1 - 2 * t)}, "mode_collapse"),
        ({"diversity": lambda t: 0.001}, "mode_collapse"),
    ],
)
def test_fires_on_each_planted_failure(planted, expected):
    findings = diagnose(synthetic_log(**planted), gan_config())
    assert {f.code for f in findings} == {expected}
    finding = findings[0]
    assert finding.evidence and finding.remedy and finding.step == 400
    assert "--" in finding.remedy  # a remedy names the option that applies it


def test_nan_is_reported_with_its_step():
    records = synthetic_log()
    records[7]["g_grad_norm"] = float("nan")
    (finding,) = diagnose(records, gan_config())
    assert finding.code == "nan" and "step 80" in finding.evidence


def test_a_wgan_critic_loss_near_zero_is_not_a_collapse():
    records = synthetic_log(d_loss=lambda t: 0.001 * (1 - t))
    assert codes(records, "nsgan") == {"d_collapse"}
    assert codes(records, "wgan-gp") == set()


def test_the_opening_of_the_game_is_not_a_weak_d():
    # every step logged, as the live doctor sees it: D wins the first steps, then G catches up
    # (emoji-gan-10min at seed 2 logged g_loss 3.2 -> 1.9, d_loss 0.71 -> 1.18 over steps 36-70)
    opening = {"g_loss": lambda t: 4.5 - 2.6 * t, "d_loss": lambda t: 0.24 + 0.94 * t}
    records = synthetic_log(70, **opening)
    for i, record in enumerate(records):
        record["step"] = i + 1
    assert codes(records) == set()
    for record in records:  # the same trend later in the run is D falling behind
        record["step"] += 1000
    assert codes(records) == {"d_not_working"}


def test_a_problem_the_run_recovered_from_is_not_reported():
    records = synthetic_log(60, diversity=lambda t: 0.5 if t > 0.5 else 0.001)
    assert codes(records) == set()
    assert codes(records[:25]) == {"mode_collapse"}


def run_tiny(tmp_path, name, steps=40, constant_g=False, **options):
    torch.manual_seed(0)
    data = DataInfo(3, 16, 3, ("red", "green", "blue"), True)
    gan = GAN(GANConfig(g_width=8, d_width=8, z_dim=16, **options), data, CPU)
    if constant_g:  # a G whose output is constant whatever z is
        gan.modules["generator"].register_forward_hook(lambda m, i, out: out * 0 + 0.5)
    config = TrainConfig(steps=steps, batch_size=16, n_fixed=4, sample_every=1000,
                         checkpoint_every=1000, log_every=1, precision="fp32")  # fmt: skip
    trainer = Trainer(gan, Squares(48), config, tmp_path / name, progress=False)
    doctors = [c for c in trainer.callbacks if isinstance(c, DoctorCallback)]
    assert len(doctors) == 1  # every GAN run is watched
    doctors[0].stream = io.StringIO()
    trainer.run()
    return set(doctors[0].reported), doctors[0].stream.getvalue()


def test_fires_in_real_runs_with_planted_failures_and_stays_quiet_otherwise(tmp_path):
    found, printed = run_tiny(tmp_path, "lr-d-100x", lr_d=2e-2, spectral_norm=True)
    assert "d_collapse" in found and "mode_collapse" not in found
    assert printed.count("[d_collapse]") == 1  # printed once, when it first appears
    # the remedy is the live run's: its own D learning rate, and not the spectral norm it has
    assert "lower --lr-d from 0.02 to 0.01" in printed and "--spectral-norm" not in printed
    found, printed = run_tiny(tmp_path, "constant-g", constant_g=True)
    assert "mode_collapse" in found and "Remedy" in printed
    found, printed = run_tiny(tmp_path, "healthy")
    assert found == set() and printed == ""


def test_cli_train_doctor_and_conditional_sample(tmp_path, monkeypatch, capsys):
    import huashi.data

    monkeypatch.setattr(
        huashi.data, "load_dataset", lambda spec, resolution, **kw: Squares(32, resolution),
        raising=False,
    )  # fmt: skip
    run = tmp_path / "run"
    args = ["train", "gan", "--data", "squares", "--resolution", "16", "--out", str(run),
            "--steps", "30", "--batch-size", "8", "--g-width", "4", "--d-width", "4",
            "--z-dim", "8", "--condition", "class", "--diffaugment",
            "translation", "--quiet", "--precision", "fp32", "--log-every", "1",
            "--sample-every", "100", "--n-fixed", "4"]  # fmt: skip
    assert main(args) == 0
    assert main(["doctor", str(run)]) == 0
    assert "30 log records, steps 1-30" in capsys.readouterr().out
    # the doctor of a run whose log shows D winning outright (a planted log)
    planted = synthetic_log(d_loss=lambda t: 1.2 * math.exp(-12 * t))
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in planted))
    assert main(["doctor", str(run)]) == 0
    out = capsys.readouterr().out
    assert "1 failure sign(s)" in out and "D loss collapsed to ~0" in out
    assert "Remedy: D wins too easily: lower --lr-d from 2e-4 to 1e-4" in out
    # built from the run's config.json: it already uses --diffaugment translation
    assert "already --diffaugment translation: add color and cutout" in out
    assert "(--diffaugment color,translation,cutout)" not in out
    assert "--precision fp32" not in out  # it trained in fp32

    grid = tmp_path / "label2.png"
    assert main(["sample", str(run), "--n", "3", "--label", "2", "--out", str(grid)]) == 0
    params = read_params(grid)
    assert params["options"] == {"label": 2} and params["seeds"] == [0, 1, 2]
    single = grid.parent / grid.stem / "seed-000001.png"
    again = tmp_path / "again.png"
    assert main(["regenerate", str(single), "--out", str(again)]) == 0
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(single)))

    capsys.readouterr()
    assert main(["sample", str(run), "--label", "7", "--out", str(tmp_path / "x.png")]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["sample", str(run), "--prompt", "a red square", "--out", str(grid)]) == 2
    assert "use --label" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse knows the choices (exit status 2)
        main(["train", "gan", "--data", "squares", "--out", str(tmp_path / "b"),
              "--loss", "gan"])  # fmt: skip
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--loss: invalid choice: 'gan'" in err
    assert all(name in err for name in ("hinge", "bce", "nsgan", "wgan-gp", "lsgan"))


@pytest.mark.parametrize("channels, n", [(3, 16), (1, 6)])
def test_grid_diversity_reads_the_tiles_of_a_progress_grid(tmp_path, channels, n):
    from huashi.core.images import save_grid, to_uint8
    from huashi.families.gan import mean_pairwise_distance
    from huashi.training.doctor import grid_diversity

    images = torch.rand(n, channels, 8, 8) * 2 - 1
    save_grid(images, tmp_path / "grid.png")
    quantized = to_uint8(images).double() / 127.5 - 1
    expected = mean_pairwise_distance(quantized)
    assert grid_diversity(tmp_path / "grid.png", 8, n) == pytest.approx(expected, rel=1e-6)
    save_grid(images[:1].expand(n, -1, -1, -1), tmp_path / "same.png")
    assert grid_diversity(tmp_path / "same.png", 8, n) == pytest.approx(0.0, abs=1e-6)


def test_fixed_seed_diversity_collapse():
    healthy = synthetic_log()
    falling = [(100, 0.4), (200, 0.45), (300, 0.3), (400, 0.05)]
    assert codes(healthy) == set()
    findings = diagnose(healthy, gan_config(), falling)
    assert [f.code for f in findings] == ["mode_collapse"] and "step 400" in findings[0].evidence
    assert diagnose(healthy, gan_config(), [(100, 0.4), (200, 0.45), (300, 0.35)]) == []
    # a constant G: nothing to fall from, but nearly zero against the data's diversity
    assert codes(healthy[:20], "nsgan") == set()
    assert [f.code for f in diagnose(healthy, gan_config(), [(1, 0.0), (2, 0.0), (3, 0.0)])] == [
        "mode_collapse"
    ]
