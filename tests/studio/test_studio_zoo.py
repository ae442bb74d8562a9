"""The zoo in the studio: shipped painters as ``zoo:NAME`` beside the user's runs (API)."""

import io
import json

import pytest
from PIL import Image, ImageDraw

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402
from test_studio_api import reference_cache  # noqa: E402, F401

from huashi import api  # noqa: E402
from huashi.core.errors import HuashiError  # noqa: E402
from huashi.studio.server import create_app  # noqa: E402


@pytest.fixture
def fresh(tmp_path):
    runs = tmp_path / "runs"
    return TestClient(create_app(runs), base_url="http://127.0.0.1"), runs


def test_the_zoo_painters_are_listed_by_what_they_do(fresh):
    client, _ = fresh
    zoo = client.get("/api/zoo").json()
    groups = {p["name"]: p["group"] for p in zoo["painters"]}
    assert groups["zoo:emoji-gan"] == "noise" and groups["zoo:shapes-ldm"] == "prompt"
    assert groups["zoo:calligraphy"] == "translate"
    assert groups["zoo:emoji-upsampler-128"] == "upscale"
    assert not any(name.startswith("zoo:reference-") for name in groups)  # feature networks
    gan = next(p for p in zoo["painters"] if p["name"] == "zoo:emoji-gan")
    assert gan["scores"]["fid"] == 0.218 and gan["description"]
    # its card records its floor multiple under the validated view: shown as such
    assert gan["fid"] == "FID 0.477 = 3.6× floor (n 564, texture:zoo:reference-emoji)"
    ldm = next(p for p in zoo["painters"] if p["name"] == "zoo:shapes-ldm")
    assert ldm["fid"].startswith("FID 0.163 = 3.8× floor (n 1,000, ensemble:zoo:reference-shapes+")
    pix = next(p for p in zoo["painters"] if p["name"] == "zoo:calligraphy")
    # a card without one: the FID is shown labelled raw, never bare, with why
    assert pix["fid"].startswith("raw FID 1.07, no floor (n 193, zoo:reference-calligraphy): ")
    assert pix["fid"].endswith("judge it by held-out L1, PSNR and SSIM")
    assert client.get(gan["grid"]).headers["content-type"] == "image/png"


def test_a_zoo_painter_paints_into_the_runs_folder_and_reads_its_training(fresh):
    client, runs = fresh
    info = client.get("/api/runs/zoo:emoji-gan").json()
    assert (info["step"], info["steps"]) == (3600, 3600) and info["train_seconds"] > 60
    assert info["form"]["paintable"] and info["group"] == "noise"
    painted = client.post("/api/paint", json={"run": "zoo:emoji-gan", "seed": 3, "n": 2}).json()
    image = client.get(painted["images"][0]["url"])
    assert image.status_code == 200
    expected = api.sample("zoo:emoji-gan", n=1, seed=3, device="cpu").images[0]
    got = Image.open(io.BytesIO(image.content))
    assert got.size == (32, 32) and expected.shape[-1] == 32
    assert (runs / ".studio" / "zoo" / "emoji-gan").is_dir()  # not inside the package
    gallery = client.get("/api/runs/zoo:emoji-gan/gallery").json()
    assert len(gallery) == 2
    assert client.get("/api/runs/zoo:nothing").status_code == 404
    assert client.get("/api/runs/zoo:..%2F..%2Fetc").status_code == 404


def test_a_text_painter_offers_example_prompts(fresh):
    client, _ = fresh
    form = client.get("/api/runs/zoo:shapes-ldm").json()["form"]
    assert form["condition"] == "text" and form["examples"]


def test_translate_and_upscale_an_upload(fresh):
    client, _ = fresh
    glyph = Image.new("L", (48, 48), 255)
    ImageDraw.Draw(glyph).rectangle((10, 10, 38, 20), fill=0)
    body = io.BytesIO()
    glyph.save(body, "PNG")
    upload = client.post("/api/uploads", content=body.getvalue()).json()["id"]
    for run, size in (("zoo:calligraphy", (32, 32)), ("zoo:emoji-upsampler-128", (128, 128))):
        out = client.post("/api/translate", json={"run": run, "upload": upload})
        assert out.status_code == 200, out.text
        image = Image.open(io.BytesIO(client.get(out.json()["images"][0]["url"]).content))
        assert image.size == size
    refused = client.post("/api/translate", json={"run": "zoo:emoji-gan", "upload": upload})
    assert refused.status_code == 422 and "does not take an input image" in refused.json()["detail"]


