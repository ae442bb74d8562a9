"""Two views, not one (issue 27): a second reference network of another kind beside the first
(an exemplar classifier), shown by ``huashi eval`` with a finding when the two disagree."""

from __future__ import annotations

import pytest
import torch
from metrics_helpers import tiny_dcgan, trained_classifier, trained_exemplar

from huashi import api, zoo
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.data import load_dataset
from huashi.metrics import real as real_module
from huashi.metrics.evaluate import default_views, evaluate
from huashi.metrics.yardsticks import disagreement, networks_disagreement, summary_rows


@pytest.fixture(autouse=True)
def reference_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(real_module, "reference_dir", lambda: tmp_path / "reference")


def view(network: str, multiple: float) -> dict:
    return {"network": network, "fid": multiple * 0.1, "floor": 0.1, "n": 500,
            "multiple": multiple}  # fmt: skip


def test_exemplar_labels_make_each_image_its_own_class() -> None:
    digits = load_dataset("mnist", resolution=16)
    exemplars = load_dataset("mnist", resolution=16, exemplar=True)
    assert torch.equal(exemplars.images, digits.images)
    assert torch.equal(exemplars.labels, torch.arange(len(digits)))
    assert exemplars.class_names[:2] == ["0", "1"]  # mnist's captions repeat: named by index
    assert digits.labels.max() == 9  # the dataset's own labels are untouched
    emoji = load_dataset("emoji", resolution=16, exemplar=True)
    assert emoji.class_names == emoji.captions  # unique captions name the classes
    with pytest.raises(HuashiError, match="exemplar is true or false"):
        load_dataset("mnist", resolution=16, exemplar="yes")


def test_a_classifier_trains_under_its_augment_policy_and_rejects_an_unknown_one(tmp_path):
    def first_loss(model: dict) -> float:
        run = api.train(tmp_path / str(len(model)), "classifier", "mnist", 16,
                        model={"width": 8} | model, steps=1, batch_size=16, precision="fp32",
                        progress=False, n_fixed=4)  # fmt: skip
        return run.last_losses["loss"]

    assert first_loss({"augment": "cutout"}) != first_loss({})  # it sees other pixels
    with pytest.raises(HuashiError, match="unknown DiffAugment policy blur"):
        api.train(tmp_path / "bad", "classifier", "mnist", 16, model={"augment": "blur"},
                  steps=1, progress=False)  # fmt: skip


def test_the_networks_finding_fires_only_between_networks_differing_by_more_than_2x() -> None:
    views = [view("texture:zoo:a", 3.0), view("zoo:a", 2.0), view("zoo:a-exemplar", 7.0)]
    found = networks_disagreement(views)
    assert found == ("the networks disagree: 7.0× the floor under zoo:a-exemplar but 3.0× "
                     "under texture:zoo:a (docs/metrics.md: two networks)")  # fmt: skip
    assert disagreement(views) is None  # the two views of zoo:a agree within 2x
    assert networks_disagreement([*views[:2], view("zoo:a-exemplar", 5.9)]) is None
    low = networks_disagreement([view("zoo:a", 6.1), view("texture:zoo:b", 3.0)])
    assert low and low.startswith("the networks disagree: 6.1× the floor under zoo:a")
    one = [view("texture:zoo:a", 30.0), view("zoo:a", 2.0)]  # views of one network only
    assert networks_disagreement(one) is None and disagreement(one)
    unmeasured = {"network": "zoo:a-exemplar", "note": "too few"}
    assert networks_disagreement([view("zoo:a", 1.0), unmeasured]) is None
    record = {"yardsticks": {"views": views, "disagreement": None,
                             "networks_disagreement": found}}  # fmt: skip
    assert [label for label, _ in summary_rows(record)] == [
        "FID vs floor", "other view", "second network", "finding"]  # fmt: skip
    assert summary_rows(record)[2][1] == "FID 0.7 = 7.0× floor (n 500, zoo:a-exemplar)"


@pytest.fixture
def two_networks(tmp_path, monkeypatch):
    """A zoo whose mnist has a digit classifier and, beside it, an exemplar classifier."""
    monkeypatch.setenv("HUASHI_ZOO", str(tmp_path / "zoo"))
    plain = {"ladder_passed": {"texture": False, "plain": True}}
    zoo.add_to_zoo(trained_classifier(), "reference-mnist", "digits", scores=plain)
    zoo.add_to_zoo(trained_exemplar(), "reference-mnist-exemplar", "exemplars",
                   scores={"ladder_passed": {"texture": False, "plain": False}})  # fmt: skip
    return tmp_path / "zoo"


def test_eval_reports_the_second_network_beside_the_first(two_networks, capsys) -> None:
    run = tiny_dcgan()
    views, note = default_views(api.load_run(run))
    assert views == ["zoo:reference-mnist", "texture:zoo:reference-mnist",
                     "zoo:reference-mnist-exemplar"]  # fmt: skip
    assert note == ("no view of zoo:reference-mnist-exemplar passes its validation ladder yet "
                    "(docs/metrics.md): read its floor multiples with care")  # fmt: skip
    record = evaluate(run, n=200, kid_subsets=5, save=False)
    sticks = record["yardsticks"]
    assert [v["network"] for v in sticks["views"]] == views
    first, second = sticks["views"][0], sticks["views"][2]
    assert second["n"] == 200 and second["kind"] == "classifier" and second["multiple"] > 1
    ratio = max(first["multiple"], second["multiple"]) / min(first["multiple"], second["multiple"])
    assert (sticks["networks_disagreement"] is not None) == (ratio > 2)
    assert main(["eval", str(run), "--n", "200", "--kid-subsets", "5"]) == 0
    printed = capsys.readouterr().out
    assert (
        "second network" in printed and "× floor (n 200, zoo:reference-mnist-exemplar)" in printed
    )
    assert zoo.second_reference("zoo:reference-mnist") == "zoo:reference-mnist-exemplar"
    assert zoo.second_reference("zoo:reference-mnist-exemplar") is None


def test_an_exemplar_networks_ladder_keeps_the_datas_own_classes_as_modes(monkeypatch):
    """Its labels are its images; the ladder's modes stay mnist's ten digits (a tenth of the
    modes is one digit), not a tenth of the images."""
    from huashi.metrics import ladder

    seen = {}

    def validate(features, images, modes, *rest):
        seen.update(images=len(images), modes=modes)
        return "report"

    monkeypatch.setattr(ladder, "validate", validate)
    assert api.validate_features(f"classifier:{trained_exemplar()}") == "report"
    assert seen["images"] == 4500 and sorted(seen["modes"].unique().tolist()) == list(range(10))
