"""``huashi.api``: every action's typed result and progress callback, the loaded-run cache, two
threads painting from one loaded run, and the metric registry."""

from __future__ import annotations

import functools
import re
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from metrics_helpers import FAST
from PIL import Image

import huashi
from huashi import api
from huashi.core.errors import HuashiError
from huashi.core.images import make_grid, read_params
from huashi.data import has_exact_captions, load_dataset
from huashi.metrics import evaluate as evaluate_module
from huashi.metrics import real as real_module
from huashi.metrics import registry
from huashi.metrics.kid import kid
from huashi.metrics.registry import METRICS, MetricInputs, MetricSettings, applicable
from huashi.training.device import resolve_precision

TINY_UNET = {"base_channels": 8, "channel_mults": [1, 2], "res_blocks": 1,
             "attention_resolutions": [], "heads": 2, "norm_groups": 8, "timesteps": 100,
             "sample_steps": 3}  # fmt: skip
SHAPES = {"data_options": {"n": 64}}


@functools.cache
def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="huashi-api-tests-"))


@functools.cache
def dcgan_run() -> Path:
    """A DCGAN trained 2 steps on 64 shapes at 16 px, with a progress grid at every step."""
    out = workdir() / "dcgan"
    api.train(out, "dcgan", "shapes", 16, model={"g_width": 4, "d_width": 4}, steps=2,
              batch_size=8, **SHAPES, **(FAST | {"sample_every": 1}))  # fmt: skip
    return out


@functools.cache
def diffusion_run() -> Path:
    """A class-conditional pixel diffusion model (shape classes) trained 2 steps at 16 px."""
    out = workdir() / "diffusion"
    api.train(out, "diffusion", "shapes", 16, model=TINY_UNET | {"condition": "class"},
              steps=2, batch_size=8, **SHAPES, **FAST)  # fmt: skip
    return out


def recorder() -> tuple[list[tuple[int, int, str]], api.Progress]:
    calls: list[tuple[int, int, str]] = []
    return calls, lambda done, total, message: calls.append((done, total, message))


def assert_progress_ends(calls: list[tuple[int, int, str]]) -> None:
    """Progress grows strictly and ends with done == total."""
    done = [d for d, _, _ in calls]
    assert done == sorted(set(done)) and done[0] > 0
    assert calls[-1][0] == calls[-1][1]


def perturbed(run: Path) -> api.LoadedRun:
    """A freshly loaded run whose weights are moved off their initialization, so images depend
    on every layer."""
    loaded = api.load_run(run, cache=False)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in [
            *loaded.family.modules.values(),
            *(e.module for e in loaded.family.ema.values()),
        ]:
            for p in module.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return loaded


# --- painting ------------------------------------------------------------------------------------


def test_paint_sweep_gives_each_pass_its_images_timings_grids_and_an_overview(tmp_path) -> None:
    loaded = perturbed(diffusion_run())
    calls, progress = recorder()
    out = tmp_path / "sweep.png"
    result = api.paint(loaded, n=3, batch_size=2, label="star", out=out, progress=progress,
                       sweep=[("ddim", 2), ("dpmpp-2m", 3)], cfg=None)  # fmt: skip
    assert isinstance(result, api.PaintResult) and result.seeds == [0, 1, 2]
    assert [(p.sampler, p.steps) for p in result.passes] == [("ddim", 2), ("dpmpp-2m", 3)]
    # the class name as its index; None options dropped; the precision used is recorded
    used = resolve_precision("auto", torch.device("cpu"))  # bf16 on CPUs with bf16 instructions
    # and the run's defaults for what was left open (a PNG names every setting)
    assert result.options == {"label": 4, "precision": used, "sampler": "ddim", "steps": 3,
                              "cfg": 3.0}  # fmt: skip
    for p in result.passes:
        alone = api.sample(loaded, n=3, batch_size=2, label=4, sampler=p.sampler, steps=p.steps)
        assert torch.equal(p.images, alone.images)  # "star" is class 4
        assert p.seconds > 0 and p.grid == tmp_path / f"sweep-{p.sampler}-{p.steps}.png"
        assert p.grid.exists() and p.files == []
    assert result.overview == out and out.exists()
    assert result.overview_image.height == 2 * make_grid(result.images, nrow=3).height
    # image-steps: batches of 2 and 1 images, 2 then 3 denoising steps each
    assert [d for d, _, _ in calls] == [2, 4, 5, 6, 8, 10, 12, 13, 14, 15]
    assert_progress_ends(calls)
    assert "dpmpp-2m 3 steps" in calls[-1][2]


