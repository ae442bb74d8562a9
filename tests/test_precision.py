"""``--precision auto``: bf16 only where the hardware computes it fast."""

from pathlib import Path

import pytest
import torch

from huashi.errors import HuashiError
from huashi.training import device as device_module
from huashi.training.device import autocast, resolve_precision
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
    with pytest.raises(HuashiError, match="unknown precision 'fp16'"):
        resolve_precision("fp16", CPU)


def test_compile_on_a_cpu_without_a_cpp_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXX", "")
    found = {"g++": "/usr/bin/g++"}
    monkeypatch.setattr(device_module.shutil, "which", found.get)
    device_module.check_compile(CPU)
    monkeypatch.setattr(device_module.shutil, "which", lambda name: None)
    with pytest.raises(HuashiError, match="--compile on the CPU needs a C.. compiler"):
        device_module.check_compile(CPU)
    device_module.check_compile(torch.device("cuda"))  # GPUs compile with Triton: not checked
