"""Painting: sampling from seeds, painting with prompts and sweeps, and regenerating an image
from the parameters in its PNG."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from huashi.api.runs import load_run, resolve_run
from huashi.core import tiny
from huashi.core.errors import HuashiError
from huashi.core.images import labelled_rows, make_grid, read_params, save_png, to_pil
from huashi.core.progress import Progress
from huashi.core.validation import (
    MAX_SAMPLES,
    check_count,
    check_output_file,
    check_sample_request,
    check_sampling_options,
    check_seed,
)
from huashi.runs import LoadedRun
from huashi.tools.translate import retranslate
from huashi.training.threads import use_recorded_threads


def parse_label(label: Any, class_names: Sequence[str]) -> Any:
    """A class given as a number (``3`` or ``"3"``) or by name (``"star"``) -> its index; a list
    is parsed item by item. Whether the index is in range is the model's to say."""
    if isinstance(label, (list, tuple)):
        return [parse_label(item, class_names) for item in label]
    if isinstance(label, int) and not isinstance(label, bool):
        return label
    text = str(label).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    names = list(class_names)
    if text in names:
        return names.index(text)
    if not names:
        raise HuashiError(
            f"this model's classes have no names: give --label as a number, not {text!r}."
        )
    raise HuashiError(
        f"unknown class {text!r}: choose one of {', '.join(names)} (or a number 0-{len(names) - 1})."
    )


class _Tally:
    """One running count of image-steps over several ``generate`` calls, for a progress
    callback: a call of b images counts b per denoising step for families with sampling steps
    (the step count is learned from the family's first report), else b when it returns. The total
    is re-estimated when a call reports another step count (a sweep), and equals ``done`` at the
    end."""

    def __init__(self, progress: Progress | None, images: int) -> None:
        self.progress, self.left, self.finished, self.per_image = progress, images, 0, 1
        self.shown = (-1, -1)

    def steps(self, size: int, message: str) -> Progress:
        def report(done: int, total: int, what: str) -> None:
            self.per_image = total
            self._show(self.finished + size * done, f"{message} ({what} step {done}/{total})")

        return report

    def finish(self, size: int, message: str) -> None:
        self.finished += size * self.per_image
        self.left -= size
        self._show(self.finished, message)

    def _show(self, done: int, message: str) -> None:
        total = self.finished + self.left * self.per_image
        if self.progress is not None and (done, total) != self.shown:
            self.shown = (done, total)
            self.progress(done, total, message)


@dataclass
class SampleResult:
    images: torch.Tensor  # [n, C, H, W] in [-1, 1]
    seeds: list[int]
    grid: Path | None
    files: list[Path]


def _generate(
    loaded: LoadedRun, seeds: list[int], batch_size: int, tally: _Tally, message: str, options: dict
) -> torch.Tensor:
    family = loaded.family
    out = []
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i : i + batch_size]
        extra = {"progress": tally.steps(len(chunk), message)} if family.sampling_steps else {}
        out.append(family.generate(chunk, **options, **extra).cpu())
        tally.finish(len(chunk), message)
    return torch.cat(out)


def sample(
    run: str | Path | LoadedRun,
    n: int = 64,
    seed: int = 0,
    out: str | Path | None = None,
    batch_size: int = 64,
    per_image: bool = True,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    **options: Any,
) -> SampleResult:
    """Generate ``n`` images with seeds ``seed, seed+1, ...``; image i depends only on its seed.

    ``options`` are the family's sampling options (a ``label`` may be a number or a class name).
    With ``out`` (a .png path) the grid is written there and, with ``per_image``, each image to
    ``<out stem>/seed-<seed>.png``; every PNG carries the parameters that regenerate it.
    """
    if tiny.enabled():  # the docs' tests (huashi/core/tiny.py)
        n, options = tiny.cap("n", n), tiny.sampling(options)
    return _sample(run, n, seed, out, batch_size, per_image, checkpoint, device,
                   _Tally(progress, n), "sampling", options)  # fmt: skip


def with_defaults(family: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options with the family's defaults for what they leave out (sampler, steps, CFG,
    strength), so every PNG's parameters say exactly how it was painted."""
    return family.sampling_defaults(options) | options


def _sample(
    run: str | Path | LoadedRun,
    n: int,
    seed: int,
    out: str | Path | None,
    batch_size: int,
    per_image: bool,
    checkpoint: str | Path | None,
    device: str,
    tally: _Tally,
    message: str,
    options: dict[str, Any],
) -> SampleResult:
    check_sample_request(n, batch_size)
    check_seed(seed, n)
    check_sampling_options(options)
    if out is not None:
        if Path(out).suffix.lower() != ".png":
            raise HuashiError(f"--out must name a .png file, got {out}.")
        check_output_file(out)
    loaded = resolve_run(run, checkpoint, device)
    if "label" in options and loaded.family.condition == "class":
        options = options | {"label": parse_label(options["label"], loaded.family.data.class_names)}
    options = with_defaults(loaded.family, loaded.family.resolve_precision(options))
    seeds = list(range(seed, seed + n))
    images = _generate(loaded, seeds, batch_size, tally, message, options)
    grid_path, files = None, []
    if out is not None:
        out = Path(out)
        base = {
            "run": str(loaded.run_dir.resolve()),
            "checkpoint": loaded.checkpoint.name,
            "step": loaded.step,
            "family": loaded.config.family,
            "options": options,
        }
        grid_path = save_png(make_grid(images), out, base | {"seeds": seeds})
        if per_image:
            for i, (s, image) in enumerate(zip(seeds, images, strict=True)):
                files.append(
                    save_png(
                        to_pil(image),
                        out.parent / out.stem / f"seed-{s:06d}.png",
                        base | {"seed": s} | _batch_of(seeds, i, batch_size),
                    )
                )
    return SampleResult(images, seeds, grid_path, files)


