"""Several processes training one model: ``torchrun --nproc-per-node N -m huashi train ...``.

torchrun starts N copies of the command and tells each its place (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` in the environment); :func:`setup` joins them into one process group (gloo on the
CPU, NCCL on CUDA). Then every rank:

- builds the same model (rank 0's weights are broadcast once, so they start identical);
- reads its own slice of each global batch of the shared data order (``--batch-size`` is the
  global batch; each of the N ranks trains on ``batch_size / N`` images per step);
- draws its own noise from (seed, rank);
- after the last micro-batch of a step's backward pass, averages the gradients of every module
  with one all-reduce (:meth:`Distributed.average_gradients`), so every rank's optimizer takes the
  same step. Gradient accumulation therefore communicates once per update, as DDP's ``no_sync``
  would.

Why an explicit all-reduce rather than ``DistributedDataParallel`` wrappers: families reach their
modules through ``family.modules[...]`` and call their methods (``unet.null_tokens``,
``model.decode``) and run several updates per step (D then G) with modules that take no part in
some of them; a wrapper changes what ``family.modules[name]`` is and needs care for unused
parameters. Averaging the gradients of whatever received them works for any family unchanged,
and for a family whose loss is a mean over images it gives the gradient of the global batch.

BatchNorm: each rank normalizes with its own images' statistics (DDP's default without
SyncBatchNorm, which PyTorch offers only on GPUs); running statistics are kept per rank and rank
0's are saved. GroupNorm families (diffusion, autoencoders) are unaffected and train as one
process with the global batch would.

Rank 0 alone writes files (log, samples, checkpoints, config); the others wait at a barrier after
each checkpoint. A checkpoint holds every rank's random states, so resuming with the same number
of processes continues exactly; with another number each new rank starts fresh noise from
(seed, rank, step), and the run is no longer bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.distributed as dist
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from huashi.core.errors import HuashiError


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def broadcast_modules(self, modules: Iterable[nn.Module]) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if not self.active:
            return
        with torch.no_grad():
            for module in modules:
                for tensor in module.state_dict().values():
                    dist.broadcast(tensor, 0)

    def average_gradients(self, modules: Iterable[nn.Module]) -> None:
        """Replace every gradient by its mean over the ranks (one all-reduce per dtype)."""
        if not self.active:
            return
        seen: set[int] = set()
        grads: dict[torch.dtype, list[torch.Tensor]] = {}
        for module in modules:
            for parameter in module.parameters():
                if parameter.grad is not None and id(parameter) not in seen:
                    seen.add(id(parameter))
                    grads.setdefault(parameter.grad.dtype, []).append(parameter.grad)
        for group in grads.values():
            flat = torch.cat([g.reshape(-1) for g in group])
            dist.all_reduce(flat)
            flat /= self.world_size
            offset = 0
            for g in group:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()

    def agree(
        self, values: dict[str, float], flags: tuple[bool, ...], device: torch.device
    ) -> tuple[dict[str, float], tuple[bool, ...]]:
        """The mean of ``values`` over the ranks (same keys everywhere), and each flag true when
        it is true on any rank: all ranks then log the same numbers and stop at the same step."""
        if not self.active:
            return values, flags
        keys = sorted(values)
        numbers = [values[k] for k in keys] + [float(f) for f in flags]
        packed = torch.tensor(numbers, dtype=torch.float64, device=device)
        dist.all_reduce(packed)
        packed = packed.cpu().tolist()
        mean = {k: packed[i] / self.world_size for i, k in enumerate(keys)}
        return mean, tuple(x > 0 for x in packed[len(keys) :])

    def gather_bytes(self, data: bytes, device: torch.device) -> list[bytes]:
        """Every rank's ``data`` (for rank 0 to save, e.g. its random states), in rank order."""
        if not self.active:
            return [data]
        size = torch.tensor([len(data)], dtype=torch.int64, device=device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        dist.all_gather(sizes, size)
        longest = int(max(s.item() for s in sizes))
        mine = torch.zeros(longest, dtype=torch.uint8, device=device)
        mine[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
        everyone = [torch.zeros_like(mine) for _ in range(self.world_size)]
        dist.all_gather(everyone, mine)
        return [
            bytes(t[: int(n.item())].cpu().numpy()) for t, n in zip(everyone, sizes, strict=True)
        ]


def gather_random_states(
    place: Distributed,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    device: torch.device,
) -> list[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """Every rank's random states (``tensors`` as safetensors bytes, ``meta`` as JSON), so that
    rank 0 can save them all in the checkpoint."""
    if not place.active:
        return [(tensors, meta)]
    weights = save_tensors({k: v.cpu().contiguous() for k, v in tensors.items()})
    text = json.dumps(meta).encode()
    blob = len(weights).to_bytes(8, "little") + weights + text
    states = []
    for data in place.gather_bytes(blob, device):
        n = int.from_bytes(data[:8], "little")
        states.append((load_tensors(data[8 : 8 + n]), json.loads(data[8 + n :])))
    return states


def current() -> Distributed:
    """This process's place: from the initialized process group, else one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return Distributed()
    rank = dist.get_rank()
    return Distributed(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))


def launched_world_size() -> int:
    """How many processes torchrun started (1 when not started by torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


#: Whether :func:`setup` created this process's group (under torchrun), so :func:`finish` ends it.
_joined_here = False


def setup(device: str = "auto") -> Distributed:
    """Join the process group torchrun describes; nothing to do for a single process. NCCL when
    the ranks train on CUDA GPUs, gloo otherwise."""
    if launched_world_size() == 1 or current().active:
        return current()
    if not dist.is_available():
        raise HuashiError("this PyTorch build has no torch.distributed: train in one process.")
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise HuashiError(
                f"rank {local_rank} has no GPU of its own ({torch.cuda.device_count()} visible): "
                "start at most one process per GPU (--nproc-per-node)."
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    global _joined_here
    _joined_here = True
    return current()


def finish(exit_code: int) -> int:
    """After a command under torchrun, in a process that :func:`setup` joined: when the command
    succeeded, :func:`end_process`; a failed one returns its code as usual (torchrun then stops
    the other ranks). Elsewhere returns ``exit_code``."""
    if _joined_here and exit_code == 0 and dist.is_initialized():
        end_process(exit_code)
    return exit_code


def end_process(exit_code: int) -> NoReturn:
    """Every rank leaves the process group together, then this process ends at once.

    At once (``os._exit``, after flushing the standard streams; huashi closes its own files
    before) because the interpreter's finalization is where torch's gloo sometimes aborts
    (SIGABRT, "terminate called without an active exception"; about one exit in 30 with torch
    2.14), after the work is done and saved: torchrun would report a failed rank for a finished
    run."""
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of rank ``rank``'s noise: the run's seed itself on rank 0 (so one process
    draws exactly what it always did), distinct streams elsewhere."""
    if rank == 0 and step == 0:
        return seed
    return (seed * 1_000_003 + rank * 7_919 + step * 104_729) % 2**63


def local_processes(dist: Distributed) -> int:
    """Training processes sharing this machine's cores (torchrun's LOCAL_WORLD_SIZE)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size)))
    except ValueError:
        return 1
