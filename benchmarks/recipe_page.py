"""The recipe page's markdown (docs/recipes.md), made from the results of benchmarks/recipes.py:
one table per dataset and budget, each row's FID as a multiple of its floor, the spread over
seeds, the grids and the machines. ``python benchmarks/recipes.py --table-only`` writes it.
"""

from __future__ import annotations

from pathlib import Path

from huashi.metrics.floor import format_multiple
from huashi.metrics.yardsticks import base_network

NOTES = "<!-- notes: everything below is kept when the tables are rebuilt -->"


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
        return f"no floor: {view['note']}" if with_fid and "note" in view else "no floor"
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


def threads_text(count: int) -> str:
    return f"{count} thread{'s' * (count != 1)}"


def machine_line(r: dict) -> str:
    """Where a row was trained and measured (a zoo painter's weights: trained earlier)."""
    trained = f"{r['machine']}, trained in {r.get('train_precision', 'fp32')}"
    trained += " by steps (no time cap)" if r.get("by_steps") else ""
    if r.get("measured_on"):
        return f"`{r['recipe']}` {trained} on {r['date']}, its zoo weights measured on {r['measured_on']}"
    return f"{trained}, measured with {threads_text(r['threads'])}, {r['date']}"


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
