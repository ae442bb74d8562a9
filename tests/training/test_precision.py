"""``--precision auto``: bf16 only where the hardware computes it fast."""

from pathlib import Path

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.training import device as device_module
from huashi.training.device import adam, autocast, gradient_scaler, resolve_precision
from huashi.training.loop import TrainConfig

CPU = torch.device("cpu")


@pytest.mark.parametrize("fast", [True, False])
def test_auto_is_bf16_only_on_a_cpu_with_bf16_instructions(monkeypatch, fast):
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: fast)
    assert resolve_precision("auto", CPU) == ("bf16" if fast else "fp32")
    with autocast(CPU, "auto"):
        assert torch.is_autocast_enabled("cpu") is fast
        out = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype == (torch.bfloat16 if fast else torch.float32)
    assert resolve_precision("bf16", CPU) == "bf16"  # asked for explicitly: always honoured
    assert resolve_precision("fp32", CPU) == "fp32"


def test_the_cpu_check_reads_the_flags_and_auto_is_the_default():
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.exists() else ""
    expected = "avx512_bf16" in flags or "amx_bf16" in flags
    assert device_module.cpu_has_fast_bf16() is expected
    assert TrainConfig().precision == "auto"
    with pytest.raises(HuashiError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", CPU)


def test_compile_on_a_cpu_without_a_cpp_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXX", "")
    found = {"g++": "/usr/bin/g++"}
    monkeypatch.setattr(device_module.shutil, "which", found.get)
    device_module.check_compile(CPU)
    monkeypatch.setattr(device_module.shutil, "which", lambda name: None)
    with pytest.raises(HuashiError, match="--compile on the CPU needs a C.. compiler"):
        device_module.check_compile(CPU)
    device_module.check_compile(torch.device("cuda"))  # GPUs compile with Triton: not checked


@pytest.mark.parametrize("decoupled", [False, True])
def test_fused_adam_makes_the_updates_of_pytorchs_default_adam(decoupled):
    """The families' optimizer is PyTorch's fused Adam/AdamW on the CPU: the same parameters
    after several steps as the default (multi-tensor) implementation, up to float rounding."""
    torch.manual_seed(0)
    start = [torch.randn(5, 3), torch.randn(7)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(4)]
    results = []
    for make in (
        lambda ps: adam(ps, 1e-2, (0.5, 0.99), weight_decay=0.1, decoupled=decoupled),
        lambda ps: (torch.optim.AdamW if decoupled else torch.optim.Adam)(
            ps, lr=1e-2, betas=(0.5, 0.99), weight_decay=0.1
        ),
    ):
        params = [p.clone().requires_grad_() for p in start]
        optimizer = make(params)
        for step_grads in grads:
            for p, g in zip(params, step_grads, strict=True):
                p.grad = g.clone()
            optimizer.step()
        results.append((params, optimizer))
    (fused, fused_opt), (default, default_opt) = results
    assert fused_opt.defaults["fused"] is True and not default_opt.defaults["fused"]
    assert isinstance(fused_opt, torch.optim.AdamW) == decoupled
    for a, b in zip(fused, default, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        assert not torch.equal(a, start[0] if a.dim() == 2 else start[1])  # they moved


def test_fused_adam_resumes_exactly_with_channels_last_weights():
    """A checkpoint gives the optimizer state back contiguous; channels_last weights are not.
    The fused kernel needs one layout for both, or it mixes up elements (PyTorch 2.14)."""
    weight = torch.randn(8, 4, 4, 4).contiguous(memory_format=torch.channels_last)
    grads = [
        torch.randn(8, 4, 4, 4).contiguous(memory_format=torch.channels_last) for _ in range(6)
    ]

    def train(resume_at: int | None) -> torch.Tensor:
        p = weight.clone().requires_grad_()
        optimizer = adam([p], 1e-2)
        for i, grad in enumerate(grads):
            if i == resume_at:
                state = optimizer.state_dict()
                state["state"][0] = {k: v.contiguous() for k, v in state["state"][0].items()}
                optimizer = adam([p], 1e-2)
                optimizer.load_state_dict(state)
            p.grad = grad.clone()
            optimizer.step()
        return p.detach()

    assert torch.equal(train(resume_at=3), train(resume_at=None))


def test_auto_is_fp16_on_a_cuda_gpu_without_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert gradient_scaler(CPU, "bf16") is None and gradient_scaler(CPU, "fp32") is None
    assert isinstance(gradient_scaler(CPU, "fp16"), torch.amp.GradScaler)


def test_fp16_training_skips_a_step_whose_scaled_gradients_overflow():
    """A scale so large that fp16 gradients overflow: the scaler skips the update (the
    parameters do not move) and lowers the scale; at a normal scale the same step updates."""
    from huashi.families import DataInfo, StepContext
    from huashi.families.dcgan import DCGAN

    images = torch.rand(8, 3, 16, 16) * 2 - 1
    for scale, moves in ((2.0**100, False), (2.0**8, True)):
        torch.manual_seed(0)
        family = DCGAN(DCGAN.config_class(g_width=4, d_width=4), DataInfo(3, 16), CPU)
        before = [p.detach().clone() for p in family.modules["discriminator"].parameters()]
        ctx = StepContext(0, CPU, "fp16", 1, torch.Generator().manual_seed(0))
        ctx.scaler = torch.amp.GradScaler("cpu", init_scale=scale)
        family.train_step({"image": images}, ctx)
        after = list(family.modules["discriminator"].parameters())
        moved = any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
        assert moved == moves
        assert (ctx.scaler.get_scale() < scale) == (not moves)  # backed off after an overflow


def test_fp16_training_checkpoints_the_loss_scale_and_resumes_exactly(tmp_path):
    from huashi import api
    from huashi.training.checkpoint import latest_checkpoint, load_checkpoint

    settings = dict(model={"g_width": 4, "d_width": 4}, data_options={"n": 32}, batch_size=8,
                    precision="fp16", progress=False, log_every=1, sample_every=1000,
                    checkpoint_every=1000, n_fixed=4)  # fmt: skip
    api.train(tmp_path / "straight", "dcgan", "shapes", 16, steps=6, **settings)
    api.train(tmp_path / "stopped", "dcgan", "shapes", 16, steps=3, **settings)
    api.train(tmp_path / "stopped", resume=True, steps=6, progress=False)
    (a, meta), (b, _) = (
        load_checkpoint(latest_checkpoint(tmp_path / run / "checkpoints"))
        for run in ("straight", "stopped")
    )
    assert meta["grad_scaler"]["scale"] > 0
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
