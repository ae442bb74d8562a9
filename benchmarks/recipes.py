"""The recipe table: train each shipped recipe for its budget, measure it, write docs/recipes.md.

    python benchmarks/recipes.py --dataset emoji --budget 10      # one cell of the table
    python benchmarks/recipes.py --recipe emoji-gan-30min --zoo   # measure the zoo painter it made
    python benchmarks/recipes.py --all                            # every recipe (hours)
    python benchmarks/recipes.py --table-only                     # rebuild the page from results

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
figures of their date. Feature networks and upsamplers (``benchmarks/upscale.py``) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import time
from datetime import date
from pathlib import Path

import torch

from huashi import api, zoo
from huashi.metrics.floor import format_multiple
from huashi.metrics.yardsticks import base_network
from huashi.recipes import Recipe, list_recipes
from huashi.training.device import pick_device, resolve_precision

ROOT = Path(__file__).resolve().parent.parent
RESULT = "recipe-result.json"
RESULTS = ROOT / "benchmarks" / "results" / "recipes"  # committed copies of every result
NOTES = "<!-- notes: everything below is kept when the tables are rebuilt -->"


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
        result["measured_on"] = f"{machine()}, {_threads(torch.get_num_threads())}, {date.today()}"
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
        own = {"seed": recipe.train.get("seed", 0), "steps": result["steps"]}
        first = result.get("views", [{}])[0]
        if "multiple" in first:
            own["multiple"] = first["multiple"]
        if "pairs_eval" in result:
            own["held_out_l1"] = result["pairs_eval"]["model"]["l1"]
        others = [s for s in seeds if s != own["seed"]]
        result["seeds"] = [own, *seed_spread(recipe, run, n, others, reuse)]
    if not painter:
        (run / RESULT).write_text(json.dumps(result, indent=2) + "\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{recipe.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"
    return str(value)


def _first_view(result: dict, plain: bool = False) -> dict | None:
    """The validated view's record (the first), or with ``plain`` the plain view of its
    network (the pooled features alone: ``zoo:reference-shapes`` under
    ``ensemble:zoo:reference-shapes+...`` or ``texture:zoo:reference-shapes``)."""
    views = result.get("views") or []
    if not views or not plain:
        return views[0] if views else None
    return next((v for v in views if v["network"] == base_network(views[0]["network"])), None)


def _multiple(view: dict | None, with_fid: bool) -> str:
    if view is None:
        return "–"
    if "multiple" not in view:
        return view.get("note", "no floor") if with_fid else "no floor"
    times = format_multiple(view["multiple"])
    return f"{view['fid']:.3g} = {times} (n {view['n']:,})" if with_fid else times


NO_FLOOR = "No floor: 193 held-out pairs are too few for one at equal n"


def fid_cells(r: dict) -> tuple[str, str]:
    """The validated view's FID as a floor multiple, and the plain view's multiple; for a
    result from before the validated views, its plain FID marked with its date."""
    if "views" in r:
        return _multiple(_first_view(r), True), _multiple(_first_view(r, plain=True), False)
    old = f"raw {_fmt(r.get('fid'))}, plain view, {r['date']}"
    return (NO_FLOOR.lower() if r.get("pairs_eval") else "not re-measured"), old


def copy_cell(r: dict) -> str:
    check = r.get("copy_check")
    if check is None:
        return "–"
    verdict = "**flagged**" if check["flagged"] else "clean"
    return f"{verdict} ({check['features']:.0%} / {check['pixels']:.0%})"


def other_cell(r: dict) -> str:
    """The prompted attributes read back (text runs) or the held-out pairs (image-to-image)."""
    if r.get("shapes_accuracy"):  # the prompts' attributes read back from the pixels
        a = r["shapes_accuracy"]
        each = {k: v for k, v in a.items() if k != "all"}
        return (
            f"prompted attributes exact: {sum(each.values()) / len(each):.1%} "
            f"({', '.join(f'{k} {v:.0%}' for k, v in each.items())}); "
            f"all five right {a['all']:.1%}"
        )
    if r.get("pairs_eval"):
        model, identity = r["pairs_eval"]["model"], r["pairs_eval"]["identity"]
        return (
            f"held-out L1 {model['l1']:.4f} (identity {identity['l1']:.4f}), "
            f"PSNR {model['psnr']:.1f} dB, SSIM {model['ssim']:.3f}"
        )
    return ""


INTRO = """# The recipe table

