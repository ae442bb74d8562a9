"""The studio's Latents endpoints on tiny StyleGAN and DCGAN runs: walks equal the editing
module's walks, inversion and dragging finish as tasks and give the library's images."""

import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from huashi import api  # noqa: E402
from huashi.core.images import read_params, to_pil  # noqa: E402
from huashi.gan.drag import drag  # noqa: E402
from huashi.gan.editing import walk  # noqa: E402
from huashi.gan.latents import load_latent, render, to_ws  # noqa: E402
from huashi.studio.server import create_app  # noqa: E402

BASE = "http://127.0.0.1"
TINY = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8}


def train(out, family, model):
    api.train(out, family, "shapes", 16, model=model, data_options={"n": 32}, steps=1,
              batch_size=8, precision="fp32", progress=False, log_every=1, n_fixed=4,
              checkpoint_every=10_000)  # fmt: skip


def make_latent_runs(runs):
    """A tiny StyleGAN run ``sg``, a tiny DCGAN run ``gan`` and a classifier ``cls`` (16 px)."""
    torch.manual_seed(0)
    train(runs / "sg", "stylegan", TINY)
    train(runs / "gan", "dcgan", {"z_dim": 8, "g_width": 8, "d_width": 8})
    train(runs / "cls", "classifier", {"width": 8})
    return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_latent_runs(tmp_path_factory.mktemp("studio-latents") / "runs")


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app(runs), base_url=BASE) as client:
        yield client


def fetch(client, image) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(client.get(image["url"]).content)))


def expected(images) -> list[np.ndarray]:
    return [np.asarray(to_pil(image)) for image in images]


def task_states(client, task):
    with client.stream("GET", f"/api/tasks/{task}/events") as events:
        return [json.loads(line[5:]) for line in events.iter_lines() if line.startswith("data:")]


def test_runs_say_which_have_a_latent_space(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()}
    assert {k: runs[k]["latent"] for k in runs} == {"sg": True, "gan": True, "cls": False}
    assert client.get("/api/runs/sg").json()["form"]["latent_spaces"] == ["z", "w", "w+"]
    assert client.get("/api/runs/gan").json()["form"]["latent_spaces"] == ["z"]


def test_stylegan_walk_is_the_editing_walk_in_w(client, runs):
    body = {"run": "sg", "seed_a": 3, "seed_b": 9, "steps": 5, "truncation": 0.7}
    response = client.post("/api/latents/walk", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["space"], out["truncation"], len(out["images"])) == ("w", 0.7, 5)
    family = api.load_run(runs / "sg", device="cpu").family
    with torch.no_grad():
        a, b = family.map_latents(family.latents_for_seeds([3, 9]), 0.7)
    want = expected(walk(family, a, b, "w", 5))
    got = [fetch(client, image) for image in out["images"]]
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    assert not np.array_equal(got[0], got[-1])
    first = runs / "sg" / "studio" / f"{out['images'][0]['id'].split('/')[1]}.png"
    params = read_params(first)
    assert params["walk"] | params["options"] == {
        "seed_a": 3, "seed_b": 9, "space": "w", "index": 0, "steps": 5, "t": 0.0,
        "truncation": 0.7,
    }  # fmt: skip
    gallery = {g["id"] for g in client.get("/api/runs/sg/gallery").json()}
    assert {image["id"] for image in out["images"]} <= gallery
    # truncation 0: every w is the average w, so the whole walk is one image
    flat = client.post("/api/latents/walk", json=body | {"truncation": 0}).json()["images"]
    assert np.array_equal(fetch(client, flat[0]), fetch(client, flat[-1]))


def test_dcgan_walk_is_a_slerp_in_z_from_seed_to_seed(client, runs):
    out = client.post("/api/latents/walk", json={"run": "gan", "seed_a": 1, "seed_b": 2}).json()
    assert (out["space"], out["truncation"], len(out["images"])) == ("z", None, 8)
    family = api.load_run(runs / "gan", device="cpu").family
    z = family.latents_for_seeds([1, 2])
    got = [fetch(client, image) for image in out["images"]]
    want = expected(walk(family, z[0], z[1], "z", 8))
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    with torch.no_grad():
        ends = expected(family.generate([1, 2]))  # the walk starts and ends at the seeds' images
    assert np.array_equal(got[0], ends[0]) and np.array_equal(got[-1], ends[1])


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"run": "gan", "seed_a": 1, "seed_b": 2, "truncation": 0.5}, 422, "no truncation"),
        ({"run": "sg", "seed_a": 1, "seed_b": 2, "steps": 17}, 422, "steps"),
        ({"run": "sg", "seed_a": 1, "seed_b": 2, "steps": 1}, 422, "steps"),
        ({"run": "sg", "seed_a": -1, "seed_b": 2}, 422, "seed_a"),
        ({"run": "cls", "seed_a": 1, "seed_b": 2}, 422, "no latent space"),
        ({"run": "nope", "seed_a": 1, "seed_b": 2}, 404, "no run"),
    ],
)
def test_bad_walks_are_refused(client, body, status, words):
    response = client.post("/api/latents/walk", json=body)
    assert response.status_code == status and words in response.json()["detail"]


