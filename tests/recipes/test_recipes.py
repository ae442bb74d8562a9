"""Recipes: every shipped one is valid; a recipe fills in a run's settings and flags override it."""

import dataclasses
import json

import pytest

from huashi import api, recipes
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.families import get_family
from huashi.recipes import Recipe, get_recipe, list_recipes
from huashi.training.loop import TrainConfig

TINY = {
    "name": "tiny-dcgan", "description": "a test recipe", "family": "dcgan", "data": "shapes",
    "resolution": 16, "budget_minutes": 2, "model": {"z_dim": 8, "g_width": 8, "d_width": 8},
    "train": {"steps": 3, "batch_size": 8, "sample_every": 100, "n_fixed": 4},
    "data_options": {"n": 32}, "measured": None,
}  # fmt: skip


@pytest.mark.parametrize("recipe", list_recipes(), ids=lambda r: r.name)
def test_every_shipped_recipe_is_a_valid_configuration(recipe):
    family = get_family(recipe.family)
    family.make_config(recipe.model)  # unknown or invalid options raise
    config = TrainConfig(**recipe.train_options())
    assert config.max_minutes == recipe.budget_minutes > 0
    assert config.steps >= 1
    if recipe.measured is not None:
        assert "machine" in recipe.measured or "source" in recipe.measured


@pytest.fixture
def tiny_recipes(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "tiny-dcgan.json").write_text(json.dumps(TINY))
    monkeypatch.setattr(recipes, "FOLDER", folder)
    return folder


def test_a_recipe_fills_in_the_run_and_explicit_options_override_it(tiny_recipes, tmp_path):
    result = api.train(tmp_path / "run", recipe="tiny-dcgan", steps=2, progress=False)
    assert result.step == 2
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["family"] == "dcgan"
    assert config["data"] == {"spec": "shapes", "resolution": 16, "options": {"n": 32}}
    assert (config["model"]["z_dim"], config["model"]["g_width"]) == (8, 8)
    assert config["train"]["batch_size"] == 8 and config["train"]["steps"] == 2
    assert config["train"]["max_minutes"] == 2


def test_the_cli_takes_a_recipe_without_a_family(tiny_recipes, tmp_path, capsys):
    assert main(["train", "--recipe", "tiny-dcgan", "--out", str(tmp_path / "r"), "--quiet",
                 "--g-width", "4"]) == 0  # fmt: skip
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"]["g_width"] == 4 and config["model"]["d_width"] == 8
    assert config["train"]["steps"] == 3
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "tiny-dcgan" in out
    assert "cap: a recipe trains its steps but stops at this many minutes" in out


