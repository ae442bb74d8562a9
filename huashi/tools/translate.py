"""Image-to-image with a trained run (Pix2Pix): translate image files, and measure a run on its
held-out pairs (L1, PSNR, SSIM against the identity baseline, input vs target)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from huashi.core import tiny
from huashi.core.errors import HuashiError
from huashi.core.images import make_grid, read_image, save_png, to_pil
from huashi.metrics.image_to_image import pair_metrics
from huashi.runs import LoadedRun, load_run

PAIRS_EVAL = "pairs_eval"  # the report is <run>/pairs_eval.json (pairs_eval-<split>.json)


@dataclass
class TranslateResult:
    images: torch.Tensor  # [n, C, H, W] in [-1, 1]
    files: list[Path]
    notes: list[str] = field(default_factory=list)


def _input_files(inputs: str | Path | list) -> list[tuple[Path, Path]]:
    """(image file, output path relative to --out) for a file, a folder or a list of files."""
    from huashi.data.folder import list_images

    if isinstance(inputs, (list, tuple)):
        pairs = [pair for item in inputs for pair in _input_files(item)]
        seen: dict[Path, Path] = {}
        for source, relative in pairs:
            if seen.setdefault(relative, source) != source:
                raise HuashiError(
                    f"{seen[relative]} and {source} would both be written to {relative}: "
                    "translate them into separate --out folders."
                )
        return pairs
    path = Path(inputs).expanduser()
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise HuashiError(f"{path} holds no image files (.png, .jpg, .webp, ...).")
        return [(f, f.relative_to(path).with_suffix(".png")) for f in files]
    if not path.exists():
        raise HuashiError(f"{path} does not exist: pass an image file or a folder of images.")
    return [(path, Path(path.stem + ".png"))]


def load_image(path: Path, resolution: int, channels: int) -> tuple[torch.Tensor, list[str]]:
    """One image file as [C, resolution, resolution] in [-1, 1], read the one way
    (:func:`huashi.core.images.read_image`); notes say what changed."""
    image = read_image(path, channels, resolution)
    notes = []
    if image.size != (resolution, resolution):
        w, h = image.size
        notes.append(f"{path.name}: {w}x{h} -> {resolution}x{resolution}")
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        notes.append(f"{path.name}: {image.mode} -> {mode}")
    return image.unit_range(), notes


def _loaded(run: str | Path | LoadedRun, checkpoint: str | Path | None, device: str) -> LoadedRun:
    loaded = run if isinstance(run, LoadedRun) else load_run(run, checkpoint, device)
    if not loaded.family.translates:
        raise HuashiError(
            f"{loaded.run_dir} is a '{loaded.config.family}' run, which does not translate images: "
            "train one with `huashi train pix2pix`."
        )
    return loaded


@dataclass
class MappedImages:
    """Input images mapped one by one by an image-conditioned family (see :func:`map_images`)."""

    files: list[tuple[Path, Path]]  # (input file, its path relative to the output folder)
    images: torch.Tensor  # [n, C, H', W'] in [-1, 1]
    seeds: list[int]
    notes: list[str]  # what had to change for the inputs to fit the run


def map_images(
    family: Any,
    inputs: str | Path | list,
    resolution: int,
    channels: int,
    seed: int,
    batch_size: int,
    progress: Callable[[int, int, str], None] | None,
    message: str,
    options_for: Callable[[list[Path]], dict[str, list]] | None = None,
) -> MappedImages:
    """Read every input (cropped/resized to ``resolution`` and converted to ``channels``), run
    ``family.generate`` on them in batches (image i with seed ``seed + i``) and say what changed.
    ``options_for(files)`` gives more ``generate`` options, one value per file (e.g. prompts)."""
    pairs = _input_files(inputs)
    per_file = options_for([path for path, _ in pairs]) if options_for is not None else {}
    read = [load_image(path, resolution, channels) for path, _ in pairs]
    batch = torch.stack([image for image, _ in read])
    changes = [note for _, notes in read for note in notes]
    seeds = list(range(seed, seed + len(pairs)))
    made = []
    for i in range(0, len(pairs), batch_size):
        extra = {key: values[i : i + batch_size] for key, values in per_file.items()}
        made.append(
            family.generate(seeds[i : i + batch_size], inputs=batch[i : i + batch_size], **extra)
        )
        if progress is not None:
            progress(min(i + batch_size, len(pairs)), len(pairs), message)
    notes = []
    if changes:
        shown = "; ".join(changes[:5]) + ("; ..." if len(changes) > 5 else "")
        notes.append(
            f"{len(changes)} change(s) to fit the run's {resolution}x{resolution} "
            f"{'grayscale' if channels == 1 else 'RGB'} inputs: {shown}"
        )
    return MappedImages(pairs, torch.cat(made).cpu(), seeds, notes)


def run_parameters(loaded: LoadedRun) -> dict[str, Any]:
    """What every PNG made from a loaded run records of it."""
    return {
        "run": str(loaded.run_dir.resolve()),
        "checkpoint": loaded.checkpoint.name,
        "step": loaded.step,
        "family": loaded.config.family,
    }


def translate(
    run: str | Path | LoadedRun,
    inputs: str | Path | list,
    out: str | Path,
    seed: int = 0,
    batch_size: int = 64,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Callable[[int, int, str], None] | None = None,
) -> TranslateResult:
    """Translate an image file, a folder of images (recursively) or a list of files with a
    trained Pix2Pix run; writes one PNG per input under ``out`` (a folder keeps its layout).

    Inputs of another size are centre-cropped and resized to the run's resolution, and
    converted to its channels; ``notes`` lists each change. Image i uses seed ``seed + i``
    (it matters only with ``test_dropout``). Each PNG carries its parameters.
    ``progress(done, total, message)`` counts the translated images.
    """
    loaded = _loaded(run, checkpoint, device)
    info = loaded.family.data
    mapped = map_images(loaded.family, inputs, info.resolution, info.channels, seed, batch_size,
                        progress, "translating")  # fmt: skip
    base = run_parameters(loaded)
    files = [
        save_png(
            to_pil(image), Path(out) / relative, base | {"input": str(path.resolve()), "seed": s}
        )  # fmt: skip
        for (path, relative), image, s in zip(
            mapped.files, mapped.images, mapped.seeds, strict=True
        )
    ]
    return TranslateResult(mapped.images, files, mapped.notes)


def retranslate(params: dict[str, Any]) -> torch.Tensor:
    """The image a translated PNG describes (its run, checkpoint, input file and seed), made
    again: [C, H, W] in [-1, 1]. Used by ``huashi regenerate``."""
    run_dir = Path(params["run"])
    loaded = _loaded(run_dir, run_dir / "checkpoints" / params["checkpoint"], "auto")
    info = loaded.family.data
    image, _ = load_image(Path(params["input"]), info.resolution, info.channels)
    return loaded.family.generate([params["seed"]], inputs=image[None])[0].cpu()


def _means(metrics: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: round(float(values.double().mean()), 6) for name, values in metrics.items()}


def evaluate_pairs(
    run: str | Path | LoadedRun,
    split: str = "test",
    batch_size: int = 64,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    write: bool = True,
) -> dict[str, Any]:
    """L1, PSNR and SSIM of the run's outputs against the targets of the ``split`` pairs of
    its dataset (calligraphy's held-out characters for "test"), beside the identity baseline
    (the input itself as the answer). With ``write``, saves ``pairs_eval.json`` and a grid
    ``pairs_eval.png`` (input | output | target) in the run folder."""
    from huashi.data import load_dataset
    from huashi.families.pix2pix import side_by_side

    loaded = _loaded(run, checkpoint, device)
    data = loaded.config.data
    dataset = load_dataset(
        data["spec"], resolution=data["resolution"], split=split, **data["options"]
    )
    if dataset.targets is None or len(dataset) == 0:
        raise HuashiError(
            f"the '{split}' split of {data['spec']} has no image pairs to evaluate on."
        )
    pairs = dataset.batch(torch.arange(tiny.cap("eval_n", len(dataset))))  # all but in docs tests
    inputs, targets = pairs["image"], pairs["target"]
    outputs = torch.cat(
        [
            loaded.family.generate(
                list(range(i, min(i + batch_size, len(inputs)))), inputs=inputs[i : i + batch_size]
            ).cpu()
            for i in range(0, len(inputs), batch_size)
        ]
    )
    report: dict[str, Any] = {
        "data": data["spec"],
        "split": split,
        "pairs": len(dataset),
        "step": loaded.step,
        "checkpoint": loaded.checkpoint.name,
        "model": _means(pair_metrics(outputs, targets)),
        "identity": (
            _means(pair_metrics(inputs, targets)) if inputs.shape == targets.shape else None
        ),
        "units": "images mapped to [0, 1]: L1 = mean |output - target|, PSNR in dB with "
        "peak 1, SSIM with an 11x11 Gaussian window (sigma 1.5)",
    }
    if write:
        name = PAIRS_EVAL if split == "test" else f"{PAIRS_EVAL}-{split}"
        path = loaded.run_dir / f"{name}.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(path)
        shown = slice(0, 16)
        grid = side_by_side(inputs[shown], outputs[shown], targets[shown])
        save_png(make_grid(grid, nrow=6), path.with_suffix(".png"), {"split": split})
        report["file"] = str(path)
    return report
