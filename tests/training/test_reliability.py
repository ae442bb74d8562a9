"""Reliability of runs: the run-folder lock, the data fingerprint and run identity, resume
changes recorded in the log, a torn log line, validation of configs and checkpoints."""

import json
import os
import shlex
import socket
import subprocess

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.training.checkpoint import load_checkpoint
from huashi.training.lock import LOCK_FILE, RunLock, read_lock
from huashi.training.logging import read_events, read_log
from huashi.training.loop import TrainingDiverged

TINY = dict(
    family="dcgan", data="shapes", resolution=16, model={"g_width": 4, "d_width": 4, "z_dim": 8},
    data_options={"n": 16}, batch_size=8, checkpoint_every=2, sample_every=100, n_fixed=4,
    log_every=1, precision="fp32", progress=False,
)  # fmt: skip


def test_a_second_trainer_is_refused_while_another_process_holds_the_run(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(["sleep", "60"])  # a live process that holds the lock
    run.mkdir()
    (run / LOCK_FILE).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
    try:
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


def test_only_rank_0_of_a_torchrun_training_takes_the_lock(tmp_path, monkeypatch):
    tmp_path.joinpath(LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    monkeypatch.setenv("RANK", "1")
    assert not RunLock(tmp_path).acquire().owned  # rank 1 joins rank 0's training
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(HuashiError, match="process 1 on elsewhere"):
        RunLock(tmp_path).acquire()


def test_two_threads_of_one_process_cannot_train_in_one_run(tmp_path):
    import threading

    errors = []
    with RunLock(tmp_path / "r"):
        thread = threading.Thread(target=lambda: errors.append(_refusal(tmp_path / "r")))
        thread.start()
        thread.join()
    assert errors and "another training of this process" in errors[0]


def _refusal(run):
    try:
        RunLock(run).acquire()
    except HuashiError as error:
        return str(error)
    return ""


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


def image_folder(folder, n=16, size=16):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:02d}.png")
    return folder


def test_a_folder_is_stored_by_absolute_path_and_changed_data_is_refused(tmp_path, monkeypatch):
    image_folder(tmp_path / "imgs")
    monkeypatch.chdir(tmp_path)
    options = {k: v for k, v in TINY.items() if k not in ("data", "data_options")}
    api.train("run", data="imgs", steps=2, **options)
    data = json.loads((tmp_path / "run" / "config.json").read_text())["data"]
    assert data["spec"] == str(tmp_path / "imgs") and data["fingerprint"]["files"] == 16
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "imgs").mkdir(parents=True)  # a different folder of the same relative name
    monkeypatch.chdir(elsewhere)
    (tmp_path / "imgs" / "img00.png").write_bytes(b"changed")
    with pytest.raises(HuashiError, match=r"changed since .*\(16 files then, 16 now"):
        api.train(tmp_path / "run", resume=True, steps=4, progress=False)
    image_folder(tmp_path / "imgs")  # the same files again
    assert api.train(tmp_path / "run", resume=True, steps=4, progress=False).step == 4
    monkeypatch.chdir(tmp_path)  # --data given again, by its relative path
    assert api.train("run", data="imgs", resume=True, steps=6, progress=False).step == 6


def test_a_checkpoint_from_another_dataset_is_refused(tmp_path):
    api.train(tmp_path / "a", steps=2, **TINY)
    api.train(tmp_path / "b", steps=4, **{**TINY, "data_options": {"n": 24}})
    for suffix in (".json", ".safetensors"):  # b's newest checkpoint copied into a
        name = "step-00000004" + suffix
        (tmp_path / "a" / "checkpoints" / name).write_bytes(
            (tmp_path / "b" / "checkpoints" / name).read_bytes()
        )
    with pytest.raises(HuashiError, match="belongs to another run"):
        api.train(tmp_path / "a", resume=True, steps=6, progress=False)


def test_resume_steps_do_not_rewrite_the_plan_and_are_logged(tmp_path):
    api.train(tmp_path, steps=4, **TINY)
    assert api.train(tmp_path, resume=True, steps=6, progress=False).step == 6
    assert json.loads((tmp_path / "config.json").read_text())["train"]["steps"] == 4
    events = read_events(tmp_path / "log.jsonl")
    assert events == [{"step": 4, "event": "resume", "changed": {"steps": [4, 6]}}]


