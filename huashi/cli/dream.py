"""``huashi dream RUN IMAGE|noise --layer NAME --octaves 4 --steps 20 --out dream.png``:
DeepDream with a classifier or clip run (or inception:PATH); ``--class K`` dreams a class,
``--prompt TEXT`` a CLIP text; ``huashi dream --list-layers RUN`` names the layers."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar, say
from huashi.core.errors import HuashiError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dream", help="DeepDream: change an image (or noise) so a network sees more of something"
    )
    parser.add_argument(
        "run_dir", nargs="?", help="a classifier or clip run folder, or inception:PATH"
    )
    parser.add_argument("start", nargs="?", help="an image file, or 'noise' (seeded)")
    parser.add_argument("--list-layers", metavar="RUN", help="list the layers of RUN and exit")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--layer", help="maximize this layer's activations (by module name)")
    what.add_argument("--class", dest="class_index", type=int, help="maximize this class's logit")
    what.add_argument("--prompt", help="maximize the CLIP similarity to this text (clip run)")
    parser.add_argument("--channel", type=int, help="with --layer: maximize one channel only")
    parser.add_argument("--octaves", type=int, default=4, help="scales, small to full (default 4)")
    parser.add_argument("--octave-scale", type=float, default=1.4, help="size ratio (default 1.4)")
    parser.add_argument("--steps", type=int, default=20, help="ascent steps per octave")
    parser.add_argument("--lr", type=float, default=0.05, help="step size (default 0.05)")
    parser.add_argument("--jitter", type=int, default=2, help="random roll in pixels (default 2)")
    parser.add_argument(
        "--copies", type=int, default=1, help="random views per step, gradients averaged"
    )
    parser.add_argument("--scale", type=float, default=0.0, help="random zoom of the views (0.1)")
    parser.add_argument("--rotate", type=float, default=0.0, help="random rotation in degrees")
    parser.add_argument(
        "--background", type=float, default=0.0,
        help="mean of the noise start and fill of the views' edges (-1: black)",
    )  # fmt: skip
    parser.add_argument("--tv", type=float, default=0.0, help="total-variation weight")
    parser.add_argument("--decay", type=float, default=0.0, help="L2 pull toward mid-gray")
    parser.add_argument(
        "--range", dest="range_weight", type=float, default=0.0,
        help="soft penalty on pixels outside [-1, 1] instead of clipping them",
    )  # fmt: skip
    parser.add_argument("--size", type=int, help="output size in pixels (default: the net's)")
    parser.add_argument("--noise", type=float, default=0.2, help="std of the noise start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    parser.add_argument("--out", type=Path, default=Path("dream.png"), help="output PNG")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(run=run_dream)


def run_dream(args: argparse.Namespace) -> int:
    if args.list_layers:
        with progress_bar(not args.quiet, f"loading {args.list_layers} and tracing its layers"):
            net = api.load_dream_net(args.list_layers, args.checkpoint, args.device)
            layers = api.list_layers(net)
        for name, kind, shape in layers:
            print(f"{name:32} {kind:20} {'x'.join(str(s) for s in shape)}")
        return 0
    if not args.run_dir or not args.start:
        raise HuashiError("give a run folder and a start (an image file or 'noise').")
    if args.class_index is not None:
        objective = "class"
    elif args.prompt is not None:
        objective = "prompt"
    elif args.layer:
        objective = "layer"
    else:
        raise HuashiError("say what to dream: --layer NAME, --class K or --prompt TEXT.")
    settings = api.DreamSettings(
        objective=objective, layer=args.layer or "", channel=args.channel,
        class_index=args.class_index, prompt=args.prompt, octaves=args.octaves,
        octave_scale=args.octave_scale, steps=args.steps, lr=args.lr, jitter=args.jitter,
        copies=args.copies, scale=args.scale, rotate=args.rotate, background=args.background,
        tv=args.tv, decay=args.decay, range_weight=args.range_weight, size=args.size,
        noise=args.noise, seed=args.seed,
    )  # fmt: skip
    settings.check_values()  # before the network loads
    with progress_bar(not args.quiet, f"loading {args.run_dir}") as bar:
        net = api.load_dream_net(args.run_dir, args.checkpoint, args.device)

        def show(p) -> None:
            if bar is not None:
                done = p.octave * settings.steps + p.step + 1
                message = f"dreaming, octave {p.octave + 1}/{settings.octaves} ({p.size} px)"
                bar(done, settings.octaves * settings.steps, message)

        result = api.dream(net, args.start, settings, out=args.out, progress=show)
    first, last = result.history[0][0], result.history[-1][-1]
    say(
        args, f"wrote {result.files[0]} and {result.files[1]} (objective {first:.4f} -> {last:.4f})"
    )
    return 0