def _batch_of(seeds: list[int], index: int, batch_size: int) -> dict[str, list[int]]:
    """``{"batch": [first seed, count]}`` of the batch image ``index`` was painted in, when it
    had company. Kernels may sum in another order for another batch size (a StyleGAN's grouped
    convolution differed by 1e-6 between a batch of 3 and of 1, enough to move a pixel), so
    ``huashi regenerate`` paints that same batch again and keeps this image: exact by
    construction."""
    start = index - index % batch_size
    chunk = seeds[start : start + batch_size]
    return {"batch": [chunk[0], len(chunk)]} if len(chunk) > 1 else {}


@dataclass
class PaintPass:
    """The images of one sampler and step count (the run's defaults when None)."""

    sampler: str | None
    steps: int | None
    images: torch.Tensor  # [n, C, H, W] in [-1, 1]
    seconds: float
    grid: Path | None = None
    files: list[Path] = field(default_factory=list)


@dataclass
class PaintResult:
    """What :func:`paint` made: one pass, or one per sweep pair (same seeds), and for a sweep an
    overview with one labelled row per pair."""

    passes: list[PaintPass]
    seeds: list[int]
    options: dict[str, Any]
    overview: Path | None = None
    overview_image: Any = None  # PIL image of the sweep overview
    notes: list[str] = field(default_factory=list)

    @property
    def images(self) -> torch.Tensor:
        """The images of the first (or only) pass."""
        return self.passes[0].images


def _checked_file(path: Any, what: str) -> Any:
    if not isinstance(path, (str, Path)):
        return path  # a tensor
    if not Path(path).is_file():
        raise HuashiError(f"the {what} {path} does not exist.")
    return str(Path(path).resolve())  # absolute, so `huashi regenerate` works from anywhere


def paint(
    run: str | Path | LoadedRun,
    prompt: str | None = None,
    *,
    n: int = 8,
    seed: int = 0,
    out: str | Path | None = None,
    sweep: Sequence[tuple[str, int]] | None = None,
    per_image: bool = True,
    batch_size: int = 16,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    **options: Any,
) -> PaintResult:
    """Paint ``n`` images (seeds ``seed..seed+n-1``) with the sampling ``options`` (label,
    sampler, steps, cfg, eta, init, strength, mask, precision; None values are dropped).

    ``sweep=[("ddim", 10), ("dpmpp-2m", 20)]`` paints the same seeds once per sampler and step
    count, timing each pass; with ``out`` each pass's grid goes to ``<out stem>-<sampler>-
    <steps>.png`` and the overview (one labelled row per pair) to ``out``. Without a sweep,
    ``out`` is the grid and, with ``per_image``, each image goes to ``<out stem>/``."""
    options = {key: value for key, value in options.items() if value is not None}
    if prompt is not None:
        options["prompt"] = prompt
    for key, what in (("init", "init image"), ("mask", "mask")):
        if key in options:
            options[key] = _checked_file(options[key], what)
    check_sample_request(n, batch_size)  # what needs no model fails before the run loads
    check_seed(seed, n)
    check_sampling_options(options)
    if out is not None:
        if Path(out).suffix.lower() != ".png":
            raise HuashiError(f"--out must name a .png file, got {out}.")
        check_output_file(out)
    loaded = resolve_run(run, checkpoint, device)
    family = loaded.family
    if "label" in options and family.condition == "class":
        options["label"] = parse_label(options["label"], family.data.class_names)
    options = with_defaults(family, family.resolve_precision(options))
    notes = []
    if isinstance(options.get("init"), str):
        from huashi.diffusion.inputs import load_init

        note = load_init(options["init"], family.data.channels, family.data.resolution)[2]
        notes += [note] if note else []
    from huashi.data import has_exact_captions

    if options.get("prompt") and n > 1 and has_exact_captions(loaded.config.data.get("spec")):
        notes.append(
            f"{loaded.config.data['spec']} has exactly one picture per caption, so a model "
            "trained on it paints nearly the same picture for every seed of one prompt: vary "
            "the prompt, not the seed, for variety."
        )
    if sweep:
        check_count("--sweep's number of passes", len(sweep), 32, "sweep fewer pairs")
    pairs = [(None, None)] if not sweep else [(str(s), int(k)) for s, k in sweep]
    if tiny.enabled():  # the docs' tests (huashi/core/tiny.py)
        n, options = tiny.cap("n", n), tiny.sampling(options)
        pairs = [(s, k if k is None else tiny.cap("steps", k)) for s, k in pairs]
    if sweep and not family.sampling_steps:
        raise HuashiError(
            f"a {loaded.config.family} model has no sampler or steps to sweep: drop --sweep."
        )
    tally = _Tally(progress, n * len(pairs))
    passes = []
    for sampler, steps in pairs:
        chosen = options if sampler is None else options | {"sampler": sampler, "steps": steps}
        path = out
        if sweep and out is not None:
            path = Path(out).with_name(f"{Path(out).stem}-{sampler}-{steps}.png")
        message = "painting" if sampler is None else f"{sampler} {steps} steps"
        started = time.perf_counter()
        result = _sample(loaded, n, seed, path, batch_size, per_image and not sweep, None,
                         device, tally, message, chosen)  # fmt: skip
        seconds = time.perf_counter() - started
        passes.append(PaintPass(sampler, steps, result.images, seconds, result.grid, result.files))
    painted = PaintResult(passes, list(range(seed, seed + n)), options, notes=notes)
    if sweep:
        labels = [f"{p.sampler} {p.steps}" for p in passes]
        painted.overview_image = labelled_rows([p.images for p in passes], labels)
        if out is not None:
            meta = {"run": str(loaded.run_dir.resolve()), "sweep": labels, "options": options}
            painted.overview = save_png(painted.overview_image, Path(out), meta)
    return painted


