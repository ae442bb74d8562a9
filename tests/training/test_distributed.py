"""Training with several processes (gloo on the CPU, two ranks spawned by the test): the same
result as one process with the same global batch, exact resume after a kill, and rank 0 the only
one that writes files."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from huashi.families import DataInfo, get_family
from huashi.training import distributed
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint
from huashi.training.loop import TrainConfig, Trainer

CPU = torch.device("cpu")
WORLD = 2


class Images:
    """Random images in [-1, 1] with the ``batch`` interface."""

    def __init__(self, n: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, 16, 16, generator=g) * 2 - 1

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: torch.Tensor) -> dict:
        return {"image": self.images[indices].clone(), "index": indices}


def make_trainer(run_dir, name: str, steps: int, callbacks=(), **train) -> Trainer:
    family_class = get_family(name)
    sizes = {"width": 8, "max_width": 16} if name == "kl-vae" else {"width": 8, "z_dim": 16}
    torch.manual_seed(0)
    family = family_class(family_class.make_config(sizes), DataInfo(3, 16), CPU)
    if name == "ae":
        # plain SGD: weights linear in the gradients, so float rounding stays float rounding
        # (Adam's first steps are ~lr * sign(g), which rounding can flip where g is ~0)
        params = family.modules["autoencoder"].parameters()
        family.optimizers["autoencoder"] = torch.optim.SGD(params, lr=0.05)
    if name == "kl-vae":
        train.setdefault("ema", 0.9)  # EMA copies too must agree across ranks and resume
    config = TrainConfig(
        steps=steps, batch_size=8, precision="fp32", channels_last=False, log_every=1,
        sample_every=1000, n_fixed=4, threads="1", **train,
    )  # fmt: skip
    return Trainer(family, Images(), config, run_dir, list(callbacks), progress=False)


def final_state(run_dir) -> dict[str, torch.Tensor]:
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))[0]


# --- what each rank runs (top-level functions, so spawn can start them) -----------------------


def watch_writes(root: str) -> None:
    """Fail on any file written under ``root`` by this process (rank 1)."""
    import huashi.training.checkpoint as checkpoint

    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event: str, args: tuple) -> None:
        changes = event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate")
        if event == "open" and args[2] is not None:
            changes = bool(args[2] & writing)
        path = str(args[0]) if args else ""
        if changes and path.startswith(root):
            raise AssertionError(f"rank 1 wrote {path} ({event})")

    sys.addaudithook(hook)

    def no_save_file(*args, **kwargs):
        raise AssertionError("rank 1 wrote a safetensors file")

    checkpoint.save_file = no_save_file  # written by Rust, out of the audit hook's sight


def ranks_job(rank: int, root: str, init_file: str, job: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        if rank == 1:
            watch_writes(root)
        if job == "train":
            # equal to one process: a deterministic GroupNorm family, accumulation included
            result = make_trainer(f"{root}/ae-2", "ae", 3, accumulate=2).run()
            assert result.step == 3 and (result.checkpoint is None) == (rank == 1)
            # a noisy family (each rank its own noise): uninterrupted, then killed after step 5
            make_trainer(f"{root}/klvae-whole", "kl-vae", 6).run()

            def kill(trainer, losses):
                if trainer.step == 5:
                    os._exit(17)  # no clean-up, no checkpoint: as if the machine died

            make_trainer(f"{root}/klvae-killed", "kl-vae", 6, [kill], checkpoint_every=3).run()
        else:  # resume the killed run
            trainer = make_trainer(f"{root}/klvae-killed", "kl-vae", 6, checkpoint_every=3)
            assert trainer.resume_latest() and trainer.step == 3
            trainer.run()
    except BaseException:
        if dist.is_initialized():
            dist.destroy_process_group()
        raise
    distributed.end_process(0)  # as `huashi train` ends under torchrun


def spawn(tmp_path, job: str) -> None:
    init_file = tmp_path / f"init-{job}"
    mp.spawn(ranks_job, args=(str(tmp_path), str(init_file), job), nprocs=WORLD, join=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    with pytest.raises(mp.ProcessExitedException, match="exit code 17"):
        spawn(root, "train")  # ends with the kill
    spawn(root, "resume")
    return root


def test_two_processes_equal_one_with_the_same_global_batch(runs, tmp_path):
    make_trainer(tmp_path / "ae-1", "ae", 3, accumulate=2).run()
    one, two = final_state(tmp_path / "ae-1"), final_state(runs / "ae-2")
    weights = [k for k in one if k.startswith("modules/")]
    assert weights and set(one) <= set(two)
    for key in weights:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-6, msg=key)
    initial = make_trainer(tmp_path / "unused", "ae", 1).family.state_tensors()[0]
    assert not torch.equal(one[weights[0]], initial[weights[0]])  # training moved the weights
    log_one = (tmp_path / "ae-1" / "log.jsonl").read_text().splitlines()
    log_two = (runs / "ae-2" / "log.jsonl").read_text().splitlines()
    assert len(log_one) == len(log_two) == 3
    for a, b in zip(log_one, log_two, strict=True):
        a, b = json.loads(a), json.loads(b)
        assert a["images_seen"] == b["images_seen"]  # the global count
        assert b["recon"] == pytest.approx(a["recon"], rel=1e-5)  # the mean over both ranks


def test_a_killed_two_process_run_resumes_exactly(runs):
    whole, resumed = final_state(runs / "klvae-whole"), final_state(runs / "klvae-killed")
    assert set(whole) == set(resumed)
    assert "rank1/rng/noise" in whole  # rank 1's own noise stream is saved
    assert not torch.equal(whole["rng/noise"], whole["rank1/rng/noise"])
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key
    meta = load_checkpoint(latest_checkpoint(runs / "klvae-whole" / "checkpoints"))[1]
    assert meta["world_size"] == 2 and meta["images_seen"] == 6 * 8


def test_resuming_with_another_number_of_processes_says_it_is_not_exact(runs, tmp_path, capsys):
    run = tmp_path / "one"
    shutil.copytree(runs / "klvae-whole", run)
    trainer = make_trainer(run, "kl-vae", 7)
    assert trainer.resume_latest() and trainer.step == 6
    assert "resumes with 1: training continues, but not bit-identically" in capsys.readouterr().out
    assert trainer.run().step == 7


def test_only_rank_0_writes_files(runs):
    # rank 1 ran under an audit hook that fails on any write below the runs folder; here: the
    # files rank 0 wrote are all there
    run = runs / "ae-2"
    assert (run / "log.jsonl").is_file() and (run / "losses.png").is_file()
    assert latest_checkpoint(run / "checkpoints").name == "step-00000003.json"


def test_rank_seeds_and_the_global_batch_split():
    assert distributed.rank_seed(5, 0) == 5  # one process draws what it always did
    seeds = {distributed.rank_seed(5, r) for r in range(4)} | {distributed.rank_seed(5, 1, 10)}
    assert len(seeds) == 5
    assert distributed.current() == distributed.Distributed()  # no process group here


def test_torchrun_huashi_train_ends_every_rank_cleanly(tmp_path):
    """The command users run: both ranks train, leave the group together and exit 0 (rank 1
    of a finished run used to abort now and then in the interpreter's finalization)."""
    import subprocess

    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "huashi", "train", "dcgan", "--data", "shapes", "--resolution", "16",
        "--data-option", "n=32", "--z-dim", "8", "--g-width", "8", "--d-width", "8",
        "--steps", "3", "--batch-size", "8", "--sample-every", "100", "--n-fixed", "4",
        "--out", str(run),
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained 3 steps") == 1  # rank 0 reports for both
    _, meta = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    assert meta["world_size"] == 2 and len(meta["rank_random"]) == 1
