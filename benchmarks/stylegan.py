"""StyleGAN2 vs the gan family's best recipe vs DCGAN at equal CPU time, measured in-domain.

Each family trains from the same seed for the same budget of this process's CPU seconds (so
other work on a shared machine does not change the budget; run with OMP_NUM_THREADS=1 for one
core), then is measured with ``huashi.metrics.evaluate`` (by default under the dataset's validated view,
e.g. ``texture:zoo:reference-emoji``: FID as a multiple of its real-vs-real floor at equal n, the
other views' multiples beside it, KID and the copy check) and timed: training images/s (images
seen / step seconds) and sampling images/s (256 images, batch 64, after a warm-up batch). Each
run folder keeps its samples.png grid; a Markdown table is printed and written with a JSON
record to ``--out``.

    python benchmarks/stylegan.py --datasets emoji --minutes 10 --out bench-sg
    python benchmarks/stylegan.py --datasets emoji --minutes 10,30,60      # one run, measured 3x

Several budgets train one run per contestant and measure it each time the run's CPU time
reaches the next budget (a resumed huashi run continues exactly as an uninterrupted one);
``--continue-from MINUTES`` resumes the runs already in ``--out`` that have trained MINUTES CPU
minutes and measures only the larger budgets:

    python benchmarks/stylegan.py --datasets shapes --contestants dcgan --minutes 60 \\
        --continue-from 30 --out bench-sg
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
from huashi.metrics.evaluate import evaluate  # noqa: E402
from huashi.metrics.floor import format_multiple  # noqa: E402
from huashi.runs import load_run  # noqa: E402

#: The contestants: family and model options. "gan" is the best emoji recipe of
#: benchmarks/gan_losses.py (hinge, spectral norm, DiffAugment; docs/gan.md).
CONTESTANTS: dict[str, tuple[str, dict]] = {
    "stylegan": ("stylegan", {}),
    "gan": (
        "gan",
        {
            "arch": "dcgan",
            "loss": "hinge",
            "spectral_norm": True,
            "d_norm": "none",
            "diffaugment": "color,translation,cutout",
            "g_width": 32,
            "d_width": 32,
        },
    ),  # fmt: skip
    "dcgan": ("dcgan", {"g_width": 32, "d_width": 32}),
}


def sampling_speed(run: Path, n: int = 256, batch: int = 64) -> float:
    loaded = load_run(run)
    loaded.family.generate(list(range(batch)))  # warm-up
    started = time.perf_counter()
    for start in range(0, n, batch):
        loaded.family.generate(list(range(start, start + batch)))
    return n / (time.perf_counter() - started)


def measure(run: Path, data: str, name: str, minutes: float, step: int,
            features: str | None, n: int) -> dict:  # fmt: skip
    """Training speed, sampling speed, in-domain FID/KID and the yardsticks (each view's floor
    multiple, the copy check) of the run as it is now."""
    last = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()][-1]
    scores = evaluate(run, features, n=n, kid_subset_size=min(1000, n // 2))
    yardsticks = scores.get("yardsticks", {})
    return {
        "data": data, "model": name, "cpu_minutes": minutes, "steps": step,
        "images_seen": last["images_seen"],
        "train_images_per_s": last["images_seen"] / max(last["train_seconds"], 1e-9),
        "sample_images_per_s": sampling_speed(run),
        "features": scores["features"]["spec"],
        "fid": scores["metrics"].get("fid"), "kid": scores["metrics"].get("kid"),
        "views": [v for v in yardsticks.get("views", []) if "multiple" in v],
        "copy_flagged": (yardsticks.get("copy_check") or {}).get("flagged"),
    }  # fmt: skip


def view_text(record: dict) -> tuple[str, str]:
    """The first view's ``FID = M× floor (n)`` and the other views' multiples, for the table."""
    views = record["views"]
    if not views:
        return f"{record['fid']:.3f} (no floor)", "–"
    first = views[0]
    others = "; ".join(f"{format_multiple(v['multiple'])} {v['network']}" for v in views[1:])
    return (
        f"{first['fid']:.3f} = {format_multiple(first['multiple'])} (n {first['n']})",
        others or "–",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--features",
        help="clip:RUN, classifier:RUN, texture:SPEC or zoo:NAME (default: the dataset's validated"
        " view, e.g. texture:zoo:reference-emoji, with the other views beside it)",
    )
    parser.add_argument("--datasets", default="emoji,shapes")
    parser.add_argument("--contestants", default=",".join(CONTESTANTS))
    parser.add_argument("--minutes", default="10", help="CPU minutes per run, e.g. 10,30,60")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ema", type=float, default=0.995)
    parser.add_argument("--n", type=int, default=1000, help="images for FID/KID")
    parser.add_argument("--out", type=Path, default=Path("bench-stylegan"))
    parser.add_argument(
        "--continue-from", type=float, default=0.0,
        help="resume the runs in --out, which have trained this many CPU minutes",
    )  # fmt: skip
    args = parser.parse_args()
    budgets = sorted(float(m) for m in args.minutes.split(","))

    header = (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; {args.minutes} CPU minutes per run, {args.resolution} px, "
        f"batch {args.batch_size}, EMA {args.ema}, {args.n} images for FID/KID, "
        f"features {args.features or 'the validated view of zoo:reference-<data>'}"
    )
    lines = [f"# {header}", "",
             "| data | model | CPU min | steps | images seen | train img/s | sample img/s "
             "| FID = × floor | other views | KID ×1000 | copies |",
             "|---|---|---:|---:|---:|---:|---:|---|---|---:|---|"]  # fmt: skip
    print("\n".join(lines), flush=True)
    records = []
    for data in args.datasets.split(","):
        features = args.features
        for name in args.contestants.split(","):
            family, model = CONTESTANTS[name]
            run = args.out / f"{data}-{name}"
            done = args.continue_from
            for minutes in [m for m in budgets if m > done]:
                result = api.train(
                    run, family=family, data=data, resolution=args.resolution, model=model,
                    resume=done > 0, progress=False, callbacks=[stop_after_cpu_seconds((minutes - done) * 60)],
                    steps=10**7, batch_size=args.batch_size, ema=args.ema, precision="fp32",
                    sample_every=10**7, checkpoint_every=10**7, log_every=10,
                )  # fmt: skip
                done = minutes
                record = measure(run, data, name, minutes, result.step, features, args.n)
                records.append(record)
                kid = record["kid"]
                kid_text = f"{1000 * kid['mean'] if isinstance(kid, dict) else 1000 * kid:.1f}"
                fid_text, others = view_text(record)
                copies = {True: "flagged", False: "clean"}.get(record["copy_flagged"], "–")
                line = (
                    f"| {data} | {name} | {minutes:g} | {result.step} | "
                    f"{record['images_seen']:,} | {record['train_images_per_s']:.1f} | "
                    f"{record['sample_images_per_s']:.1f} | {fid_text} | {others} | {kid_text} | "
                    f"{copies} |"
                )
                lines.append(line)
                print(line, flush=True)
                api.sample(run, n=64, seed=0, out=args.out / f"{data}-{name}-{minutes:g}min.png")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps({"setup": header, "runs": records}, indent=1))


if __name__ == "__main__":
    main()
