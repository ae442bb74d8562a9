"""The studio's house rules (issue 29): an offline API reference, the token kept out of `ps`,
the URL to open, bounded uploads."""

import argparse
import io
import json
import os
import time

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from huashi.cli.studio import read_token, shown_url  # noqa: E402
from huashi.core.errors import HuashiError  # noqa: E402
from huashi.studio.server import Limits, create_app  # noqa: E402


def png(color: int) -> bytes:
    body = io.BytesIO()
    Image.new("RGB", (8, 8), (color, 0, 0)).save(body, "PNG")
    return body.getvalue()


def test_the_api_reference_is_served_by_the_studio_itself(tmp_path):
    client = TestClient(create_app(tmp_path / "runs"), base_url="http://127.0.0.1")
    page = client.get("/docs")
    assert page.status_code == 200 and 'src="/static/api.js"' in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    script = client.get("/static/api.js").text
    assert "/openapi.json" in script and "https://" not in script
    assert client.get("/redoc").status_code == 404  # no other page that fetches from a CDN
    assert "/api/paint" in client.get("/openapi.json").json()["paths"]


def test_the_token_comes_from_the_environment_or_a_file(tmp_path, monkeypatch):
    args = argparse.Namespace(token=None, token_file=None)
    monkeypatch.delenv("HUASHI_STUDIO_TOKEN", raising=False)
    assert read_token(args) is None
    monkeypatch.setenv("HUASHI_STUDIO_TOKEN", "from-env")
    assert read_token(args) == "from-env"
    (tmp_path / "token").write_text("from-file\n")
    args.token_file = tmp_path / "token"
    assert read_token(args) == "from-file"
    (tmp_path / "empty").write_text("")
    with pytest.raises(HuashiError, match="is empty"):
        read_token(argparse.Namespace(token=None, token_file=tmp_path / "empty"))
    with pytest.raises(HuashiError, match="--token-file"):
        read_token(argparse.Namespace(token=None, token_file=tmp_path / "missing"))


def test_the_printed_url_is_one_to_open():
    import socket

    assert shown_url("127.0.0.1", 7860, None) == "http://localhost:7860/"
    url = shown_url("0.0.0.0", 7860, "s3cret")
    assert url == f"http://{socket.gethostname()}:7860/#token=s3cret" and "0.0.0.0" not in url
    assert shown_url("::", 80, "t").startswith(f"http://{socket.gethostname()}:80/")


def test_the_cli_refuses_runs_zoo(tmp_path, monkeypatch, capsys):
    from huashi.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["studio", "--runs", "zoo:"]) == 2
    assert "--runs is the folder for your own runs" in capsys.readouterr().err
    assert not (tmp_path / "zoo:").exists()


def test_uploads_are_bounded_and_old_ones_cleaned(tmp_path):
    runs = tmp_path / "runs"
    uploads = runs / ".studio" / "uploads"
    uploads.mkdir(parents=True)
    stale = uploads / "0123456789abcdef0123.png"
    stale.write_bytes(png(1))
    os.utime(stale, (time.time() - 30 * 86400,) * 2)  # a month old: gone at start
    client = TestClient(
        create_app(runs, limits=Limits(kept_uploads=3)), base_url="http://127.0.0.1"
    )
    assert not stale.exists()
    ids = []
    for color in range(5):
        ids.append(client.post("/api/uploads", content=png(color)).json()["id"])
        time.sleep(0.01)
    kept = sorted(p.stem for p in uploads.iterdir())
    assert kept == sorted(ids[-3:])  # the newest three
    assert client.get(f"/api/uploads/{ids[0]}.png").status_code == 404


@pytest.mark.parametrize(
    "body, words",
    [
        ({"train": {"precision": "fp64"}}, "unknown precision 'fp64'"),
        ({"train": {"sample_every": -5}}, "--sample-every must be >= 1"),
        ({"model": {"z_dim": -1}}, "--z-dim must be >= 1"),
        ({"family": "diffusion", "model": {"sampler": "nope"}}, "unknown sampler 'nope'"),
    ],
)
def test_bad_training_options_are_refused_before_a_job_is_queued(tmp_path, body, words):
    runs = tmp_path / "runs"
    client = TestClient(create_app(runs), base_url="http://127.0.0.1")
    request = {"name": "bad", "family": "dcgan", "data": "shapes"} | body
    answer = client.post("/api/train", json=request)
    assert answer.status_code == 422 and words in answer.json()["detail"]
    assert client.get("/api/jobs").json() == [] and not (runs / "bad").exists()


def test_studio_pngs_name_runs_and_files_without_server_paths(tmp_path, monkeypatch):
    from test_studio_api import make_runs

    from huashi import api
    from huashi.core.images import read_params
    from huashi.core.metadata import parse_parameters

    runs = make_runs(tmp_path / "runs")
    client = TestClient(create_app(runs), base_url="http://127.0.0.1")
    first = client.post("/api/paint", json={"run": "diff", "seed": 1, "label": 0}).json()
    upload = client.post("/api/uploads", content=client.get(first["images"][0]["url"]).content)
    painted = client.post("/api/paint", json={"run": "diff", "seed": 2, "init": upload.json()["id"],
                                              "strength": 0.5}).json()  # fmt: skip
    zoo = client.post("/api/paint", json={"run": "zoo:emoji-gan", "seed": 2}).json()
    files = [runs / "diff" / "studio" / (painted["images"][0]["url"].split("/")[-1]),
             runs / ".studio" / "zoo" / "emoji-gan" / (zoo["images"][0]["url"].split("/")[-1])]  # fmt: skip
    monkeypatch.chdir(tmp_path)  # regenerate from elsewhere: the PNG says where its run is
    for path in files:
        with Image.open(path) as image:
            chunks = image.text
            pixels = image.tobytes()
        assert str(tmp_path) not in json.dumps(chunks) and "/work/" not in json.dumps(chunks)
        assert parse_parameters(chunks["parameters"])["model_hash"]
        assert Image.open(api.regenerate(path, tmp_path / "again.png")).tobytes() == pixels
    assert (
        read_params(files[0])["run"] == "diff" and read_params(files[1])["run"] == "zoo:emoji-gan"
    )
    assert read_params(files[0])["options"]["init"].startswith(".studio/uploads/")