def regenerate(png: str | Path, out: str | Path) -> Path:
    """Make an image again from the parameters stored in a single-image huashi PNG."""
    check_output_file(out)
    from huashi.core.metadata import localized

    written = read_params(Path(png))
    use_recorded_threads(written.get("threads"), str(png))
    params = localized(written, png)  # relative runs and files (the studio's) found from the PNG
    if "latent" in params and "run" in params:  # an inverted or edited image (huashi invert)
        from huashi.gan.latents import load_latent, render

        loaded = load_run(params["run"], Path(params["run"]) / "checkpoints" / params["checkpoint"])
        latent = load_latent(params["latent"])
        with torch.no_grad():
            image = render(
                loaded.family,
                latent.tensor.to(loaded.family.device),
                latent.space,
                noise=latent.noise,
                **latent.options,
            )[0]
        keep = {k: v for k, v in params.items() if k != "huashi_version"}
        return save_png(to_pil(image), Path(out), keep)
    if "upscale" in params and "run" in params:  # an upscaled image (huashi upscale)
        from huashi.tools.upscale import reupscale

        keep = {k: v for k, v in params.items() if k != "huashi_version"}
        return save_png(to_pil(reupscale(params)), Path(out), keep)
    if "seed" not in params or "run" not in params:
        raise HuashiError(f"{png} does not describe a single generated image (no seed/run in it).")
    if "dream" in params:  # a DeepDream image (huashi dream)
        from huashi.tools.dream import redream

        image = redream(params)
    elif "input" in params:  # a translated image (huashi translate)
        image = retranslate(params)
    else:
        loaded = load_run(params["run"], Path(params["run"]) / "checkpoints" / params["checkpoint"])
        options = check_sampling_options(dict(params.get("options", {})))
        if "precision" in loaded.family.sampling_option_names():
            options.setdefault("precision", "fp32")  # PNGs from before it was recorded: fp32
        seeds = [check_seed(params["seed"], name=f"{png}'s seed")]
        if "batch" in params:  # painted among others: the same batch again, this image of it
            batch = params["batch"]
            if not isinstance(batch, list) or len(batch) != 2:
                raise HuashiError(f"{png}'s batch must be [first seed, count], not {batch!r}.")
            first, count = batch
            check_count(
                f"{png}'s batch size", count, MAX_SAMPLES, "its parameters were edited or damaged"
            )
            seeds = list(range(check_seed(first, count, f"{png}'s batch"), first + count))
            if params["seed"] not in seeds:
                raise HuashiError(
                    f"{png} says seed {params['seed']} was painted in the batch of seeds "
                    f"{first}..{first + count - 1}: its parameters were edited or damaged."
                )
        image = loaded.family.generate(seeds, **options)[seeds.index(params["seed"])]
    keep = {k: v for k, v in params.items() if k != "huashi_version"}
    return save_png(to_pil(image), Path(out), keep)


def check_condition(
    run: LoadedRun,
    prompt: str | None = None,
    label: Any = None,
    negative_prompt: str | None = None,
) -> None:
    """What a request asks ``run`` to paint, checked by the rules every family and the CLI use
    (:mod:`huashi.families.conditioning`) before any work: a prompt or negative prompt only for
    a text-conditioned run, a label (number or class name) only for a class-conditioned one and
    within its classes."""
    from huashi.families.conditioning import resolve_condition

    family = run.family
    resolve_condition(family.condition, family.data, 1, prompt, label)
    if negative_prompt is not None:
        resolve_condition(family.condition, family.data, 1, negative_prompt)
