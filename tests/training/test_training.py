"""The shared training machinery: exact resume, checkpoints, accumulation, EMA, NaN stop."""

import json

import pytest
import torch
from fakes import FakeImages
from torch import nn

from huashi.core.errors import HuashiError
from huashi.families import DataInfo, StepContext
from huashi.families.dcgan import DCGAN, DCGANFamilyConfig
from huashi.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from huashi.training.ema import EMA
from huashi.training.loop import TrainConfig, Trainer, TrainingDiverged, lr_factor

CPU = torch.device("cpu")


def make_trainer(run_dir, steps, stop_at=None, width=4, ema=0.0, precision="fp32", **options):
    torch.manual_seed(0)
    family = DCGAN(DCGANFamilyConfig(g_width=width, d_width=width), DataInfo(3, 16), CPU)
    config = TrainConfig(
        steps=steps, batch_size=8, checkpoint_every=3, sample_every=4, n_fixed=4, log_every=1,
        ema=ema, precision=precision, **options,
    )  # fmt: skip
    callbacks = [lambda t, losses: t.request_stop() if t.step == stop_at else None]
    return Trainer(family, FakeImages(), config, run_dir, callbacks, progress=False)


def weights(trainer):
    tensors, _ = trainer.family.state_tensors()
    return tensors


def log_without_times(run_dir):
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "train_seconds"} for r in records]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_interrupted_and_resumed_run_equals_the_uninterrupted_run(tmp_path, precision):
    straight = make_trainer(tmp_path / "a", 11, ema=0.9, precision=precision)
    straight.run()
    first = make_trainer(tmp_path / "b", 11, stop_at=5, ema=0.9, precision=precision)
    result = first.run()
    assert result.interrupted and result.step == 5
    assert latest_checkpoint(tmp_path / "b" / "checkpoints").name == "step-00000005.json"
    resumed = make_trainer(tmp_path / "b", 11, ema=0.9, precision=precision)
    assert resumed.resume_latest() and resumed.step == 5
    resumed.run()
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for key in a:  # weights, EMA and optimizer moments, bit for bit
        assert torch.equal(a[key], b[key]), key
    assert log_without_times(tmp_path / "a") == log_without_times(tmp_path / "b")


def test_resume_from_a_periodic_checkpoint_after_a_hard_kill(tmp_path):
    """A killed run loses the steps after its last checkpoint, then replays them exactly."""
    straight = make_trainer(tmp_path / "a", 8)
    straight.run()
    killed = make_trainer(tmp_path / "b", 8)
    killed.config.steps = 7  # "killed" after step 7: the newest checkpoint is step 6
    killed.run()
    for path in list_checkpoints(tmp_path / "b" / "checkpoints"):
        if path.name.startswith("step-00000007"):
            path.unlink()
    resumed = make_trainer(tmp_path / "b", 8)
    resumed.resume_latest()
    assert resumed.step == 6
    resumed.run()
    for key, value in weights(straight).items():
        assert torch.equal(value, weights(resumed)[key]), key


def test_checkpoint_round_trip_and_keep_last(tmp_path):
    trainer = make_trainer(tmp_path, 10, keep_last=2)
    trainer.run()
    names = [p.name for p in list_checkpoints(tmp_path / "checkpoints")]
    assert names == ["step-00000009.json", "step-00000010.json"]
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))
    tensors, meta = load_checkpoint(tmp_path / "checkpoints" / "step-00000010.json")
    assert meta["step"] == 10 and meta["images_seen"] == 80
    fresh = make_trainer(tmp_path / "other", 10)
    fresh.restore(tmp_path / "checkpoints" / "step-00000010.json")
    for key, value in weights(trainer).items():
        assert torch.equal(value, weights(fresh)[key]), key
    # Optimizer state (Adam moments and step counts) came back too.
    saved = trainer.family.optimizers["generator"].state_dict()["state"]
    loaded = fresh.family.optimizers["generator"].state_dict()["state"]
    assert torch.equal(saved[0]["exp_avg_sq"], loaded[0]["exp_avg_sq"])
    assert float(saved[0]["step"]) == float(loaded[0]["step"]) == 10


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    make_trainer(tmp_path, 3).run()
    weights_file = tmp_path / "checkpoints" / "step-00000003.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:1000])
    with pytest.raises(HuashiError, match="damaged or truncated"):
        load_checkpoint(tmp_path / "checkpoints" / "step-00000003.json")


def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    make_trainer(tmp_path, 3, width=4).run()
    wider = make_trainer(tmp_path / "wide", 3, width=8)
    with pytest.raises(HuashiError, match="another model"):
        wider.restore(tmp_path / "checkpoints" / "step-00000003.json")
    tensors, meta = load_checkpoint(tmp_path / "checkpoints" / "step-00000003.json")
    with pytest.raises(HuashiError, match="belongs to a 'vae' model"):
        wider.family.load_state_tensors(tensors, meta | {"family": "vae"})


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, 20)

    def poison(t, losses):
        if t.step == 4:
            t.dataset.poisoned = True

    trainer.callbacks.append(poison)
    with pytest.raises(TrainingDiverged, match="diverged at step 5.*step-00000003.json is kept"):
        trainer.run()
    good = tmp_path / "checkpoints" / "step-00000003.json"
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == [good.name]
    tensors, _ = load_checkpoint(good)
    assert all(torch.isfinite(t.float()).all() for t in tensors.values())


