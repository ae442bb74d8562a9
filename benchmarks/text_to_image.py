"""Text-to-image on ``shapes`` at equal CPU time: GigaGAN-small vs the text ``gan`` vs latent
diffusion, measured by what the prompts asked for.

    python benchmarks/text_to_image.py --minutes 30,60 --out bench-t2i
    python benchmarks/text_to_image.py --reuse ldm=runs/shapes-ldm --contestants ldm
    python benchmarks/text_to_image.py --contestants gigagan --minutes 60 --continue gigagan=30

Each contestant trains one run from seed 0 and is measured each time the run's CPU time (this
process's, one thread with OMP_NUM_THREADS=1) reaches the next budget; a resumed huashi run
continues exactly as an uninterrupted one. ``--reuse NAME=RUN`` measures a run trained
elsewhere instead (its own training time is reported); ``--continue NAME=MINUTES`` resumes
the run already in ``--out`` that has trained MINUTES of CPU time. Measured at each budget:

- ``huashi eval``'s measurement (``api.evaluate(run, None, split="test")``) of ``--n`` images
  painted from held-out test captions (seeds 0..n-1): FID as a multiple of the real-vs-real
  floor at equal n under the validated shapes view (the ensemble of the two shapes networks,
  docs/metrics.md "Yardsticks"), the other views' multiples beside it, KID, precision and
  recall under the validated view, and the copy check against the training images;
- on the same images, exact attribute accuracy read back from the pixels by
  ``huashi.metrics.shapes_accuracy`` (all five attributes right, and each attribute);
- diversity: the mean pairwise feature distance (1 - cosine, ``zoo:reference-shapes``) of 8
  seeds of the same prompt, averaged over 16 prompts (real scenes of one caption differ only by
  a small jitter, so a low value is right; 0 means one image per prompt);
- sampling images/s (batch 64 after a warm-up batch); the run's training minutes and images/s
  as its checkpoint records them (wall clock of the training steps: they depend on the load);
- a grid, ``OUT/NAME-MINUTESmin.png``: 8 seeds (columns) of 8 fixed prompts (rows).

The latent diffusion contestant is the ``shapes-ldm-60min`` recipe (it needs the shipped
``zoo:shapes-kl-vae``; its autoencoder's training time is not counted).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from gan_losses import stop_after_cpu_seconds  # noqa: E402

from huashi import api  # noqa: E402
from huashi.core.images import labelled_rows  # noqa: E402
from huashi.data import load_dataset  # noqa: E402
from huashi.data.shapes import SHOWCASE_CAPTIONS  # noqa: E402
from huashi.metrics.features import load_features  # noqa: E402
from huashi.metrics.floor import format_multiple  # noqa: E402
from huashi.metrics.shapes_accuracy import ATTRIBUTES  # noqa: E402
from huashi.recipes import get_recipe  # noqa: E402

#: The plain view, for diversity (the FIDs use the validated view).
FEATURES = "zoo:reference-shapes"
#: The contestants: family and model options (the ldm takes its recipe's).
CONTESTANTS: dict[str, tuple[str, dict]] = {
    "gigagan": ("gigagan", {"clip_run": FEATURES, "clip_weight": 0.5}),
    "gan": (
        "gan",
        {
            "condition": "text",
            "loss": "hinge",
            "spectral_norm": True,
            "d_norm": "none",
            "diffaugment": "color,translation",
        },
    ),  # fmt: skip
    "ldm": ("diffusion", get_recipe("shapes-ldm-60min").model),
}
BATCH = {"gigagan": 16, "gan": 32, "ldm": 32}
GRID_PROMPTS = SHOWCASE_CAPTIONS  # every shape, colour, size and background, five positions


def paint(run: Path, prompts: list[str], seeds: list[int], batch: int = 64) -> torch.Tensor:
    """The run's images for (prompt, seed) pairs, in [-1, 1]."""
    loaded = api.load_run(run)
    images = []
    for start in range(0, len(seeds), batch):
        chunk = slice(start, start + batch)
        images.append(loaded.family.generate(seeds[chunk], prompt=prompts[chunk]))
    return torch.cat(images).float().clamp(-1, 1)


