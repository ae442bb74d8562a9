"""A folder of broken and awkward files (tests/broken_images.py): `huashi data preview` and a
2-step training run without a traceback; good images train, bad ones are skipped and counted."""

from pathlib import Path

import pytest
from broken_images import BOMB_PIXELS, make_corpus, make_pairs

import huashi.core.images
from huashi.cli import main
from huashi.data import load_dataset


def test_preview_and_training_on_a_folder_of_broken_files(tmp_path, capsys, monkeypatch):
    made = make_corpus(tmp_path / "corpus")
    corpus = str(tmp_path / "corpus")
    # The decoding pixel limit (huashi/core/images.py), set below the bomb's size.
    monkeypatch.setattr(huashi.core.images, "MAX_PIXELS", BOMB_PIXELS // 2, raising=False)
    preview = tmp_path / "preview.png"
    argv = ["data", "preview", corpus, "--resolution", "16", "--n", "16", "--out", str(preview)]
    assert main(argv) == 0 and preview.exists()
    out = capsys.readouterr().out
    with pytest.warns(UserWarning, match=r"1 caption\(s\) .* not UTF-8 .*plain-0.txt"):
        dataset = load_dataset(corpus, resolution=16, cache=False)
    skipped = {Path(s).name for s in dataset.info["skipped_files"]}
    assert {p.name for p in made["bad"]} <= skipped  # every broken file skipped and named
    assert len(dataset) + len(skipped) == len(made["good"]) + len(made["bad"]) + 1
    assert f"skipped: {len(skipped)} unreadable files" in out
    names = sorted(p.relative_to(tmp_path / "corpus").as_posix() for p in made["good"])
    assert len(dataset) >= len(names)  # all good files decoded (the bomb too, without a limit)
    kept = sorted(made["good"] + [p for p in made["bomb"] if p.name not in skipped])
    captions = dict(zip(kept, dataset.captions, strict=True))
    assert dataset.info["unreadable_captions"] == 1
    assert captions[tmp_path / "corpus" / "plain-1.png"] == "a noisy square"
    assert captions[tmp_path / "corpus" / "plain-0.png"] == ""

    argv = ["train", "dcgan", "--data", corpus, "--resolution", "16", "--steps", "2"]
    argv += ["--batch-size", "4", "--g-width", "4", "--d-width", "4", "--z-dim", "8"]
    argv += ["--n-fixed", "4", "--precision", "fp32", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    assert "trained 2 steps" in capsys.readouterr().out

    assert "bomb.png" in skipped  # refused from its header by the one image reader


def test_mismatched_pairs_are_one_line_naming_the_missing_partner(tmp_path, capsys):
    missing = make_pairs(tmp_path / "in", tmp_path / "out")
    argv = ["data", "preview", str(tmp_path / "in"), "--resolution", "16"]
    assert main([*argv, "--data-option", f"target={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 of 4 images" in err and missing[0] in err
