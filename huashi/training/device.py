"""Device selection and the speed switches: bf16 autocast and channels_last."""

from __future__ import annotations

import contextlib

import torch

from huashi.errors import HuashiError

PRECISIONS = ("fp32", "bf16")


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HuashiError(
            "--device cuda was asked for, but PyTorch sees no CUDA GPU: use --device cpu."
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise HuashiError("--device mps was asked for, but MPS is not available: use --device cpu.")
    return device


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on any device type, or nothing for fp32."""
    if precision not in PRECISIONS:
        raise HuashiError(
            f"unknown precision '{precision}': choose one of {', '.join(PRECISIONS)}."
        )
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format