def diversity(run: Path, prompts: list[str], per_prompt: int = 8) -> float:
    net = load_features(FEATURES)
    distances = []
    for prompt in prompts:
        f = net.features(paint(run, [prompt] * per_prompt, list(range(per_prompt))))
        f = torch.nn.functional.normalize(f.float(), dim=1)
        similarity = f @ f.T
        off = ~torch.eye(per_prompt, dtype=torch.bool)
        distances.append(float((1 - similarity[off]).mean()))
    return sum(distances) / len(distances)


def sampling_speed(run: Path, prompts: list[str], batch: int = 64) -> float:
    paint(run, prompts[:batch], list(range(batch)))  # warm-up
    started = time.perf_counter()
    paint(run, prompts[:batch], list(range(batch, 2 * batch)))
    return batch / (time.perf_counter() - started)


def grid(run: Path, prompts: list[str], out: Path, seeds: int = 8) -> None:
    """``seeds`` seeds of each prompt, one row per prompt (enlarged 2x), the prompt on the left."""
    rows = [paint(run, [p] * seeds, list(range(seeds))) for p in prompts]
    rows = [torch.nn.functional.interpolate(r, scale_factor=2, mode="nearest") for r in rows]
    labelled_rows(rows, prompts, margin=310).save(out)


def yardsticks(run: Path, n: int) -> dict:
    """``huashi eval``'s record, kept small: FID/KID/precision/recall and the prompts'
    attributes of ``n`` images from test captions under the validated view, every view's floor
    multiple at equal n and the copy check."""
    record = api.evaluate(run, None, n=n, seed=0, split="test", save=False,
                          kid_subset_size=min(1000, n // 2)).record  # fmt: skip
    metrics, sticks = record["metrics"], record.get("yardsticks", {})
    views = [{k: v[k] for k in ("network", "fid", "floor", "n", "multiple", "note") if k in v}
             for v in sticks.get("views", [])]  # fmt: skip
    check = sticks.get("copy_check")
    return {
        "progress": record["progress"], "features": record["features"]["spec"], "views": views,
        "fid": metrics.get("fid"), "kid": metrics.get("kid", {}).get("mean"),
        "precision": metrics.get("precision"), "recall": metrics.get("recall"),
        "accuracy": metrics["shapes_accuracy"],
        "copies": None if check is None else {
            "features": check["features"]["share_below_real_median"],
            "pixels": check["pixels"]["share_below_real_median"], "flagged": check["flagged"]},
        "findings": [sticks[k] for k in ("disagreement", "networks_disagreement") if sticks.get(k)],
    }  # fmt: skip


def measure(run: Path, name: str, minutes: float | None, n: int) -> dict:
    captions = load_dataset("shapes", resolution=32, split="test").captions
    prompts = [captions[i % len(captions)] for i in range(n)]
    scores = yardsticks(run, n)
    done = scores.pop("progress")  # the checkpoint's (a zoo painter keeps no log)
    return {
        "model": name, "cpu_minutes": minutes, "steps": done["step"],
        "train_minutes": done["train_seconds"] / 60,
        "train_images_per_s": done["images_seen"] / max(done["train_seconds"], 1e-9),
        "sample_images_per_s": sampling_speed(run, prompts),
        "diversity": diversity(run, prompts[:16]),
    } | scores  # fmt: skip


def view_cells(r: dict) -> tuple[str, str]:
    """The first (validated) view's ``FID = M× (n)`` and the other views' multiples."""
    views = [v for v in r["views"] if "multiple" in v]
    if not views:
        return f"{r['fid']:.3g} (no floor)", "–"
    first = views[0]
    others = "; ".join(f"{format_multiple(v['multiple'])} {v['network']}" for v in views[1:])
    return f"{first['fid']:.3g} = {format_multiple(first['multiple'])} (n {first['n']})", others


def row(r: dict) -> str:
    a = r["accuracy"]
    budget = "–" if r["cpu_minutes"] is None else f"{r['cpu_minutes']:g}"
    asked = sum(a[k] for k in ATTRIBUTES) / len(ATTRIBUTES)
    first, others = view_cells(r)
    copies = r["copies"]
    copy_text = "–" if copies is None else (
        f"{'**flagged**' if copies['flagged'] else 'clean'} "
        f"({copies['features']:.0%} / {copies['pixels']:.0%})")  # fmt: skip
    return (
        f"| {r['model']} | {budget} | {r['steps']} | {r['train_minutes']:.1f} | {a['all']:.1%} | "
        + " | ".join(f"{a[k]:.1%}" for k in ATTRIBUTES)
        + f" | {asked:.1%} | {first} | {others} | {1000 * r['kid']:.1f} | {r['precision']:.2f} "
        f"| {r['recall']:.2f} | {copy_text} | {r['diversity']:.3f} "
        f"| {r['sample_images_per_s']:.1f} | {r['train_images_per_s']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contestants", default=",".join(CONTESTANTS))
    parser.add_argument("--minutes", default="30,60", help="CPU minutes per run, e.g. 30,60")
    parser.add_argument("--reuse", action="append", default=[], help="NAME=RUN: measure RUN")
    parser.add_argument(
        "--continue", dest="continued", action="append", default=[],
        help="NAME=MINUTES: resume OUT/NAME, which has trained MINUTES CPU minutes",
    )  # fmt: skip
    parser.add_argument("--n", type=int, default=500, help="prompts for accuracy and FID/KID")
    parser.add_argument("--out", type=Path, default=Path("bench-t2i"))
    args = parser.parse_args()
    budgets = sorted(float(m) for m in args.minutes.split(","))
    reused = dict(item.split("=", 1) for item in args.reuse)
    trained = {k: float(v) for k, v in (item.split("=", 1) for item in args.continued)}
    args.out.mkdir(parents=True, exist_ok=True)

    header = (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; shapes 32 px, {args.n} test captions, the validated view "
        f"(FID = multiple of its real-vs-real floor at equal n); diversity under {FEATURES}"
    )
    lines = [f"# {header}", "",
             "| model | CPU min | steps | train min | all 5 right | "
             + " | ".join(ATTRIBUTES) + " | asked | FID = × floor | other views | KID ×1000 "
             "| precision | recall | copies | diversity | sample img/s | train img/s |",
             "|---" * 20 + "|"]  # fmt: skip
    print("\n".join(lines), flush=True)
    records = []

    def record(run: Path, name: str, minutes: float | None) -> None:
        records.append(measure(run, name, minutes, args.n))
        lines.append(row(records[-1]))
        print(lines[-1], flush=True)
        label = "reused" if minutes is None else f"{minutes:g}min"
        grid(run, GRID_PROMPTS, args.out / f"{name}-{label}.png")

    for name in args.contestants.split(","):
        if name in reused:
            record(Path(reused[name]), name, None)
            continue
        family, model = CONTESTANTS[name]
        run, done = args.out / name, trained.get(name, 0.0)
        for minutes in [m for m in budgets if m > done]:
            api.train(
                run, family=family, data="shapes", resolution=32, model=model,
                resume=done > 0, progress=False, seed=0, batch_size=BATCH[name],
                callbacks=[stop_after_cpu_seconds((minutes - done) * 60)], steps=10**7,
                ema=0.999, precision="fp32", sample_every=10**7, checkpoint_every=10**7,
            )  # fmt: skip
            done = minutes
            record(run, name, minutes)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps({"setup": header, "runs": records}, indent=1))


if __name__ == "__main__":
    main()