def test_gradient_accumulation_matches_the_full_batch_gradient():
    torch.manual_seed(0)
    model = nn.Linear(5, 1)
    batch = {"image": torch.randn(8, 5), "index": torch.arange(8)}

    def loss_fn(chunk):
        loss = model(chunk["image"]).pow(2).mean()
        return loss, {"loss": loss.item()}

    ctx = StepContext(0, CPU, "fp32", 4, torch.Generator())
    logged = ctx.backward(batch, loss_fn)
    accumulated = model.weight.grad.clone()
    model.zero_grad()
    full = model(batch["image"]).pow(2).mean()
    full.backward()
    torch.testing.assert_close(accumulated, model.weight.grad)
    assert logged["loss"] == pytest.approx(full.item(), rel=1e-5)
    with pytest.raises(HuashiError, match="does not split"):
        StepContext(0, CPU, "fp32", 3, torch.Generator()).backward(batch, loss_fn)


def test_an_update_with_a_frozen_critic_gives_the_generator_the_same_gradient():
    torch.manual_seed(0)
    generator, critic = nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    critic[0].bias.requires_grad_(False)  # frozen before the update: stays frozen after it
    batch = {"image": torch.randn(6, 3)}
    ctx = StepContext(0, CPU, "fp32", 1, torch.Generator())
    optimizer = torch.optim.SGD(generator.parameters(), lr=0.0)

    def loss_fn(chunk):
        return critic(generator(chunk["image"])).pow(2).mean(), {}

    ctx.update(optimizer, batch, loss_fn)
    expected = generator.weight.grad.clone()
    critic.zero_grad(set_to_none=True)
    ctx.update(optimizer, batch, loss_fn, frozen=[critic])
    torch.testing.assert_close(generator.weight.grad, expected, rtol=0, atol=0)
    assert all(p.grad is None for p in critic.parameters())
    flags = [p.requires_grad for p in critic.parameters()]
    assert flags == [True, False, True, True]


def test_bf16_autocast_switch_runs_convolutions_in_bf16():
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    assert StepContext(0, CPU, "fp32", 1, torch.Generator()).autocast().__enter__() is None
    with StepContext(0, CPU, "bf16", 1, torch.Generator()).autocast():
        assert conv(x).dtype == torch.bfloat16


def test_ema_follows_its_formula():
    live = nn.Linear(2, 2)
    ema = EMA(live, decay=0.9)
    start = ema.module.weight.detach().clone()
    with torch.no_grad():
        live.weight.add_(1.0)
    ema.update(live)
    torch.testing.assert_close(ema.module.weight, 0.9 * start + 0.1 * live.weight.detach())
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_progress_outputs_are_written(tmp_path):
    make_trainer(tmp_path, 8).run()
    assert (tmp_path / "samples" / "step-00000004.png").exists()
    assert (tmp_path / "samples.png").exists() and (tmp_path / "losses.png").exists()
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 9))
    assert {"d_loss", "g_loss", "images_seen", "train_seconds"} <= records[-1].keys()


def test_batch_larger_than_dataset_is_a_clear_error(tmp_path):
    family = DCGAN(DCGANFamilyConfig(g_width=4, d_width=4), DataInfo(3, 16), CPU)
    with pytest.raises(HuashiError, match="fewer than the batch size"):
        Trainer(family, FakeImages(n=5), TrainConfig(batch_size=8), tmp_path)


def test_missing_tensorboard_names_the_extra_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    trainer = make_trainer(tmp_path, 2, tensorboard=True)
    with pytest.raises(HuashiError, match=r"huashi\[tensorboard\]"):
        trainer.run()


def test_asking_for_a_missing_accelerator_is_a_clear_error():
    from huashi.training.device import pick_device

    if not torch.cuda.is_available():
        with pytest.raises(HuashiError, match="--device cpu"):
            pick_device("cuda")
    assert pick_device("cpu") == CPU


def test_lr_decay_is_linear_over_the_last_fraction_of_the_steps():
    assert [lr_factor(s, 10, 0.0) for s in range(10)] == [1.0] * 10
    expected = [1.0] * 5 + [5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6]
    assert [lr_factor(s, 10, 0.5) for s in range(10)] == pytest.approx(expected)


def test_lr_decay_sets_every_optimizer_and_survives_a_resume(tmp_path):
    seen = []

    def record(trainer, losses):
        opts = trainer.family.optimizers
        seen.append({name: opt.param_groups[0]["lr"] for name, opt in opts.items()})

    straight = make_trainer(tmp_path / "a", 8, lr_decay=0.5)
    straight.callbacks.append(record)
    straight.run()
    factors = [lr_factor(s, 8, 0.5) for s in range(8)]
    assert factors[-1] < 1.0
    for lrs, factor in zip(seen, factors, strict=True):  # lr 2e-4 for both networks
        assert lrs == pytest.approx({"generator": 2e-4 * factor, "discriminator": 2e-4 * factor})
    make_trainer(tmp_path / "b", 8, stop_at=6, lr_decay=0.5).run()  # stops inside the decay
    resumed = make_trainer(tmp_path / "b", 8, lr_decay=0.5)
    assert resumed.resume_latest() and resumed.step == 6
    resumed.run()
    a, b = weights(straight), weights(resumed)
    for key in a:
        assert torch.equal(a[key], b[key]), key
