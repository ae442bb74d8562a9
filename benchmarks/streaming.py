"""Data larger than memory: an image folder held in memory vs streamed from memory-mapped shards.

Writes a folder of ``--n`` small PNGs (32 px by default: noise with a colored rectangle; 1,000
distinct images written over and over, so making 100k files takes seconds, while every file is
still opened and decoded on its own), then measures each data mode in fresh child processes, all
sharing one private dataset cache:

- build: the first load (decode + resize every image, write the cache), its seconds and the
  child's peak RSS;
- read: a second load (from the cache) and one epoch of batches in the trainer's order (a random
  permutation, ``--batch`` images a batch): images/s (per wall and per CPU second, the latter
  meaningful on a busy machine), peak RSS (``ru_maxrss``, which counts the
  shard pages a memory map touched) and peak anonymous RSS (the process's own memory, sampled
  from /proc after every batch);
- train (``--train-steps`` > 0): ``huashi.api.train`` of a small DCGAN for that many steps:
  images/s and peak RSS of the whole training process.

    nice -n 19 python benchmarks/streaming.py --n 20000
    python benchmarks/streaming.py --n 100000 --dir /tmp/folder-100k --keep
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DISTINCT = 1000  # distinct PNGs written over and over
PER_FOLDER = 1000


def make_folder(folder: Path, n: int, resolution: int) -> float:
    """Write ``n`` PNGs into ``folder`` (sub-folders of PER_FOLDER); returns the seconds taken.
    A folder that already holds ``n`` PNGs is kept."""
    import io

    from PIL import Image

    if folder.is_dir() and sum(1 for _ in folder.rglob("*.png")) == n:
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    pool = []
    for _ in range(min(n, DISTINCT)):
        pixels = rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)
        x0, y0 = rng.integers(0, resolution // 2, 2)
        x1, y1 = rng.integers(resolution // 2, resolution, 2)
        pixels[y0:y1, x0:x1] = rng.integers(0, 256, 3, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        pool.append(buffer.getvalue())
    for i in range(n):
        sub = folder / f"{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            sub.mkdir(parents=True)
        (sub / f"{i:06d}.png").write_bytes(pool[i % len(pool)])
    return time.perf_counter() - started


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def anon_rss() -> int:
    """This process's anonymous resident memory in bytes (its own data, not mapped files)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def child(task: str, mode: str, folder: str, resolution: int, batch: int, steps: int) -> dict:
    import torch

    from huashi.data import load_dataset

    torch.set_num_threads(1)
    out: dict = {"task": task, "mode": mode}
    started = time.perf_counter()
    if task == "idle":  # the baseline: torch and huashi imported, no data
        pass
    elif task == "train":
        from huashi import api

        times: list[float] = []
        run = Path(tempfile.mkdtemp()) / "run"
        api.train(run, "dcgan", folder, resolution, model={"g_width": 32, "d_width": 32},
                  steps=steps + 1, batch_size=batch, precision="fp32", threads="1",
                  data_mode=mode, log_every=10**6, sample_every=10**6,
                  checkpoint_every=10**6, n_fixed=4, progress=False,
                  callbacks=[lambda trainer, losses: times.append(time.perf_counter())])  # fmt: skip
        shutil.rmtree(run.parent)
        seconds = times[-1] - times[0]  # the steps after the first (warm-up) one
        out |= {"seconds": seconds, "images_per_s": steps * batch / seconds}
    else:
        cpu = time.process_time()
        ds = load_dataset(folder, resolution=resolution, mode=mode)
        out["load_seconds"] = time.perf_counter() - started
        out["load_cpu_seconds"] = time.process_time() - cpu
        out["images"] = len(ds)
        if task == "read":
            order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
            most = anon_rss()
            started, cpu = time.perf_counter(), time.process_time()
            for part in order[: len(ds) // batch * batch].split(batch):
                ds.batch(part)
                most = max(most, anon_rss())
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            read = len(ds) // batch * batch
            out |= {"images_per_s": read / seconds, "peak_anon": most}
            out["images_per_cpu_s"] = read / cpu  # robust on a busy machine
    out["peak_rss"] = peak_rss()
    return out


def run_child(args: argparse.Namespace, task: str, mode: str, cache: Path) -> dict:
    command = [sys.executable, __file__, "--child", task, mode, "--dir", str(args.dir)]
    command += ["--resolution", str(args.resolution), "--batch", str(args.batch)]
    command += ["--train-steps", str(args.train_steps)]
    env = {**os.environ, "HUASHI_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{task} {mode} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="images in the folder")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--train-steps", type=int, default=0, help="0 = no training rows")
    parser.add_argument("--dir", type=Path, help="the folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the folder afterwards")
    parser.add_argument("--child", nargs=2, metavar=("TASK", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, mode = args.child
        result = child(task, mode, str(args.dir), args.resolution, args.batch, args.train_steps)
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="huashi-streaming-"))
    args.dir = args.dir or work / "folder"
    made = make_folder(args.dir, args.n, args.resolution)
    print(f"folder {args.dir}: {args.n:,} PNGs at {args.resolution} px (written in {made:.1f} s)")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at the start, one thread per process")  # fmt: skip
    rows = [run_child(args, "idle", "none", work / "cache-none")]
    try:
        for mode in ("memory", "stream"):
            cache = work / f"cache-{mode}"
            rows.append(run_child(args, "build", mode, cache))
            rows.append(run_child(args, "read", mode, cache))
            if args.train_steps:
                rows.append(run_child(args, "train", mode, cache))
            size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
            print(f"{mode}: cache {size / (1 << 20):.0f} MiB on disk", flush=True)
    finally:
        shutil.rmtree(work / "cache-memory", ignore_errors=True)
        shutil.rmtree(work / "cache-stream", ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    mib = 1 << 20
    print(
        "\n| mode | build s | build peak RSS MiB | read images/s | read peak RSS MiB "
        "(anon) |" + (" train images/s | train peak RSS MiB |" if args.train_steps else "")
    )
    print(f"(baseline: a process with torch and huashi imported peaks at "
          f"{rows[0]['peak_rss'] / mib:.0f} MiB)")  # fmt: skip
    for mode in ("memory", "stream"):
        got = {r["task"]: r for r in rows if r["mode"] == mode}
        b, r = got["build"], got["read"]
        line = (f"| {mode} | {b['load_seconds']:.1f} | {b['peak_rss'] / mib:.0f} | "
                f"{r['images_per_s']:,.0f} | {r['peak_rss'] / mib:.0f} "
                f"({r['peak_anon'] / mib:.0f}) |")  # fmt: skip
        if "train" in got:
            t = got["train"]
            line += f" {t['images_per_s']:.0f} | {t['peak_rss'] / mib:.0f} |"
        print(line)


if __name__ == "__main__":
    main()