def test_the_cli_reads_a_recipe_once_and_hands_it_down(tiny_recipes, tmp_path, monkeypatch):
    """`train --recipe NAME` reads the recipe for its family's flags and passes that object to
    api.train (no second lookup); a recipe named after the family is read by api.train."""
    read, load = [], recipes._load
    monkeypatch.setattr(recipes, "_load", lambda path: read.append(path.stem) or load(path))
    assert main(["train", "--recipe", "tiny-dcgan", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert read == ["tiny-dcgan"]
    assert main(["train", "dcgan", "--recipe", "tiny-dcgan", "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0  # fmt: skip
    assert read == ["tiny-dcgan"] * 2
    first, second = (json.loads((tmp_path / r / "config.json").read_text()) for r in "ab")
    assert first["model"] == second["model"] and first["train"]["steps"] == 3


def test_a_recipe_of_another_family_or_an_unknown_name_is_refused(tiny_recipes, tmp_path, capsys):
    with pytest.raises(HuashiError, match="trains a 'dcgan' model"):
        api.train(tmp_path / "x", family="gan", recipe="tiny-dcgan")
    with pytest.raises(HuashiError, match="unknown recipe 'nope'.*tiny-dcgan"):
        get_recipe("nope")
    assert main(["train", "--recipe", "nope", "--out", str(tmp_path / "y")]) == 2
    assert "unknown recipe" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_a_damaged_recipe_file_is_named(tiny_recipes):
    (tiny_recipes / "broken.json").write_text("{not json")
    with pytest.raises(HuashiError, match="broken.json is damaged"):
        list_recipes()


def test_recipe_fields_are_plain_json():
    fields = {f.name for f in dataclasses.fields(Recipe)}
    for recipe in list_recipes():
        assert set(json.loads((recipes.FOLDER / f"{recipe.name}.json").read_text())) <= fields


def _table_module():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("recipe_table", root / "benchmarks/recipes.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    return root, table


def test_the_recipe_page_is_rebuilt_exactly_from_the_committed_results():
    """docs/recipes.md's tables are what `benchmarks/recipes.py --table-only` makes from
    benchmarks/results/recipes/: no row without its result, and neither edited apart from the other."""
    root, table = _table_module()
    results = [
        json.loads(path.read_text())
        for r in list_recipes()
        if (path := table.RESULTS / f"{r.name}.json").is_file()
    ]
    page = (root / "docs" / "recipes.md").read_text()
    assert table.NOTES in page
    assert page.split(table.NOTES, 1)[0] == table.table(results) + "\n"
    shown = page.split(table.NOTES, 1)[0].count("\n| `")
    assert shown == len(results) >= 19


def test_the_recipe_table_shows_floor_multiples_and_marks_old_plain_view_rows():
    """A result measured under the validated views shows its FID as a floor multiple with the
    plain view's beside it and the copy check; one from before keeps its plain FID, marked old."""
    _, table = _table_module()
    base = {"family": "gan", "data": "emoji", "budget_minutes": 10, "steps": 100,
            "recipe_steps": 100, "images_seen": 6400, "train_seconds": 60.0,
            "time_limited": False, "machine": "cpu", "threads": 1, "n": 1000, "kid": 0.001,
            "precision": 0.9, "recall": 0.5, "sampling_images_per_s": 10.0}  # fmt: skip
    views = [
        {"network": "texture:zoo:reference-emoji", "kind": "texture", "fid": 0.468,
         "floor": 0.13, "n": 564, "multiple": 3.6},
        {"network": "zoo:reference-emoji-exemplar", "kind": "classifier", "fid": 9.0,
         "floor": 1.0, "n": 564, "multiple": 9.0},
        {"network": "zoo:reference-emoji", "kind": "clip", "fid": 0.25, "floor": 0.18,
         "n": 564, "multiple": 1.39},
    ]  # fmt: skip
    new = base | {"recipe": "new-gan", "date": "2026-12-07", "grid": "docs/images/new.png",
                  "fid": 0.3, "views": views, "zoo": "zoo:new-gan",
                  "copy_check": {"features": 0.52, "pixels": 0.31, "flagged": False}}  # fmt: skip
    old = base | {"recipe": "old-gan", "date": "2026-11-30", "grid": "docs/images/old.png",
                  "fid": 0.379, "floor_fid": 0.176}  # fmt: skip
    page = table.table([old, new])
    rows = {line.split("`")[1]: line for line in page.splitlines() if line.startswith("| `")}
    assert "| 0.468 = 3.6× (n 564) | 1.4× |" in rows["new-gan"]
    assert "zoo weights, `zoo:new-gan`" in rows["new-gan"]
    assert "clean (52% / 31%)" in rows["new-gan"]
    assert "| not re-measured | raw 0.379, plain view, 2026-11-30 |" in rows["old-gan"]
    assert "**Not re-measured: `old-gan`.**" in page
    assert page.index("`new-gan` (zoo") < page.index("`old-gan` |")  # measured rows first
    new["copy_check"]["flagged"] = True
    assert "**flagged** (52% / 31%)" in table.table([new])


@pytest.mark.parametrize("recipe", list_recipes(), ids=lambda r: r.name)
def test_huashi_recipes_shows_every_fid_as_a_floor_multiple_or_says_why_not(recipe, capsys):
    """Issue 27: a recipe's measured FID is listed as a multiple of its floor (the way a zoo card
    says it), or as a raw FID with the reason there is no floor; never bare."""
    if not (recipe.measured and "fid" in recipe.measured):
        return
    main(["recipes"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(recipe.name + " "))
    assert "× floor (n " in line or ("raw FID" in line and "no floor" in line and "): " in line)
    assert "fid_floor_multiple" in recipe.measured or "fid_floor_note" in recipe.measured


def test_a_recipes_measured_block_is_written_from_its_re_measured_result():
    """benchmarks/recipe_cards.py: the validated view's multiple in a zoo card's keys, the plain
    view's beside it; the old plain figures go, the notes and counts by eye stay."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "recipe_cards.py"
    spec = importlib.util.spec_from_file_location("recipe_cards", path)
    cards = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cards)
    result = {"steps": 6000, "train_seconds": 600.0, "kid": 0.003, "precision": 0.8,
              "recall": 0.4, "machine": "cpu", "train_precision": "bf16", "threads": 1,
              "date": "2026-12-07", "copy_check": {"features": 0.3, "pixels": 0.4, "flagged": False},
              "views": [{"network": "texture:zoo:reference-emoji", "kind": "texture", "fid": 0.468,
                         "n": 564, "multiple": 3.58},
                        {"network": "zoo:reference-emoji", "kind": "clip", "fid": 0.27, "n": 564,
                         "multiple": 1.34}]}  # fmt: skip
    old = {"fid": 0.174, "floor_fid": 0.176, "fid_over_seeds": {"0": 0.174}, "note": "faces",
           "nameable_of_64_over_seeds": {"0": 7}}  # fmt: skip
    block = cards.measured_block(result, old)
    assert api.card_fid(block) == "FID 0.468 = 3.6× floor (n 564, texture:zoo:reference-emoji)"
    assert block["plain_floor_multiple"] == 1.34 and block["train_minutes"] == 10.0
    assert block["note"] == "faces" and block["nameable_of_64_over_seeds"] == {"0": 7}
    assert "floor_fid" not in block and "fid_over_seeds" not in block
    # a real set too small for a floor: the raw FID, and why there is no multiple
    small = result | {"fid": 0.68, "n": 1000, "views": [{"network": "zoo:reference-emoji", "note":
                      "the real split's halves (71) are too few"}]}  # fmt: skip
    block = cards.measured_block(small, {})
    assert api.card_fid(block) == (
        "raw FID 0.68, no floor (n 1,000, zoo:reference-emoji): "
        "the real split's halves (71) are too few"
    )
    assert "fid_floor_multiple" not in block and "plain_floor_multiple" not in block
