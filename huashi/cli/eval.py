"""``huashi eval RUN --features classifier:RUN_CLS --n 5000``: measure a run, print a table and
save ``eval-<features>-<n>.json`` in the run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import parse_key_values, progress_bar, say
from huashi.core.errors import HuashiError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="measure a run: FID, KID, precision/recall, IS, CLIP score, ..."
    )
    parser.add_argument("run_dir", type=Path, nargs="?", help="the run to measure")
    parser.add_argument(
        "--features",
        help="feature network: clip:RUN, classifier:RUN, zoo:NAME, texture:SPEC, ensemble:A+B or "
        "inception:PATH_TO_WEIGHTS (default: the validated view of the dataset's shipped "
        "reference networks, docs/metrics.md)",
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
    parser.add_argument(
        "--also", action="append", metavar="FEATURES",
        help="another view to report the FID's floor multiple under (default with the default "
        "features: the plain reference network)",
    )  # fmt: skip
    parser.add_argument(
        "--validate", metavar="FEATURES",
        help="instead of measuring a run: the validation ladder of a feature network, e.g. "
        "zoo:reference-emoji, texture:zoo:reference-emoji or "
        "ensemble:zoo:reference-mnist+zoo:reference-mnist-clip (docs/metrics.md)",
    )  # fmt: skip
    parser.add_argument(
        "--ladder-run", type=Path, metavar="RUN",
        help="with --validate: a GAN run whose checkpoints at 1/4, 1/2 and all of its steps "
        "form the last ladder",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path,
        help="write the record (or with --validate the report) to this .json file too",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_eval)


def format_table(result: api.EvalResult) -> str:
    """An evaluation's metrics (labels and formats from the metric registry), its yardsticks
    and how they were made, as aligned text lines."""
    record = result.record
    rows = [(row.label, row.value) for row in result.table()]
    f, real = record["features"], record["real"]
    rows += result.yardsticks()
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
    if args.validate:
        report = api.validate_features(args.validate, args.ladder_run, args.seed, args.device,
                                       args.out)  # fmt: skip
        print(report.markdown())
        if args.out:
            say(args, f"wrote {args.out}")
        return 0 if report.passed else 1
    if args.run_dir is None:
        raise HuashiError("huashi eval needs a run folder (or --validate FEATURES).")
    with progress_bar(not args.quiet, f"loading {args.run_dir}") as progress:
        result = api.evaluate(
            args.run_dir, args.features, n=args.n, seed=args.seed, checkpoint=args.checkpoint,
            device=args.device, options=parse_key_values(args.option), progress=progress,
            split=args.split, batch_size=args.batch_size, kid_subsets=args.kid_subsets,
            kid_subset_size=args.kid_subset_size, cache=not args.no_cache, also=args.also,
            out=args.out,
        )  # fmt: skip
    for warning in result.warnings:
        print(f"huashi: warning: {warning}")
    print(format_table(result))
    written = [str(p) for p in (result.path, result.out) if p is not None]
    if written:
        say(args, f"wrote {' and '.join(written)}")
    if result.path is None:
        print("(a zoo painter: its record is not written into the shipped folder"
              + (")" if result.out else "; --out FILE.json writes it)"))  # fmt: skip
    return 0