def test_eval_finds_the_zoo_reference_networks(fresh, reference_cache):  # noqa: F811
    client, _ = fresh
    nets = client.get("/api/features?run=zoo:emoji-upsampler-128").json()
    # same data and resolution first, the view that passed its ladder first (as huashi eval)
    assert [net["run"] for net in nets[:2]] == ["texture:zoo:reference-emoji-128",
                                                "zoo:reference-emoji-128"]  # fmt: skip
    shapes = [net["run"] for net in client.get("/api/features").json() if net["data"] == "shapes"]
    assert shapes == [  # no view of any one network passes; their ensemble does, first
        "ensemble:zoo:reference-shapes+zoo:reference-shapes-classifier"
        "+zoo:reference-shapes-attributes",
        "zoo:reference-shapes", "texture:zoo:reference-shapes",
        "zoo:reference-shapes-attributes", "texture:zoo:reference-shapes-attributes",
        "zoo:reference-shapes-classifier", "texture:zoo:reference-shapes-classifier"]  # fmt: skip
    ensemble = [net for net in client.get("/api/features").json() if net.get("view") == "ensemble"]
    assert ensemble[0]["validated"] is True and ensemble[0]["kind"] == "clip"
    first = client.get("/api/features?run=zoo:emoji-gan").json()[0]
    assert (first["run"], first["view"], first["validated"]) == (
        "texture:zoo:reference-emoji", "texture", True,
    )  # fmt: skip
    result = client.post("/api/runs/zoo:emoji-gan/eval",
                         json={"features": "zoo:reference-emoji", "n": 130, "kid_subsets": 2})  # fmt: skip
    assert result.status_code == 200, result.text
    assert "fid" in result.json()["metrics"]
    assert result.json()["features"] == "zoo:reference-emoji"  # as asked: one view only
    assert [row["label"] for row in result.json()["yardsticks"]] == ["FID vs floor", "copy check"]


def _eval(client, body):
    answer = client.post("/api/runs/zoo:emoji-gan/eval", json=body | {"kid_subsets": 2})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_eval_uses_huashi_evals_validated_view_with_enough_samples(fresh, reference_cache):  # noqa: F811
    client, _ = fresh
    body = _eval(client, {"n": 300})  # no features: huashi eval's choice
    direct = api.evaluate("zoo:emoji-gan", None, n=300, device="cpu", kid_subsets=2,
                          kid_subset_size=300)  # fmt: skip
    assert body["features"] == "texture:zoo:reference-emoji"  # the view that passed its ladder
    rows = [(row["label"], row["value"]) for row in body["yardsticks"]]
    assert rows == direct.yardsticks()  # the same rows as huashi eval prints
    labels = [label for label, _ in rows]
    assert labels[:2] == ["FID vs floor", "other view"] and labels[-1] == "copy check"
    assert "× floor (n 300, texture:zoo:reference-emoji)" in rows[0][1]
    assert "× floor (n 300, zoo:reference-emoji)" in rows[1][1]
    assert labels[2] == "second network"  # the exemplar network, beside the clip
    assert "× floor (n 300, texture:zoo:reference-emoji-exemplar)" in rows[2][1]
    sticks = direct.record["yardsticks"]
    findings = [sticks[k] for k in ("disagreement", "networks_disagreement") if sticks[k]]
    assert [value for label, value in rows if label == "finding"] == findings
    texture = _eval(client, {"features": "texture:zoo:reference-emoji", "n": 300})
    assert texture["metrics"] == body["metrics"]  # asked by name: the same view


def test_eval_with_too_few_samples_for_the_texture_view_falls_back_to_the_plain_one(
    fresh, reference_cache,  # noqa: F811
):  # fmt: skip
    client, _ = fresh
    body = _eval(client, {"n": 130})
    assert body["features"] == "zoo:reference-emoji"
    assert (
        "--n 130 is too few for texture:zoo:reference-emoji's 264 dimensions: measured under "
        "zoo:reference-emoji (--n 1320 or more for texture:zoo:reference-emoji)"
    ) in body["warnings"]
    rows = {row["label"]: row["value"] for row in body["yardsticks"]}
    assert "× floor (n 130, zoo:reference-emoji)" in rows["FID vs floor"]
    assert (
        rows["other view"].startswith("texture:zoo:reference-emoji: ")
        and "no floor" in rows["other view"]
    )
    refused = client.post("/api/runs/zoo:emoji-gan/eval",
                          json={"features": "texture:zoo:reference-emoji", "n": 130})  # fmt: skip
    assert refused.status_code == 422 and "raise --n" in refused.json()["detail"]  # asked for it


