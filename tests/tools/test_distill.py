"""Distillation: the cached pairs are exactly the teacher's img2img outputs, the cache is reused,
the report's numbers equal a direct computation; the edge map's closed form."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from huashi import api
from huashi.api import distill
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.core.images import read_params, to_pil
from huashi.diffusion.inputs import load_init
from huashi.metrics.image_to_image import pair_metrics
from huashi.runs import load_run
from huashi.tools.distill import edge_map, read_pairs

FAST = {"precision": "fp32", "checkpoint_every": 10_000, "log_every": 50, "n_fixed": 4,
        "sample_every": 10_000}  # fmt: skip
TINY_UNET = {"base_channels": 8, "channel_mults": [1, 2], "res_blocks": 1,
             "attention_resolutions": [], "heads": 2, "norm_groups": 8, "timesteps": 100,
             "sample_steps": 3, "condition": "class"}  # fmt: skip
STUDENT = {"g_width": 4, "d_width": 4}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A tiny class-conditional diffusion run on shapes at 16 px, trained 3 steps."""
    out = tmp_path_factory.mktemp("distill") / "teacher"
    api.train(out, "diffusion", "shapes", 16, model=TINY_UNET, data_options={"n": 16}, steps=3,
              batch_size=4, progress=False, **FAST)  # fmt: skip
    return out


def pixels(path):
    return np.array(Image.open(path))


def run(teacher, out, **options):
    settings = dict(pairs=4, heldout=3, label=2, strength=0.5, teacher_steps=4,
                    data_options={"n": 10}, student=STUDENT, speed_batch=2,
                    train_progress=False, steps=2, batch_size=2, **FAST)  # fmt: skip
    return distill(teacher, "shapes", out, **(settings | options))


def test_pairs_are_the_teachers_img2img_outputs_and_are_cached(teacher, tmp_path, monkeypatch):
    out = tmp_path / "student"
    report = run(teacher, out)
    assert (report.train_pairs.made, report.heldout_pairs.made) == (4, 3)
    targets = sorted(report.train_pairs.targets.glob("*.png"))
    assert [p.name for p in targets] == ["000000.png", "000001.png", "000002.png", "000003.png"]

    # pair 2: the input is dataset image 2, the target what the teacher paints from it (seed 2)
    from huashi.data import load_dataset

    dataset = load_dataset("shapes", resolution=16, n=10)
    assert np.array_equal(pixels(report.train_pairs.inputs / "000002.png"),
                          dataset.images[2].permute(1, 2, 0).numpy())  # fmt: skip
    params = read_params(targets[2])
    assert params["seed"] == 2 and params["options"]["strength"] == 0.5
    family = load_run(teacher).family
    init, _, _ = load_init(report.train_pairs.inputs / "000002.png", 3, 16)
    direct = family.generate([2], init=init, strength=0.5, label=2, steps=4, sampler="ddim")
    assert np.array_equal(pixels(targets[2]), np.array(to_pil(direct[0])))
    again = api.regenerate(targets[2], tmp_path / "again.png")
    assert np.array_equal(pixels(again), pixels(targets[2]))
    # held-out pairs come from the end of the dataset, never from the training pairs
    assert sorted(p.name for p in report.heldout_pairs.targets.glob("*.png")) == [
        "000007.png", "000008.png", "000009.png"]  # fmt: skip

    # a second call reuses every pair (no teacher call) and resumes the student
    before = {p: p.stat().st_mtime_ns for p in targets}
    calls = []
    original = type(family).generate

    def counted(self, seeds, **options):
        calls.append(options)
        return original(self, seeds, **options)

    monkeypatch.setattr(type(family), "generate", counted)
    second = run(teacher, out, steps=3, speed_batch=0)
    assert calls == []
    assert (second.train_pairs.made, second.train_pairs.reused) == (0, 4)
    assert {p: p.stat().st_mtime_ns for p in targets} == before
    assert second.student_step == 3
    with pytest.raises(HuashiError, match="other settings"):
        run(teacher, out, strength=0.7)


def test_report_numbers_equal_a_direct_computation(teacher, tmp_path):
    out = tmp_path / "student"
    report = run(teacher, out)
    saved = json.loads((out / "distill.json").read_text())
    student = load_run(out).family
    inputs, targets = read_pairs(report.heldout_pairs, 16)
    outputs = student.generate([0, 1, 2], inputs=inputs)
    for name, values in pair_metrics(outputs, targets).items():
        assert saved["student_vs_teacher"][name] == pytest.approx(float(values.mean()), abs=1e-5)
    for name, values in pair_metrics(inputs, targets).items():
        assert saved["identity_vs_teacher"][name] == pytest.approx(float(values.mean()), abs=1e-5)
    speed = saved["speed"]
    assert speed["speedup"] == pytest.approx(
        speed["student_images_per_s"] / speed["teacher_images_per_s"], rel=1e-2
    )
    assert Image.open(out / "distill.png").size[0] == 6 * 16 + 7 * 2  # two triples per row


def test_edges_task_and_cli(teacher, tmp_path, capsys):
    out = tmp_path / "edges"
    args = ["distill", str(teacher), "--data", "shapes", "--data-option", "n=6", "--out",
            str(out), "--task", "edges", "--label", "1", "--pairs", "3", "--heldout", "2",
            "--teacher-steps", "3", "--student-option", "g_width=4", "--student-option",
            "d_width=4", "--steps", "2", "--batch-size", "2", "--speed-batch", "2"]  # fmt: skip
    assert main(args) == 0
    assert "PSNR" in capsys.readouterr().out
    target = out / "pairs" / "train" / "targets" / "000001.png"
    edges = pixels(out / "pairs" / "train" / "inputs" / "000001.png")
    assert edges.ndim == 2  # one channel
    image = torch.from_numpy(pixels(target)).permute(2, 0, 1).float() / 127.5 - 1
    expected = to_pil(edge_map(image[None])[0])
    assert np.array_equal(edges, np.array(expected))
    assert main(["distill", str(teacher), "--data", "shapes", "--data-option", "n=4", "--out",
                 str(tmp_path / "x"), "--pairs", "4"]) == 2  # fmt: skip
    assert "do not fit" in capsys.readouterr().err


def test_edge_map_closed_form():
    flat = torch.full((1, 3, 5, 5), 0.3)
    assert torch.equal(edge_map(flat), torch.ones(1, 1, 5, 5))  # no edges: all white
    step = torch.full((1, 1, 5, 6), -1.0)
    step[..., 3:] = 1.0  # a vertical black|white edge between columns 2 and 3
    e = edge_map(step)
    # Sobel x at columns 2 and 3: (1 + 2 + 1) * 2 / 8 = 1 -> doubled and clipped to 1 -> black
    assert torch.equal(e[0, 0, :, 2], torch.full((5,), -1.0))
    assert torch.equal(e[0, 0, :, 0], torch.ones(5))