@pytest.fixture(scope="module")
def upload(client):
    """A painted StyleGAN image, uploaded."""
    out = client.post("/api/latents/walk", json={"run": "sg", "seed_a": 5, "seed_b": 6}).json()
    data = client.get(out["images"][0]["url"]).content
    return client.post("/api/uploads", content=data).json()["id"]


@pytest.fixture(scope="module")
def inverted(client, upload):
    body = {"run": "sg", "upload": upload, "space": "w+", "steps": 5, "task": "inv1"}
    response = client.post("/api/latents/invert", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_invert_is_a_task_whose_image_renders_its_latent(client, runs, inverted):
    states = task_states(client, "inv1")
    assert states[-1]["status"] == "done" and states[-1]["done"] == 5
    assert inverted["space"] == "w+" and inverted["psnr"] > 0
    latent = load_latent(runs / "sg" / "studio" / "latents" / f"{inverted['latent']}.safetensors")
    family = api.load_run(runs / "sg", device="cpu").family
    with torch.no_grad():
        want = expected(render(family, latent.tensor, "w+"))[0]
    assert np.array_equal(fetch(client, inverted["image"]), want)
    png = runs / "sg" / "studio" / f"{inverted['image']['id'].split('/')[1]}.png"
    again = api.regenerate(png, runs.parent / "again.png")  # its metadata remakes it
    assert np.array_equal(np.asarray(Image.open(again)), want)


def test_invert_in_z_with_a_dcgan(client, upload):
    body = {"run": "gan", "upload": upload, "space": "z", "steps": 2}
    out = client.post("/api/latents/invert", json=body).json()
    assert out["space"] == "z" and out["image"]["url"].startswith("/api/images/gan/")
    response = client.post("/api/latents/invert", json=body | {"space": "w+"})
    assert response.status_code == 422 and "no 'w+' latent space" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"run": "sg", "upload": "0" * 20}, 404, "no upload"),
        ({"run": "sg", "upload": "x"}, 422, "upload"),
        ({"run": "sg", "upload": "0" * 20, "steps": 501}, 422, "steps"),
        ({"run": "sg", "upload": "0" * 20, "space": "q"}, 422, "space"),
        ({"run": "nope", "upload": "0" * 20}, 404, "no run"),
    ],
)
def test_bad_inversions_are_refused(client, body, status, words):
    response = client.post("/api/latents/invert", json=body)
    assert response.status_code == status and words in response.json()["detail"]


def test_drag_is_a_task_giving_the_library_drag(client, runs, inverted):
    body = {"run": "sg", "latent": inverted["latent"], "points": [[4, 4, 7, 4]], "steps": 3,
            "task": "drag1"}  # fmt: skip
    response = client.post("/api/latents/drag", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert task_states(client, "drag1")[-1]["status"] == "done"
    family = api.load_run(runs / "sg", device="cpu").family
    latent = load_latent(runs / "sg" / "studio" / "latents" / f"{inverted['latent']}.safetensors")
    direct = drag(family, to_ws(family, latent.tensor, "w+"), [(4, 4)], [(7, 4)], steps=3)
    assert out["steps"] == direct.steps and out["handles"] == [list(h) for h in direct.handles]
    got = fetch(client, out["image"]).astype(int)
    assert np.abs(got - expected([direct.image])[0]).max() <= 1
    again = client.post("/api/latents/drag", json=body | {"latent": out["latent"], "task": None})
    assert again.status_code == 200  # a dragged latent can be dragged again


def test_drag_reports_every_step_and_the_distance_left(runs, inverted):
    family = api.load_run(runs / "sg", device="cpu").family
    latent = load_latent(runs / "sg" / "studio" / "latents" / f"{inverted['latent']}.safetensors")
    ws = to_ws(family, latent.tensor, "w+")
    told = []
    result = drag(family, ws, [(4, 4)], [(9, 4)], steps=4, on_step=lambda *a: told.append(a))
    assert result.steps >= 1
    assert [(done, total) for done, total, _ in told] == [
        (i, 4) for i in range(1, result.steps + 1)
    ]
    assert all(message.startswith("dragging: ") and message.endswith(" px to go")
               for _, _, message in told)  # fmt: skip
    silent = drag(family, ws, [(4, 4)], [(9, 4)], steps=4)  # being told changes nothing
    assert torch.equal(result.image, silent.image) and result.handles == silent.handles
    left = float(told[-1][2].split()[1])  # the last step says where the handle ended
    assert left == pytest.approx(math.dist(result.handles[0], (9, 4)), abs=0.051)


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"latent": "0" * 20}, 404, "no latent"),
        ({"points": [[1, 2, 3]]}, 422, "[hx, hy, tx, ty]"),
        ({"points": []}, 422, "points"),
        ({"points": [[4, 4, 40, 4]]}, 422, "outside the 16x16 image"),
        ({"steps": 201}, 422, "steps"),
        ({"run": "nope"}, 404, "no run"),
    ],
)
def test_bad_drags_are_refused(client, inverted, change, status, words):
    body = {"run": "sg", "latent": inverted["latent"], "points": [[4, 4, 7, 4]], "steps": 1}
    response = client.post("/api/latents/drag", json=body | change)
    assert response.status_code == status and words in response.json()["detail"]


