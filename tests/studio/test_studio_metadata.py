"""The ``parameters`` PNG chunk (the convention AUTOMATIC1111 started) beside huashi's JSON."""

import hashlib

import pytest
from PIL import Image

from huashi import __version__
from huashi.core.images import read_params, save_png
from huashi.core.metadata import format_parameters, parse_parameters


def fake_run(tmp_path):
    run = tmp_path / "apples"
    (run / "checkpoints").mkdir(parents=True)
    weights = b"not really weights, but bytes to hash"
    (run / "checkpoints" / "step-00000020.safetensors").write_bytes(weights)
    return run, hashlib.sha256(weights).hexdigest()[:10]


def test_written_chunk_matches_a_sample_written_by_hand_from_the_convention(tmp_path):
    run, digest = fake_run(tmp_path)
    params = {
        "run": str(run),
        "checkpoint": "step-00000020.json",
        "step": 20,
        "family": "diffusion",
        "seed": 7,
        "options": {"prompt": "a red apple", "sampler": "dpmpp-2m", "steps": 20, "cfg": 4.0},
    }
    path = save_png(Image.new("RGB", (32, 32)), tmp_path / "a.png", params)
    by_hand = (
        "a red apple\n"
        f"Steps: 20, Sampler: DPM++ 2M, CFG scale: 4, Seed: 7, Size: 32x32, Model: apples, "
        f"Model hash: {digest}, Family: diffusion, Training step: 20, Version: huashi {__version__}"
    )
    with Image.open(path) as image:
        assert image.text["parameters"] == by_hand
    assert read_params(path)["seed"] == 7  # huashi's own JSON is still there, unchanged


def test_a_sample_from_another_tool_is_read_into_fields():
    text = (
        "masterpiece, a cat on a mat\n"
        "Negative prompt: blurry, lowres\n"
        "Steps: 30, Sampler: Euler, Schedule type: Karras, CFG scale: 7.5, Seed: 1234, "
        'Size: 512x768, Model hash: 6ce0161689, Model: v1-5, Lora hashes: "detail: 7c6bad76eb54", '
        "Version: v1.10.1"
    )
    fields = parse_parameters(text)
    assert fields["prompt"] == "masterpiece, a cat on a mat"
    assert fields["negative_prompt"] == "blurry, lowres"
    assert (fields["steps"], fields["cfg"], fields["seed"]) == (30, 7.5, 1234)
    assert fields["sampler"] == "euler"  # the convention's name mapped to huashi's
    assert (fields["width"], fields["height"]) == (512, 768)
    assert (fields["model"], fields["model_hash"]) == ("v1-5", "6ce0161689")
    assert fields["Lora hashes"] == "detail: 7c6bad76eb54"  # quoted value with a colon
    assert fields["Schedule type"] == "Karras"


def test_round_trip_of_labels_strength_and_awkward_prompts(tmp_path):
    params = {
        "seed": 3,
        "options": {"prompt": "龙, 画师: ink", "steps": 5, "sampler": "ddim", "cfg": 1.5},
    }
    fields = parse_parameters(format_parameters(params, (16, 16)))
    assert fields["prompt"] == "龙, 画师: ink"
    assert (fields["steps"], fields["sampler"], fields["cfg"], fields["seed"]) == (
        5,
        "ddim",
        1.5,
        3,
    )
    img2img = {"seed": 9, "options": {"label": 2, "init": "/x.png", "strength": 0.4}}
    text = format_parameters(img2img, (8, 16))
    assert text.startswith("\nSeed: 9, Size: 8x16, Denoising strength: 0.4, Label: 2")
    fields = parse_parameters(text)
    assert (fields["prompt"], fields["label"], fields["strength"]) == ("", 2, 0.4)
    assert (fields["width"], fields["height"]) == (8, 16)
    # a grid records its first seed; a PNG with only a prompt line has no settings
    assert "Seed: 4," in format_parameters({"seeds": [4, 5, 6]}, (10, 10))
    assert parse_parameters("just words") == {"prompt": "just words"}


# --- the settings line complete: the run's defaults resolved (issue 29) --------------------------


def _chunk(path):
    with Image.open(path) as image:
        return parse_parameters(image.text["parameters"]), image.text["parameters"]


def test_paint_and_sample_pngs_name_the_defaults_they_used(tmp_path):
    from huashi import api

    painted = api.paint("zoo:mnist-class-diffusion", n=1, seed=4, label=3, steps=3,
                        out=tmp_path / "paint.png", device="cpu")  # fmt: skip
    fields, text = _chunk(painted.passes[0].files[0])
    assert (fields["sampler"], fields["steps"], fields["cfg"]) == ("ddim", 3, 3.0)  # run's own
    assert (fields["seed"], fields["width"], fields["model"]) == (4, 16, "mnist-class-diffusion")
    assert fields["model_hash"] == "44ceed7141"  # the zoo card's sha256, first 10 digits
    sampled = api.sample("zoo:mnist-class-diffusion", n=1, seed=4, label=3, steps=3,
                         out=tmp_path / "sample.png", device="cpu")  # fmt: skip
    assert _chunk(sampled.files[0])[0]["Sampler"] == "DDIM"
    init = api.paint("zoo:mnist-class-diffusion", n=1, seed=4, steps=3, init=sampled.files[0],
                     out=tmp_path / "img2img.png", device="cpu")  # fmt: skip
    assert "Denoising strength: 0.6" in _chunk(init.passes[0].files[0])[1]


def test_a_negative_prompt_steers_the_painting_and_is_written_and_read_back(tmp_path):
    from huashi import api

    loaded = api.load_run("zoo:shapes-ldm", device="cpu")
    common = {"n": 1, "seed": 2, "steps": 6, "prompt": "a red circle"}
    plain = api.paint(loaded, **common).images
    painted = api.paint(loaded, negative_prompt="a blue square", out=tmp_path / "n.png", **common)
    assert (painted.images - plain).abs().max() > 0.05  # guidance away from it, not from ""
    fields, text = _chunk(painted.passes[0].files[0])
    assert text.startswith("a red circle\nNegative prompt: a blue square\nSteps: 6,")
    assert fields["negative_prompt"] == "a blue square" and fields["prompt"] == "a red circle"
    again = api.regenerate(painted.passes[0].files[0], tmp_path / "again.png")
    assert Image.open(again).tobytes() == Image.open(painted.passes[0].files[0]).tobytes()
    from huashi.core.errors import HuashiError

    with pytest.raises(HuashiError, match="needs a text-conditioned model"):
        api.paint("zoo:mnist-class-diffusion", n=1, steps=2, negative_prompt="a 7", device="cpu")


def test_huashi_paint_takes_a_negative_prompt_and_writes_it(tmp_path):
    from huashi.cli import main

    out = tmp_path / "neg.png"
    assert main(["paint", "zoo:shapes-ldm", "a red circle", "--negative-prompt", "a blue square",
                 "--n", "1", "--steps", "3", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    fields, text = _chunk(tmp_path / "neg" / "seed-000000.png")
    assert fields["negative_prompt"] == "a blue square" and "CFG scale: 4" in text
