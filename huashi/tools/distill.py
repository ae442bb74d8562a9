"""Distillation: a slow painter (a diffusion run, the teacher) teaches a fast one (a Pix2Pix
run, the student) to paint in one pass what the teacher paints in many sampler steps.

1. The teacher makes paired examples from a dataset, cached on disk as a paired folder
   (``OUT/pairs/train/inputs`` and ``.../targets``, read by the ``folder`` dataset with
   ``target=``): task ``img2img`` repaints dataset image i (the input) at a strength, with a
   prompt or label; task ``edges`` paints an image from its seed (with a prompt or label) and
   the input is that painting's edge map. Pair i uses seed ``seed + i``; each target PNG carries
   the teacher's parameters, so ``huashi regenerate`` remakes it. Pairs already on disk are not
   made again, so an interrupted or enlarged run resumes.
2. The student trains on the pairs (the ``pix2pix`` family), resuming when the folder already
   holds a checkpoint: :func:`huashi.api.distill` runs the three steps.
3. The report compares the student with the teacher on held-out pairs (the last dataset images,
   never trained on): L1, PSNR and SSIM of the student's outputs against the teacher's, and the
   speed of both (the teacher's full sampler from seeds vs the student's single pass, timed back
   to back on the same batch size).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from huashi.core.errors import HuashiError
from huashi.core.images import make_grid, save_png, to_pil
from huashi.core.validation import check_number, check_sampling_options, check_seed
from huashi.metrics.features import convert_channels
from huashi.metrics.image_to_image import pair_metrics
from huashi.runs import LoadedRun, load_run
from huashi.training.checkpoint import latest_checkpoint

TASKS = ("img2img", "edges")
MANIFEST = "manifest.json"
REPORT = "distill.json"


# --- pure pieces ---------------------------------------------------------------------------


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """Sobel edges of images [B, C, H, W] in [-1, 1] as [B, 1, H, W] in [-1, 1]: dark lines on
    white. The gradient magnitude of the luma (edge-padded) is doubled and clipped to [0, 1]."""
    gray = convert_channels(images.float(), 1)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    kernels = torch.stack([kx, kx.T])[:, None].to(gray.device)
    g = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), kernels)
    strength = (2 * g.pow(2).sum(dim=1, keepdim=True).sqrt()).clamp(0, 1)
    return 1 - 2 * strength


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as a PNG stores them (uint8), back in [-1, 1]."""
    from huashi.core.images import to_uint8

    return to_uint8(images).float() / 127.5 - 1


def _means(metrics: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: round(float(values.double().mean()), 6) for name, values in metrics.items()}


# --- the pairs --------------------------------------------------------------------------------


@dataclass
class PairSettings:
    """What decides the pairs' pixels; saved as ``pairs/manifest.json`` and checked on resume."""

    teacher: str  # the teacher run folder (absolute)
    checkpoint: str
    data: str
    data_options: dict[str, Any]
    resolution: int
    task: str = "img2img"
    prompt: str | None = None
    label: int | None = None
    strength: float = 0.6
    sampler: str = "ddim"
    teacher_steps: int = 20
    cfg: float | None = None
    seed: int = 0
    heldout: int = 16

    def generate_options(self, init: Path | None) -> dict[str, Any]:
        options: dict[str, Any] = {"sampler": self.sampler, "steps": self.teacher_steps}
        if self.prompt is not None:
            options["prompt"] = self.prompt
        if self.label is not None:
            options["label"] = self.label
        if self.cfg is not None:
            options["cfg"] = self.cfg
        if init is not None:
            options |= {"init": str(init), "strength": self.strength}
        return options


@dataclass
class PairFolder:
    """One paired folder (``inputs/`` and ``targets/``) and what this call did to it."""

    root: Path
    count: int
    made: int = 0  # pairs the teacher made in this call
    reused: int = 0  # pairs found on disk
    teacher_seconds: float = 0.0  # the teacher's time for the pairs it made

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def targets(self) -> Path:
        return self.root / "targets"

    def data_options(self) -> dict[str, str]:
        return {"target": str(self.targets)}


def _check_manifest(root: Path, settings: PairSettings) -> None:
    path = root / MANIFEST
    wanted = json.loads(json.dumps(settings.__dict__))
    if path.exists():
        saved = json.loads(path.read_text())
        changed = [f"{k} {wanted.get(k)!r} (cache has {saved.get(k)!r})" for k in
                   sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]  # fmt: skip
        if changed:
            raise HuashiError(
                f"the pairs in {root} were made with other settings: {'; '.join(changed)}. "
                "Use the same settings to resume, or another --out folder."
            )
        return
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2) + "\n")


