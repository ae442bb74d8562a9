"""The zoo: small trained models shipped inside huashi, usable right after set-up.

Each zoo entry is a folder here (or under ``$HUASHI_ZOO``) laid out like a run folder —
``config.json``, ``checkpoints/step-N.safetensors`` + ``.json`` with the weights only (fp16),
``samples.png`` — plus ``card.json``: what it is, the recipe and seed that made it, its scores
and the sha256 of its weights. Anything that takes a run folder takes ``zoo:NAME``:

    huashi sample zoo:emoji-gan --n 16
    huashi eval RUN            # uses zoo:reference-<dataset> as the feature network when present

Feature networks for the metrics live here too, named ``reference-<dataset>``. The zoo
imports only :mod:`huashi.core` (where ``zoo:NAME`` is resolved, :mod:`huashi.core.zoo_folders`)
and the checkpoint format of :mod:`huashi.training`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError
from huashi.core.zoo_folders import (
    CARD,
    PREFIX,
    ZooEntry,
    _entry,
    is_zoo,
    list_zoo,
    resolve,
    zoo_entry,
    zoo_root,
)
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

__all__ = [
    "CARD",
    "PREFIX",
    "ZooEntry",
    "add_to_zoo",
    "is_zoo",
    "list_zoo",
    "reference_features",
    "second_reference",
    "resolve",
    "weights_sha256",
    "zoo_entry",
    "zoo_root",
]


def weights_sha256(folder: Path) -> str:
    checkpoint = latest_checkpoint(folder / "checkpoints")
    if checkpoint is None:
        raise HuashiError(f"the zoo entry {folder} has no weights.")
    return hashlib.sha256(checkpoint.with_suffix(".safetensors").read_bytes()).hexdigest()


def add_to_zoo(
    run_dir: str | Path,
    name: str,
    description: str,
    recipe: str | None = None,
    seed: int | None = None,
    scores: dict[str, Any] | None = None,
    root: str | Path | None = None,
) -> ZooEntry:
    """Copy a trained run into the zoo: its config, its newest weights (the modules, with an EMA
    copy in the place of the module it averages; floating tensors in fp16; no optimizer or RNG
    state), its latest grid, and a card."""
    run_dir = Path(run_dir)
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    if checkpoint is None:
        raise HuashiError(f"{run_dir} has no checkpoint to put in the zoo: train it first.")
    folder = Path(root or zoo_root()) / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy(run_dir / "config.json", folder / "config.json")
    if (run_dir / "samples.png").exists():
        shutil.copy(run_dir / "samples.png", folder / "samples.png")
    tensors, meta = load_checkpoint(checkpoint)
    # the EMA copy is what samples: it ships in the place of the module it averages
    shipped = {k: v for k, v in tensors.items() if k.startswith("modules/")}
    shipped |= {
        "modules/" + k[len("ema/") :]: v for k, v in tensors.items() if k.startswith("ema/")
    }
    weights = {key: value.half() if value.is_floating_point() else value
               for key, value in shipped.items()}  # fmt: skip
    kept = {k: meta[k] for k in ("family", "step", "images_seen", "train_seconds") if k in meta}
    kept["optimizers"] = {}
    kept |= {k: v for k, v in meta.items() if k == "preview_captions"}
    save_checkpoint(folder / "checkpoints", int(meta["step"]), weights, kept, keep_last=1)
    config = json.loads((folder / "config.json").read_text())
    card = {
        "name": name,
        "family": config["family"],
        "description": description,
        "recipe": recipe,
        "seed": seed,
        "scores": scores or {},
        "sha256": weights_sha256(folder),
    }
    (folder / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return _entry(folder)


def reference_features(dataset: str, resolution: int | None = None) -> str | None:
    """The shipped feature network for a built-in dataset, as a ``--features`` spec
    (``zoo:reference-<dataset>``), or None.

    With ``resolution``, a network trained at that size (``reference-<dataset>-<resolution>``)
    is preferred when one ships, so detail finer than the 32 px reference sees is measured."""
    names = [f"reference-{dataset}-{resolution}"] if resolution else []
    for name in [*names, f"reference-{dataset}"]:
        folder = zoo_root() / name
        if (folder / CARD).is_file():
            return f"zoo:{name}"
    return None


#: The second reference network of a dataset is ``reference-<...>-<kind>``, of a kind other than
#: the first's: an exemplar classifier beside a clip (emoji), a clip beside a classifier (mnist),
#: a shape classifier beside a clip (shapes).
SECOND_KINDS = ("exemplar", "clip", "classifier")


def second_reference(reference: str) -> str | None:
    """The second, independently trained reference network shipped beside ``reference``
    (``zoo:reference-emoji`` -> ``zoo:reference-emoji-exemplar``, ``zoo:reference-mnist`` ->
    ``zoo:reference-mnist-clip``), or None when none ships."""
    for kind in SECOND_KINDS:
        name = f"{reference.removeprefix(PREFIX)}-{kind}"
        if (zoo_root() / name / CARD).is_file():
            return f"{PREFIX}{name}"
    return None


#: Networks that join a dataset's ensemble view after its second one, never shown alone: a
#: classifier of the shapes' shape, colour and size together (``reference-shapes-attributes``).
ENSEMBLE_KINDS = ("attributes",)


def ensemble_reference(reference: str) -> str | None:
    """The ensemble view of ``reference``, its second network and any ``ENSEMBLE_KINDS``
    network (``ensemble:zoo:reference-shapes+zoo:reference-shapes-classifier+zoo:reference-
    shapes-attributes``), or None when no second network ships."""
    second = second_reference(reference)
    if second is None:
        return None
    names = [f"{reference.removeprefix(PREFIX)}-{kind}" for kind in ENSEMBLE_KINDS]
    extra = [f"{PREFIX}{name}" for name in names if (zoo_root() / name / CARD).is_file()]
    return "ensemble:" + "+".join([reference, second, *extra])