def test_runs_zoo_is_refused_and_an_empty_run_says_what_to_do(fresh, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HuashiError, match="--runs is the folder for your own runs"):
        create_app("zoo:")
    assert not (tmp_path / "zoo:").exists()
    client, _ = fresh
    answer = client.post("/api/paint", json={"run": ""})
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "run: choose a run of the runs folder or a zoo painter (zoo:NAME)"
    )
    assert "pattern" not in json.dumps(client.post("/api/paint", json={"run": "a b"}).json())


def test_errors_carry_no_server_paths(fresh):
    client, runs = fresh
    (runs / "broken").mkdir()
    (runs / "broken" / "config.json").write_text("{}")
    for answer in (client.get("/api/runs/broken"), client.get("/api/runs")):
        assert "broken/config.json is damaged" in answer.text and str(runs) not in answer.text


def _parameters(client, url):
    from huashi.core.metadata import parse_parameters

    with Image.open(io.BytesIO(client.get(url).content)) as image:
        return parse_parameters(image.text["parameters"]), json.loads(image.text["huashi"])


def test_studio_pngs_carry_the_complete_settings_line_and_the_negative_prompt(fresh):
    client, _ = fresh
    body = {"run": "zoo:shapes-ldm", "prompt": "a red circle", "negative_prompt": "a blue square",
            "seed": 9, "steps": 4, "n": 1}  # fmt: skip
    painted = client.post("/api/paint", json=body).json()
    fields, _ = _parameters(client, painted["images"][0]["url"])
    assert (fields["sampler"], fields["steps"], fields["cfg"]) == ("dpmpp-2m", 4, 4.0)
    assert fields["negative_prompt"] == "a blue square" and fields["model"] == "shapes-ldm"
    assert painted["parameters"]["negative_prompt"] == "a blue square"
    sweep = client.post("/api/paint", json={"run": "zoo:mnist-class-diffusion", "seed": 1,
                                            "sweep": [{"sampler": "ddim", "steps": 2}]}).json()  # fmt: skip
    assert _parameters(client, sweep["images"][0]["url"])[0]["cfg"] == 3.0  # sweeps too
    refused = client.post("/api/paint", json={"run": "zoo:emoji-gan", "negative_prompt": "x"})
    assert refused.status_code == 422 and "not text-conditioned" in refused.json()["detail"]


def test_an_a1111_png_with_a_negative_prompt_is_read_on_upload(fresh):
    from PIL.PngImagePlugin import PngInfo

    client, _ = fresh
    info = PngInfo()
    info.add_text("parameters", "a star\nNegative prompt: blurry, lowres\nSteps: 12, "
                  "Sampler: Euler a, CFG scale: 7, Seed: 77, Size: 32x32, Model: shapes-ldm")  # fmt: skip
    body = io.BytesIO()
    Image.new("RGB", (32, 32)).save(body, "PNG", pnginfo=info)
    fields = client.post("/api/uploads", content=body.getvalue()).json()["parameters"]
    assert (fields["prompt"], fields["negative_prompt"], fields["seed"]) == (
        "a star", "blurry, lowres", 77,
    )  # fmt: skip


def test_compare_measures_a_zoo_painter_without_writing_into_the_zoo(fresh, reference_cache):  # noqa: F811
    from huashi.zoo import zoo_root

    client, runs = fresh
    before = sorted(p.name for p in (zoo_root() / "emoji-gan").iterdir())
    body = {"runs": ["zoo:emoji-gan"], "features": "zoo:reference-emoji", "n": 130, "speed_n": 2,
            "grid_n": 4}  # fmt: skip
    report = client.post("/api/compare", json=body)
    assert report.status_code == 200, report.text
    numbers = json.loads(
        (runs / ".studio" / "reports" / f"{report.json()['report']}.json").read_text()
    )
    assert numbers["runs"][0]["eval"]["metrics"]["fid"] > 0  # measured, shown in the report
    assert sorted(p.name for p in (zoo_root() / "emoji-gan").iterdir()) == before
