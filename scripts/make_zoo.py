"""Train a zoo entry by its recipe at a fixed seed, measure it, and put it in huashi/zoo/.

    python scripts/make_zoo.py reference-mnist --recipe mnist-classifier-reference
    python scripts/make_zoo.py emoji-gan --recipe emoji-gan-60min --n 1000

A feature network (clip, classifier) records its real-vs-real FID floor: the FID between two
disjoint halves of its dataset, the best any painter can score with it. An upsampler records
the PSNR, SSIM and FID of its held-out images downsampled and upscaled again, beside bicubic's.
A painter records the in-domain FID/KID/precision/recall of ``--n`` samples against its
dataset, measured with the dataset's reference network (``zoo:reference-<dataset>``) when one
is installed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from huashi import api, zoo
from huashi.data import load_dataset
from huashi.metrics.evaluate import evaluate
from huashi.metrics.features import load_features
from huashi.metrics.fid import fid
from huashi.recipes import get_recipe
from huashi.tools.translate import evaluate_pairs
from huashi.tools.upscale import compare_on_held_out
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint

CHECK_N = 200  # the small n at which tests/zoo/test_zoo.py re-measures every shipped painter
CHECK_N_UPSCALE = 32  # the held-out images on which it re-measures a shipped upsampler


def features_name(spec: str | None) -> str | None:
    """``zoo:NAME`` for a shipped feature network's spec (``clip:/.../zoo/NAME``)."""
    return None if spec is None else f"zoo:{Path(spec.partition(':')[2]).name}"


def rounded(accuracy: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 4) for key, value in accuracy.items()}


def real_floor(kind: str, run_dir: Path, data: str, resolution: int, n: int, seed: int) -> dict:
    """FID between two disjoint halves (n each at most) of the dataset, under this network.
    For a paired (image-to-image) set the halves are of its targets, what translations are
    compared with."""
    net = load_features(f"{kind}:{run_dir}")
    dataset = load_dataset(data, resolution=resolution)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    half = min(n, len(dataset) // 2)
    key = "target" if dataset.targets is not None else "image"
    a = net.features(dataset.batch(order[:half])[key])
    b = net.features(dataset.batch(order[half : 2 * half])[key])
    return {"floor_fid": round(fid(a, b), 4), "floor_n": half} | (
        {"floor_on": "targets"} if key == "target" else {}
    )


def floor_scores(record: dict) -> dict:
    """The card's FID as a multiple of its floor, under the default (validated) view and its
    n, as the studio and ``huashi zoo`` show it (huashi.metrics.yardsticks.describe_card)."""
    views = record.get("yardsticks", {}).get("views") or [{}]
    first = views[0]
    if "multiple" not in first:  # why there is none, shown beside the raw FID
        return {"fid_floor_note": first["note"]} if first.get("note") else {}
    return {"fid_floor_fid": round(first["fid"], 3), "fid_floor_multiple": round(first["multiple"], 2),
            "fid_floor_n": first["n"], "fid_floor_features": first["network"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="zoo name, e.g. emoji-gan or reference-emoji")
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=1000, help="samples for the scores")
    parser.add_argument("--work", type=Path, default=Path("runs/zoo-build"))
    parser.add_argument("--root", type=Path, help="zoo folder (default: huashi/zoo)")
    parser.add_argument("--example-prompt", help="a text painter: a prompt the card shows")
    parser.add_argument("--reuse", action="store_true", help="measure the run already in WORK")
    args = parser.parse_args()

    recipe = get_recipe(args.recipe)
    run_dir = args.work / args.name
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    if args.reuse and checkpoint is not None:
        step = int(load_checkpoint(checkpoint)[1]["step"])
        print(f"measuring the run already in {run_dir} (step {step})")
    else:  # by steps alone, so the entry is the same whatever the machine's speed or load
        step = api.train(run_dir, recipe=recipe.name, seed=args.seed, max_minutes=0).step
    scores: dict = {"steps": step}
    if args.example_prompt:
        scores["example_prompt"] = args.example_prompt
    if recipe.family in ("clip", "classifier"):
        scores |= real_floor(
            recipe.family, run_dir, recipe.data, recipe.resolution, args.n, args.seed
        )
    elif recipe.family == "pix2pix":  # image-to-image: held-out L1 against the identity map
        report = evaluate_pairs(run_dir, write=False)
        scores |= {"held_out_l1": round(report["model"]["l1"], 4),
                   "identity_l1": round(report["identity"]["l1"], 4),
                   "psnr": round(report["model"]["psnr"], 2),
                   "ssim": round(report["model"]["ssim"], 4), "pairs": report["pairs"]}  # fmt: skip
    elif recipe.family == "upsampler":  # held-out images downsampled, against bicubic
        features = zoo.reference_features(recipe.data, recipe.resolution)
        full = compare_on_held_out(run_dir, features=features)
        check = compare_on_held_out(run_dir, n=CHECK_N_UPSCALE).rows
        for method, prefix in (("upsampler", ""), ("bicubic", "bicubic_")):
            scores |= {f"{prefix}{key}": round(full.rows[method][key], 4)
                       for key in ("psnr", "ssim", "fid") if key in full.rows[method]}  # fmt: skip
            scores[f"{prefix}psnr_check"] = round(check[method]["psnr"], 4)
        scores |= {"n": len(full.originals), "features": features_name(features),
                   "psnr_check_n": CHECK_N_UPSCALE}  # fmt: skip
    else:
        features = zoo.reference_features(recipe.data)
        if features is not None:
            record = evaluate(run_dir, features, n=args.n, seed=args.seed)
            m = record["metrics"]
            scores |= {"fid": round(m["fid"], 3), "kid": round(m["kid"]["mean"], 4),
                       "precision": round(m["precision"], 3), "recall": round(m["recall"], 3),
                       "n": args.n, "features": f"zoo:reference-{recipe.data}"}  # fmt: skip
            scores |= floor_scores(evaluate(run_dir, n=args.n, seed=args.seed, save=False))
            check = evaluate(run_dir, features, n=CHECK_N, seed=args.seed, save=False)
            scores |= {"fid_check": round(check["metrics"]["fid"], 3), "fid_check_n": CHECK_N}
            if "caption_retrieval" in m:  # a text painter: its prompts picked out of 50 captions
                scores |= {"caption_retrieval": round(m["caption_retrieval"], 3),
                           "caption_retrieval_check": round(check["metrics"]["caption_retrieval"], 3)}  # fmt: skip
            if "shapes_accuracy" in m:  # a text painter on shapes: its prompts, read back exactly
                scores |= {"shapes_accuracy": rounded(m["shapes_accuracy"]),
                           "shapes_accuracy_check": rounded(check["metrics"]["shapes_accuracy"])}  # fmt: skip
    entry = zoo.add_to_zoo(run_dir, args.name, recipe.description, recipe.name, args.seed, scores,
                           args.root)  # fmt: skip
    print(f"zoo:{entry.name} written to {entry.path}: {scores}")


if __name__ == "__main__":
    main()
