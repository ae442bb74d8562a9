"""benchmarks/text_to_image.py's table row: the validated view's FID as a floor multiple first,
the other views beside it, the attributes asked and the copy check."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "text_to_image.py"
    spec = importlib.util.spec_from_file_location("text_to_image_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORD = {
    "model": "gigagan", "cpu_minutes": 30.0, "steps": 2030, "train_minutes": 29.9,
    "train_images_per_s": 18.1, "sample_images_per_s": 150.0, "diversity": 0.05,
    "accuracy": {"all": 0.01, "shape": 0.2, "color": 0.3, "size": 0.5, "position": 0.1,
                 "background": 0.9},
    "views": [
        {"network": "ensemble:zoo:reference-shapes+zoo:reference-shapes-classifier",
         "fid": 0.496, "floor": 0.035, "n": 500, "multiple": 14.2},
        {"network": "zoo:reference-shapes", "fid": 1.5, "floor": 0.1, "n": 500, "multiple": 15.0},
        {"network": "zoo:reference-shapes-classifier", "note": "too few"},
    ],
    "fid": 0.49, "kid": 0.0123, "precision": 0.61, "recall": 0.2,
    "copies": {"features": 0.43, "pixels": 0.5, "flagged": False},
}  # fmt: skip


def test_a_row_leads_with_the_validated_views_floor_multiple():
    bench = _bench()
    cells = [c.strip() for c in bench.row(RECORD).strip("|").split("|")]
    assert cells[4] == "1.0%" and cells[9] == "90.0%"  # all five right; background
    assert cells[10] == "40.0%"  # the mean of the five attributes asked
    assert cells[11] == "0.496 = 14× (n 500)"
    assert cells[12] == "15× zoo:reference-shapes"  # a view without a floor is left out
    assert cells[13:17] == ["12.3", "0.61", "0.20", "clean (43% / 50%)"]
    flagged = RECORD | {"copies": {"features": 0.9, "pixels": 0.2, "flagged": True}}
    assert "**flagged** (90% / 20%)" in bench.row(flagged)


def test_a_record_without_a_floor_says_so():
    bench = _bench()
    record = RECORD | {"views": [{"network": "zoo:reference-shapes", "note": "too few"}]}
    assert bench.view_cells(record) == ("0.49 (no floor)", "–")
