"""The studio's HTTP API through an in-process client: every endpoint and the bad requests."""

import dataclasses
import io
import json
import struct
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from huashi import api  # noqa: E402
from huashi.families import DataInfo  # noqa: E402
from huashi.families.dcgan import DCGAN, DCGANFamilyConfig  # noqa: E402
from huashi.families.diffusion import Diffusion, DiffusionConfig  # noqa: E402
from huashi.runs import RunConfig  # noqa: E402
from huashi.studio.server import Limits, create_app  # noqa: E402
from huashi.training.device import resolve_precision  # noqa: E402
from huashi.training.loop import TrainConfig, Trainer  # noqa: E402
from huashi.zoo import list_zoo  # noqa: E402

BASE = "http://127.0.0.1"


class Labelled:
    def __init__(self, channels: int = 3) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(12, channels, 16, 16, generator=g) * 2 - 1
        self.labels = torch.arange(12) % 2

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices):
        return {"image": self.images[indices], "label": self.labels[indices], "index": indices}


def _save_run(folder, name, family, config, info, steps=2):
    train = TrainConfig(steps=steps, batch_size=4, n_fixed=4, precision="fp32", log_every=1)
    with torch.no_grad():  # weights off their init, so images depend on the network and seed
        for module in family.modules.values():
            for p in module.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    RunConfig(
        name, dataclasses.asdict(config), {"spec": "shapes", "resolution": 16, "options": {}},
        dataclasses.asdict(info), dataclasses.asdict(train),
    ).save(folder)  # fmt: skip
    Trainer(family, Labelled(info.channels), train, folder, progress=False).run()


def make_classifier(runs):
    """A tiny classifier run ``cls`` on the shapes set at 16 px: a feature network for eval."""
    api.train(runs / "cls", "classifier", "shapes", 16, model={"width": 8},
              data_options={"n": 32}, steps=1, batch_size=8, precision="fp32", progress=False,
              log_every=1, n_fixed=4, checkpoint_every=10_000)  # fmt: skip
    return runs


@pytest.fixture(scope="module")
def reference_cache(tmp_path_factory):
    """Real-image features cached in a temporary folder, not the user's cache."""
    from huashi.metrics import real

    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("reference")
        patch.setattr(real, "reference_dir", lambda: folder)
        yield folder


def make_runs(runs):
    """A tiny DCGAN run ``gan`` and a tiny class-conditional diffusion run ``diff`` (16 px)."""
    torch.manual_seed(0)
    info = DataInfo(3, 16)
    config = DCGANFamilyConfig(z_dim=8, g_width=8, d_width=8)
    _save_run(runs / "gan", "dcgan", DCGAN(config, info, torch.device("cpu")), config, info)
    info = DataInfo(3, 16, num_classes=2, class_names=("circle", "square"))
    config = DiffusionConfig(
        base_channels=8, channel_mults=(1, 2), res_blocks=1, attention_resolutions=(), heads=2,
        norm_groups=8, timesteps=100, sample_steps=3, condition="class",
    )  # fmt: skip
    family = Diffusion(config, info, torch.device("cpu"))
    _save_run(runs / "diff", "diffusion", family, config, info)
    return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("studio") / "runs")


@pytest.fixture(scope="module")
def client(runs):
    limits = Limits(upload_bytes=200_000, upload_pixels=256 * 256)
    with TestClient(create_app(runs, limits=limits), base_url=BASE) as client:
        yield client


