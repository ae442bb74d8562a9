"""``huashi doctor RUN``: the training doctor's diagnosis of a finished or running GAN run."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="diagnose a GAN run from its log (failure signs and remedies)"
    )
    parser.add_argument("run_dir", type=Path)
    parser.set_defaults(run=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    report = api.doctor(args.run_dir)
    print(report.summary())
    for finding in report.findings:
        print(f"- {finding.sign}: {finding.evidence}.\n  Remedy: {finding.remedy}.")
    return 0
