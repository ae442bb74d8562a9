"""``evaluate`` / ``huashi eval``, ``compare`` / ``huashi compare``, Inception-v3 loading, the
training time limit, and their bad inputs."""

from __future__ import annotations

import json

import pytest
import torch
from metrics_helpers import FAST, tiny_dcgan, trained_classifier

from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.metrics import real as real_module
from huashi.metrics.compare import compare
from huashi.metrics.evaluate import EvalWarning, evaluate
from huashi.metrics.features import file_hash, load_features


@pytest.fixture(autouse=True)
def reference_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(real_module, "reference_dir", lambda: tmp_path / "reference")


def test_evaluate_records_how_scores_were_made_and_caches_the_reference() -> None:
    cls, run = trained_classifier(), tiny_dcgan()
    first = evaluate(run, f"classifier:{cls}", n=100, seed=0, kid_subsets=10)
    m = first["metrics"]
    assert m["fid"] > 0 and 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
    assert 1 <= m["inception_score"]["mean"] <= 10 and m["kid"]["subsets"] == 10
    f = first["features"]
    weights = next((cls / "checkpoints").glob("*.safetensors"))
    assert f["checkpoint_sha256"] == file_hash(weights) and f["resize"] == "none"
    assert (first["n"], first["seed"], first["seeds"]) == (100, 0, "0..99")
    assert first["real"]["split"] == "train" and first["real"]["size"] == 100
    assert first["real"]["reference_cache"] == "miss"
    saved = json.loads((run / f"eval-classifier-{cls.name}-100.json").read_text())
    assert saved["metrics"] == m
    again = evaluate(run, f"classifier:{cls}", n=100, seed=0, kid_subsets=10)
    assert again["real"]["reference_cache"] == "hit"
    assert again["metrics"] == m  # same seeds, same images, same numbers


def test_evaluate_refuses_too_few_samples_and_feature_runs() -> None:
    cls, run = trained_classifier(), tiny_dcgan()
    with pytest.raises(HuashiError, match="at least 65 samples"):
        evaluate(run, f"classifier:{cls}", n=30)
    with pytest.raises(HuashiError, match="makes features, not images"):
        evaluate(cls, f"classifier:{cls}", n=100)
    with pytest.raises(HuashiError, match="not a clip run"):
        evaluate(run, f"clip:{cls}", n=100)


def test_feature_network_of_another_resolution_warns_and_is_recorded() -> None:
    cls, run = trained_classifier(), tiny_dcgan(resolution=32)
    with pytest.warns(EvalWarning, match="resized"):
        record = evaluate(run, f"classifier:{cls}", n=70, kid_subsets=5, save=False)
    assert record["features"]["resize"] == "32->16 bilinear antialiased"
    assert any("16 px" in w for w in record["warnings"])


def test_inception_loads_local_weights_and_explains_what_to_do_without_them(tmp_path) -> None:
    from safetensors.torch import save_file
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    model = inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "inception.safetensors"))
    torch.save(state, tmp_path / "inception.pth")
    images = torch.rand(1, 1, 16, 16) * 2 - 1  # gray 16 px: made RGB and resized to 299
    net = load_features(f"inception:{tmp_path / 'inception.safetensors'}")
    feats, logits = net.run(images)
    assert feats.shape == (1, 2048) and logits.shape == (1, 1000)
    x = torch.nn.functional.interpolate(
        images.repeat(1, 3, 1, 1), size=(299, 299), mode="bilinear", antialias=True
    )
    model.fc = torch.nn.Identity()
    with torch.no_grad():
        assert torch.allclose(feats, model(x), atol=1e-4)
    from_pth = load_features(f"inception:{tmp_path / 'inception.pth'}")
    assert from_pth.checkpoint_hash == file_hash(tmp_path / "inception.pth")
    assert net.checkpoint_hash == file_hash(tmp_path / "inception.safetensors")
    with pytest.raises(HuashiError, match="classifier:"):
        load_features("inception:")
    with pytest.raises(HuashiError, match="no Inception-v3 weights file"):
        load_features(f"inception:{tmp_path / 'missing.pth'}")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(HuashiError, match="not a torchvision Inception-v3"):
        load_features(f"inception:{tmp_path / 'other.safetensors'}")


def test_compare_writes_one_self_contained_page(tmp_path) -> None:
    cls, a, b = trained_classifier(), tiny_dcgan(), tiny_dcgan(steps=4)
    out = compare([a, b], tmp_path / "report.html", features=f"classifier:{cls}", n=100,
                  speed_n=4, grid_n=4)  # fmt: skip
    page = out.read_text()
    assert page.count("data:image/png;base64,") >= 4  # two grids, two loss plots
    assert "http://" not in page.replace("http://www.w3.org", "") and "<script" not in page
    assert a.name in page and b.name in page and "FID" in page
    assert page.count(f"× classifier:{cls}") == 2 and page.count("clean (") == 2  # yardsticks
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert [r["step"] for r in numbers["runs"]] == [2, 4]
    assert all(r["sampling_images_per_second"] > 0 for r in numbers["runs"])
    assert all(r["eval"]["features"]["spec"] == f"classifier:{cls}" for r in numbers["runs"])


def test_compare_refuses_runs_on_different_data_unless_forced(tmp_path, capsys) -> None:
    mnist, shapes = tiny_dcgan(), tiny_dcgan(data="shapes")
    with pytest.raises(HuashiError, match="different data"):
        compare([mnist, shapes], tmp_path / "r.html")
    assert main(["compare", str(mnist), str(shapes), "--out", str(tmp_path / "r.html")]) == 2
    assert "--force" in capsys.readouterr().err
    out = compare([mnist, shapes], tmp_path / "r.html", force=True, speed_n=2, grid_n=4)
    assert "compared anyway" in out.read_text()


def test_eval_command_prints_the_table_and_saves_json(tmp_path, capsys) -> None:
    cls, run = trained_classifier(), tiny_dcgan()
    args = ["eval", str(run), "--features", f"classifier:{cls}", "--n", "80", "--seed", "1",
            "--kid-subsets", "5"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "FID" in printed and "Inception score" in printed and "sha256" in printed
    assert (run / f"eval-classifier-{cls.name}-80.json").exists()
    assert main([*args[:-4], "--n", "10"]) == 2
    assert "at least 65" in capsys.readouterr().err


def test_max_minutes_stops_training_cleanly(tmp_path) -> None:
    result = api.train(tmp_path / "run", "dcgan", "mnist", 16, steps=50, batch_size=16,
                       max_minutes=1e-9, **FAST)  # fmt: skip
    assert result.time_limited and result.step == 1
    assert result.checkpoint is not None and result.checkpoint.name == "step-00000001.json"
    more = api.train(tmp_path / "run", resume=True, progress=False, max_minutes=0.0, steps=3)
    assert more.step == 3 and not more.time_limited


def test_too_few_samples_for_the_default_view_measure_under_the_other_view():
    """mnist's default view (texture, 216 dimensions) needs more than 130 samples: eval says so
    and measures under the plain view instead of refusing (the docs run eval with n 130)."""
    record = api.evaluate(tiny_dcgan(), n=130).record
    assert record["features"]["spec"] == "zoo:reference-mnist"
    note = next(w for w in record["warnings"] if "too few for texture:zoo:reference-mnist" in w)
    assert "measured under zoo:reference-mnist" in note
