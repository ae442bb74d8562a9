"""The recipe table: train each shipped recipe for its budget, measure it, write docs/recipes.md.

    python benchmarks/recipes.py --dataset emoji --budget 10      # one cell of the table
    python benchmarks/recipes.py --recipe emoji-gan-30min --zoo   # measure the zoo painter it made
    python benchmarks/recipes.py --all                            # every recipe (hours)
    python benchmarks/recipes.py --table-only                     # rebuild the page from results
    python benchmarks/recipes.py --recipe emoji-gan-5min --seeds 0,1,2 --add-seeds  # its spread

Each recipe trains into ``WORK/NAME`` by its own steps and its time budget (whichever comes
first), then is measured as ``huashi eval`` measures (``api.evaluate(run, None)``): FID/KID/
precision/recall of ``--n`` samples under the dataset's validated view, the FID's multiple of the
real-vs-real floor at equal n under every view (plain, second network), and the copy check; the
attribute accuracy of prompted shapes for text runs; the held-out L1 against the identity map
for image-to-image runs; images seen; sampling images/s; and a grid of 64 fixed seeds in
``docs/images/recipes/``. With ``--zoo``, the zoo painter a recipe made (its card's "recipe") is
measured instead of a new run, its training columns taken from its earlier result. Every result
is kept as JSON in ``WORK/NAME/recipe-result.json`` and, to be committed, in
``benchmarks/results/recipes/``, so the page can be rebuilt without training again (a result in
WORK wins); results from before the validated views (no ``views``) render as the plain view's
figures of their date. With ``--seeds``, the recipe is trained and scored again with each other
seed (in ``WORK/NAME-seedS``; ``--reuse`` takes runs already there); ``--add-seeds`` adds that
spread to the recipe's result as it stands, neither retraining nor re-measuring its own seed.
Feature networks and upsamplers (``benchmarks/upscale.py``) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import torch

from huashi import api, zoo
from huashi.recipes import Recipe, list_recipes
from huashi.training.device import pick_device, resolve_precision

sys.path.insert(0, str(Path(__file__).parent))
from recipe_page import NOTES, table, threads_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULT = "recipe-result.json"
RESULTS = ROOT / "benchmarks" / "results" / "recipes"  # committed copies of every result


def machine() -> str:
    """The CPU's name and what it offers bf16 (the fast paths depend on it), core count, torch."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    if "amx_bf16" in flags:
        cpu += " (AMX)"
    elif "avx512_bf16" in flags:
        cpu += " (AVX512-BF16)"
    elif "avx2" in flags:
        cpu += " (AVX2, no bf16)"
    return f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"


def sampling_speed(run: Path, n: int = 64) -> float:
    """Images/s painting ``n`` images in one batch, after a warm-up batch."""
    api.sample(run, n=8, seed=10_000, per_image=False)
    start = time.perf_counter()
    api.sample(run, n=n, seed=20_000, per_image=False)
    return n / (time.perf_counter() - start)


def zoo_painter(recipe: Recipe) -> str | None:
    """The zoo painter that ``recipe`` made (its card names the recipe), as ``zoo:NAME``."""
    entry = next((e for e in zoo.list_zoo() if e.recipe == recipe.name), None)
    return None if entry is None else f"{zoo.PREFIX}{entry.name}"


def train(recipe: Recipe, run: Path, reuse: bool, **options) -> dict:
    """Train ``recipe`` afresh in ``run`` (or, with ``reuse``, take the run already there);
    ``options`` override its training settings (the seed, for the spread over seeds)."""
    if reuse and (run / "log.jsonl").is_file():
        print(f"{recipe.name}: measuring the run already in {run}")
    else:
        if run.exists():
            shutil.rmtree(run)  # a fresh run: the table measures the recipe, not a continuation
        api.train(run, recipe=recipe.name, progress=True, **options)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line]
    settings = json.loads((run / "config.json").read_text())["train"]
    device = pick_device(settings.get("device", "auto"))  # the machine measuring trained it
    last = [r for r in log if "images_seen" in r][-1]
    steps = recipe.train.get("steps")
    cap = settings.get("max_minutes")
    if (
        steps is not None
        and last["step"] < steps
        and (not cap or last["train_seconds"] < 0.95 * cap * 60)
    ):  # short of its steps before its time cap: stopped by a signal, not by the recipe
        raise SystemExit(
            f"{run} stopped at step {last['step']} of {steps} before its time cap: an interrupted "
            f"run, not the recipe's; continue it with `huashi resume {run}` or train it again."
        )
    return {
        "steps": last["step"], "recipe_steps": steps, "images_seen": last["images_seen"],
        "train_seconds": round(last["train_seconds"], 1),
        "time_limited": steps is not None and last["step"] < steps,
        "by_steps": not settings.get("max_minutes"),
        "train_precision": resolve_precision(settings.get("precision", "auto"), device),
    }  # fmt: skip