def test_drag_needs_a_mapping_network(client, upload):
    body = {"run": "gan", "upload": upload, "space": "z", "steps": 1}
    latent = client.post("/api/latents/invert", json=body).json()["latent"]
    response = client.post(
        "/api/latents/drag", json={"run": "gan", "latent": latent, "points": [[1, 1, 2, 2]]}
    )
    assert response.status_code == 422 and "mapping network" in response.json()["detail"]


# --- the Paint page's tools for runs that do more than paint from seeds (issue 29) ---------------


def test_the_form_says_what_else_a_run_does(client):
    forms = {name: client.get(f"/api/runs/{name}").json()["form"] for name in ("sg", "gan", "cls")}
    assert (forms["sg"]["dream"], "w+" in forms["sg"]["latent_spaces"]) == (None, True)
    assert (forms["gan"]["dream"], forms["cls"]["dream"]) == (None, "classifier")
    assert not forms["cls"]["paintable"] and forms["cls"]["latent_spaces"] == []


def test_edit_is_the_library_sweep_along_a_direction(client, runs, inverted):
    from huashi.core.images import make_grid
    from huashi.gan.editing import direction, sweep

    body = {"run": "sg", "latent": inverted["latent"], "direction": "sefa:1",
            "strengths": [-2, 0, 2], "task": "edit1"}  # fmt: skip
    response = client.post("/api/latents/edit", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert task_states(client, "edit1")[-1]["status"] == "done" and out["strengths"] == [-2, 0, 2]
    family = api.load_run(runs / "sg", device="cpu").family
    latent = load_latent(runs / "sg" / "studio" / "latents" / f"{inverted['latent']}.safetensors")
    ws = to_ws(family, latent.tensor, "w+").detach()
    images = sweep(family, ws, direction(family, "sefa:1"), [-2, 0, 2])
    assert np.array_equal(fetch(client, out["image"]), np.asarray(make_grid(images, nrow=3)))
    assert np.array_equal(expected(images[1:2])[0], fetch(client, inverted["image"]))  # s = 0
    params = read_params(runs / "sg" / "studio" / f"{out['image']['id'].split('/')[1]}.png")
    assert params["run"] == "sg" and params["latent"].startswith("sg/studio/latents/")


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"latent": "0" * 20}, 404, "no latent"),
        ({"direction": "clip:a cat"}, 422, "direction"),
        ({"strengths": [1e9]}, 422, "strengths"),
        ({"strengths": list(range(17))}, 422, "strengths"),
    ],
)
def test_bad_edits_are_refused(client, inverted, change, status, words):
    body = {"run": "sg", "latent": inverted["latent"]}
    response = client.post("/api/latents/edit", json=body | change)
    assert response.status_code == status and words in response.json()["detail"]


def test_edit_needs_a_mapping_network(client, upload):
    body = {"run": "gan", "upload": upload, "space": "z", "steps": 1}
    latent = client.post("/api/latents/invert", json=body).json()["latent"]
    response = client.post("/api/latents/edit", json={"run": "gan", "latent": latent})
    assert response.status_code == 422 and "mapping network" in response.json()["detail"]


def test_dream_on_an_upload_is_the_library_dream(client, runs, upload):
    body = {"run": "cls", "upload": upload, "label": 1, "octaves": 2, "steps": 3, "task": "dr1"}
    response = client.post("/api/dream", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    states = task_states(client, "dr1")
    assert states[-1]["status"] == "done" and states[-1]["done"] == states[-1]["total"] == 6
    start = runs / ".studio" / "uploads" / f"{upload}.png"
    settings = api.DreamSettings(objective="class", class_index=1, octaves=2, steps=3)
    direct = api.dream(api.load_dream_net(runs / "cls"), start, settings)
    [image] = out["images"]
    assert np.array_equal(fetch(client, image), expected([direct.image])[0])
    assert not np.array_equal(fetch(client, image), np.asarray(Image.open(start)))
    params = read_params(runs / "cls" / "studio" / f"{image['id'].split('/')[1]}.png")
    assert params["run"] == "cls" and params["dream"]["class_index"] == 1
    assert str(runs) not in json.dumps(params)  # no server paths in the PNG


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({}, 422, "say what to dream"),
        ({"label": 1, "prompt": "a circle"}, 422, "say what to dream"),
        ({"run": "sg", "label": 1}, 422, "classifier or clip run"),
        ({"label": 1, "steps": 101}, 422, "steps"),
        ({"label": 1, "upload": "0" * 20}, 404, "no upload"),
    ],
)
def test_bad_dreams_are_refused(client, upload, change, status, words):
    response = client.post("/api/dream", json={"run": "cls", "upload": upload} | change)
    assert response.status_code == status and words in response.json()["detail"]