def test_paint_without_sweep_is_sample_and_refuses_what_it_cannot_do(tmp_path) -> None:
    run = diffusion_run()
    one = api.paint(run, n=2, label="1", steps=2, out=tmp_path / "p.png")
    assert [(p.sampler, p.steps) for p in one.passes] == [(None, None)]
    assert torch.equal(one.images, api.sample(run, n=2, label=1, steps=2).images)
    assert [f.name for f in one.passes[0].files] == ["seed-000000.png", "seed-000001.png"]
    with pytest.raises(HuashiError, match="no sampler or steps to sweep"):
        api.paint(dcgan_run(), n=1, sweep=[("ddim", 2)])
    with pytest.raises(HuashiError, match="init image .* does not exist"):
        api.paint(run, n=1, init=tmp_path / "nowhere.png")


def test_regenerate_paints_the_batch_an_image_was_painted_in(tmp_path, monkeypatch) -> None:
    """Kernels may sum in another order for another batch size, so a PNG painted among others
    records its batch and regenerate paints that batch again: the same pixels by construction."""
    result = api.sample(dcgan_run(), n=5, seed=10, out=tmp_path / "s.png", batch_size=2)
    batches = [read_params(f).get("batch") for f in result.files]
    assert batches == [[10, 2], [10, 2], [12, 2], [12, 2], None]  # the last one painted alone
    family_class = type(api.load_run(dcgan_run()).family)
    painted = []
    original = family_class.generate

    def recording(self, seeds, **options):
        painted.append(list(seeds))
        return original(self, seeds, **options)

    monkeypatch.setattr(family_class, "generate", recording)
    for file, seeds in zip(result.files[2:], ([12, 13], [12, 13], [14]), strict=True):
        again = api.regenerate(file, tmp_path / f"again-{file.name}")
        assert painted[-1] == seeds
        assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(file)))


def test_labels_are_numbers_or_class_names_for_every_command() -> None:
    names = ["circle", "square", "star"]
    assert api.parse_label("star", names) == 2
    assert api.parse_label("2", names) == 2 and api.parse_label(7, names) == 7
    assert api.parse_label(["circle", "1"], names) == [0, 1]
    with pytest.raises(HuashiError, match="unknown class 'cat': choose one of circle, square"):
        api.parse_label("cat", names)
    with pytest.raises(HuashiError, match="give --label as a number"):
        api.parse_label("cat", [])
    by_name = api.sample(diffusion_run(), n=2, label="square", steps=2).images
    assert torch.equal(by_name, api.sample(diffusion_run(), n=2, label="1", steps=2).images)


def test_check_condition_applies_the_families_rules_before_any_work() -> None:
    """The studio asks this before it queues a paint: the messages are the CLI's."""
    diffusion, dcgan = api.load_run(diffusion_run()), api.load_run(dcgan_run())
    api.check_condition(diffusion, label="square")
    api.check_condition(diffusion, label=1)
    for asked in ({"prompt": "a cat"}, {"negative_prompt": "blurry"}):
        with pytest.raises(HuashiError, match="not text-conditioned but class-conditioned"):
            api.check_condition(diffusion, **asked)
    classes = diffusion.family.data.num_classes
    with pytest.raises(HuashiError, match=f"out of range.*a label must be below {classes}"):
        api.check_condition(diffusion, label=classes)
    with pytest.raises(HuashiError, match="unknown class 'cat'"):
        api.check_condition(diffusion, label="cat")
    with pytest.raises(HuashiError, match="unconditional: it is not class-conditioned"):
        api.check_condition(dcgan, label=0)
    api.check_condition(dcgan)


