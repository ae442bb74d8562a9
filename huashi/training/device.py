"""Device selection and the speed switches: bf16/fp16 autocast (with a gradient scaler for
fp16), channels_last and fused Adam. CPU threads: :mod:`huashi.training.threads`."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch

from huashi.core.errors import HuashiError

#: ``auto`` is bf16 where the hardware computes it fast (CUDA GPUs with bf16, CPUs with
#: AVX512-BF16 or AMX), fp16 on CUDA GPUs without bf16, else fp32: on a CPU without bf16
#: instructions bf16 autocast is emulated and runs many times slower (a DCGAN step ~20x on an
#: AVX2-only AMD EPYC).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: fp16 is the GPU fallback where bf16 is not native (before Ampere: T4, V100): autocast to
#: float16, and training scales its losses with a gradient scaler so small gradients survive.
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; an explicit name must be available. Under
    torchrun, ``cuda`` means this process's own GPU (``LOCAL_RANK``)."""
    if name in ("auto", "cuda") and torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise HuashiError(
            f"unknown --device {name!r}: use auto, cpu, cuda, cuda:N or mps."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HuashiError(
            "--device cuda was asked for, but PyTorch sees no CUDA GPU: use --device cpu."
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise HuashiError("--device mps was asked for, but MPS is not available: use --device cpu.")
    return device


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 where the device computes it fast, fp16 on older CUDA GPUs, else fp32;
    others unchanged."""
    if precision not in PRECISIONS:
        raise HuashiError(
            f"unknown precision '{precision}': choose one of {', '.join(PRECISIONS)}."
        )
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 or fp16 autocast on any device type, or nothing for fp32 (``auto``: see
    :func:`resolve_precision`)."""
    resolved = resolve_precision(precision, device)
    if resolved == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[resolved])


def gradient_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 training (losses scaled up before backward, gradients
    unscaled before the step, steps with inf/NaN gradients skipped), else None."""
    if resolve_precision(precision, device) != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def check_compile(device: torch.device) -> None:
    """``--compile`` on the CPU builds C++ kernels (torch.compile's inductor): refuse clearly
    when no C++ compiler is found, instead of failing in the middle of the first step."""
    if device.type != "cpu":
        return
    names = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    if not any(name and shutil.which(name) for name in names):
        raise HuashiError(
            "--compile on the CPU needs a C++ compiler (torch.compile builds C++ kernels) and "
            "none was found: install g++ (apt-get install g++) or drop --compile."
        )


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def adam(
    parameters: Iterable[torch.nn.Parameter],
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    decoupled: bool = False,
) -> torch.optim.Optimizer:
    """Adam (AdamW with ``decoupled``) in PyTorch's fused implementation on CPUs and CUDA GPUs:
    one kernel over every parameter instead of a dozen passes over the tensor list, the same
    update up to float rounding. A DCGAN's two optimizer steps take 0.8 ms instead of 4.5 on a
    2-core CPU, 3-4 % of its bf16 training step."""
    params = list(parameters)
    fused = bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params
    )
    optimizer = (torch.optim.AdamW if decoupled else torch.optim.Adam)(
        params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None
    )
    if fused:
        optimizer.register_step_pre_hook(_give_state_the_parameters_strides)
    return optimizer


def _give_state_the_parameters_strides(optimizer: torch.optim.Optimizer, *_: object) -> None:
    """The fused kernel walks a parameter, its gradient and its state in memory order, so all
    must share one layout: a checkpoint's state comes back contiguous while channels_last
    weights are not, and PyTorch's fused CPU Adam then silently mixes up elements (torch 2.14:
    a resumed run drifted by 4e-2 within three steps). Copies only where the strides differ."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and p.grad.stride() != p.stride():
                p.grad = torch.empty_like(p).copy_(p.grad)
            state = optimizer.state.get(p, {})
            for key, value in list(state.items()):
                if (
                    torch.is_tensor(value)
                    and value.shape == p.shape
                    and value.stride() != p.stride()
                ):
                    state[key] = torch.empty_like(p).copy_(value)
