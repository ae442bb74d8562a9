"""The shapes yardstick (issue 27): the ensemble of the two shipped shapes networks passes a
small validation ladder where each network's own views fail, and ``huashi eval`` leads with it."""

from __future__ import annotations

import pytest
import torch
from metrics_helpers import tiny_dcgan

from huashi import api, zoo
from huashi.core.errors import HuashiError
from huashi.data import load_dataset
from huashi.metrics import ladder
from huashi.metrics.evaluate import default_views
from huashi.metrics.features import load_features
from huashi.metrics.fid import fid
from huashi.metrics.floor import real_halves
from huashi.metrics.yardsticks import base_network

ENSEMBLE = (
    "ensemble:zoo:reference-shapes+zoo:reference-shapes-classifier+zoo:reference-shapes-attributes"
)


def test_the_shapes_ensemble_passes_a_small_ladder_where_the_texture_view_loses_jpeg() -> None:
    """2,400 shapes (n 1,200 a half; the full report, n 2,500, is in docs/metrics.md): every
    ladder rises under the ensemble, attributes lost one by one included, and blur, a tenth of
    the modes and every shape a circle read above their bars; the clip's texture view, on the
    same halves, reads a quality-5 JPEG nearer than quality 20."""
    batch = load_dataset("shapes", resolution=32).batch(torch.arange(2400))
    images, labels = batch["image"], batch["label"]
    lost = ladder.attributes_lost(32, 2400)
    report = ladder.validate(load_features(ENSEMBLE, "cpu").features, images, labels,
                             extra=[lost])  # fmt: skip
    assert report.n == 1200  # the ensemble's 576 dimensions need n well above them
    assert report.passed, report.markdown()
    assert "'every shape a circle' reads >= 3x the floor" in " ".join(report.checks)
    assert "FID rises along 'attributes lost'" in report.checks
    jpeg = [r.fid for r in next(lad for lad in report.ladders if lad.name == "JPEG").rungs]
    assert jpeg[2] > 1.5 * jpeg[1]  # quality 5 plainly farther than 20

    texture = load_features("texture:zoo:reference-shapes", "cpu").features
    half_a, half_b = real_halves(len(images), 0)
    a, b = texture(images[half_a]), images[half_b]
    quality_20, quality_5 = (fid(a, texture(ladder.jpeg(b, q))) for q in (20, 5))
    assert quality_5 < quality_20  # why shapes needs the ensemble (erased shapes look "flat")


def test_eval_on_shapes_leads_with_the_ensemble_and_notes_the_unvalidated_second() -> None:
    views, note = default_views(api.load_run(tiny_dcgan(data="shapes")))
    assert views == [ENSEMBLE, "zoo:reference-shapes", "texture:zoo:reference-shapes",
                     "zoo:reference-shapes-classifier"]  # fmt: skip
    assert note and "no view of zoo:reference-shapes-classifier passes" in note
    assert "zoo:reference-shapes " not in note  # the first network is validated (in the ensemble)
    assert zoo.ensemble_reference("zoo:reference-shapes") == ENSEMBLE
    assert zoo.ensemble_reference("zoo:reference-shapes-classifier") is None
    assert base_network(ENSEMBLE) == "zoo:reference-shapes"


def test_an_ensemble_names_how_it_is_made_and_refuses_what_it_cannot_join() -> None:
    net = load_features(ENSEMBLE, "cpu")
    assert net.kind == "ensemble" and net.version.startswith("ensemble-")
    assert net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 3 * (128 + 64))
    described = net.describe()
    assert described["version"] == net.version and "+" in described["checkpoint_sha256"]
    assert net.short_name == (
        "ensemble-reference-shapes+reference-shapes-classifier+reference-shapes-attributes"
    )
    with pytest.raises(HuashiError, match="two or more in-domain networks"):
        load_features("ensemble:zoo:reference-shapes", "cpu")
    with pytest.raises(HuashiError, match="different image sizes"):
        load_features("ensemble:zoo:reference-shapes+zoo:reference-mnist", "cpu")
