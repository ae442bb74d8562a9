"""The zoo: a run copied into the zoo loads as ``zoo:NAME`` and paints (almost) as the run did."""

import json

import pytest
import torch
from safetensors.torch import load_file

from huashi import api, zoo
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.metrics.evaluate import default_features, default_views
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("zoo") / "run"
    api.train(
        run, family="dcgan", data="shapes", resolution=16, data_options={"n": 32},
        model={"z_dim": 8, "g_width": 8, "d_width": 8}, steps=4, batch_size=8,
        sample_every=100, n_fixed=4, progress=False,
    )  # fmt: skip
    return run


@pytest.fixture
def zoo_root(tmp_path, monkeypatch):
    monkeypatch.setenv("HUASHI_ZOO", str(tmp_path / "zoo"))
    return tmp_path / "zoo"


def test_a_zoo_entry_paints_like_its_run_from_fp16_weights(tiny_run, zoo_root, capsys):
    entry = zoo.add_to_zoo(tiny_run, "tiny", "a test painter", recipe=None, seed=0,
                           scores={"fid": 1.0})  # fmt: skip
    weights = latest_checkpoint(entry.path / "checkpoints").with_suffix(".safetensors")
    tensors = load_file(str(weights))
    assert tensors and all(k.startswith(("modules/", "ema/")) for k in tensors)
    assert all(v.dtype == torch.float16 for v in tensors.values() if v.is_floating_point())
    assert entry.sha256 == zoo.weights_sha256(entry.path)

    original = api.sample(tiny_run, n=6, seed=3).images
    shipped = api.sample("zoo:tiny", n=6, seed=3).images
    again = api.sample("zoo:tiny", n=6, seed=3).images
    assert torch.equal(shipped, again)  # deterministic
    assert (shipped - original).abs().max() < 0.05  # fp16 weights: close, not identical
    assert not torch.equal(shipped[0], shipped[1])

    assert [e.name for e in zoo.list_zoo()] == ["tiny"]
    assert main(["zoo"]) == 0
    assert "zoo:tiny" in capsys.readouterr().out


def test_a_run_with_an_ema_ships_the_ema_weights_in_place_of_its_modules(tmp_path, zoo_root):
    run = tmp_path / "ema-run"
    api.train(
        run, family="dcgan", data="shapes", resolution=16, data_options={"n": 32},
        model={"z_dim": 8, "g_width": 8, "d_width": 8}, steps=4, batch_size=8, ema=0.5,
        sample_every=100, n_fixed=4, progress=False,
    )  # fmt: skip
    entry = zoo.add_to_zoo(run, "tiny-ema", "a test painter with an EMA")
    shipped = load_file(
        str(latest_checkpoint(entry.path / "checkpoints").with_suffix(".safetensors"))
    )
    trained, _ = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    ema_keys = [k for k in trained if k.startswith("ema/")]
    assert ema_keys and not any(k.startswith("ema/") for k in shipped)
    assert any(not torch.equal(trained[k], trained["modules/" + k[4:]]) for k in ema_keys)
    for key in ema_keys:
        want = trained[key].half() if trained[key].is_floating_point() else trained[key]
        assert torch.equal(shipped["modules/" + key[4:]], want), key
    painted = api.sample(run, n=4, seed=1).images  # the run samples with its EMA generator
    assert (api.sample("zoo:tiny-ema", n=4, seed=1).images - painted).abs().max() < 0.05


def test_a_zoo_painting_regenerates_from_its_png(tiny_run, zoo_root, tmp_path):
    zoo.add_to_zoo(tiny_run, "tiny", "a test painter")
    result = api.sample("zoo:tiny", n=2, seed=5, out=tmp_path / "grid.png")
    again = api.regenerate(result.files[1], tmp_path / "again.png")
    from PIL import Image

    assert Image.open(again).tobytes() == Image.open(result.files[1]).tobytes()


def test_an_unknown_zoo_name_lists_what_is_there(tiny_run, zoo_root):
    zoo.add_to_zoo(tiny_run, "tiny", "a test painter")
    with pytest.raises(HuashiError, match="no zoo model 'nope'.*tiny"):
        api.sample("zoo:nope", n=1)


def test_eval_uses_the_datasets_reference_network_or_says_what_to_pass(tiny_run, zoo_root):
    loaded = api.load_run(tiny_run)
    with pytest.raises(HuashiError, match="no reference feature network ships for 'shapes'"):
        default_features(loaded)
    (zoo_root / "reference-shapes").mkdir(parents=True)
    card = {"name": "reference-shapes", "family": "classifier", "description": "test"}
    (zoo_root / "reference-shapes" / "card.json").write_text(json.dumps(card))
    assert default_features(loaded) == "zoo:reference-shapes"  # its card: no ladder passed
    card["scores"] = {"ladder_passed": {"texture": True, "plain": False}}
    (zoo_root / "reference-shapes" / "card.json").write_text(json.dumps(card))
    assert default_views(loaded) == (["texture:zoo:reference-shapes", "zoo:reference-shapes"],
                                     None)  # fmt: skip


