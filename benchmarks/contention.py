"""huashi on a shared CPU: a training's (and a paint's) speed quiet, beside a busy process, and
beside a second huashi process, under three thread policies, in fp32 and bf16.

Policies (each process's intra-op threads):

every core   torch's default and huashi's ``auto`` until 2026-12-07: all usable cores.
one thread   ``OMP_NUM_THREADS=1``.
auto         huashi's ``--threads auto`` now: every core but one, less the cores other huashi
             processes claimed (``huashi.training.threads``).

Situations: quiet (the training alone, and a paint alone); beside one busy single-threaded
``while True: pass`` process; two trainings started together; a training and a paint started
together. The training is DCGAN at 32 px on emoji, batch 64, channels_last (the README's
recipe's networks); the paint is ``zoo:mnist-class-diffusion``, 8 images of 20 DDIM steps per
call, as the studio paints. Each process runs in its own subprocess (OpenMP reads its settings
when torch loads), a few warm-up steps, then steps for ``--seconds`` of wall time. A share is a
process's throughput over its own quiet throughput under the same policy and precision;
"together" adds the two processes' shares.

    python benchmarks/contention.py --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("every core", "one thread", "auto")
PRECISIONS = ("fp32", "bf16")
SITUATIONS = ("quiet", "beside a busy loop", "two trainings", "training + paint")


def apply_policy(policy: str) -> int:
    from huashi.training.threads import cpus_available, set_threads

    spec = {"every core": str(cpus_available()), "one thread": "1", "auto": "auto"}[policy]
    return set_threads(spec, claim=True)


def train_worker(policy: str, precision: str, seconds: float, warmup: int) -> dict:
    import huashi  # noqa: F401  (the passive OpenMP wait, set before torch loads)

    # isort: split
    import torch

    from huashi.data import load_dataset
    from huashi.families import DataInfo, StepContext
    from huashi.families.dcgan import DCGAN

    threads = apply_policy(policy)
    dataset = load_dataset("emoji", resolution=32)
    torch.manual_seed(0)
    config = DCGAN.config_class(d_width=32)
    family = DCGAN(config, DataInfo(3, 32), torch.device("cpu"))
    for module in family.modules.values():
        module.to(memory_format=torch.channels_last)
    noise = torch.Generator().manual_seed(0)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))

    def step(i: int) -> None:
        start = (i * 64) % (len(dataset) - 64)
        images = dataset.batch(order[start : start + 64])["image"]
        images = images.contiguous(memory_format=torch.channels_last)
        family.train_step(
            {"image": images}, StepContext(i, torch.device("cpu"), precision, 1, noise)
        )

    return {"threads": threads, "per_s": timed(step, seconds, warmup), "unit": "steps"}


def paint_worker(policy: str, precision: str, seconds: float, warmup: int) -> dict:
    import huashi  # noqa: F401

    # isort: split
    from huashi import api

    threads = apply_policy(policy)
    run = api.load_run("zoo:mnist-class-diffusion")
    options = {"steps": 20, "sampler": "ddim", "precision": precision}

    def paint(i: int) -> None:
        api.sample(run, n=8, seed=8 * i, batch_size=8, **options)

    return {"threads": threads, "per_s": 8 * timed(paint, seconds, warmup), "unit": "images"}


def timed(work, seconds: float, warmup: int) -> float:
    """Calls of ``work`` per wall second after ``warmup`` calls."""
    for i in range(warmup):
        work(i)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        work(warmup + done)
        done += 1
    return done / (time.perf_counter() - start)


def run_together(kinds: list[str], policy: str, precision: str, args, busy: int = 0) -> list:
    """Start one subprocess per kind ("train"/"paint") at once, beside ``busy`` busy loops."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "KMP_BLOCKTIME")}
    env.pop("OMP_WAIT_POLICY", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["HUASHI_THREADS_REGISTRY"] = args.registry  # this benchmark's processes only
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        time.sleep(1.0 if busy else 0.0)
        command = [sys.executable, __file__, "--policy", policy, "--precision", precision]
        command += ["--seconds", str(args.seconds), "--warmup", str(args.warmup)]
        workers = [
            subprocess.Popen(
                [*command, "--worker", kind], env=env, stdout=subprocess.PIPE, text=True
            )
            for kind in kinds
        ]
        outs = [worker.communicate()[0] for worker in workers]
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    return [json.loads(out.strip().splitlines()[-1]) for out in outs]


def measure(policy: str, precision: str, args) -> dict:
    """Every situation for one policy and precision: throughputs and shares of quiet."""
    quiet_train = run_together(["train"], policy, precision, args)[0]
    quiet_paint = run_together(["paint"], policy, precision, args)[0]
    busy = run_together(["train"], policy, precision, args, busy=1)[0]
    two = run_together(["train", "train"], policy, precision, args)
    mixed = run_together(["train", "paint"], policy, precision, args)
    t, p = quiet_train["per_s"], quiet_paint["per_s"]
    return {
        "policy": policy,
        "precision": precision,
        "threads": quiet_train["threads"],
        "quiet": {"train": t, "paint": p},
        "beside a busy loop": {"train": busy["per_s"], "share": busy["per_s"] / t},
        "two trainings": {
            "train": [r["per_s"] for r in two],
            "threads": [r["threads"] for r in two],
            "share": sum(r["per_s"] for r in two) / t,
        },
        "training + paint": {
            "train": mixed[0]["per_s"],
            "paint": mixed[1]["per_s"],
            "threads": [r["threads"] for r in mixed],
            "share": mixed[0]["per_s"] / t + mixed[1]["per_s"] / p,
        },
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| precision | policy (threads alone) | quiet: train steps/s, paint images/s | beside a "
        "busy loop | two trainings together | training + paint together |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        busy, two, mixed = r["beside a busy loop"], r["two trainings"], r["training + paint"]
        lines.append(
            f"| {r['precision']} | {r['policy']} ({r['threads']}) | {r['quiet']['train']:.2f}, "
            f"{r['quiet']['paint']:.2f} | {busy['train']:.2f} steps/s = {100 * busy['share']:.0f} % "
            f"| {' + '.join(f'{x:.2f}' for x in two['train'])} = {100 * two['share']:.0f} % | "
            f"{mixed['train']:.2f} steps/s + {mixed['paint']:.2f} images/s = "
            f"{100 * mixed['share']:.0f} % |"
        )
    return "\n".join(lines)


def machine_line() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (
        f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed wall seconds per case")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=("train", "paint"), help=argparse.SUPPRESS)
    parser.add_argument("--policy", choices=POLICIES, help=argparse.SUPPRESS)
    parser.add_argument("--precision", choices=PRECISIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work = train_worker if args.worker == "train" else paint_worker
        print(json.dumps(work(args.policy, args.precision, args.seconds, args.warmup)))
        return
    print(f"machine: {machine_line()}")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average before: {' '.join(load_before)}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as registry:
        args.registry = registry
        for precision in args.precisions:
            for policy in args.policies:
                rows.append(measure(policy, precision, args))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average after: {' '.join(load_after)}\n")
    print(table(rows))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": machine_line(), "load": [load_before, load_after], "rows": rows},
                indent=1,
            )  # fmt: skip
        )


if __name__ == "__main__":
    main()