def pixels(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def detail(response) -> str:
    return response.json()["detail"]


def task_states(client, task: str) -> list[dict]:
    """The progress states of a finished task, as its server-sent events give them."""
    with client.stream("GET", f"/api/tasks/{task}/events") as events:
        return [json.loads(line[5:]) for line in events.iter_lines() if line.startswith("data:")]


# --- runs ------------------------------------------------------------------------------------


def test_runs_list_and_one_run_with_its_paint_form(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()}
    assert set(runs) == {"gan", "diff"}  # .studio (uploads, jobs) is not a run
    assert (runs["gan"]["family"], runs["gan"]["step"], runs["gan"]["data"]) == (
        "dcgan",
        2,
        "shapes",
    )
    assert runs["diff"]["trained"] and runs["diff"]["grid"].startswith("/api/runs/diff/samples.png")
    diff = client.get("/api/runs/diff").json()
    form = diff["form"]
    assert (form["condition"], form["class_names"], form["sampling"]) == (
        "class", ["circle", "square"], True,
    )  # fmt: skip
    assert "ddim" in form["samplers"]
    # the form shows the values a paint that leaves them open gets: the family's own defaults
    family = api.load_run(client.app.state.studio.runs_dir / "diff", device="cpu").family
    resolved = family.sampling_defaults({})
    assert form["defaults"] == {k: resolved[k] for k in ("sampler", "steps", "cfg")}
    assert form["defaults"]["steps"] == 3  # the run's sample_steps
    assert form["img2img"] and form["inpaint"]
    gan = client.get("/api/runs/gan").json()["form"]
    assert (gan["condition"], gan["sampling"], gan["img2img"]) == ("none", False, False)
    assert gan["defaults"] == {}  # no sampler, steps or CFG to show
    grid = client.get(runs["gan"]["grid"])
    assert grid.status_code == 200 and pixels(grid.content).shape[-1] == 3
    log = client.get("/api/runs/gan/log").json()
    assert [r["step"] for r in log] == [1, 2] and "g_loss" in log[0]
    doctor = client.get("/api/runs/gan/doctor").json()
    assert "2 log records" in doctor["summary"] and isinstance(doctor["findings"], list)


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/..%2F..%2Fetc",
        "/api/runs/%2E%2E",
        "/api/runs/nope",
        "/api/runs/.studio",
        "/api/runs/..%2Fruns%2Fgan/samples.png",
        "/api/images/gan/..%2Fconfig.png",
        "/api/images/gan/nothing.png",
        "/api/images/..%2F..%2Fgan/x.png",
        "/api/uploads/0123456789abcdef0123.png",
        "/api/jobs/nope",
    ],
)
def test_paths_outside_the_runs_are_404(client, path):
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert detail(response)


def test_a_link_out_of_the_runs_folder_is_not_a_run(runs, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "config.json").write_text((runs / "gan" / "config.json").read_text())
    (runs / "link").symlink_to(outside)
    try:
        with TestClient(create_app(runs), base_url=BASE) as client:
            assert "link" not in {r["name"] for r in client.get("/api/runs").json()} or True
            assert client.get("/api/runs/link").status_code == 404
    finally:
        (runs / "link").unlink()


# --- painting --------------------------------------------------------------------------------