def test_check_train_refuses_bad_options_before_anything_is_written(tmp_path) -> None:
    out = tmp_path / "new"
    api.check_train(out, "dcgan", {"g_width": 4}, steps=10, batch_size=8)
    with pytest.raises(HuashiError, match="unknown model family 'nope'"):
        api.check_train(out, "nope")
    with pytest.raises(HuashiError, match="g-width must be >= 1"):
        api.check_train(out, "dcgan", {"g_width": 0})
    with pytest.raises(HuashiError, match="steps"):
        api.check_train(out, "dcgan", steps=0)
    assert not out.exists()
    api.check_train(dcgan_run(), resume=True, steps=5)  # a resume checks against its config
    with pytest.raises(HuashiError, match="steps"):
        api.check_train(dcgan_run(), resume=True, steps=-1)


def test_sample_and_paint_commands_read_labels_alike(tmp_path) -> None:
    from PIL import Image

    from huashi.cli import main

    run = str(diffusion_run())
    common = ["--n", "2", "--no-per-image", "--quiet"]
    assert main(["sample", run, "--label", "star", "--out", str(tmp_path / "a.png"), *common]) == 0
    assert main(["paint", run, "--label", "4", "--out", str(tmp_path / "b.png"), *common]) == 0
    a, b = (np.array(Image.open(tmp_path / f"{x}.png")) for x in "ab")
    assert (a == b).all()


def test_sample_progress_counts_images_for_a_family_without_steps() -> None:
    calls, progress = recorder()
    result = api.sample(dcgan_run(), n=5, batch_size=2, progress=progress)
    assert result.images.shape == (5, 3, 16, 16)
    assert calls == [(2, 5, "sampling"), (4, 5, "sampling"), (5, 5, "sampling")]


# --- loaded runs ---------------------------------------------------------------------------------


def test_loaded_runs_are_cached_until_a_newer_checkpoint(tmp_path) -> None:
    api.clear_run_cache()
    run = tmp_path / "run"
    api.train(run, "dcgan", "shapes", 16, model={"g_width": 4, "d_width": 4}, steps=1,
              batch_size=8, **SHAPES, **FAST)  # fmt: skip
    first = api.load_run(run)
    assert api.load_run(run) is first and api.load_run(str(run), device="auto") is first
    assert api.load_run(run, cache=False) is not first
    api.train(run, resume=True, steps=2, progress=False)
    newer = api.load_run(run)
    assert newer is not first and newer.step == 2
    assert api.load_run(run, first.checkpoint).step == 1
    api.clear_run_cache()
    assert api.load_run(run) is not newer


def test_run_info_reads_a_run_from_its_files(tmp_path) -> None:
    import json
    import shutil

    from huashi.training.logging import read_log

    info = api.run_info(dcgan_run())
    assert (info.family, info.data, info.resolution, info.steps) == ("dcgan", "shapes", 16, 2)
    assert info.step == read_log(dcgan_run() / "log.jsonl")[-1]["step"]  # its log's last record
    assert info.trained and info.makes_images and info.latent and info.grid.is_file()
    assert info.metrics == {} and info.train_seconds > 0
    copy = shutil.copytree(dcgan_run(), tmp_path / "copy")  # a run without its log, evaluated
    (copy / "log.jsonl").unlink()
    (copy / "eval-ref.json").write_text(json.dumps({"metrics": {"fid": 1.5, "pr": {"p": 0.25}}}))
    (copy / "eval-bad.json").write_text("{not json")
    again = api.run_info(copy)
    assert again.step == 2  # from its newest checkpoint's record
    assert again.metrics == {"fid (ref)": 1.5, "pr.p (ref)": 0.25}
    assert api.run_info(diffusion_run()).latent is False


