"""``huashi studio --runs runs/ --port 7860``: the painter's studio in a browser."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
from pathlib import Path

from huashi import api
from huashi.core.errors import HuashiError, missing_package

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_ENV = "HUASHI_STUDIO_TOKEN"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "studio", help="the web studio: paint, train and look at runs in a browser"
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder (runs/)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument(
        "--token",
        help=f"required by every request (needed for any host but this machine); better kept "
        f"out of `ps`: --token-file or ${TOKEN_ENV}",
    )
    parser.add_argument("--token-file", type=Path, help="a file holding the token")
    parser.add_argument("--data", type=Path, help="a folder of image folders to train on")
    parser.add_argument("--jobs", type=int, default=1, help="training jobs at once (1)")
    parser.set_defaults(run=run_studio)


def read_token(args: argparse.Namespace) -> str | None:
    """The token from --token, else --token-file, else $HUASHI_STUDIO_TOKEN (None: no token)."""
    if args.token:
        return args.token
    if args.token_file:
        try:
            token = args.token_file.read_text().strip()
        except OSError as error:
            raise HuashiError(f"--token-file {args.token_file}: {error.strerror}.") from None
        if not token:
            raise HuashiError(f"--token-file {args.token_file} is empty: write the token in it.")
        return token
    return os.environ.get(TOKEN_ENV, "").strip() or None


def shown_url(host: str, port: int, token: str | None) -> str:
    """The URL to open: this machine's name for an address that means "every interface"."""
    if host in LOOPBACK:
        name = "localhost"
    elif host in ("0.0.0.0", "::", ""):
        name = socket.gethostname()
    else:
        name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}/" + (f"#token={token}" if token else "")


def run_studio(args: argparse.Namespace) -> int:
    args.token = read_token(args)
    if args.host not in LOOPBACK and not args.token:
        raise HuashiError(
            f"--host {args.host} lets other machines in: give a token (any secret, e.g. "
            f"{secrets.token_urlsafe(12)}) in ${TOKEN_ENV} or a --token-file, or keep the "
            "default 127.0.0.1."
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

    api.set_threads("auto")  # leaves a core to the rest of the machine (huashi.training.threads)

    hosts = LOOPBACK if args.host in LOOPBACK else None  # with a token: any name
    app = create_app(
        args.runs, token=args.token, max_jobs=args.jobs, allowed_hosts=hosts, data_dir=args.data
    )
    print(
        f"huashi studio: {shown_url(args.host, args.port, args.token)}  (runs in {args.runs})",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