Made by `python benchmarks/recipes.py` (see its docstring). Each recipe trains by its
steps and its CPU budget, whichever comes first, then is measured as `huashi eval` measures:
FID of n samples as a multiple of the real-vs-real floor (two disjoint halves of the real data,
the best any painter can score) at equal n under the dataset's **validated view**, the one that
passed its validation ladder (docs/metrics.md "Yardsticks": the texture view of
`zoo:reference-<dataset>` on emoji and mnist, the ensemble of the three shapes networks on
shapes): "0.477 = 3.6× (n 564)" reads 3.6 times as far from the real images as real images are
from each other. Beside it, the plain view's multiple (the pooled features alone, blind to speckle
and noise: what these tables showed until 2026-12-07); KID, precision and recall of the n
samples under the validated view; and the copy check (the share of samples closer to a training
image than the median real pair, in features / pixels; about 50 % expected, flagged at 75 %).
Lower multiples are better; compare them only at equal n and within one dataset. Train with
`huashi train --recipe NAME --out RUN`.
"""


def intro(results: list[dict]) -> list[str]:
    """The page's opening: what the tables show, and which rows are and are not re-measured."""
    new = [r for r in results if "views" in r]
    old = [r for r in results if "views" not in r and not r.get("pairs_eval")]
    pairs = [r for r in results if r.get("pairs_eval")]
    lines = INTRO.splitlines()
    if new:
        dates = sorted({r.get("measured_on", r["date"]).rsplit(" ", 1)[-1] for r in new})
        zoo_rows = ", ".join(f"`{r['recipe']}`" for r in new if r.get("zoo"))
        lines += ["", f"Re-measured under the validated views ({', '.join(dates)}): {len(new)} of "
                  f"{len(results)} rows" + (f", measuring the zoo weights their recipe made for "
                  f"{zoo_rows} (training columns from their first run)" if zoo_rows else "")
                  + "."]  # fmt: skip
    if old:
        names = ", ".join(f"`{r['recipe']}`" for r in old)
        lines += ["", f"**Not re-measured: {names}.** "
                  "Their FID, KID, precision and recall are the plain view's of the date shown, "
                  "from before the views were validated, and read far too kind (the notes below "
                  "say why each was left, and how much too kind)."]  # fmt: skip
    if pairs:
        lines += ["", f"Calligraphy's {len(pairs)} rows keep their raw plain-view FID: no floor."]
    return [*lines, ""]


def section_head(data: str, rows: list[dict]) -> list[str]:
    """The floors the rows of one table are measured against."""
    lines = []
    new = next((r for r in rows if r.get("views")), None)
    shown = [] if new is None else [_first_view(new), _first_view(new, plain=True)]
    parts = [
        f"`{v['network']}` {v['floor']:.3g} (n {v['n']:,})" for v in shown if v and "floor" in v
    ]
    if parts:
        lines.append(
            "Real-vs-real floors at equal n, validated and plain view: " + "; ".join(parts) + "."
        )
    if any("views" not in r and not r.get("pairs_eval") for r in rows):
        floor = next((r["floor_fid"] for r in rows if r.get("floor_fid") is not None), None)
        lines.append(f"Rows not re-measured: plain FID of n 1,000 under `zoo:reference-{data}`, "
                     f"whose floor was then given as {floor} (not at equal n).")  # fmt: skip
    if any(r.get("pairs_eval") for r in rows):
        lines.append(f"{NO_FLOOR} (docs/metrics.md): raw FID under the plain "
                     f"`zoo:reference-{data}`; the held-out L1 is the first yardstick.")  # fmt: skip
    return [" ".join(lines), ""] if lines else []