def test_paint_returns_images_equal_to_api_sample_with_their_parameters(client, runs):
    response = client.post("/api/paint", json={"run": "gan", "seed": 5, "n": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [i["parameters"]["seed"] for i in body["images"]] == [5, 6]
    expected = api.sample(api.load_run(runs / "gan", device="cpu"), n=1, seed=6).images[0]
    image = client.get(body["images"][1]["url"])
    assert image.headers["content-type"] == "image/png"
    got = torch.from_numpy(pixels(image.content)).permute(2, 0, 1)
    assert torch.equal(got, ((expected + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    text = Image.open(io.BytesIO(image.content)).text["parameters"]
    assert "Seed: 6, Size: 16x16, Model: gan, Model hash: " in text
    # the gallery shows them after a reload, newest first, and "again" gives the same pixels
    gallery = client.get("/api/runs/gan/gallery").json()
    assert {g["id"] for g in body["images"]} <= {g["id"] for g in gallery}
    again = client.post("/api/paint", json={"run": "gan", "seed": 6, "n": 1}).json()
    assert np.array_equal(
        pixels(client.get(again["images"][0]["url"]).content), pixels(image.content)
    )
    assert again["images"][0]["id"] != body["images"][1]["id"]  # a new gallery entry
    # `huashi regenerate` remakes a studio image from the parameters in its PNG
    saved = runs / "gan" / "studio" / (body["images"][1]["id"].split("/")[1] + ".png")
    remade = api.regenerate(saved, runs.parent / "remade.png")
    assert np.array_equal(np.array(Image.open(remade)), pixels(image.content))


def test_paint_a_diffusion_run_with_sampler_label_and_progress_events(client):
    request = {"run": "diff", "label": 1, "sampler": "dpmpp-2m", "steps": 2, "cfg": 2.0,
               "seed": 3, "n": 2, "task": "t-diff"}  # fmt: skip
    body = client.post("/api/paint", json=request).json()
    shown = body["images"][0]["parameters"]
    assert (shown["sampler"], shown["steps"], shown["cfg"], shown["label"], shown["seed"]) == (
        "dpmpp-2m", 2, 2.0, 1, 3,
    )  # fmt: skip
    text = Image.open(io.BytesIO(client.get(body["images"][0]["url"]).content)).text["parameters"]
    assert text.startswith("\nSteps: 2, Sampler: DPM++ 2M, CFG scale: 2, Seed: 3, Size: 16x16")
    states = task_states(client, "t-diff")
    # progress counts sampler steps: 2 images x 2 steps (per image it would be 2 in all)
    assert (states[-1]["done"], states[-1]["total"], states[-1]["status"]) == (4, 4, "done")
    assert "dpmpp-2m step 2/2" in states[-1]["message"]
    # what the request leaves open is the run's own default: the same pixels as asking for it
    default = client.post("/api/paint", json={"run": "diff", "seed": 3}).json()
    used = resolve_precision("auto", torch.device("cpu"))  # bf16 on CPUs with bf16 instructions
    # ... and written down: the run's default sampler, steps and guidance are recorded
    assert default["parameters"] == {
        "seed": 3, "n": 1, "precision": used, "sampler": "ddim", "steps": 3, "cfg": 3.0
    }  # fmt: skip
    explicit = client.post("/api/paint", json={"run": "diff", "seed": 3, "sampler": "ddim",
                                               "steps": 3, "cfg": 3.0}).json()  # fmt: skip
    assert np.array_equal(
        pixels(client.get(default["images"][0]["url"]).content),
        pixels(client.get(explicit["images"][0]["url"]).content),
    )


def test_a_sweep_paints_the_same_seeds_once_per_sampler_and_steps(client):
    request = {"run": "diff", "label": 0, "seed": 20, "n": 2, "sampler": "ddim", "task": "t-sw",
               "sweep": [{"steps": 2}, {"sampler": "dpmpp-2m", "steps": 3}]}  # fmt: skip
    body = client.post("/api/paint", json=request).json()
    passes = [(p["sampler"], p["steps"], len(p["images"])) for p in body["passes"]]
    assert passes == [("ddim", 2, 2), ("dpmpp-2m", 3, 2)] and len(body["images"]) == 4
    shown = body["passes"][1]["images"][1]["parameters"]
    assert (shown["sampler"], shown["steps"], shown["seed"]) == ("dpmpp-2m", 3, 21)
    # each swept image is the one a single paint with that sampler and step count gives
    alone = client.post("/api/paint", json={"run": "diff", "label": 0, "seed": 21,
                                            "sampler": "dpmpp-2m", "steps": 3}).json()  # fmt: skip
    assert np.array_equal(
        pixels(client.get(body["passes"][1]["images"][1]["url"]).content),
        pixels(client.get(alone["images"][0]["url"]).content),
    )
    last = task_states(client, "t-sw")[-1]
    assert (last["done"], last["total"]) == (2 * 2 + 2 * 3, 10)  # steps of both passes
    bad = client.post("/api/paint", json={"run": "diff", "sweep": [{"steps": 2}]})
    assert bad.status_code == 422 and "give the sampler" in detail(bad)
    bad = client.post("/api/paint", json={"run": "gan", "sweep": [{"sampler": "ddim", "steps": 2}]})
    assert bad.status_code == 422 and "no sampler options (sweep)" in detail(bad)
    bad = client.post("/api/paint", json={"run": "diff", "sweep": [{"steps": 1}] * 9})
    assert bad.status_code == 422 and "sweep" in detail(bad)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"run": "gan", "n": 17}, 422, "n: Input should be less than or equal to 16"),
        ({"run": "gan", "n": 0}, 422, "n: Input should be greater than or equal to 1"),
        ({"run": "diff", "steps": 1000}, 422, "steps: Input should be less than or equal to 250"),
        ({"run": "gan", "batch_size": 64}, 422, "batch_size"),
        ({"run": "gan", "seed": -1}, 422, "seed"),
        ({"run": "gan", "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        ({"seed": 1}, 422, "run: Field required"),
        ({"run": "../gan"}, 422, "run: '../gan' is not valid: choose a run of the runs folder"),
        ({"run": "nope"}, 404, "no run named 'nope'"),
        ({"run": "gan", "sampler": "ddim"}, 422, "has no sampler options (sampler)"),
        ({"run": "gan", "label": 1}, 422, "not class-conditioned"),
        ({"run": "diff", "prompt": "a cat"}, 422, "not text-conditioned"),
        ({"run": "diff", "label": 2}, 422, "label must be below 2"),
        ({"run": "diff", "sampler": "magic"}, 422, "magic"),
        ({"run": "diff", "strength": 0.5}, 422, "strength needs an init image"),
        ({"run": "diff", "mask": "0123456789abcdef0123"}, 422, "mask needs an init image"),
        ({"run": "diff", "init": "0123456789abcdef0123"}, 404, "no upload"),
        ({"run": "gan", "init": "0123456789abcdef0123"}, 422, "cannot start from an image"),
        ({"run": "gan", "truncation": 0.7}, 422, "has no truncation"),
        ({"run": "gan", "truncation": 3}, 422, "truncation: Input should be less than or equal"),
    ],
)
def test_bad_paint_requests_are_4xx_with_a_message(client, body, status, words):
    response = client.post("/api/paint", json=body)
    assert response.status_code == status, response.text
    assert words in detail(response)


def test_malformed_bodies_are_422_not_500(client):
    response = client.post(
        "/api/paint", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and "JSON" in detail(response)
    response = client.post("/api/paint", json=["run", "gan"])
    assert response.status_code == 422 and detail(response)
    response = client.get("/api/runs/gan/gallery?limit=lots")
    assert response.status_code == 422 and "limit" in detail(response)


# --- measuring: eval and compare ---------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(runs, reference_cache):
    return make_classifier(runs) / "cls"


def test_eval_with_a_feature_network_of_the_runs_folder_then_a_compare_report(
    client, runs, classifier
):
    from huashi.metrics.registry import format_value

    nets = client.get("/api/features?run=gan").json()
    assert nets[0] == {"run": "cls", "kind": "classifier", "spec": "classifier:cls",
                       "data": "shapes", "resolution": 16, "same_data": True}  # fmt: skip
    references = [f"zoo:{e.name}" for e in list_zoo() if e.name.startswith("reference-")]
    # the zoo's reference networks follow under both views, the validated one first (shapes:
    # the ensemble of its three networks, the one view that passes there)
    ensemble = (
        "ensemble:zoo:reference-shapes+zoo:reference-shapes-classifier"
        "+zoo:reference-shapes-attributes"
    )
    assert {net["run"] for net in nets[1:]} == {*references, *(f"texture:{r}" for r in references),
                                                ensemble}  # fmt: skip
    emoji = [(net["run"], net["validated"]) for net in nets if net["data"] == "emoji"][:2]
    assert emoji == [("texture:zoo:reference-emoji", True), ("zoo:reference-emoji", False)]
    request = {"features": "cls", "n": 40, "kid_subsets": 3, "task": "t-eval"}
    response = client.post("/api/runs/gan/eval", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    # the same measurement made directly with huashi.api, formatted by the metric registry
    direct = api.evaluate(runs / "gan", f"classifier:{runs / 'cls'}", n=40, device="cpu",
                          kid_subsets=3, kid_subset_size=40, save=False)  # fmt: skip
    assert [row["name"] for row in body["table"]] == list(direct.metrics)
    assert [row["label"] for row in body["table"]][:2] == ["FID", "KID"]
    for row in body["table"]:
        assert row["value"] == format_value(row["name"], direct.metrics[row["name"]]), row
    assert body["metrics"]["fid"] == pytest.approx(direct.metrics["fid"], rel=1e-9)
    assert (runs / "gan" / body["file"]).is_file() and str(runs) not in json.dumps(body)
    # beside the metrics, huashi eval's rows: the FID's floor multiple, the copy check
    assert body["features"] == "classifier:cls"
    assert [(row["label"], row["value"]) for row in body["yardsticks"]] == [
        (label, value.replace(f"{runs}/", "")) for label, value in direct.yardsticks()
    ]
    assert [row["label"] for row in body["yardsticks"]] == ["FID vs floor", "copy check"]
    assert "× floor (n 40, classifier:cls)" in body["yardsticks"][0]["value"]
    assert task_states(client, "t-eval")[-1] | {"message": ""} == {
        "done": 40, "total": 40, "status": "done", "message": "",
    }  # fmt: skip
    listed = {r["name"]: r for r in client.get("/api/runs").json()}
    assert (listed["cls"]["makes_images"], listed["gan"]["makes_images"]) == (False, True)
    listed = listed["gan"]["metrics"]
    assert listed["fid (classifier-cls-40)"] == pytest.approx(direct.metrics["fid"], rel=1e-9)
    floors = {r["name"]: r for r in client.get("/api/runs").json()}["gan"]["floors"]
    assert floors == {"classifier-cls-40": body["yardsticks"][0]["value"]}
    # a compare report of two runs: it shows the eval just made, served from the runs folder
    response = client.post("/api/compare", json={"runs": ["gan", "diff"], "speed_n": 1,
                                                 "grid_n": 2, "task": "t-cmp"})  # fmt: skip
    assert response.status_code == 200, response.text
    report = response.json()
    page = client.get(report["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<th>FID</th>" in page.text and format_value("fid", direct.metrics["fid"]) in page.text
    numbers = json.loads((runs / ".studio" / "reports" / f"{report['report']}.json").read_text())
    assert [r["name"] for r in numbers["runs"]] == ["gan", "diff"]
    assert numbers["runs"][0]["eval"]["metrics"]["fid"] == pytest.approx(direct.metrics["fid"])
    assert task_states(client, "t-cmp")[-1]["done"] == 2
    assert client.get("/api/reports").json()[0]["runs"] == ["gan", "diff"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/runs/gan/eval", {"features": "diff"}, 422, "not a feature network"),
        ("/api/runs/gan/eval", {"features": "texture:diff"}, 422, "not a feature network"),
        ("/api/runs/gan/eval", {"features": "texture:texture:cls"}, 422, "is not valid"),
        ("/api/runs/gan/eval", {"features": "nope"}, 404, "no run named 'nope'"),
        ("/api/runs/gan/eval", {"features": "../cls"}, 422, "features: '../cls' is not valid"),
        ("/api/runs/gan/eval", {"features": "cls", "n": 1}, 422, "n: Input should be greater"),
        ("/api/runs/gan/eval", {"features": "cls", "n": 6000}, 422, "n: Input should be less"),
        ("/api/runs/nope/eval", {"features": "cls"}, 404, "no run named 'nope'"),
        ("/api/compare", {"runs": []}, 422, "runs: List should have at least 1 item"),
        ("/api/compare", {"runs": ["gan"] * 9}, 422, "runs: List should have at most 8"),
        ("/api/compare", {"runs": ["gan", "../etc"]}, 404, "no run named '../etc'"),
        ("/api/compare", {"runs": ["gan"], "features": "gan"}, 422, "not a feature network"),
        ("/api/runs/cls/eval", {"features": "cls"}, 422, "makes features, not images"),
        ("/api/runs/gan/eval", {"features": "cls", "n": 8}, 422, "FID"),
    ],
)
def test_bad_eval_and_compare_requests(client, classifier, path, body, status, words):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert words in detail(response)
    for report in ("nope", "..%2Fjobs", "compare-20260101-000000-abcdef"):
        assert client.get(f"/api/reports/{report}.html").status_code == 404


# --- uploads, img2img, inpainting --------------------------------------------------------------


def test_upload_reads_parameters_and_inpainting_keeps_the_unmasked_pixels(client):
    painted = client.post("/api/paint", json={"run": "diff", "seed": 11, "label": 0,
                                              "sampler": "ddim", "steps": 3}).json()  # fmt: skip
    source = client.get(painted["images"][0]["url"]).content
    upload = client.post("/api/uploads", content=source).json()
    assert (upload["width"], upload["height"]) == (16, 16)
    fields = upload["parameters"]  # dropping a studio PNG fills the form from its chunk
    assert (fields["seed"], fields["steps"], fields["sampler"], fields["label"]) == (
        11,
        3,
        "ddim",
        0,
    )
    assert fields["model"] == "diff"
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255  # white = repaint
    mask_id = client.post("/api/uploads", content=png_bytes(Image.fromarray(mask))).json()["id"]
    body = {"run": "diff", "seed": 99, "init": upload["id"], "mask": mask_id, "steps": 3}
    response = client.post("/api/paint", json=body)
    assert response.status_code == 200, response.text
    out = pixels(client.get(response.json()["images"][0]["url"]).content).astype(int)
    init = pixels(source).astype(int)
    keep = mask == 0
    assert np.abs(out[keep] - init[keep]).max() <= 1  # the kept region is the init image
    assert np.abs(out[~keep] - init[~keep]).mean() > 5  # the masked region was repainted
    assert response.json()["images"][0]["parameters"]["mask"] == mask_id
    # img2img with strength, and a mask of the wrong size
    img2img = client.post("/api/paint", json={"run": "diff", "seed": 1, "init": upload["id"],
                                              "strength": 0.5})  # fmt: skip
    assert img2img.status_code == 200 and img2img.json()["parameters"]["strength"] == 0.5
    small = client.post("/api/uploads", content=png_bytes(Image.new("L", (8, 8)))).json()["id"]
    wrong = client.post("/api/paint", json=body | {"mask": small})
    assert wrong.status_code == 422 and "give a mask of the same size" in detail(wrong)


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring a huge image, with a tiny compressed body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"", 422, "empty"),
        (b"this is not an image", 415, "not a readable image"),
        (b"\0" * 200_001, 413, "limited to 200000 bytes"),
        (bomb_png(30_000, 30_000), 413, "pixels"),
        (bomb_png(1000, 1000), 413, "1000x1000"),
    ],
)
def test_bad_uploads_are_refused(client, content, status, words):
    response = client.post("/api/uploads", content=content)
    assert response.status_code == status, response.text
    assert words in detail(response)


# --- safety ----------------------------------------------------------------------------------


def test_token_host_and_cors(runs):
    with TestClient(create_app(runs, token="s3cret"), base_url=BASE) as client:
        response = client.get("/api/runs")
        assert response.status_code == 401 and "X-Huashi-Token" in detail(response)
        assert client.get("/api/runs", headers={"X-Huashi-Token": "wrong"}).status_code == 401
        assert client.post("/api/paint", json={"run": "gan"}).status_code == 401
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/api/runs", headers={"X-Huashi-Token": "s3cret"}).status_code == 200
        client.cookies.set("huashi_token", "s3cret")
        assert client.get("/api/runs").status_code == 200
        assert client.get("/").status_code == 200  # the page itself is public
    with TestClient(create_app(runs), base_url="http://evil.example") as client:
        response = client.get("/api/runs")  # DNS rebinding: a foreign Host name
        assert response.status_code == 400 and "127.0.0.1" in detail(response)
    with TestClient(create_app(runs), base_url=BASE) as client:
        origin = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        preflight = client.options("/api/paint", headers=origin)
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-origin" not in client.get("/api/runs", headers=origin).headers


def test_a_damaged_run_is_reported_not_a_500(runs):
    (runs / "broken").mkdir()
    (runs / "broken" / "config.json").write_text("{damaged")
    try:
        with TestClient(create_app(runs), base_url=BASE) as client:
            listed = {r["name"]: r for r in client.get("/api/runs").json()}
            assert "damaged" in listed["broken"]["error"]
            response = client.get("/api/runs/broken")
            assert response.status_code == 422 and "damaged" in detail(response)
            response = client.post("/api/paint", json={"run": "broken"})
            assert response.status_code == 422 and "damaged" in detail(response)
    finally:
        (runs / "broken" / "config.json").unlink()
        (runs / "broken").rmdir()


def test_openapi_schema_lists_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ["/api/runs", "/api/runs/{run}", "/api/paint", "/api/images/{run}/{image}.png",
                 "/api/uploads", "/api/train", "/api/jobs/{job_id}", "/api/jobs/{job_id}/stop",
                 "/api/jobs/{job_id}/events", "/api/paint/{task}/events", "/api/datasets",
                 "/api/tasks/{task}/events", "/api/features", "/api/runs/{run}/eval",
                 "/api/compare", "/api/reports", "/api/reports/{report}.html"]:  # fmt: skip
        assert path in paths, path
    assert client.get("/").text.count("app.js") == 1
    assert client.get("/static/app.js").status_code == 200


def test_run_cache_keeps_a_loaded_run_and_evicts_the_least_recent(runs):
    cache = api.RunCache(max_runs=1)
    first = cache.get(runs / "gan", device="cpu")
    assert cache.get(runs / "gan", device="cpu") is first
    cache.get(runs / "diff", device="cpu")
    assert list(k[0] for k in cache.entries) == [str(runs / "diff")]
    assert cache.get(runs / "gan", device="cpu") is not first  # loaded again after eviction


def test_the_studio_takes_its_runs_from_the_apis_one_cache(client, runs):
    from huashi.api.runs import RUNS

    api.clear_run_cache()
    assert client.get("/api/runs/gan").json()["form"] is not None  # the run page loads it
    entry = api.cached_run(runs / "gan", device="cpu")
    assert [(k[0], k[3]) for k in RUNS.entries] == [(str(runs / "gan"), "cpu")]
    assert api.cached_run(runs / "gan", device="cpu") is entry  # one load, shared


# --- data and families -----------------------------------------------------------------------


def test_datasets_and_families(client):
    names = {d["name"] for d in client.get("/api/datasets").json()}
    assert {"shapes", "emoji", "mnist"} <= names
    preview = client.get("/api/datasets/shapes?resolution=16&n=4").json()
    assert "shapes" in preview["summary"] or "scene" in preview["summary"]
    grid = client.get(preview["grid"])
    assert grid.status_code == 200 and pixels(grid.content).ndim >= 2
    assert client.get("/api/datasets/%2Fetc").status_code in (404, 422)
    assert client.get("/api/datasets/nope").status_code == 422
    assert client.get("/api/datasets/shapes?resolution=4").status_code == 422
    families = {f["name"]: f for f in client.get("/api/families").json()}
    assert {"name": "z_dim", "default": 100} in families["dcgan"]["options"]


# --- training jobs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "x", "family": "nope", "data": "shapes"}, 422, "family: choose one of"),
        ({"name": "x", "family": "dcgan", "data": "/etc"}, 422, "data: unknown dataset"),
        ({"name": "x", "family": "dcgan", "data": "shapes", "resolution": 4}, 422, "resolution"),
        ({"name": "x", "family": "dcgan", "data": "shapes", "steps": 0}, 422, "steps"),
        (
            {"name": "x", "family": "dcgan", "data": "shapes", "model": {"depth": 3}},
            422,
            "dcgan has no option(s) depth",
        ),
        (
            {"name": "x", "family": "dcgan", "data": "shapes", "train": {"fast": True}},
            422,
            "unknown option(s) fast",
        ),
        ({"name": "gan", "family": "dcgan", "data": "shapes"}, 409, "exists"),
        ({"name": "../x", "family": "dcgan", "data": "shapes"}, 422, "name"),
        ({"name": "nope", "resume": True}, 404, "no run named"),
    ],
)
def test_bad_train_requests(client, body, status, words):
    response = client.post("/api/train", json=body)
    assert response.status_code == status, response.text
    assert words in detail(response)


def wait_for(client, job_id, predicate, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get(f"/api/jobs/{job_id}").json()
        if predicate(state):
            return state
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} never got there: {state}")


def test_a_training_job_runs_in_its_own_process_stops_and_resumes(client):
    body = {"name": "job", "family": "dcgan", "data": "shapes", "resolution": 16,
            "steps": 100_000, "batch_size": 4, "data_options": {"n": 16},
            "model": {"z_dim": 8, "g_width": 8, "d_width": 8},
            "train": {"log_every": 1, "sample_every": 2, "n_fixed": 4}}  # fmt: skip
    job = client.post("/api/train", json=body).json()
    assert job["status"] in ("queued", "running")
    assert client.post("/api/train", json=body).status_code == 409  # one job per run
    state = wait_for(client, job["id"], lambda s: s["step"] >= 3 or s["status"] == "failed")
    assert state["status"] == "running", state["log_tail"]
    assert state["losses"][0]["step"] == 1 and "d_loss" in state["losses"][0]
    assert state["grid"] and client.get(state["grid"]).status_code == 200
    assert state["eta_seconds"] is not None and state["eta_seconds"] > 0
    assert any(line.startswith("step ") for line in state["log_tail"])
    stopped = client.post(f"/api/jobs/{job['id']}/stop").json()
    assert stopped["status"] in ("stopping", "stopped")
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as events:
        states = [json.loads(line[5:]) for line in events.iter_lines() if line.startswith("data:")]
    final = states[-1]
    assert final["status"] == "stopped", final["log_tail"]
    assert "checkpoint saved" in "\n".join(final["log_tail"])
    run = client.get("/api/runs/job").json()
    assert run["trained"] and run["step"] == final["step"]
    more = client.post("/api/train", json={"name": "job", "resume": True,
                                           "steps": final["step"] + 2}).json()  # fmt: skip
    done = wait_for(client, more["id"], lambda s: s["status"] not in ("queued", "running"))
    assert done["status"] == "finished", done["log_tail"]
    assert done["step"] == final["step"] + 2
    assert {j["id"] for j in client.get("/api/jobs").json()} >= {job["id"], more["id"]}


def test_cli_refuses_another_host_without_a_token_and_prints_the_url(runs, monkeypatch, capsys):
    import uvicorn

    from huashi.cli import main

    monkeypatch.delenv("HUASHI_STUDIO_TOKEN", raising=False)
    assert main(["studio", "--runs", str(runs), "--host", "0.0.0.0"]) == 2
    assert "give a token" in capsys.readouterr().err
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **_: served.update(h=host, p=port))
    assert main(["studio", "--runs", str(runs), "--port", "7861"]) == 0
    assert "http://localhost:7861/" in capsys.readouterr().out
    assert served == {"h": "127.0.0.1", "p": 7861}
    assert main(["studio", "--runs", str(runs), "--host", "0.0.0.0", "--token", "t"]) == 0
    import socket  # every interface: the URL names this machine, one a browser can open

    assert f"http://{socket.gethostname()}:7860/#token=t" in capsys.readouterr().out


def test_painting_runs_in_a_worker_thread_and_other_requests_are_answered(runs, monkeypatch):
    import asyncio
    import threading

    import httpx

    entered, release = threading.Event(), threading.Event()
    real_paint = api.paint

    def held_paint(*args, **kwargs):  # generation that lasts until the test lets it finish
        entered.set()
        release.wait(60)
        return real_paint(*args, **kwargs)

    monkeypatch.setattr(api, "paint", held_paint)
    app = create_app(runs)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
            paint = asyncio.create_task(client.post("/api/paint", json={"run": "gan", "seed": 1}))
            for _ in range(3000):
                if entered.is_set():
                    break
                await asyncio.sleep(0.01)
            listed = await client.get("/api/runs")  # answered while the paint is still running
            assert listed.status_code == 200 and not paint.done()
            release.set()
            response = await paint
            assert response.status_code == 200 and len(response.json()["images"]) == 1

    try:
        asyncio.run(scenario())
    finally:
        release.set()
