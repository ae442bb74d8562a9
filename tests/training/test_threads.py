"""The CPU thread policy: --threads, auto (a core left free, other huashi processes' claims),
the count saved with a run and reused by resume and regenerate, the passive wait."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.core.images import read_params
from huashi.training import threads
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint
from huashi.training.loop import TrainConfig
from huashi.training.threads import (
    auto_threads,
    claimed_elsewhere,
    release_threads,
    resolve_threads,
    set_threads,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(
    model={"g_width": 4, "d_width": 4, "z_dim": 8}, data_options={"n": 16}, batch_size=8,
    checkpoint_every=2, sample_every=100, n_fixed=4, log_every=1, precision="fp32",
    progress=False,
)  # fmt: skip


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A private claims registry, no OMP_NUM_THREADS, and this process's threads restored."""
    folder = tmp_path / "registry"
    monkeypatch.setenv("HUASHI_THREADS_REGISTRY", str(folder))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    yield folder
    release_threads()
    torch.set_num_threads(before)


def test_auto_leaves_a_core_free_and_takes_only_unclaimed_cores():
    assert auto_threads(1) == 1
    assert auto_threads(2) == 1  # the other core stays with the rest of the machine
    assert auto_threads(8) == 7
    assert auto_threads(8, claimed=3) == 5  # another huashi process runs 3 threads
    assert auto_threads(8, claimed=7) == 1  # never fewer than one
    assert auto_threads(2, claimed=5) == 1
    assert auto_threads(16, processes=2) == 8  # torchrun's ranks split the cores evenly
    assert auto_threads(4, processes=8) == 1
    assert not hasattr(threads, "cpu_load")  # never the load of the moment


def test_resolve_threads(monkeypatch, registry):
    assert resolve_threads("3") == 3
    assert resolve_threads(4) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads("auto") == 1  # the user's OpenMP setting wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(threads, "cpus_available", lambda: 8)
    assert resolve_threads("auto") == 7
    assert resolve_threads(" AUTO ", processes=3) == 2
    assert resolve_threads("all") == 8  # every core, for a machine nothing else uses
    for bad in ("0", "-1", "many", "1.5"):
        with pytest.raises(
            HuashiError, match="--threads must be a positive number, .auto. or .all."
        ):
            resolve_threads(bad)
    with pytest.raises(HuashiError, match="far more than the 8 cores"):
        resolve_threads("33")


def test_set_threads_changes_torch(registry):
    assert set_threads("1") == 1 and torch.get_num_threads() == 1
    assert set_threads(2) == 2 and torch.get_num_threads() == 2


CLAIMER = """
import sys, time
from huashi.training import threads
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint
threads.cpus_available = lambda: 8
print(threads.set_threads("auto", claim=True), flush=True)
sys.stdin.readline()
"""