def trained_before(recipe: Recipe, painter: str) -> dict:
    """The training columns of ``recipe``'s earlier result, for its zoo ``painter`` (the
    same run: the card's steps must match)."""
    path = RESULTS / f"{recipe.name}.json"
    if not path.is_file():
        raise SystemExit(f"{recipe.name}: no earlier result in {RESULTS} to take its training from")
    old = json.loads(path.read_text())
    steps = zoo.zoo_entry(zoo.resolve(painter)).scores.get("steps")
    if steps != old["steps"]:
        raise SystemExit(f"{painter} has {steps} steps, the earlier {recipe.name} result "
                         f"{old['steps']}: not the same run")  # fmt: skip
    keys = ("steps", "recipe_steps", "images_seen", "train_seconds", "time_limited",
            "train_precision", "machine", "threads", "date")  # fmt: skip
    return {k: old[k] for k in keys if k in old} | {"zoo": painter}


def validated(run: Path | str, n: int) -> dict:
    """What ``huashi eval`` leads with: FID/KID/precision/recall of ``n`` samples under the
    dataset's validated view, every view's floor multiple at equal n, the findings and the
    copy check verdict (seed 0)."""
    record = api.evaluate(run, None, n=n, seed=0, save=False).record
    metrics, sticks = record["metrics"], record.get("yardsticks", {})
    views = [
        {k: v[k] for k in ("network", "kind", "fid", "floor", "n", "multiple", "note") if k in v}
        for v in sticks.get("views", [])
    ]
    out = {"n": n, "features": views[0]["network"] if views else None, "views": views,
           "fid": metrics.get("fid"), "kid": metrics.get("kid", {}).get("mean"),
           "precision": metrics.get("precision"), "recall": metrics.get("recall"),
           "shapes_accuracy": metrics.get("shapes_accuracy"),
           "findings": [sticks[k] for k in ("disagreement", "networks_disagreement")
                        if sticks.get(k)]}  # fmt: skip
    if "copy_check" in sticks:
        check = sticks["copy_check"]
        out["copy_check"] = {"features": check["features"]["share_below_real_median"],
                             "pixels": check["pixels"]["share_below_real_median"],
                             "flagged": check["flagged"]}  # fmt: skip
    return out


def score(run: Path, n: int) -> dict:
    """The headline scores of a trained run: the FID's floor multiple under the validated view
    (held-out L1 too for image-to-image runs)."""
    scores: dict = {}
    pairs = sorted(run.glob("pairs_eval*.json"))
    if pairs:
        report = json.loads(pairs[-1].read_text())
        scores["held_out_l1"] = report["model"]["l1"]
        n = min(n, report["pairs"])
    first = validated(run, n)["views"][:1]
    if first and "multiple" in first[0]:
        scores["multiple"] = first[0]["multiple"]
    return scores


def seed_spread(recipe: Recipe, run: Path, n: int, seeds: list[int], reuse: bool) -> list[dict]:
    """Train ``recipe`` again with each of ``seeds`` (beside ``run``) and score each run."""
    rows = []
    for seed in seeds:
        other = run.parent / f"{run.name}-seed{seed}"
        trained = train(recipe, other, reuse, seed=seed)
        rows.append({"seed": seed, "steps": trained["steps"], **score(other, n)})
    return rows


def own_seed(recipe: Recipe, result: dict) -> dict:
    """The seed row of a measured ``result`` itself: its seed, steps and headline scores."""
    own = {"seed": recipe.train.get("seed", 0), "steps": result["steps"]}
    first = (result.get("views") or [{}])[0]
    if "multiple" in first:
        own["multiple"] = first["multiple"]
    if "pairs_eval" in result:
        own["held_out_l1"] = result["pairs_eval"]["model"]["l1"]
    return own


