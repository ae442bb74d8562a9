"""``huashi eval RUN --features classifier:RUN_CLS --n 5000``: measure a run, print a table and
save ``eval-<features>-<n>.json`` in the run folder."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from huashi.cli.options import parse_key_values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="measure a run: FID, KID, precision/recall, IS, CLIP score, ..."
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--features",
        help="feature network: clip:RUN, classifier:RUN or inception:PATH_TO_WEIGHTS "
        "(default: the dataset's shipped reference network, zoo:reference-DATASET)",
    )
    parser.add_argument("--n", type=int, default=5000, help="generated samples (default: 5000)")
    parser.add_argument("--seed", type=int, default=0, help="first seed; sample i uses seed+i")
    parser.add_argument(
        "--split",
        help="real split to compare with (default: train; test for image-to-image runs)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--kid-subset-size", type=int, default=1000)
    parser.add_argument("--no-cache", action="store_true", help="re-encode the real images")
    parser.add_argument(
        "--option", action="append", metavar="KEY=VALUE", help="sampling option, e.g. steps=25"
    )
    parser.set_defaults(run=run_eval)


def format_table(record: dict) -> str:
    """The metrics of an evaluation record as aligned text lines."""
    m = record["metrics"]
    rows = [("FID", f"{m['fid']:.4g}"),
            ("KID", f"{m['kid']['mean']:.4g} ± {m['kid']['std']:.2g} "
                    f"({m['kid']['subsets']} subsets of {m['kid']['subset_size']})"),
            ("precision", f"{m['precision']:.4f}"), ("recall", f"{m['recall']:.4f}")]  # fmt: skip
    if "inception_score" in m:
        s = m["inception_score"]
        rows.append(("Inception score", f"{s['mean']:.4g} ± {s['std']:.2g}"))
    if "clip_score" in m:
        rows.append(("CLIP score", f"{m['clip_score']:.4g}"))
    if "shapes_accuracy" in m:
        acc = m["shapes_accuracy"]
        detail = ", ".join(f"{k} {v:.3f}" for k, v in acc.items() if k != "all")
        rows.append(("shapes accuracy", f"{acc['all']:.4f} ({detail})"))
    for key, value in m.get("image_to_image", {}).items():
        rows.append((key.upper(), f"{value:.4g}"))
    f, real = record["features"], record["real"]
    rows += [
        ("features", f"{f['spec']} (sha256 {f['checkpoint_sha256']}, resize {f.get('resize')})"),
        ("samples", f"{record['n']} generated (seeds {record['seeds']}), {real['size']} real "
                    f"({real['dataset']} {real['split']}, reference cache {real['reference_cache']})"),
        ("sampling", f"{record['generation']['images_per_second']:.3g} images/s on "
                     f"{record['generation']['device']}"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def run_eval(args: argparse.Namespace) -> int:
    from huashi.evaluate import evaluate

    options = parse_key_values(args.option)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = evaluate(
            args.run_dir, args.features, n=args.n, seed=args.seed, split=args.split,
            batch_size=args.batch_size, device=args.device, checkpoint=args.checkpoint,
            kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size,
            cache=not args.no_cache, options=options,
        )  # fmt: skip
    for w in caught:
        print(f"huashi: warning: {w.message}")
    print(format_table(record))
    print(f"wrote {record['path']}")
    return 0