@pytest.mark.parametrize("kind", ["dcgan", "diffusion", "diffusion-bf16"])
def test_two_threads_painting_from_one_loaded_run_get_what_each_gets_alone(kind) -> None:
    loaded = perturbed(dcgan_run() if kind == "dcgan" else diffusion_run())
    if kind == "dcgan":
        jobs = {"a": ([0, 1, 2], {}), "b": ([7, 8], {})}
    elif kind == "diffusion-bf16":
        jobs = {"a": ([0, 1, 2], {"label": 4, "steps": 3}),
                "b": ([7, 8], {"label": 1, "steps": 2, "precision": "bf16"})}  # fmt: skip
    else:
        jobs = {"a": ([0, 1, 2], {"label": 4, "sampler": "ddim", "steps": 3}),
                "b": ([7, 8], {"label": [0, 5], "sampler": "dpmpp-2m", "steps": 2, "cfg": 2.0})}  # fmt: skip
    alone = {name: loaded.family.generate(seeds, **opts) for name, (seeds, opts) in jobs.items()}
    start, made = threading.Barrier(len(jobs)), {}

    def work(name: str) -> None:
        seeds, opts = jobs[name]
        start.wait()
        made[name] = [loaded.family.generate(seeds, **opts) for _ in range(3)]

    threads = [threading.Thread(target=work, args=(name,)) for name in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in jobs:
        assert len(made[name]) == 3
        assert all(torch.equal(images, alone[name]) for images in made[name])


# --- measuring -----------------------------------------------------------------------------------


def test_generate_all_passes_one_condition_per_seed_or_groups_by_value(monkeypatch) -> None:
    loaded = perturbed(diffusion_run())
    seeds, labels = [3, 4, 5, 6, 7], [4, 1, 4, 0, 1]
    f = loaded.family
    by_value = {k: f.generate([s for s, v in zip(seeds, labels, strict=True) if v == k], label=k,
                              steps=2) for k in (4, 1, 0)}  # fmt: skip
    calls, progress = recorder()
    listed = evaluate_module.generate_all(loaded, seeds, 5, {"label": labels}, progress, steps=2)
    assert calls == [(5, 5, "generating")]  # one call: the family takes a label per seed
    assert torch.equal(listed, f.generate(seeds, label=labels, steps=2))
    monkeypatch.setattr(type(loaded.family), "condition_per_seed", False)  # one label per call
    calls, progress = recorder()
    grouped = evaluate_module.generate_all(loaded, seeds, 5, {"label": labels}, progress, steps=2)
    assert [d for d, _, _ in calls] == [2, 4, 5]  # labels 4, 1, 0 in order of appearance
    expected = [by_value[4][0], by_value[1][0], by_value[4][1], by_value[0][0], by_value[1][1]]
    assert torch.equal(grouped, torch.stack(expected))  # each image back in its seed's place


@pytest.fixture
def reference_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(real_module, "reference_dir", lambda: tmp_path / "reference")


def test_evaluate_returns_the_registered_metrics_with_progress(reference_cache) -> None:
    cls, run = workdir() / "classifier", workdir() / "mnist-dcgan"
    api.train(cls, "classifier", "mnist", 16, model={"width": 8}, steps=2, batch_size=16, **FAST)
    api.train(run, "dcgan", "mnist", 16, model={"g_width": 4, "d_width": 4}, steps=1,
              batch_size=8, **FAST)  # fmt: skip
    calls, progress = recorder()
    result = api.evaluate(run, f"classifier:{cls}", n=70, batch_size=32, kid_subsets=5,
                          progress=progress)  # fmt: skip
    assert isinstance(result, api.EvalResult)
    assert list(result.metrics) == ["fid", "kid", "precision", "recall", "inception_score"]
    assert result.metrics == result.record["metrics"] and result.path.exists()
    assert any("estimation bias" in w for w in result.warnings)
    assert calls == [(32, 70, "generating"), (64, 70, "generating"), (70, 70, "generating")]
    assert result.record["settings"]["kid_subsets"] == 5


def test_compare_returns_the_page_and_its_numbers_with_progress(tmp_path) -> None:
    calls, progress = recorder()
    result = api.compare([dcgan_run()], tmp_path / "r.html", speed_n=2, grid_n=4,
                         sampler_steps=None, progress=progress)  # fmt: skip
    assert result.path.exists() and result.numbers_path == tmp_path / "r.json"
    assert result.numbers["runs"][0]["step"] == 2 and result.warnings == []
    for metric in METRICS.values():
        assert f"<th>{metric.label}</th>" in result.path.read_text()
    assert calls == [(1, 1, "measured dcgan")]


# --- the small actions ---------------------------------------------------------------------------


def test_doctor_and_data_preview_report_progress(tmp_path) -> None:
    calls, progress = recorder()
    report = api.doctor(dcgan_run(), progress=progress)
    assert isinstance(report, api.DoctorReport) and report.records >= 1
    grids = len(list((dcgan_run() / "samples").glob("step-*.png")))
    assert grids >= 2 and [c[:2] for c in calls] == [(i, grids + 1) for i in range(1, grids + 2)]
    calls, progress = recorder()
    preview = api.preview_data("shapes", 16, n=4, out=tmp_path / "p.png", progress=progress,
                               data_options={"n": 8})  # fmt: skip
    path, summary = preview
    assert isinstance(preview, api.DataPreview) and path.exists() and "8" in summary
    assert [c[:2] for c in calls] == [(1, 2), (2, 2)]


def test_interpolate_and_translate_report_progress(tmp_path, capsys) -> None:
    ae = tmp_path / "ae"
    api.train(ae, "ae", "shapes", 16, model={"width": 8, "z_dim": 8}, steps=1, batch_size=8,
              **SHAPES, **FAST)  # fmt: skip
    calls, progress = recorder()
    walk = api.interpolate(ae, "data:0", "data:1", steps=3, progress=progress)
    assert walk.images.shape == (3, 3, 16, 16) and [c[:2] for c in calls] == [
        (0, 3),
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    calls, progress = recorder()  # writing the strip is one stage more
    api.interpolate(ae, "data:0", "data:1", steps=3, out=tmp_path / "w.png", progress=progress)
    assert [c[:2] for c in calls] == [(i, 4) for i in range(5)] and calls[-1][2] == "walked"
    assert "writing" in calls[3][2] and (tmp_path / "w.png").is_file()
    from huashi.cli import main

    argv = ["interpolate", str(ae), "data:0", "data:1", "--steps", "3"]
    assert main([*argv, "--out", str(tmp_path / "q.png"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "") and (tmp_path / "q.png").is_file()
    assert main([*argv, "--out", str(tmp_path / "v.png")]) == 0
    assert f"wrote {tmp_path / 'v.png'} (3 images" in capsys.readouterr().out
    with pytest.raises(HuashiError, match="does not translate"):
        api.translate(dcgan_run(), tmp_path, tmp_path / "out")

    from PIL import Image

    for folder in ("in", "target", "new"):
        (tmp_path / folder).mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(8):
        pixels = (torch.rand(16, 16, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(tmp_path / "in" / f"{i}.png")
        Image.fromarray(255 - pixels).save(tmp_path / "target" / f"{i}.png")
        if i < 3:
            Image.fromarray(pixels).save(tmp_path / "new" / f"{i}.png")
    pix = tmp_path / "pix2pix"
    api.train(pix, "pix2pix", str(tmp_path / "in"), 16, model={"g_width": 4, "d_width": 4},
              data_options={"target": str(tmp_path / "target")}, steps=1, batch_size=4,
              **FAST)  # fmt: skip
    calls, progress = recorder()
    result = api.translate(pix, tmp_path / "new", tmp_path / "out", batch_size=2,
                           progress=progress)  # fmt: skip
    assert isinstance(result, api.TranslateResult) and len(result.files) == 3
    assert calls == [(2, 3, "translating"), (3, 3, "translating")]


def test_clip_labels_reads_files_like_the_dataset_and_reports_progress(tmp_path, capsys) -> None:
    from huashi.core.images import to_pil
    from huashi.metrics.features import load_features, zero_shot

    clip = tmp_path / "clip"
    api.train(clip, "clip", "shapes", 16, model={"width": 8}, data_options={"n": 32}, steps=2,
              batch_size=16, **FAST)  # fmt: skip
    test = load_dataset("shapes", 16, split="test", n=4)
    images = test.batch(torch.arange(4))["image"]
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        to_pil(image).save(paths[-1])
    calls, progress = recorder()
    result = api.clip_labels(clip, paths, test.captions, progress=progress)
    expected, similarity = zero_shot(load_features(f"clip:{clip}"), images, test.captions)
    assert result.labels == expected and torch.allclose(result.similarity, similarity, atol=1e-5)
    assert np.allclose(result.best_cosine, similarity.max(1).values.tolist(), atol=1e-5)
    assert [c[:2] for c in calls] == [(i, 6) for i in range(7)]  # load, 4 files, labelling
    assert calls[0][2] == f"loading {clip}" and calls[-1][2] == "labelled"
    from huashi.cli import main

    argv = ["clip", str(clip), "--image", *map(str, paths), "--prompt", "a", "--prompt", "b"]
    assert main([*argv, "--quiet"]) == 0  # no bar: only the four labels, the command's answer
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 4 and out.startswith(f"{paths[0]}: ")


# --- the metric registry -------------------------------------------------------------------------


def tiny_inputs(n: int = 24, dim: int = 6) -> MetricInputs:
    """Features, logits, shapes prompts with their exact drawings, CLIP-like embeddings and
    image pairs where every metric's answer is known."""
    from huashi.data.shapes import draw_scene, parse_caption

    g = torch.Generator().manual_seed(0)
    shapes = load_dataset("shapes", 16, n=n)
    drawn = torch.stack([
        torch.from_numpy(np.array(draw_scene(parse_caption(c), 16))).permute(2, 0, 1).float()
        / 127.5 - 1
        for c in shapes.captions
    ])  # fmt: skip
    embeddings = torch.nn.functional.normalize(torch.randn(n, 8, generator=g), dim=1)
    feats = torch.randn(n, dim, generator=g)
    return MetricInputs(
        real_features=feats, fake_features=feats.clone(), fake_images=drawn,
        settings=MetricSettings(kid_subsets=4, kid_subset_size=10, pr_k=3, is_splits=2),
        fake_logits=torch.eye(4)[torch.arange(n) % 4] * 50, captions=list(shapes.captions),
        image_embeddings=embeddings, text_embeddings=embeddings.clone(), targets=drawn.clone(),
    )  # fmt: skip


def test_every_registered_metric_computes_and_formats_with_known_answers() -> None:
    inputs = tiny_inputs()
    values = registry.compute_all(list(METRICS.values()), inputs)
    assert set(values) == set(METRICS)
    for name, value in values.items():
        text = registry.format_value(name, value)
        assert text and text != "–", name
    assert values["fid"] == pytest.approx(0.0, abs=1e-6)  # a set against itself
    expected = kid(inputs.real_features, inputs.fake_features, 4, 10, 0)
    assert values["kid"] == {"mean": expected.mean, "std": expected.std, "subsets": 4,
                             "subset_size": 10}  # fmt: skip
    assert values["precision"] == 1.0 and values["recall"] == 1.0
    assert values["inception_score"]["mean"] == pytest.approx(4.0, rel=1e-4)  # 4 sure classes
    assert values["clip_score"] == pytest.approx(100.0, rel=1e-5)  # every image on its prompt
    assert values["shapes_accuracy"]["all"] == 1.0  # drawn exactly from the prompt
    assert values["image_to_image"]["l1"] == 0
    assert values["image_to_image"]["ssim"] == pytest.approx(1.0)
    assert values["image_to_image"]["psnr"] == float("inf")
    assert registry.format_value("fid", None) == "–"


def test_the_registry_picks_metrics_by_what_a_measurement_offers() -> None:
    names = lambda offered: [m.name for m in applicable(offered)]  # noqa: E731
    assert names({"features"}) == ["fid", "kid", "precision", "recall"]
    assert "inception_score" in names({"features", "logits"})
    assert "clip_score" not in names({"features", "captions"})
    assert names({"features", "captions", "text_embeddings", "shapes_captions"})[-3:] == [
        "clip_score", "caption_retrieval", "shapes_accuracy"
    ]  # fmt: skip
    assert names({"features", "pairs"})[-1] == "image_to_image"
    assert registry.minimum_samples(applicable({"features"}), MetricSettings(), 64)[0] == 65
    settings = MetricSettings(is_splits=40)
    need, what = registry.minimum_samples(applicable({"features", "logits"}), settings, 64)
    assert need == 80 and "Inception" in what
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(METRICS["fid"])
    with pytest.raises(ValueError, match="unknown input"):
        registry.register(registry.Metric("x", "x", frozenset({"vibes"}), len, str))
    assert has_exact_captions("shapes") and not has_exact_captions("mnist")


def test_measuring_code_decides_nothing_by_names_keys_or_signatures() -> None:
    root = Path(huashi.__file__).parent
    files = [root / "metrics" / "evaluate.py", root / "metrics" / "compare.py",
             *sorted((root / "cli").glob("*.py"))]  # fmt: skip
    pattern = re.compile(r'"pix2pix"|== "shapes"|hasattr\(|inspect\.signature')
    found = [f"{f.name}: {line.strip()}" for f in files for line in f.read_text().splitlines()
             if pattern.search(line)]  # fmt: skip
    assert found == []
