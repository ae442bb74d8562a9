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


def test_the_recipe_page_is_rebuilt_exactly_from_the_committed_results():
    """docs/recipes.md's tables are what `benchmarks/recipes.py --table-only` makes from
    benchmarks/results/recipes/: no row without its result, and neither edited apart from the other."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("recipe_table", root / "benchmarks/recipes.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
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
