"""The studio over real HTTP: time to first image and 8 concurrent paint requests.

    PYTHONPATH=. python benchmarks/studio.py [--runs DIR] [--resolution 32]

Builds two runs with freshly initialized weights (a DCGAN and a class-conditional diffusion
U-Net, 1 training step each: speed does not depend on training), serves them with uvicorn on
127.0.0.1, and measures from a client thread:

* time to first image: POST /api/paint (n=1) + GET the PNG, cold (the run is loaded by the
  request) and warm, for the GAN and for the diffusion run at 20 DDIM steps;
* 8 concurrent paint requests (diffusion, 20 steps, n=1 each): all must succeed, and
  GET /api/runs, polled every 50 ms meanwhile, must answer in < 200 ms.

Prints a Markdown table and the machine's load average (the numbers depend on it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import uvicorn

from huashi.families import DataInfo
from huashi.families.dcgan import DCGAN, DCGANFamilyConfig
from huashi.families.diffusion import Diffusion, DiffusionConfig
from huashi.runs import RunConfig
from huashi.studio.server import create_app
from huashi.training.loop import TrainConfig, Trainer


class RandomImages:
    def __init__(self, resolution: int) -> None:
        self.images = torch.rand(16, 3, resolution, resolution) * 2 - 1
        self.labels = torch.arange(16) % 4

    def __len__(self) -> int:
        return 16

    def batch(self, indices):
        return {"image": self.images[indices], "label": self.labels[indices], "index": indices}


def build_runs(runs: Path, resolution: int) -> None:
    train = TrainConfig(steps=1, batch_size=4, n_fixed=4, precision="fp32")
    data = RandomImages(resolution)
    for name, family in [
        ("gan", DCGAN(DCGANFamilyConfig(), DataInfo(3, resolution), torch.device("cpu"))),
        (
            "diffusion",
            Diffusion(
                DiffusionConfig(base_channels=32, channel_mults=(1, 2, 2), condition="class",
                                timesteps=1000, sample_steps=20),
                DataInfo(3, resolution, num_classes=4, class_names=("a", "b", "c", "d")),
                torch.device("cpu"),
            ),
        ),
    ]:  # fmt: skip
        if (runs / name / "checkpoints").is_dir():
            continue
        RunConfig(
            family.name, dataclasses.asdict(family.config),
            {"spec": "random", "resolution": resolution, "options": {}},
            dataclasses.asdict(family.data), dataclasses.asdict(train),
        ).save(runs / name)  # fmt: skip
        Trainer(family, data, train, runs / name, progress=False).run()


def request(url: str, body: dict | None = None) -> tuple[float, bytes]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=600) as r:
        content = r.read()
    return time.perf_counter() - started, content


def first_image(base: str, body: dict) -> float:
    started = time.perf_counter()
    result = json.loads(request(f"{base}/api/paint", body)[1])
    request(base + result["images"][0]["url"])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="runs folder (default: a temporary one)")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="generation threads")
    args = parser.parse_args()
    runs = args.runs or Path(tempfile.mkdtemp()) / "runs"
    build_runs(runs, args.resolution)

    from huashi.studio.server import Limits

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(runs, limits=Limits(workers=args.workers))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"

    gan = {"run": "gan", "seed": 0}
    diffusion = {"run": "diffusion", "seed": 0, "sampler": "ddim", "steps": 20, "label": 1}
    rows = [
        ("GAN, cold (loads the run)", first_image(base, gan)),
        ("GAN, warm", statistics.median(first_image(base, gan) for _ in range(5))),
        ("diffusion 20 steps, cold", first_image(base, diffusion)),
        ("diffusion 20 steps, warm", statistics.median(first_image(base, diffusion) for _ in range(3))),
    ]  # fmt: skip

    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            latencies.append(request(f"{base}/api/runs")[0])
            time.sleep(0.05)

    poller = threading.Thread(target=poll)
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        poller.start()
        futures = [
            pool.submit(request, f"{base}/api/paint", diffusion | {"seed": i}) for i in range(8)
        ]
        results = [json.loads(f.result()[1]) for f in futures]
    total = time.perf_counter() - started
    done.set()
    poller.join()
    server.should_exit = True
    ok = sum(len(r["images"]) == 1 for r in results)

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
          f" (1/5/15 min); torch threads {torch.get_num_threads()}; {args.resolution} px")  # fmt: skip
    print("\n| measurement | seconds |\n|---|---|")
    for name, seconds in rows:
        print(f"| time to first image: {name} | {seconds:.3f} |")
    print(f"| 8 concurrent diffusion paints (20 steps): all done | {total:.2f} |")
    print(
        f"\n8 concurrent paints: {ok}/8 succeeded; GET /api/runs during them: {len(latencies)} "
        f"requests, median {1000 * statistics.median(latencies):.0f} ms, "
        f"95th percentile {1000 * sorted(latencies)[int(0.95 * len(latencies))]:.0f} ms, "
        f"max {1000 * max(latencies):.0f} ms (target < 200 ms)"
    )


if __name__ == "__main__":
    main()
