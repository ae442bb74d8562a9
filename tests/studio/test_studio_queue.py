"""The studio's paint queue (issue 29, U6): bounded work per request and per page, a place in
the queue, cancel by request or when the client leaves, and a busy run never holding a worker."""

import asyncio
import threading
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402
from test_studio_api import BASE, make_runs  # noqa: E402

from huashi import api  # noqa: E402
from huashi.studio.server import Limits, create_app  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("queue") / "runs")


@pytest.fixture
def slow(monkeypatch):
    """api.paint made slow: 400 progress steps of 10 ms before the real paint, so a paint can
    be watched waiting, running and being cancelled. ``started`` counts paints that began."""
    real = api.paint
    started = []

    def slow_paint(run, *args, progress=None, **kwargs):
        started.append(run.run_dir.name)
        for step in range(400):
            progress(step, 400, "slow")  # the studio's callback: it stops a cancelled paint
            time.sleep(0.01)
        return real(run, *args, progress=progress, **kwargs)

    monkeypatch.setattr(api, "paint", slow_paint)
    return started


def test_a_request_over_the_work_bound_is_refused(runs):
    client = TestClient(create_app(runs), base_url=BASE)
    sweep = [{"sampler": "ddim", "steps": 250}] * 8  # 8 passes x 250 steps x 16 images
    answer = client.post("/api/paint", json={"run": "diff", "n": 16, "sweep": sweep})
    assert answer.status_code == 422 and "32000 image-steps" in answer.json()["detail"]
    assert client.post("/api/paint", json={"run": "gan", "n": 16}).status_code == 200


async def _wait(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_queued_paints_show_their_place_and_the_cancel_button_works(runs, slow):
    app = create_app(runs, limits=Limits(workers=1))
    tasks = app.state.studio.tasks

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
            first = asyncio.create_task(client.post("/api/paint", json={"run": "gan", "task": "a"}))
            await _wait(lambda: slow)  # the first paint holds the only worker
            second = asyncio.create_task(
                client.post("/api/paint", json={"run": "diff", "task": "b", "steps": 2})
            )
            await _wait(lambda: "b" in tasks and tasks["b"].status == "queued")
            assert tasks["b"].state()["position"] == 1 and "1 in line" in tasks["b"].message
            assert (await client.post("/api/tasks/b/cancel")).json()["cancelled"]
            answer = await second
            assert answer.status_code == 409 and "cancelled" in answer.json()["detail"]
            assert tasks["b"].status == "cancelled" and slow == ["gan"]  # it never started
            assert (await client.post("/api/tasks/a/cancel")).status_code == 200  # running
            answer = await first
            assert answer.status_code == 409 and tasks["a"].done < 399  # stopped at a step
            assert (await client.post("/api/tasks/a/cancel")).status_code == 404

    asyncio.run(scenario())


def test_a_busy_run_does_not_hold_a_worker_another_run_can_use(runs, slow):
    app = create_app(runs, limits=Limits(workers=2))
    tasks = app.state.studio.tasks

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
            held = asyncio.create_task(client.post("/api/paint", json={"run": "gan", "task": "g1"}))
            await _wait(lambda: slow == ["gan"])
            again = asyncio.create_task(  # the same run: it waits for g1, not on a worker
                client.post("/api/paint", json={"run": "gan", "task": "g2"})
            )
            await _wait(lambda: "g2" in tasks and tasks["g2"].status == "queued")
            other = await client.post("/api/paint", json={"run": "diff", "steps": 2, "task": "d"})
            assert other.status_code == 200  # painted on the second worker meanwhile
            assert slow[:2] == ["gan", "diff"]  # diff came after g2 but started before it
            assert (await held).status_code == 200 and (await again).status_code == 200
            assert slow == ["gan", "diff", "gan"]

    asyncio.run(scenario())


def test_one_page_may_not_queue_more_than_its_share(runs, slow):
    app = create_app(runs, limits=Limits(workers=1, client_work=20))
    headers = {"X-Huashi-Client": "tab-1"}

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
            body = {"run": "gan", "n": 16, "task": "big"}
            big = asyncio.create_task(client.post("/api/paint", json=body, headers=headers))
            await _wait(lambda: slow)
            more = await client.post("/api/paint", json={"run": "gan", "n": 8}, headers=headers)
            assert more.status_code == 429 and "already has 16 image-steps" in more.text
            other = {"X-Huashi-Client": "tab-2"}  # another page is not held back by it
            alone = asyncio.create_task(
                client.post("/api/paint", json={"run": "gan", "n": 8, "task": "t2"}, headers=other)
            )
            await _wait(lambda: "t2" in app.state.studio.tasks)
            await client.post("/api/tasks/big/cancel")
            assert (await big).status_code == 409 and (await alone).status_code == 200

    asyncio.run(scenario())


def test_a_client_that_leaves_cancels_its_paint(runs, slow):
    import socket

    import uvicorn

    app = create_app(runs, limits=Limits(workers=1))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with pytest.raises(httpx.ReadTimeout):  # the client gives up after half a second
            httpx.post(f"http://127.0.0.1:{port}/api/paint", json={"run": "gan", "task": "gone"},
                       timeout=0.5)  # fmt: skip
        deadline = time.monotonic() + 3  # the whole slow paint would take 4 s
        while "gone" not in app.state.studio.tasks and time.monotonic() < deadline:
            time.sleep(0.02)  # on a busy machine the server may queue it after the client left
        task = app.state.studio.tasks["gone"]
        while task.status != "cancelled" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert task.status == "cancelled" and task.done < 399
    finally:
        server.should_exit = True
        thread.join(30)


def test_walks_and_comparisons_wait_in_the_same_queue_and_cancel(runs, slow):
    """Long requests other than paints (here a latent walk and a comparison) take their place in
    the paint queue behind a busy run, say so, and leave it on Cancel; a walk that waited then
    runs once the run is free."""
    app = create_app(runs, limits=Limits(workers=1))
    tasks = app.state.studio.tasks
    walk = {"run": "gan", "seed_a": 1, "seed_b": 2, "steps": 3}

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
            held = asyncio.create_task(client.post("/api/paint", json={"run": "gan", "task": "p"}))
            await _wait(lambda: slow)  # the paint holds the only worker
            walking = asyncio.create_task(
                client.post("/api/latents/walk", json=walk | {"task": "w"})
            )
            body = {"runs": ["gan"], "speed_n": 1, "grid_n": 1, "task": "c"}
            comparing = asyncio.create_task(client.post("/api/compare", json=body))
            await _wait(lambda: "c" in tasks and tasks["c"].status == "queued")
            assert (tasks["w"].state()["position"], tasks["c"].state()["position"]) == (1, 2)
            assert "2 in line" in tasks["c"].message
            assert (await client.post("/api/tasks/c/cancel")).json()["cancelled"]
            answer = await comparing
            assert answer.status_code == 409 and "comparison was cancelled" in answer.text
            assert tasks["c"].status == "cancelled" and tasks["w"].position == 1
            assert (await held).status_code == 200  # then the walk runs
            answer = await walking
            assert answer.status_code == 200 and len(answer.json()["images"]) == 3
            assert tasks["w"].status == "done" and tasks["w"].done == 3

    asyncio.run(scenario())
