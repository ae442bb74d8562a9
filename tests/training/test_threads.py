"""The CPU thread policy: --threads, the automatic count from free cores, the passive wait."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.training import device
from huashi.training.device import auto_threads, resolve_threads, set_threads
from huashi.training.loop import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def test_auto_threads_shares_the_cores_and_ignores_the_load_of_the_moment():
    assert auto_threads(2) == 2
    assert auto_threads(16, processes=2) == 8  # two ranks on one machine split the cores
    assert auto_threads(4, processes=8) == 1  # never fewer than one
    assert not hasattr(device, "cpu_load")  # results must not depend on what else runs


def test_resolve_threads(monkeypatch):
    assert resolve_threads("3") == 3
    assert resolve_threads(4) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads("auto") == 1  # the user's OpenMP setting wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(device, "cpus_available", lambda: 8)
    assert resolve_threads("auto") == 8
    assert resolve_threads(" AUTO ", processes=3) == 2
    for bad in ("0", "-1", "many", "1.5"):
        with pytest.raises(HuashiError, match="--threads must be a positive number"):
            resolve_threads(bad)


def test_set_threads_changes_torch():
    before = torch.get_num_threads()
    try:
        assert set_threads("1") == 1 and torch.get_num_threads() == 1
        assert set_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


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
