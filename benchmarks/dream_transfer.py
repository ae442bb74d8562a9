"""Do class dreams hold the class? Held-out probability per digit for dream settings.

    python benchmarks/dream_transfer.py --runs runs/dream-transfer

Trains four 16 px mnist classifiers that differ only in their seed (the test's recipe: width
16, 150 steps, lr 2e-3, batch 32; skipped when already there), dreams every digit 0-9 from
noise with classifiers 0 and 2 for a few seeds, and asks the other classifiers (held out) for
the digit's probability. Prints, per setting, the mean over dreamers, judges and seeds for each
digit, then the test's own pair (dream with 0, judge with 1).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from huashi import api
from huashi.tools.dream import dream
from huashi.tools.dream_net import load_dream_net

#: the docs' former class-dream recipe, and the same with transformation robustness
BASE = {"objective": "class", "octaves": 1, "steps": 40, "lr": 0.05, "jitter": 1, "tv": 2.0,
        "noise": 0.2}  # fmt: skip
ROBUST = BASE | {"copies": 8, "scale": 0.1, "rotate": 10.0}
SETTINGS = {
    "rolls (before)": BASE,
    "+ views (copies 8, scale 0.1, rotate 10)": ROBUST,
    "+ views + background -1": ROBUST | {"background": -1.0},
    "+ views, copies 4": ROBUST | {"copies": 4},
    "+ views + background -1, copies 4": ROBUST | {"copies": 4, "background": -1.0},
}
PAIRS = [(0, 1), (0, 2), (0, 3), (2, 0), (2, 1), (2, 3)]  # (dreamer, held-out judge)


def train(runs: Path, seed: int) -> Path:
    out = runs / f"cls-{seed}"
    if not (out / "checkpoints").is_dir():
        api.train(out, "classifier", "mnist", 16, model={"width": 16, "lr": 2e-3}, steps=150,
                  batch_size=32, seed=seed, precision="fp32", progress=False,
                  checkpoint_every=10_000, sample_every=10_000)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/dream-transfer"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", help="run only the settings whose name contains this")
    args = parser.parse_args()
    nets = {s: load_dream_net(train(args.runs, s)) for s in range(4)}
    row = "| {} | " + " | ".join(["{:.2f}"] * 11) + " |"
    print("| setting | " + " | ".join(map(str, range(10))) + " | mean |")
    print("| --- " * 12 + "|")
    for name, options in SETTINGS.items():
        if args.only and args.only not in name:
            continue
        started = time.perf_counter()
        per_pair = {}
        for dreamer in sorted({d for d, _ in PAIRS}):
            images = torch.stack([
                dream(nets[dreamer], None, class_index=k, seed=seed, **options).image
                for seed in range(args.seeds) for k in range(10)
            ])  # fmt: skip
            for d, judge in PAIRS:
                if d == dreamer:
                    with torch.no_grad():
                        probs = nets[judge].forward(images).softmax(1)
                    digit = torch.arange(len(images)) % 10
                    per_pair[d, judge] = probs[torch.arange(len(images)), digit].view(-1, 10)
        every = torch.cat(list(per_pair.values())).mean(0)
        test = per_pair[0, 1].mean(0)
        seconds = time.perf_counter() - started
        print(row.format(f"{name}, all pairs ({seconds:.0f} s)", *every, every.mean()))
        print(row.format(f"{name}, 0 -> 1", *test, test.mean()), flush=True)


if __name__ == "__main__":
    main()
