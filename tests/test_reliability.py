"""Reliability of runs: the run-folder lock, the data fingerprint and run identity, resume
changes recorded in the log, a torn log line, validation of configs and checkpoints."""

import json
import os
import socket
import subprocess
import sys

import pytest

from huashi import api
from huashi.errors import HuashiError
from huashi.training.lock import LOCK_FILE, RunLock, read_lock

TINY = dict(
    family="dcgan", data="shapes", resolution=16, model={"g_width": 4, "d_width": 4, "z_dim": 8},
    data_options={"n": 16}, batch_size=8, checkpoint_every=2, sample_every=100, n_fixed=4,
    log_every=1, precision="fp32", progress=False,
)  # fmt: skip


def test_a_second_trainer_is_refused_while_another_process_holds_the_run(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom huashi.training.lock import RunLock\n"
         f"with RunLock({str(run)!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert read_lock(run)["pid"] == holder.pid
        with pytest.raises(HuashiError, match=f"process {holder.pid} on .* is training in it"):
            api.train(run, steps=2, **TINY)
        assert not (run / "config.json").exists()  # refused before writing anything
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed without releasing: its lock is stale and taken over.
    assert read_lock(run)["pid"] == holder.pid
    result = api.train(run, steps=2, **TINY)
    assert result.step == 2 and not (run / LOCK_FILE).exists()


def test_a_lock_from_another_host_is_not_taken_over(tmp_path):
    tmp_path.joinpath(LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(HuashiError, match="process 1 on elsewhere"):
        RunLock(tmp_path).acquire()


def test_the_lock_is_reentrant_in_one_process_and_released(tmp_path):
    with RunLock(tmp_path / "r") as outer:
        assert read_lock(tmp_path / "r")["host"] == socket.gethostname()
        with RunLock(tmp_path / "r"):
            pass
        assert read_lock(tmp_path / "r")["pid"] == os.getpid()  # the inner one left it
        assert outer.owned
    assert read_lock(tmp_path / "r") is None
    assert not (tmp_path / "r").exists()  # an empty folder it made is removed again
