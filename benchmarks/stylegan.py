"""StyleGAN2 vs the gan family's best recipe vs DCGAN at equal CPU time, measured in-domain.

Each family trains from the same seed for the same budget of this process's CPU seconds (so
other work on a shared machine does not change the budget; run with OMP_NUM_THREADS=1 for one
core), then is measured with ``huashi.evaluate`` (FID and KID with an in-domain huashi feature
network, e.g. a ``clip:`` run trained on the same data) and timed: training images/s (images
seen / step seconds) and sampling images/s (256 images, batch 64, after a warm-up batch). Each
run folder keeps its samples.png grid; a Markdown table is printed and written with a JSON
record to ``--out``.

    python benchmarks/stylegan.py --features clip:runs/emoji-clip --minutes 10 --out bench-sg
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
from huashi.evaluate import evaluate  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", required=True, help="clip:RUN or classifier:RUN")
    parser.add_argument("--datasets", default="emoji,shapes")
    parser.add_argument("--contestants", default=",".join(CONTESTANTS))
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU minutes per run")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ema", type=float, default=0.995)
    parser.add_argument("--n", type=int, default=1000, help="images for FID/KID")
    parser.add_argument("--out", type=Path, default=Path("bench-stylegan"))
    args = parser.parse_args()

    header = (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; {args.minutes:g} CPU minutes per run, {args.resolution} px, "
        f"batch {args.batch_size}, EMA {args.ema}, {args.n} images for FID/KID, "
        f"features {args.features}"
    )
    lines = [f"# {header}", "",
             "| data | model | steps | train img/s | sample img/s | FID | KID x1000 |",
             "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    print("\n".join(lines), flush=True)
    records = []
    for data in args.datasets.split(","):
        for name in args.contestants.split(","):
            family, model = CONTESTANTS[name]
            run = args.out / f"{data}-{name}"
            result = api.train(
                run, family=family, data=data, resolution=args.resolution, model=model,
                progress=False, callbacks=[stop_after_cpu_seconds(args.minutes * 60)],
                steps=10**7, batch_size=args.batch_size, ema=args.ema, precision="fp32",
                sample_every=10**7, checkpoint_every=10**7, log_every=10,
            )  # fmt: skip
            last = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()][-1]
            train_speed = last["images_seen"] / max(last["train_seconds"], 1e-9)
            sample_speed = sampling_speed(run)
            scores = evaluate(run, args.features, n=args.n, kid_subset_size=min(1000, args.n // 2))
            fid, kid = scores["metrics"].get("fid"), scores["metrics"].get("kid")
            record = {
                "data": data, "model": name, "steps": result.step, "train_images_per_s":
                train_speed, "sample_images_per_s": sample_speed, "fid": fid, "kid": kid,
            }  # fmt: skip
            records.append(record)
            kid_text = f"{1000 * kid['mean'] if isinstance(kid, dict) else 1000 * kid:.1f}"
            line = (
                f"| {data} | {name} | {result.step} | {train_speed:.1f} | {sample_speed:.1f} | "
                f"{fid:.1f} | {kid_text} |"
            )
            lines.append(line)
            print(line, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps({"setup": header, "runs": records}, indent=1))


if __name__ == "__main__":
    main()