def test_exploding_weights_stop_and_the_advice_resumes_with_new_lr_and_precision(tmp_path):
    def explode(trainer, losses):  # a huge learning rate after the step-2 checkpoint
        if trainer.step == 2:
            for optimizer in trainer.family.optimizers.values():
                optimizer.param_groups[0]["lr"] = 1e6

    with pytest.raises(TrainingDiverged) as caught:
        api.train(tmp_path, steps=6, callbacks=[explode], **{**TINY, "precision": "bf16"})
    message = str(caught.value)
    assert "diverged at step 3 (weights exploding" in message
    assert "step-00000002.json is kept" in message
    command = message.split("`")[1]
    assert command.endswith("--resume --lr 2e-05 --precision fp32")
    assert main([*shlex.split(command)[1:], "--steps", "4", "--quiet"]) == 0
    tensors, meta = load_checkpoint(tmp_path / "checkpoints" / "step-00000004.json")
    assert [g["lr"] for g in meta["optimizers"]["generator"]["param_groups"]] == [2e-5]
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model"]["lr"] == 2e-5 and saved["train"]["precision"] == "fp32"
    events = read_events(tmp_path / "log.jsonl")
    assert [e["event"] for e in events] == ["resume"]  # the divergence at step 3 was cut
    changed = {"lr": [2e-4, 2e-5], "precision": ["bf16", "fp32"], "steps": [6, 4]}
    assert events[0]["changed"] == changed


def test_a_torn_last_log_line_is_ignored_and_cut_on_resume(tmp_path):
    api.train(tmp_path, steps=2, **TINY)
    log = tmp_path / "log.jsonl"
    with log.open("a") as f:
        f.write('{"step": 3, "d_lo')
    with pytest.warns(UserWarning, match="torn last line"):
        assert [r["step"] for r in read_log(log)] == [1, 2]
    with pytest.warns(UserWarning, match="torn last line"):
        api.train(tmp_path, resume=True, steps=3, progress=False)
    assert [r["step"] for r in read_log(log)] == [1, 2, 3]
    log.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(HuashiError, match="line 2 of .* is damaged"):
        read_log(log)


def test_the_doctor_names_a_divergence_and_exploded_weights(tmp_path):
    def explode(trainer, losses):
        if trainer.step == 2:
            for optimizer in trainer.family.optimizers.values():
                optimizer.param_groups[0]["lr"] = 1e6

    with pytest.raises(TrainingDiverged):
        api.train(tmp_path, steps=6, callbacks=[explode], **TINY)
    report = api.doctor(tmp_path)
    diverged = [f for f in report.findings if f.code == "diverged"]
    assert len(diverged) == 1 and "step-00000002.json" in diverged[0].evidence
    assert "--resume --lr 2e-05 --precision fp32" in diverged[0].remedy
    assert not any(f.code == "exploded" for f in report.findings)  # the checkpoint is good
    # A checkpoint written with exploded weights (by an older huashi) is named too.
    weights = tmp_path / "checkpoints" / "step-00000002.safetensors"
    tensors = load_file(str(weights))
    key = next(k for k in tensors if k.startswith("modules/generator/") and "weight" in k)
    tensors[key] = tensors[key] * 0 + 1e34
    save_file(tensors, str(weights))
    exploded = [f for f in api.doctor(tmp_path).findings if f.code == "exploded"]
    assert len(exploded) == 1 and "1e+34" in exploded[0].evidence


def test_the_doctor_answers_for_non_gan_families(tmp_path):
    pairs, targets = image_folder(tmp_path / "in", n=8), image_folder(tmp_path / "out", n=8)
    api.train(
        tmp_path / "p2p", family="pix2pix", data=str(pairs), resolution=16, steps=2,
        data_options={"target": str(targets)}, batch_size=4, n_fixed=4, precision="fp32",
        model={"g_width": 4, "d_width": 4}, progress=False, sample_every=1,
    )  # fmt: skip
    report = api.doctor(tmp_path / "p2p")  # its GAN checks run on its own grids, no crash
    assert report.records == 1 and report.findings == []
    options = {k: v for k, v in TINY.items() if k not in ("family", "model")}
    api.train(tmp_path / "ae", family="ae", steps=2, model={"width": 4}, **options)
    summary = api.doctor(tmp_path / "ae").summary()
    assert summary.endswith(
        "no GAN checks for this family (its log has no d_loss/g_loss); no failure signs."
    )
