"""The command line end to end on tiny runs: train, interrupt, resume, sample, regenerate."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from huashi.cli import main
from huashi.core.images import read_params
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint

TINY = [
    "--data", "shapes", "--data-option", "n=64", "--resolution", "16",
    "--g-width", "4", "--d-width", "4", "--batch-size", "8", "--quiet",
    "--log-every", "1", "--sample-every", "5", "--n-fixed", "4",
]  # fmt: skip


def train(out, *extra):
    return main(["train", "dcgan", *TINY, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert train(out, "--steps", "6", "--checkpoint-every", "3") == 0
    return out


def test_train_writes_the_run_folder(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["family"] == "dcgan" and config["model"]["g_width"] == 4
    assert config["data"] == {"spec": "shapes", "resolution": 16, "options": {"n": 64}}
    assert config["train"]["steps"] == 6
    assert latest_checkpoint(run_dir / "checkpoints").name == "step-00000006.json"
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    for name in ("samples.png", "losses.png", "samples/step-00000005.png"):
        assert (run_dir / name).stat().st_size > 0


def test_sample_grid_and_per_image_pngs_carry_their_parameters(run_dir, tmp_path, capsys):
    assert (
        main(
            ["sample", str(run_dir), "--n", "5", "--seed", "7", "--out", str(tmp_path / "grid.png")]
        )
        == 0
    )
    grid = read_params(tmp_path / "grid.png")
    assert grid["seeds"] == [7, 8, 9, 10, 11] and grid["step"] == 6
    files = sorted((tmp_path / "grid").glob("*.png"))
    assert [f.name for f in files] == [f"seed-{s:06d}.png" for s in range(7, 12)]
    params = read_params(files[2])
    assert params["seed"] == 9 and params["family"] == "dcgan"
    assert params["checkpoint"] == "step-00000006.json"
    # Regenerating from the metadata gives the same pixels.
    assert main(["regenerate", str(files[2]), "--out", str(tmp_path / "again.png")]) == 0
    assert Image.open(files[2]).tobytes() == Image.open(tmp_path / "again.png").tobytes()


def test_same_seed_same_image_whatever_the_batch_size(run_dir, tmp_path):
    main(
        [
            "sample",
            str(run_dir),
            "--n",
            "4",
            "--seed",
            "3",
            "--batch-size",
            "1",
            "--out",
            str(tmp_path / "a.png"),
        ]
    )
    main(
        [
            "sample",
            str(run_dir),
            "--n",
            "2",
            "--seed",
            "5",
            "--batch-size",
            "2",
            "--out",
            str(tmp_path / "b.png"),
        ]
    )
    a = Image.open(tmp_path / "a" / "seed-000005.png").tobytes()
    assert a == Image.open(tmp_path / "b" / "seed-000005.png").tobytes()
    assert a != Image.open(tmp_path / "a" / "seed-000004.png").tobytes()


def test_training_again_into_a_finished_run_needs_resume(run_dir, capsys):
    before = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert train(run_dir, "--steps", "6") == 2
    assert "add --resume" in capsys.readouterr().err
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == before


def test_resume_with_another_configuration_is_refused(run_dir, capsys):
    assert train(run_dir, "--steps", "8", "--resume", "--beta1", "0.1") == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "beta1=0.1" in err and "Traceback" not in err


def test_resume_extends_a_run_to_more_steps(tmp_path):
    assert train(tmp_path / "r", "--steps", "4") == 0
    assert main(["resume", str(tmp_path / "r"), "--steps", "6", "--quiet"]) == 0
    _, meta = load_checkpoint(latest_checkpoint(tmp_path / "r" / "checkpoints"))
    assert meta["step"] == 6 and meta["images_seen"] == 48


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["sample", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "not a huashi run folder" in capsys.readouterr().err
    assert main(["train", "dcgan", "--data", "no-such-set", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "emoji" in err  # lists the valid names
    assert train(tmp_path / "r48", "--steps", "2", "--resolution", "48") == 2
    assert "power-of-two" in capsys.readouterr().err


def test_data_preview_writes_a_grid_and_prints_the_size(tmp_path, capsys):
    out = tmp_path / "preview.png"
    assert (
        main(
            [
                "data",
                "preview",
                "shapes",
                "--resolution",
                "32",
                "--n",
                "8",
                "--data-option",
                "n=20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "20" in capsys.readouterr().out
    assert Image.open(out).size[0] >= 4 * 32


def test_ctrl_c_saves_a_checkpoint_and_resume_equals_the_uninterrupted_run(tmp_path):
    """A real process gets SIGINT mid-run; `huashi resume` then finishes it, and the weights equal
    those of a run that was never interrupted."""
    env = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    args = [
        "train",
        "dcgan",
        *TINY,
        "--steps",
        "40",
        "--checkpoint-every",
        "1000",
        "--keep-last",
        "0",
    ]
    command = [sys.executable, "-m", "huashi", *args]
    process = subprocess.Popen(
        [*command, "--out", str(tmp_path / "stopped")], env=env, stderr=subprocess.PIPE, text=True
    )
    log = tmp_path / "stopped" / "log.jsonl"
    deadline = time.time() + 120
    while (
        process.poll() is None
        and time.time() < deadline
        and not (log.exists() and len(log.read_text().splitlines()) >= 3)
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "huashi resume" in err
    stopped_at = load_checkpoint(latest_checkpoint(tmp_path / "stopped" / "checkpoints"))[1]["step"]
    assert 3 <= stopped_at < 40
    assert main(["resume", str(tmp_path / "stopped"), "--quiet"]) == 0
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    a, _ = load_checkpoint(latest_checkpoint(tmp_path / "stopped" / "checkpoints"))
    b, _ = load_checkpoint(latest_checkpoint(tmp_path / "straight" / "checkpoints"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_quiet_commands_print_nothing(tmp_path, capsys):
    """--quiet silences the progress and the closing lines; without it the closing line names
    what was written."""
    run = str(tmp_path / "r")
    assert main(["train", "dcgan", "--out", run, "--steps", "2", *TINY]) == 0
    out = str(tmp_path / "grid.png")
    capsys.readouterr()
    assert main(["sample", run, "--n", "2", "--out", out, "--quiet"]) == 0
    again = str(tmp_path / "again.png")
    assert main(["regenerate", str(tmp_path / "grid" / "seed-000000.png"), "--out", again,
                 "--quiet"]) == 0  # fmt: skip
    assert main(["resume", run, "--steps", "3", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["sample", run, "--n", "2", "--out", out]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
