"""kill -9 at random moments after the first checkpoint, then resume: the result equals an
uninterrupted run bit for bit (weights, EMA, optimizer states, logged losses)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from huashi import api
from huashi.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from huashi.training.logging import read_log

STEPS = 60
EVERY = 10
FLAGS = [
    "train", "dcgan", "--data", "shapes", "--data-option", "n=16", "--resolution", "16",
    "--steps", str(STEPS), "--batch-size", "8", "--checkpoint-every", str(EVERY), "--sample-every",
    "1000", "--n-fixed", "4", "--log-every", "1", "--precision", "fp32", "--ema", "0.9",
    "--g-width", "4", "--d-width", "4", "--z-dim", "8", "--quiet",
]  # fmt: skip


def train_in_subprocess(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "huashi", *FLAGS, "--out", str(out)], env=env)


def metrics(run: Path) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k != "train_seconds"} for r in read_log(run / "log.jsonl")
    ]


def test_kill_9_after_a_checkpoint_then_resume_is_bit_identical(tmp_path):
    straight = tmp_path / "straight"  # the same run, uninterrupted, in this process
    api.train(
        straight, family="dcgan", data="shapes", data_options={"n": 16}, resolution=16,
        steps=STEPS, batch_size=8, checkpoint_every=EVERY, sample_every=1000, n_fixed=4,
        log_every=1, precision="fp32", ema=0.9, model={"g_width": 4, "d_width": 4, "z_dim": 8},
        progress=False,
    )  # fmt: skip
    final, _ = load_checkpoint(latest_checkpoint(straight / "checkpoints"))
    rng = random.Random(0)
    for attempt in range(2):
        run = tmp_path / f"killed-{attempt}"
        process = train_in_subprocess(run)
        while not list_checkpoints(run / "checkpoints") and process.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))  # a random moment after the first checkpoint
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL, "the run finished before it was killed"
        killed_at = int(latest_checkpoint(run / "checkpoints").stem.removeprefix("step-"))
        assert EVERY <= killed_at < STEPS
        result = api.train(run, resume=True, progress=False)  # takes over the stale lock
        assert result.step == STEPS
        tensors, meta = load_checkpoint(latest_checkpoint(run / "checkpoints"))
        assert meta["step"] == STEPS and tensors.keys() == final.keys()
        for key, value in final.items():
            if not key.startswith("rng/"):
                assert torch.equal(value, tensors[key]), (attempt, key)
        assert metrics(run) == metrics(straight)
