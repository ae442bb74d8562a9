"""``huashi studio --runs runs/ --port 7860``: the painter's studio in a browser."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from huashi.errors import HuashiError, missing_package

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "studio", help="the web studio: paint, train and look at runs in a browser"
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder (runs/)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument(
        "--token", help="required by every request (needed for any host but this machine)"
    )
    parser.add_argument("--data", type=Path, help="a folder of image folders to train on")
    parser.add_argument("--jobs", type=int, default=1, help="training jobs at once (1)")
    parser.set_defaults(run=run_studio)


def run_studio(args: argparse.Namespace) -> int:
    if args.host not in LOOPBACK and not args.token:
        raise HuashiError(
            f"--host {args.host} lets other machines in: add --token "
            f"{secrets.token_urlsafe(12)} (any secret), or keep the default 127.0.0.1."
        )
    if args.jobs < 1:
        raise HuashiError("--jobs must be at least 1.")
    if not 0 <= args.port <= 65535:
        raise HuashiError(f"--port must be from 0 to 65535 (e.g. 7860), not {args.port}.")
    try:
        import uvicorn
    except ImportError:
        raise missing_package("uvicorn", "studio", "huashi studio") from None
    from huashi.studio.server import create_app

    hosts = LOOPBACK if args.host in LOOPBACK else None  # with a token: any name
    app = create_app(
        args.runs, token=args.token, max_jobs=args.jobs, allowed_hosts=hosts, data_dir=args.data
    )
    shown = "localhost" if args.host in LOOPBACK else args.host
    fragment = f"#token={args.token}" if args.token else ""
    print(
        f"huashi studio: http://{shown}:{args.port}/{fragment}  (runs in {args.runs})", flush=True
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