def table(results: list[dict]) -> str:
    """The markdown page for every measured recipe, by dataset and budget."""
    lines = intro(results)
    by_cell: dict[tuple, list[dict]] = {}
    for result in results:
        by_cell.setdefault((result["data"], result["budget_minutes"]), []).append(result)
    for (data, budget), rows in sorted(by_cell.items()):
        lines += [f"## {data}, {budget:g} CPU-minutes", "", *section_head(data, rows)]
        lines += [
            "| recipe | family | steps | images seen | train min | n | FID = × floor, validated "
            "view ↓ | plain view ↓ | KID ↓ | precision ↑ | recall ↑ | copy check | other "
            "| sampling img/s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
        ]

        def order(r: dict) -> tuple:
            first = _first_view(r) or {}
            return ("multiple" not in first, first.get("multiple", 0), r.get("fid") or 0)

        for r in sorted(rows, key=order):
            steps = f"{r['steps']}" + ("" if not r["time_limited"] else f" of {r['recipe_steps']}")
            name = f"`{r['recipe']}`" + (f" (zoo weights, `{r['zoo']}`)" if r.get("zoo") else "")
            validated_fid, plain = fid_cells(r)
            lines.append(
                f"| {name} | {r['family']} | {steps} | {r['images_seen']:,} "
                f"| {r['train_seconds'] / 60:.1f} | {_fmt(r.get('n'))} | {validated_fid} "
                f"| {plain} | {_fmt(r.get('kid'))} | {_fmt(r.get('precision'))} "
                f"| {_fmt(r.get('recall'))} | {copy_cell(r)} | {other_cell(r)} "
                f"| {_fmt(r['sampling_images_per_s'])} |"
            )
        lines.append("")
        lines += [spread_line(r) for r in rows if len(r.get("seeds", [])) > 1]
        for r in rows:
            what = " (held-out pairs: input, output, target)" if r.get("pairs_eval") else ""
            grid = Path(r["grid"]).relative_to("docs")
            lines.append(f"`{r['recipe']}`{what}:\n\n![{r['recipe']}]({grid})\n")
        machines = list(dict.fromkeys(sorted(map(machine_line, rows))))  # each machine once
        lines += ["Measured on: " + "; ".join(machines) + ".", ""]
    return "\n".join(lines)


def _threads(count: int) -> str:
    return f"{count} thread{'s' * (count != 1)}"


def machine_line(r: dict) -> str:
    """Where a row was trained and measured (a zoo painter's weights: trained earlier)."""
    trained = f"{r['machine']}, trained in {r.get('train_precision', 'fp32')}"
    trained += " by steps (no time cap)" if r.get("by_steps") else ""
    if r.get("measured_on"):
        return f"`{r['recipe']}` {trained} on {r['date']}, its zoo weights measured on {r['measured_on']}"
    return f"{trained}, measured with {_threads(r['threads'])}, {r['date']}"


def spread_line(result: dict) -> str:
    """One sentence: the recipe's FID multiple (or, before the validated views, plain FID) and
    held-out L1 over its seeds."""
    runs = result["seeds"]
    parts = []
    labels = (
        ("multiple", "FID × floor (validated view)"),
        ("fid", f"plain-view FID ({result['date']})"),
        ("held_out_l1", "held-out L1"),
    )
    for key, label in labels:  # fmt: skip
        values = [r[key] for r in runs if r.get(key) is not None]
        if len(values) > 1:
            mean = sum(values) / len(values)
            sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
            each = ", ".join(_fmt(v) for v in values)
            parts.append(f"{label} {_fmt(mean)} ± {_fmt(sd, 2)} (sd; {each})")
    seeds = ", ".join(str(r["seed"]) for r in runs)
    return f"`{result['recipe']}` over seeds {seeds}: {'; '.join(parts)}.\n"


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
        for recipe in chosen:
            seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
            result = measure(
                recipe, args.work / recipe.name, args.n, ROOT / "docs/images/recipes", args.reuse,
                seeds, args.zoo,
            )  # fmt: skip
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