def make_pairs(
    teacher: LoadedRun,
    dataset: Any,
    indices: list[int],
    folder: PairFolder,
    settings: PairSettings,
    progress: Callable[[str, int, int], None] | None = None,
) -> PairFolder:
    """Make the pairs of dataset images ``indices`` in ``folder`` (pair name = the index),
    skipping those whose target is on disk. Pair of image i uses seed ``settings.seed + i``; each
    target PNG records the options (the precision too) that ``huashi regenerate`` repeats."""

    base = {
        "run": str(teacher.run_dir.resolve()),
        "checkpoint": teacher.checkpoint.name,
        "step": teacher.step,
        "family": teacher.config.family,
    }
    for done, i in enumerate(indices):
        name = f"{i:06d}.png"
        target_path, input_path = folder.targets / name, folder.inputs / name
        if target_path.exists() and input_path.exists():
            folder.reused += 1
            continue
        seed = settings.seed + i
        start = time.perf_counter()
        if settings.task == "img2img":
            image = dataset.images[i].float() / 127.5 - 1
            save_png(to_pil(image), input_path, {"pair_of": name})
            options = settings.generate_options(input_path.resolve())
            options = teacher.family.resolve_precision(options)
            target = teacher.family.generate([seed], **options)[0].cpu()
            save_png(to_pil(target), target_path, base | {"seed": seed, "options": options})
        else:
            options = teacher.family.resolve_precision(settings.generate_options(None))
            target = teacher.family.generate([seed], **options)[0].cpu()
            save_png(to_pil(edge_map(quantize(target)[None])[0]), input_path, {"pair_of": name})
            save_png(to_pil(target), target_path, base | {"seed": seed, "options": options})
        folder.teacher_seconds += time.perf_counter() - start
        folder.made += 1
        if progress is not None:
            progress(folder.root.name, done + 1, len(indices))
    return folder


