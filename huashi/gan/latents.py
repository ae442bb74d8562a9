"""Latent files: one or more latents of a trained run, as safetensors with JSON metadata.

A latent file holds the tensor ``latent`` [B, *shape] and, in the safetensors metadata under
``huashi``, JSON with the run folder, the checkpoint, the ``space`` ("z", "w" or "w+"), the
shape and the sampling options (label, prompt, truncation) that go with it. An inversion that
optimized the generator's noise inputs also stores the maps (``noise.0``, ``noise.1``, ... one
per synthesis conv, [B, 1, r, r]), which remake the image with the latent. Inversion writes
them; editing, dragging and ``huashi regenerate`` read them.

:func:`render` turns latents of any space into images with the family's latent contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from huashi.core.errors import HuashiError

SPACES = ("z", "w", "w+")
FORMAT = "huashi-latent"


@dataclass
class Latent:
    tensor: torch.Tensor  # [B, *shape]: z [B, z_dim], w [B, w_dim] or w+ [B, num_ws, w_dim]
    space: str
    run: str
    checkpoint: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # sampling options (label, prompt)
    extra: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping
    noise: list[torch.Tensor] | None = None  # optimized noise maps, one per synthesis conv


def save_latent(path: str | Path, latent: Latent) -> Path:
    """Write ``latent`` to ``path`` (a .safetensors file)."""
    if latent.space not in SPACES:
        raise HuashiError(f"unknown latent space {latent.space!r}: choose {', '.join(SPACES)}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "space": latent.space,
        "shape": list(latent.tensor.shape),
        "run": latent.run,
        "checkpoint": latent.checkpoint,
        "options": latent.options,
        "extra": latent.extra,
        "noise_maps": 0 if latent.noise is None else len(latent.noise),
    }
    tensors = {"latent": latent.tensor.detach().float().cpu().contiguous()}
    for i, n in enumerate(latent.noise or []):
        tensors[f"noise.{i}"] = n.detach().float().cpu().contiguous()
    save_file(tensors, str(path), metadata={"huashi": json.dumps(meta)})
    return path


def load_latent(path: str | Path) -> Latent:
    """Read a latent file; anything else is a one-line :class:`HuashiError`."""
    path = Path(path)
    if not path.exists():
        raise HuashiError(f"latent file {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("huashi", "{}"))
            names = set(f.keys())
            tensor = f.get_tensor("latent") if "latent" in names else None
            count = int(meta.get("noise_maps", 0))
            noise = [f.get_tensor(f"noise.{i}") for i in range(count)] if count else None
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError):
        raise HuashiError(
            f"{path} is not a readable latent file: pass the latent.safetensors that "
            "`huashi invert` wrote."
        ) from None
    if meta.get("format") != FORMAT or tensor is None:
        raise HuashiError(f"{path} is not a huashi latent file (write one with `huashi invert`).")
    return Latent(
        tensor, meta["space"], meta["run"], meta.get("checkpoint", ""),
        meta.get("options", {}), meta.get("extra", {}), noise,
    )  # fmt: skip


def spaces_of(family: Any) -> tuple[str, ...]:
    """The latent spaces a family offers: z for every generator with a latent, and w, w+ for
    those with a mapping network."""
    if family.latent_shape is None:
        return ()
    return ("z", "w", "w+") if family.style_latents else ("z",)


def check_space(family: Any, space: str) -> None:
    valid = spaces_of(family)
    if not valid:
        raise HuashiError(f"a {family.name} model has no latent space to work in.")
    if space not in valid:
        raise HuashiError(
            f"a {family.name} model has no {space!r} latent space: choose --space "
            f"{' or '.join(valid)}."
        )


def to_ws(family: Any, tensor: torch.Tensor, space: str, **options: Any) -> torch.Tensor:
    """Latents of ``space`` as per-layer ws [B, num_ws, w_dim] (families with a mapping)."""
    check_space(family, space)
    if space == "z":
        tensor = family.map_latents(tensor, **options)
        space = "w"
    return family.broadcast(tensor) if space == "w" else tensor


def render(
    family: Any,
    tensor: torch.Tensor,
    space: str,
    noise_mode: str = "const",
    noise: list[torch.Tensor] | None = None,
    **options: Any,
) -> torch.Tensor:
    """Images in [-1, 1] (clipped, as ``generate`` paints them) from latents of ``space``;
    gradients flow back to ``tensor`` (and to ``noise``, maps that replace the noise mode's)."""
    check_space(family, space)
    if noise is not None:
        if not family.noise_inputs:
            raise HuashiError(f"a {family.name} model has no noise inputs to set.")
        return family.synthesize(to_ws(family, tensor, space, **options), noise=noise).clamp(-1, 1)
    if space == "z" and not family.style_latents:
        return family.generate_from_latents(tensor, **options)
    if space == "z":
        return family.generate_from_latents(tensor, noise_mode=noise_mode, **options)
    return family.synthesize(to_ws(family, tensor, space), noise_mode).clamp(-1, 1)
