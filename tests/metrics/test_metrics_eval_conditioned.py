"""``evaluate`` and ``compare`` on conditioned and multi-step families, through two small
painter families registered for the test: one draws the exact ``shapes`` scene of its prompt
(text-conditioned, one prompt per call), one returns real digits with noise that shrinks as
``steps`` grows (like a sampler that improves with more steps). Both declare what they take
(``condition_kind``, ``sampling_steps``): evaluate and compare ask, never guess."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from metrics_helpers import FAST, trained_classifier, trained_clip, workdir
from torch import nn

from huashi import api
from huashi.core.errors import HuashiError
from huashi.data import load_dataset
from huashi.data.shapes import COLORS, draw_scene, parse_caption
from huashi.families import FAMILIES, Family
from huashi.metrics import real as real_module
from huashi.metrics.compare import compare
from huashi.metrics.evaluate import evaluate


@dataclass
class PainterConfig:
    condition: str = "text"
    wrong_color: bool = False


class _Painter(Family):
    config_class = PainterConfig

    def __init__(self, config, data, device) -> None:
        super().__init__(config, data, device)
        self.modules = {"dummy": nn.Linear(1, 1)}
        self.optimizers = {"dummy": torch.optim.SGD(self.modules["dummy"].parameters(), lr=0.0)}

    def train_step(self, batch, ctx) -> dict[str, float]:
        return {"loss": 0.0}


class ShapesPainter(_Painter):
    name = "test-shapes-painter"
    condition_kind = "text"

    def generate(self, seeds: Sequence[int], prompt: str | None = None) -> torch.Tensor:
        if not isinstance(prompt, str):
            raise HuashiError("one prompt per call")
        attributes = parse_caption(prompt)
        if self.config.wrong_color:
            names = list(COLORS)
            attributes["color"] = names[(names.index(attributes["color"]) + 1) % len(names)]
        pixels = np.array(draw_scene(attributes, self.data.resolution))
        image = torch.from_numpy(pixels).permute(2, 0, 1).float() / 127.5 - 1
        return image[None].repeat(len(seeds), 1, 1, 1)

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        return self.generate(seeds, prompt="a large red star in the center on a white background")


@dataclass(frozen=True)
class StepOptions:
    steps: int = 2


class StepPainter(_Painter):
    name = "test-step-painter"
    sampling_steps = True
    sampling_options_class = StepOptions  # what compare's steps sweep asks for

    def __init__(self, config, data, device) -> None:
        super().__init__(config, data, device)
        self.real = load_dataset("mnist", data.resolution, split="test")

    def generate(self, seeds: Sequence[int], steps: int = 2) -> torch.Tensor:
        out = []
        for s in seeds:
            noise = torch.randn(
                self.real.images.shape[1:], generator=torch.Generator().manual_seed(s)
            )
            image = self.real.images[s % len(self.real)].float() / 127.5 - 1
            out.append((image + noise * 1.2 / steps).clamp(-1, 1))
        return torch.stack(out)


@pytest.fixture(autouse=True)
def painters(tmp_path, monkeypatch):
    monkeypatch.setattr(real_module, "reference_dir", lambda: tmp_path / "reference")
    for family in (ShapesPainter, StepPainter):
        monkeypatch.setitem(FAMILIES, family.name, family)


def _train(name: str, family: str, data: str, **model) -> object:
    out = workdir() / name
    if not (out / "config.json").exists():
        api.train(out, family, data, 16, model=model, steps=1, batch_size=16,
                  data_options={"n": 200} if data == "shapes" else {}, **FAST)  # fmt: skip
    return out


def test_text_runs_get_clip_score_and_exact_attribute_accuracy() -> None:
    clip = trained_clip()
    right = evaluate(_train("painter", "test-shapes-painter", "shapes"), f"clip:{clip}", n=80,
                     kid_subsets=5)  # fmt: skip
    wrong = evaluate(_train("painter-wrong", "test-shapes-painter", "shapes", wrong_color=True),
                     f"clip:{clip}", n=80, kid_subsets=5)  # fmt: skip
    assert right["condition"] == "text"
    assert right["metrics"]["shapes_accuracy"] == dict.fromkeys(
        ("all", "shape", "color", "size", "position", "background"), 1.0
    )
    assert wrong["metrics"]["shapes_accuracy"]["color"] == 0.0
    assert wrong["metrics"]["shapes_accuracy"]["shape"] == 1.0
    assert right["metrics"]["clip_score"] > wrong["metrics"]["clip_score"]
    assert "inception_score" not in right["metrics"]  # CLIP does not classify


def test_compare_sweeps_sampler_steps_where_the_family_takes_them(tmp_path) -> None:
    cls = trained_classifier()
    stepper = _train("stepper", "test-step-painter", "mnist", condition="none")
    # 400 samples: with barely more samples than feature dimensions (64) FID is dominated by
    # estimation bias and can even fall as noise grows (docs/metrics.md)
    out = compare([stepper], tmp_path / "r.html", features=f"classifier:{cls}", n=400,
                  sampler_steps=[2, 4, 16], speed_n=4, grid_n=4)  # fmt: skip
    numbers = json.loads(out.with_suffix(".json").read_text())
    sweep = numbers["runs"][0]["steps_sweep"]
    assert [p["steps"] for p in sweep] == [2, 4, 16]
    fids = [p["fid"] for p in sweep]
    assert fids[0] > 1.5 * max(fids[1:])  # noise 0.6 vs 0.3 and 0.075: clearly worse
    assert "Quality and speed against sampler steps" in out.read_text()
