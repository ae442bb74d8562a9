"""The random states a checkpoint carries (torch, CUDA, NumPy, Python and the noise generator),
so that a resumed run draws exactly what an uninterrupted one would."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from huashi.core.errors import HuashiError


def random_state(generator: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every random state of this process, as checkpoint tensors and JSON-able metadata."""
    tensors = {"rng/torch": torch.get_rng_state(), "rng/noise": generator.get_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda{i}"] = state
    np_state = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    meta = {
        "python_random": _python_random_state(),
        "numpy_random": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    return tensors, meta


def set_random_state(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], generator: torch.Generator, where: Any
) -> None:
    """Put back what :func:`random_state` saved; a clear error naming ``where`` (the checkpoint)
    when the states are damaged."""
    try:
        torch.set_rng_state(tensors["rng/torch"])
        generator.set_state(tensors["rng/noise"])
        if torch.cuda.is_available():
            states = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda")]
            if states:
                torch.cuda.set_rng_state_all(states)
        random.setstate(_python_random_tuple(meta["python_random"]))
        name, pos, has_gauss, cached = meta["numpy_random"]
        keys = tensors["rng/numpy"].numpy().astype(np.uint32)
        np.random.set_state((name, keys, pos, has_gauss, cached))
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise HuashiError(
            f"checkpoint {where} has damaged random-number states ({error!r}): delete it "
            "to fall back to the previous checkpoint."
        ) from None


def seed_everything(seed: int, generator: torch.Generator) -> None:
    """Seed the noise generator, torch, Python and NumPy from one number."""
    generator.manual_seed(seed)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _python_random_state() -> list:
    version, state, gauss = random.getstate()
    return [version, list(state), gauss]


def _python_random_tuple(saved: list) -> tuple:
    version, state, gauss = saved
    return (version, tuple(state), gauss)