def test_a_reference_network_trained_at_the_runs_resolution_is_preferred(tiny_run, zoo_root):
    for name, family in (("reference-shapes", "classifier"), ("reference-shapes-64", "clip")):
        (zoo_root / name).mkdir(parents=True)
        card = {"name": name, "family": family, "description": "test"}
        (zoo_root / name / "card.json").write_text(json.dumps(card))
    assert zoo.reference_features("shapes", 64) == "zoo:reference-shapes-64"
    assert zoo.reference_features("shapes") == "zoo:reference-shapes"
    # the tiny run paints 16 px: no 16 px network ships, so the dataset's own one is used
    loaded = api.load_run(tiny_run)
    assert default_features(loaded) == "zoo:reference-shapes"


SHIPPED = [e for e in zoo.list_zoo() if e.scores.get("fid_check") is not None]


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_every_shipped_painter_still_scores_what_its_card_says(entry):
    """Each shipped painter loads, paints deterministically and scores within 10 % of the FID
    recorded on its card at the card's small n."""
    from huashi.metrics.evaluate import evaluate

    # a text gan paints nothing without a prompt: its card names one
    asked = {"prompt": entry.scores["example_prompt"]} if "example_prompt" in entry.scores else {}
    a = api.sample(f"zoo:{entry.name}", n=4, seed=0, **asked).images
    assert torch.equal(a, api.sample(f"zoo:{entry.name}", n=4, seed=0, **asked).images)
    n = entry.scores["fid_check_n"]
    record = evaluate(f"zoo:{entry.name}", entry.scores["features"], n=n, save=False)
    assert record["metrics"]["fid"] == pytest.approx(entry.scores["fid_check"], rel=0.10)
    if "shapes_accuracy_check" in entry.scores:  # a text painter: its prompts read back exactly
        got = record["metrics"]["shapes_accuracy"]
        for key, want in entry.scores["shapes_accuracy_check"].items():
            assert got[key] == pytest.approx(want, abs=0.03), key
    if "caption_retrieval_check" in entry.scores:  # a text painter: its names picked out of 50
        want = entry.scores["caption_retrieval_check"]
        assert record["metrics"]["caption_retrieval"] == pytest.approx(want, abs=0.03)


TRANSLATORS = [e for e in zoo.list_zoo() if e.scores.get("held_out_l1") is not None]


@pytest.mark.parametrize("entry", TRANSLATORS, ids=lambda e: e.name)
def test_every_shipped_translator_still_beats_the_identity_map_as_its_card_says(entry):
    """Each shipped image-to-image model's held-out L1 is within 10 % of its card's, and
    below the identity map's (the input itself as the answer)."""
    from huashi.tools.translate import evaluate_pairs

    report = evaluate_pairs(f"zoo:{entry.name}", write=False)
    assert report["model"]["l1"] == pytest.approx(entry.scores["held_out_l1"], rel=0.10)
    assert report["identity"]["l1"] == pytest.approx(entry.scores["identity_l1"], rel=1e-3)
    assert report["model"]["l1"] < report["identity"]["l1"]


UPSAMPLERS = [e for e in zoo.list_zoo() if e.scores.get("psnr_check") is not None]


@pytest.mark.parametrize("entry", UPSAMPLERS, ids=lambda e: e.name)
def test_every_shipped_upsampler_still_beats_bicubic_as_its_card_says(entry):
    """On the first held-out images, downsampled and upscaled again, each shipped upsampler's
    PSNR is within 0.2 dB of its card's (measured with the run's fp32 weights; fp16 ship) and
    clearly above bicubic's, whose PSNR is the card's exactly."""
    from huashi.tools.upscale import compare_on_held_out

    rows = compare_on_held_out(f"zoo:{entry.name}", n=entry.scores["psnr_check_n"]).rows
    assert rows["bicubic"]["psnr"] == pytest.approx(entry.scores["bicubic_psnr_check"], abs=1e-3)
    assert rows["upsampler"]["psnr"] == pytest.approx(entry.scores["psnr_check"], abs=0.2)
    assert rows["upsampler"]["psnr"] > rows["bicubic"]["psnr"] + 1.0


def test_eval_of_a_zoo_painter_leaves_its_shipped_folder_unchanged(zoo_root, tmp_path, capsys):
    from metrics_helpers import tiny_dcgan, trained_classifier

    entry = zoo.add_to_zoo(tiny_dcgan(), "tiny-mnist", "a test painter")
    before = sorted(p.relative_to(entry.path) for p in entry.path.rglob("*"))
    features = f"classifier:{trained_classifier()}"
    assert main(["eval", "zoo:tiny-mnist", "--features", features, "--n", "100", "--quiet"]) == 0
    assert "not written into the shipped folder; --out FILE.json" in capsys.readouterr().out
    assert sorted(p.relative_to(entry.path) for p in entry.path.rglob("*")) == before
    record = tmp_path / "records" / "tiny.json"  # --out writes the record elsewhere
    argv = ["eval", "zoo:tiny-mnist", "--features", features, "--n", "100", "--out", str(record)]
    assert main(argv) == 0
    assert f"wrote {record}\n" in capsys.readouterr().out
    saved = json.loads(record.read_text())
    assert saved["n"] == 100 and saved["features"]["spec"] == features and "fid" in saved["metrics"]
    assert sorted(p.relative_to(entry.path) for p in entry.path.rglob("*")) == before
