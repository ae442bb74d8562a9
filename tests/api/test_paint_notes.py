"""`huashi paint` says why seeds look alike when the data has one picture per caption."""

from __future__ import annotations

from huashi.cli import main

NOTE = "shapes has exactly one picture per caption"


def test_one_prompt_many_seeds_on_shapes_is_explained(tmp_path, capsys):
    argv = ["paint", "zoo:shapes-ldm", "a small red circle", "--steps", "2", "--quiet"]
    assert main([*argv, "--n", "2", "--out", str(tmp_path / "two.png")]) == 0
    assert NOTE in capsys.readouterr().out
    assert main([*argv, "--n", "1", "--out", str(tmp_path / "one.png")]) == 0
    assert NOTE not in capsys.readouterr().out