def test_a_second_process_takes_the_cores_the_first_left(registry, monkeypatch):
    """Two huashi processes on an 8-core machine: the first claims 7 threads, the second takes
    the 1 left; once the first has gone its claim no longer counts."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(
        [sys.executable, "-c", CLAIMER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert first.stdout.readline().strip() == "7"
        assert claimed_elsewhere() == 7
        monkeypatch.setattr(threads, "cpus_available", lambda: 8)
        assert set_threads("auto", claim=True) == 1
        assert json.loads((registry / f"{os.getpid()}.json").read_text())["threads"] == 1
    finally:
        first.communicate("\n", timeout=60)
    assert claimed_elsewhere() == 0  # it released its claim on exit
    assert resolve_threads("auto") == 7
    release_threads()
    assert not (registry / f"{os.getpid()}.json").exists()


def test_claims_of_dead_or_reused_processes_and_torn_files_are_ignored(registry):
    registry.mkdir()
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    gone = int(done.stdout)
    (registry / f"{gone}.json").write_text(json.dumps({"pid": gone, "threads": 5, "started": 1}))
    parent = os.getppid()  # alive, but did not make this claim (another start time)
    (registry / f"{parent}.json").write_text(
        json.dumps({"pid": parent, "threads": 5, "started": -1})
    )
    (registry / "torn.json").write_text('{"pid": 12')
    assert claimed_elsewhere() == 0


def test_a_run_saves_its_thread_count_and_resume_reuses_it(tmp_path, registry, monkeypatch):
    """auto is resolved when the run starts and saved in config.json; a resume on a machine
    where auto would now mean something else still uses the saved count, bit-exactly."""
    monkeypatch.setattr(threads, "cpus_available", lambda: 3)
    run, straight = tmp_path / "run", tmp_path / "straight"
    api.train(run, "dcgan", "shapes", 16, steps=2, **TINY)
    assert json.loads((run / "config.json").read_text())["train"]["threads"] == "2"
    api.train(straight, "dcgan", "shapes", 16, steps=4, **TINY)
    monkeypatch.setattr(threads, "cpus_available", lambda: 1)  # auto would now be 1
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same count: nothing to warn about
        api.train(run, resume=True, steps=4, progress=False)
    assert torch.get_num_threads() == 2
    assert json.loads((run / "config.json").read_text())["train"]["threads"] == "2"
    (a, _), (b, _) = (
        load_checkpoint(latest_checkpoint(f / "checkpoints")) for f in (run, straight)
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.warns(UserWarning, match="not bit-identical to one that never stopped"):
        api.train(run, resume=True, steps=5, progress=False, threads="1")
    assert torch.get_num_threads() == 1


def test_resume_has_a_threads_flag(tmp_path, registry, capsys):
    run = tmp_path / "run"
    api.train(run, "dcgan", "shapes", 16, steps=2, threads="1", **TINY)
    assert main(["resume", str(run), "--steps", "3", "--threads", "zero", "--quiet"]) == 2
    assert "--threads must be a positive number" in capsys.readouterr().err


def test_a_painted_png_records_its_threads_and_regenerate_paints_with_them(tmp_path, registry):
    run = tmp_path / "run"
    api.train(run, "dcgan", "shapes", 16, steps=2, threads="1", **TINY)
    torch.set_num_threads(2)
    result = api.sample(run, n=2, seed=5, out=tmp_path / "grid.png")
    assert read_params(result.files[1])["threads"] == 2
    torch.set_num_threads(1)
    again = api.regenerate(result.files[1], tmp_path / "again.png")
    assert torch.get_num_threads() == 2
    assert again.read_bytes() != b"" and read_params(again)["threads"] == 2
    from PIL import Image

    assert Image.open(again).tobytes() == Image.open(result.files[1]).tobytes()


def test_threads_is_a_training_option_and_a_sampling_flag(tmp_path, capsys):
    assert TrainConfig().threads == "auto"
    assert "threads" in TrainConfig.RESUMABLE_CHANGES  # speed only: may change on resume
    for command in ("sample", "paint"):
        assert main([command, str(tmp_path / "no-run"), "--threads", "zero"]) == 2
        assert "--threads must be a positive number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("preset", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")], ids=["default", "user"]
)
def test_importing_huashi_sets_a_passive_wait_policy(preset, expected):
    """OpenMP reads OMP_WAIT_POLICY when torch loads it, so huashi sets it on import (before
    any torch import); a value the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    env["PYTHONPATH"] = str(ROOT)
    code = "import sys, os, huashi; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == [expected, "False"]  # set before torch was imported


def test_a_training_says_how_many_threads_it_uses_and_how_to_take_more(monkeypatch):
    monkeypatch.setattr(threads, "cpus_available", lambda: 2)
    assert threads.threads_line(1).startswith("1 CPU thread of 2 cores (auto leaves")
    assert "--threads all" in threads.threads_line(1)
    assert threads.threads_line(2) == "2 CPU threads of 2 cores"
