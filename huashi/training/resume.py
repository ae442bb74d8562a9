"""What may change when a run resumes, the run's identity, and the data it was trained on.

- Schedule fields (``steps``, intervals, device, ...) apply to one session only: ``config.json``
  keeps the run's plan and the log records what a resume asked for.
- Tunable fields (learning rates and their decay, loss weights, ``precision``) may change on
  resume to rescue a diverging run; the change is saved in ``config.json`` and recorded in the
  log with its step.
- Everything else must match. A checkpoint carries the run's identity (a hash of the fixed part
  of the config and of the data's fingerprint), so a checkpoint copied from another run of the
  same architecture is refused.
- A folder dataset is stored by absolute path with a fingerprint (file count, hash of names and
  sizes): a resume on changed data is refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError

#: Training fields that apply to one session only; config.json keeps the plan.
SESSION_FIELDS = (
    "steps", "log_every", "sample_every", "checkpoint_every", "keep_last", "device",
    "compile", "tensorboard", "n_fixed", "max_minutes", "threads", "data_mode",
)  # fmt: skip
#: Training fields that may change on resume (saved, and recorded in the log).
TUNABLE_TRAIN_FIELDS = ("precision", "lr_decay")


def tunable_model_field(name: str) -> bool:
    """Learning rates and loss weights may change on resume."""
    return name == "lr" or name.startswith("lr_") or name.endswith(("_lr", "_weight"))


def data_record(spec: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The data part of a new run's config: a folder by absolute path, with its fingerprint."""
    spec = {**spec, "options": dict(spec.get("options", {}))}
    if "fingerprint" in info:
        spec["spec"] = info["source"]
        spec["fingerprint"] = info["fingerprint"]
        if "target" in info:
            spec["options"]["target"] = info["target"]
    return spec


def same_data(asked: str | None, saved_spec: str) -> bool:
    """Whether ``--data`` given again on resume names the run's data (a folder may be given
    by a relative path; the run stores it absolute)."""
    if asked is None or asked == saved_spec:
        return True
    path = Path(str(asked).removeprefix("folder:")).expanduser()
    return path.is_dir() and str(path.resolve()) == saved_spec


def check_same_data(saved: dict[str, Any], info: dict[str, Any], run_dir: Any) -> None:
    """Refuse to resume on a folder whose files changed since the run was trained."""
    then, now = saved.get("fingerprint"), info.get("fingerprint")
    if then is None or now is None or then == now:
        return
    raise HuashiError(
        f"the data in {saved['spec']} changed since {run_dir} was trained ({then['files']} files "
        f"then, {now['files']} now, or their names or sizes differ): resume needs the same data. "
        "Restore the folder, or train a new run (another --out) on the changed data."
    )


def run_identity(family: str, model: dict, data: dict, train: dict) -> str:
    """A hash of what defines a run: the fixed part of its config and its data."""
    fixed = {
        "family": family,
        "model": {k: v for k, v in model.items() if not tunable_model_field(k)},
        "data": {k: data.get(k) for k in ("spec", "resolution", "options", "fingerprint")},
        "train": {
            k: v
            for k, v in train.items()
            if k not in SESSION_FIELDS and k not in TUNABLE_TRAIN_FIELDS
        },
    }
    text = json.dumps(fixed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resume_changes(
    saved_model: dict, saved_train: dict, model: dict, train: dict
) -> dict[str, list[Any]]:
    """``{field: [before, now]}`` for every field that differs from the saved config."""
    changes = {k: [saved_model.get(k), v] for k, v in model.items() if saved_model.get(k) != v}
    changes |= {k: [saved_train.get(k), v] for k, v in train.items() if saved_train.get(k) != v}
    return changes


def saved_train_config(saved_train: dict, train: dict) -> dict:
    """The training config to save after a resume: the plan's session fields, the new rest."""
    return {**train, **{k: saved_train[k] for k in SESSION_FIELDS if k in saved_train}}