def add_seeds(recipe: Recipe, run: Path, seeds: tuple, reuse: bool) -> dict:
    """Add the spread over ``seeds`` to ``recipe``'s result as it stands (in ``run`` or committed),
    its own seed neither retrained nor re-measured; the others scored at its n."""
    path = next((p for p in (run / RESULT, RESULTS / f"{recipe.name}.json") if p.is_file()), None)
    result = json.loads(path.read_text()) if path else {}
    if "views" not in result or result.get("recipe_steps") != recipe.train.get("steps"):
        raise SystemExit(f"{recipe.name}: no result under the validated views at the recipe's "
                         "steps to add seeds to: measure it first (drop --add-seeds)")  # fmt: skip
    own = own_seed(recipe, result)
    others = [s for s in seeds if s != own["seed"]]
    result["seeds"] = [own, *seed_spread(recipe, run, result["n"], others, reuse)]
    for out in {path, RESULTS / f"{recipe.name}.json"}:
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def measure(
    recipe: Recipe, run: Path, n: int, grids: Path, reuse: bool = False, seeds: tuple = (),
    from_zoo: bool = False,
) -> dict:  # fmt: skip
    """Train ``recipe`` in ``run`` (or, ``from_zoo``, take the zoo painter it made) and measure
    it (and its spread over other ``seeds``)."""
    painter = zoo_painter(recipe) if from_zoo else None
    if from_zoo and painter is None:
        raise SystemExit(f"{recipe.name} made no zoo painter: train it (drop --zoo)")
    trained = trained_before(recipe, painter) if painter else train(recipe, run, reuse)
    source: Path | str = painter or run
    result: dict = {
        "recipe": recipe.name, "family": recipe.family, "data": recipe.data,
        "budget_minutes": recipe.budget_minutes,
        "machine": machine(), "threads": torch.get_num_threads(),
        "date": date.today().isoformat(), **trained,
    }  # fmt: skip
    if painter:  # trained earlier; measured here and now
        result["measured_on"] = (
            f"{machine()}, {threads_text(torch.get_num_threads())}, {date.today()}"
        )
    grids.mkdir(parents=True, exist_ok=True)
    grid = grids / f"{recipe.name}.png"
    if (run / "pairs_eval.png").is_file() and not painter:  # image-to-image: input|output|target
        shutil.copy(run / "pairs_eval.png", grid)
        result["sampling_images_per_s"] = None
    else:
        api.sample(source, n=64, seed=0, out=grid, per_image=False)
        result["sampling_images_per_s"] = round(sampling_speed(source), 2)
    result["grid"] = str(grid.relative_to(ROOT)) if grid.is_relative_to(ROOT) else str(grid)
    pairs = [] if painter else sorted(run.glob("pairs_eval*.json"))
    if pairs:
        result["pairs_eval"] = json.loads(pairs[-1].read_text())
        n = min(n, result["pairs_eval"]["pairs"])  # image-to-image: the held-out pairs
    if zoo.reference_features(recipe.data) is not None:
        result |= validated(source, n)
    if seeds and not painter:
        own = own_seed(recipe, result)
        others = [s for s in seeds if s != own["seed"]]
        result["seeds"] = [own, *seed_spread(recipe, run, n, others, reuse)]
    if not painter:
        (run / RESULT).write_text(json.dumps(result, indent=2) + "\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{recipe.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="only recipes on this dataset")
    parser.add_argument("--budget", type=float, help="only recipes with this CPU budget")
    parser.add_argument("--recipe", action="append", help="only these recipes (repeatable)")
    parser.add_argument("--all", action="store_true", help="every recipe")
    parser.add_argument("--n", type=int, default=1000, help="samples for FID/KID/precision/recall")
    parser.add_argument("--work", type=Path, default=Path("runs/recipes"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "recipes.md")
    parser.add_argument("--reuse", action="store_true", help="measure runs already in WORK")
    parser.add_argument("--table-only", action="store_true", help="rebuild the page from results")
    parser.add_argument(
        "--seeds", default="", help="also train with these seeds (e.g. 0,1,2) and report the spread"
    )
    parser.add_argument("--add-seeds", action="store_true",
                        help="add --seeds to the recipe's result without retraining or re-measuring it")  # fmt: skip
    parser.add_argument(
        "--force", action="store_true", help="rewrite the page even if it drops recipes shown there"
    )
    parser.add_argument(
        "--zoo",
        action="store_true",
        help="measure the zoo painter a recipe made instead of training",
    )
    args = parser.parse_args()

    chosen = [
        r for r in list_recipes()
        if r.family not in ("clip", "classifier", "upsampler")
        and (args.all or args.table_only or (
            (args.dataset is None or r.data == args.dataset)
            and (args.budget is None or r.budget_minutes == args.budget)
            and (args.recipe is None or r.name in args.recipe)))
    ]  # fmt: skip
    if not args.table_only:
        if not chosen:
            raise SystemExit("no recipe matches: see `huashi recipes`")
        if args.add_seeds and not args.seeds:
            raise SystemExit("--add-seeds needs --seeds (e.g. --seeds 0,1,2)")
        for recipe in chosen:
            seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
            if args.add_seeds:
                result = add_seeds(recipe, args.work / recipe.name, seeds, args.reuse)
            else:
                result = measure(recipe, args.work / recipe.name, args.n,
                                 ROOT / "docs/images/recipes", args.reuse, seeds, args.zoo)  # fmt: skip
            print(json.dumps(result))
    results = []
    for r in list_recipes():
        for path in (args.work / r.name / RESULT, RESULTS / f"{r.name}.json"):
            if path.is_file():
                results.append(json.loads(path.read_text()))
                break
    notes = ""  # hand-written text below the marker survives a rebuild of the tables
    if args.out.is_file():
        page = args.out.read_text()
        tables = page.split(NOTES, 1)[0]
        shown = set(re.findall(r"^\| `([^`]+)`", tables, flags=re.MULTILINE))
        lost = sorted(shown - {r["recipe"] for r in results})
        if lost and not args.force:
            raise SystemExit(
                f"{args.out} shows {len(lost)} recipe(s) with no result here ({', '.join(lost)}): "
                "put their results in benchmarks/results/recipes/ or --work, or pass --force "
                "to drop them from the page."
            )
        if NOTES in page:
            notes = page.split(NOTES, 1)[1]
    args.out.write_text(table(results) + "\n" + NOTES + notes)
    print(f"wrote {args.out} ({len(results)} recipes)")


if __name__ == "__main__":
    main()
