"""benchmarks/recipes.py --add-seeds: a recipe's spread over seeds added to its result as it
stands, its own seed neither retrained nor re-measured."""

import importlib.util
import json
from pathlib import Path

import pytest

from huashi.recipes import get_recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """benchmarks/recipes.py with its results in ``tmp_path`` and training and scoring faked:
    ``bench.calls`` lists each (run name, seed) trained and each run name scored."""
    spec = importlib.util.spec_from_file_location("recipe_bench", ROOT / "benchmarks/recipes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    module.RESULTS.mkdir()
    module.calls = []

    def train(recipe, run, reuse, **options):
        module.calls.append(("train", run.name, options["seed"]))
        return {"steps": recipe.train["steps"]}

    def score(run, n):
        module.calls.append(("score", run.name, n))
        return {"multiple": 10.0 + int(run.name[-1])}

    monkeypatch.setattr(module, "train", train)
    monkeypatch.setattr(module, "score", score)
    return module


def _result(recipe, steps: int) -> dict:
    """The recipe's committed result (seed 0: validated multiple 16.1, n 1,000 asked), at ``steps``."""
    result = json.loads((ROOT / "benchmarks/results/recipes" / f"{recipe.name}.json").read_text())
    result.pop("seeds", None)
    return result | {"steps": steps, "recipe_steps": steps}


def test_add_seeds_trains_only_the_other_seeds_and_keeps_the_result(bench, tmp_path):
    recipe = get_recipe("emoji-gan-5min")
    saved = _result(recipe, recipe.train["steps"])
    (bench.RESULTS / f"{recipe.name}.json").write_text(json.dumps(saved))
    result = bench.add_seeds(recipe, tmp_path / "work" / recipe.name, (0, 1, 2), reuse=True)
    assert bench.calls == [
        ("train", f"{recipe.name}-seed1", 1), ("score", f"{recipe.name}-seed1", 1000),
        ("train", f"{recipe.name}-seed2", 2), ("score", f"{recipe.name}-seed2", 1000),
    ]  # fmt: skip
    spread = [(r["seed"], round(r["multiple"], 1)) for r in result["seeds"]]
    assert spread == [(0, 16.1), (1, 11.0), (2, 12.0)]
    written = json.loads((bench.RESULTS / f"{recipe.name}.json").read_text())
    assert written == saved | {"seeds": result["seeds"]}  # the rest of the result untouched
    page = bench.table([written])
    assert "over seeds 0, 1, 2: FID × floor (validated view) 13 ± 2.7 (sd; 16.1, 11, 12)" in page


def test_add_seeds_refuses_a_result_of_other_steps_or_none(bench, tmp_path):
    recipe = get_recipe("emoji-gan-5min")
    with pytest.raises(SystemExit, match="measure it first"):
        bench.add_seeds(recipe, tmp_path / recipe.name, (0, 1), reuse=True)
    old = _result(recipe, recipe.train["steps"] // 2)
    (bench.RESULTS / f"{recipe.name}.json").write_text(json.dumps(old))
    with pytest.raises(SystemExit, match="at the recipe's steps"):
        bench.add_seeds(recipe, tmp_path / recipe.name, (0, 1), reuse=True)
    assert bench.calls == []


@pytest.mark.parametrize(
    ("max_minutes", "seconds", "refused"),
    [(0, 30.0, True), (5, 60.0, True), (5, 299.0, False)],
    ids=["by steps", "short of its cap", "stopped by its cap"],
)
def test_a_run_stopped_short_before_its_time_cap_is_refused(
    tmp_path, max_minutes, seconds, refused
):
    """A run killed mid-way (it saves and stops) is not measured as if its time cap stopped it."""
    spec = importlib.util.spec_from_file_location("recipe_bench", ROOT / "benchmarks/recipes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recipe = get_recipe("emoji-gan-5min")
    run = tmp_path / recipe.name
    run.mkdir()
    step = {"step": 10, "images_seen": 640, "train_seconds": seconds}
    (run / "log.jsonl").write_text(json.dumps(step) + "\n")
    train = {"max_minutes": max_minutes, "precision": "fp32", "device": "cpu"}
    (run / "config.json").write_text(json.dumps({"train": train}))
    if refused:
        with pytest.raises(SystemExit, match="step 10 of .* before its time cap"):
            module.train(recipe, run, reuse=True)
    else:
        assert module.train(recipe, run, reuse=True)["time_limited"]