def read_pairs(folder: PairFolder, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of a paired folder in [-1, 1], read as the folder dataset reads them."""
    from huashi.data import load_dataset

    pairs = load_dataset(
        str(folder.inputs), resolution=resolution, cache=False, **folder.data_options()
    )
    return pairs.images.float() / 127.5 - 1, pairs.targets.float() / 127.5 - 1


# --- the whole recipe ---------------------------------------------------------------------


@dataclass
class DistillReport:
    out: Path
    train_pairs: PairFolder
    heldout_pairs: PairFolder
    student_step: int
    student: dict[str, float]  # L1 / PSNR / SSIM of the student against the teacher
    identity: dict[str, float] | None  # the input itself as the answer (img2img)
    speed: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "pairs": {
                name: {
                    "folder": str(p.root),
                    "count": p.count,
                    "made": p.made,
                    "reused": p.reused,
                    "teacher_seconds": round(p.teacher_seconds, 3),
                }
                for name, p in (("train", self.train_pairs), ("heldout", self.heldout_pairs))
            },  # fmt: skip
            "student_step": self.student_step,
            "student_vs_teacher": self.student,
            "identity_vs_teacher": self.identity,
            "speed": self.speed,
            "units": "images mapped to [0, 1]: L1 = mean |student - teacher|, PSNR in dB with "
            "peak 1, SSIM with an 11x11 Gaussian window (sigma 1.5)",
        }

    def summary(self) -> str:
        s, sp = self.student, self.speed
        lines = [
            f"pairs: {self.train_pairs.count} for training ({self.train_pairs.made} made now), "
            f"{self.heldout_pairs.count} held out ({self.heldout_pairs.made} made now)",
            f"student (step {self.student_step}) vs teacher on held-out inputs: "
            f"L1 {s['l1']:.4f}  PSNR {s['psnr']:.2f} dB  SSIM {s['ssim']:.4f}",
        ]
        if self.identity:
            i = self.identity
            lines.append(
                f"  (input as the answer: L1 {i['l1']:.4f}  PSNR {i['psnr']:.2f} dB  "
                f"SSIM {i['ssim']:.4f})"
            )
        if sp:
            lines.append(
                f"speed: teacher {sp['teacher_images_per_s']:.2f} images/s "
                f"({sp['teacher_steps']}-step {sp['sampler']}), student "
                f"{sp['student_images_per_s']:.1f} images/s (one pass): "
                f"{sp['speedup']:.0f}x, batch {sp['batch']}"
            )
        lines += [f"saved {f}" for f in self.files]
        return "\n".join(lines)


def measure_speed(
    teacher: LoadedRun,
    student: LoadedRun,
    inputs: torch.Tensor,
    settings: PairSettings,
    repeats: int = 1,
) -> dict[str, Any]:
    """Images per second of the teacher's full sampler (from seeds) and of the student's single
    pass, on the same batch size, timed back to back after one warm-up call each."""
    seeds = list(range(len(inputs)))
    options = settings.generate_options(None)

    def rate(fn: Callable[[], Any]) -> float:
        fn()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        return repeats * len(inputs) / (time.perf_counter() - start)

    teacher_rate = rate(lambda: teacher.family.generate(seeds, **options))
    student_rate = rate(lambda: student.family.generate(seeds, inputs=inputs))
    return {
        "batch": len(inputs),
        "sampler": settings.sampler,
        "teacher_steps": settings.teacher_steps,
        "teacher_images_per_s": round(teacher_rate, 4),
        "student_images_per_s": round(student_rate, 4),
        "speedup": round(student_rate / teacher_rate, 2),
        "threads": torch.get_num_threads(),
    }


@dataclass
class DistillPlan:
    """The teacher and the pairs it made, ready for the student to train on."""

    teacher: LoadedRun
    settings: PairSettings
    train_folder: PairFolder
    held_folder: PairFolder
    resume: bool  # the student's folder already holds a checkpoint


def make_all_pairs(
    teacher: str | Path,
    data: str,
    out: str | Path,
    pairs: int = 2000,
    heldout: int = 64,
    task: str = "img2img",
    prompt: str | None = None,
    label: int | None = None,
    strength: float = 0.6,
    teacher_steps: int = 20,
    sampler: str = "ddim",
    cfg: float | None = None,
    seed: int = 0,
    data_options: dict[str, Any] | None = None,
    device: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
) -> DistillPlan:
    """Step 1: check the request and make ``pairs`` training pairs and ``heldout`` held-out
    pairs with the teacher run under ``OUT/pairs`` (pairs on disk are kept)."""
    from huashi.data import load_dataset

    if task not in TASKS:
        raise HuashiError(f"unknown --task '{task}': use {' or '.join(TASKS)}.")
    if pairs < 1 or heldout < 1:
        raise HuashiError("--pairs and --heldout must be at least 1.")
    check_number("--strength", strength)
    check_sampling_options({"cfg": cfg} if cfg is not None else {})
    check_seed(seed, pairs + heldout)
    out = Path(out)
    loaded = load_run(teacher, device=device)
    if not loaded.family.repaints_images:
        raise HuashiError(
            f"{teacher} is a '{loaded.config.family}' run: the teacher must be a diffusion run."
        )
    info = loaded.family.data
    settings = PairSettings(
        teacher=str(loaded.run_dir.resolve()), checkpoint=loaded.checkpoint.name, data=data,
        data_options=dict(data_options or {}), resolution=info.resolution, task=task,
        prompt=prompt, label=label, strength=strength, sampler=sampler,
        teacher_steps=teacher_steps, cfg=cfg, seed=seed, heldout=heldout,
    )  # fmt: skip
    dataset = load_dataset(
        data, resolution=info.resolution, channels=info.channels, **settings.data_options
    )
    if pairs + heldout > len(dataset):
        raise HuashiError(
            f"{data} holds {len(dataset)} images: --pairs {pairs} plus --heldout {heldout} do "
            "not fit (held-out pairs come from the end of the dataset)."
        )
    if task == "img2img" and not 0 < strength <= 1:
        raise HuashiError(f"--strength must be in (0, 1], got {strength}.")
    root = out / "pairs"
    _check_manifest(root, settings)
    train_folder = make_pairs(
        loaded, dataset, list(range(pairs)), PairFolder(root / "train", pairs), settings, progress
    )
    last = len(dataset)
    held_indices = list(range(last - heldout, last))
    held_folder = make_pairs(
        loaded, dataset, held_indices, PairFolder(root / "heldout", heldout), settings, progress
    )
    resume = latest_checkpoint(out / "checkpoints") is not None
    return DistillPlan(loaded, settings, train_folder, held_folder, resume)


def report_student(
    plan: DistillPlan, out: str | Path, step: int, speed_batch: int = 16, device: str = "auto"
) -> DistillReport:
    """Step 3: the trained student (in ``out``, at ``step``) against the teacher on the held-out
    pairs, written to ``OUT/distill.json`` and ``OUT/distill.png``; ``speed_batch=0`` skips the
    speed measurement."""
    out = Path(out)
    resolution = plan.teacher.family.data.resolution
    student_run = load_run(out, device=device)
    inputs, targets = read_pairs(plan.held_folder, resolution)
    outputs = student_run.family.generate(list(range(len(inputs))), inputs=inputs).cpu()
    metrics = _means(pair_metrics(outputs, targets))
    identity = None
    if inputs.shape == targets.shape:
        identity = _means(pair_metrics(inputs, targets))
    speed = {}
    if speed_batch:
        batch = inputs[: min(speed_batch, len(inputs))]
        speed = measure_speed(plan.teacher, student_run, batch, plan.settings)
    report = DistillReport(out, plan.train_folder, plan.held_folder, step, metrics, identity, speed)
    report.files = _write_report(report, inputs, outputs, targets)
    return report


def _write_report(
    report: DistillReport, inputs: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor
) -> list[Path]:
    from huashi.families.pix2pix import side_by_side

    path = report.out / REPORT
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    tmp.replace(path)
    shown = slice(0, 16)
    grid = side_by_side(inputs[shown], targets[shown], outputs[shown])  # input|teacher|student
    rows = {"columns": "input | teacher | student, two pairs per row"}
    picture = save_png(make_grid(grid, nrow=6), path.with_suffix(".png"), rows)
    return [path, picture]
