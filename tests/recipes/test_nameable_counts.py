"""The README's count of nameable cells is the committed one (issue 28, target 1)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COUNTS = ROOT / "docs" / "images" / "readme-emoji-faces-gan-10min.json"


def test_the_readme_quotes_the_committed_counts_of_its_grids():
    counts = json.loads(COUNTS.read_text())
    named = []
    for seed in counts["seeds"].values():
        cells_named, cells_maybe = set(seed["named"]), set(seed["maybe"])
        assert seed["named_count"] == len(cells_named) and seed["maybe_count"] == len(cells_maybe)
        assert not cells_named & cells_maybe
        assert {int(c) for c in cells_named | cells_maybe} <= set(range(64))
        assert (ROOT / seed["grid"]).is_file()
        named.append(seed["named_count"])
    readme = (ROOT / "README.md").read_text()
    assert f"**{named[0]}, {named[1]} and {named[2]} of 64**" in readme
    recipe = json.loads((ROOT / "huashi" / "recipes" / "emoji-faces-gan-10min.json").read_text())
    assert list(recipe["measured"]["nameable_of_64_over_seeds"].values()) == named


def test_the_readme_quotes_the_committed_count_of_the_zoo_faces_grid():
    counts = json.loads((ROOT / "docs" / "images" / "readme-zoo-emoji-faces-gan.json").read_text())
    seed = counts["seeds"]["0"]
    assert seed["named_count"] == len(seed["named"]) and seed["maybe_count"] == len(seed["maybe"])
    assert not set(seed["named"]) & set(seed["maybe"]) and (ROOT / seed["grid"]).is_file()
    assert f"**{seed['named_count']} of 64** are nameable" in (ROOT / "README.md").read_text()
