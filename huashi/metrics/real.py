"""The real set a run is measured against: its dataset's images (a seeded pick of a split) and
their features under a feature network, cached under ``$HUASHI_CACHE/reference`` keyed by the
dataset's parameters and the network's hash, so measuring ten runs against one dataset encodes
it once. :mod:`~huashi.metrics.evaluate` uses them and hands the yardsticks an encoder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from huashi.metrics.features import FeatureNet
from huashi.runs import LoadedRun

REFERENCE_VERSION = 1


def reference_dir() -> Path:
    env = os.environ.get("HUASHI_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "huashi"
    return root / "reference"


def load_real(run: LoadedRun, split: str, n: int, seed: int):
    """The run's dataset (its spec, resolution and options) in ``split``: up to ``n`` images,
    picked by a permutation seeded with ``seed``; returns (batch dict, description)."""
    from huashi.data import load_dataset

    data = run.config.data
    dataset = load_dataset(
        data["spec"], resolution=data["resolution"], split=split, **data["options"]
    )
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    described = {
        "dataset": data["spec"],
        "resolution": data["resolution"],
        "options": data["options"],
        "split": split,
        "dataset_size": len(dataset),
        "size": len(order),
        "picked_with_seed": seed,
    }
    return dataset.batch(order), described


def real_features(
    net: FeatureNet, images: torch.Tensor, described: dict[str, Any], cache: bool = True
) -> tuple[torch.Tensor, str]:
    """Features of the real images, from the cache when the same set was encoded before."""
    key_text = json.dumps(
        {"real": described, "net": net.checkpoint_hash, "kind": net.kind, "view": net.version,
         "input": [net.resolution, net.channels], "version": REFERENCE_VERSION},
        sort_keys=True, default=str,
    )  # fmt: skip
    key = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    path = reference_dir() / f"{key}.safetensors"
    from safetensors.torch import load_file, save_file

    if cache and path.exists():
        return load_file(str(path))["features"], "hit"
    feats = net.features(images)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"features": feats.contiguous()}, str(tmp), metadata={"key": key_text})
        os.replace(tmp, path)
    return feats, "miss" if cache else "off"
