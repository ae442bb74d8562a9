"""DCGAN training speed on a shared CPU: quiet, and with 1 and 2 competing busy processes.

Two thread policies, measured side by side in one run:

old: torch loaded before huashi (OpenMP's default wait policy: workers spin between parallel
     regions) and torch's default thread count (every core).
passive: the passive wait alone: ``OMP_WAIT_POLICY=PASSIVE`` set before torch loads (importing
     huashi does it), every core.
new: the passive wait and ``--threads auto`` as it was measured below (the cores free when the
     command started; auto now takes every usable core, i.e. the "passive" row).

A competitor is a single-threaded ``while True: pass`` Python process. Each measurement is its own
subprocess: DCGAN at 32 px on emoji, batch 64, channels_last, ``--precision`` (fp32 by default:
bf16 autocast is only fast on CPUs with bf16 instructions, AVX512-BF16 or AMX), a few warm-up steps, then steps for ``--seconds`` of wall time. Besides steps/s
it records the CPU seconds the process burned per step (spin-waiting shows up there), and a
"spin check": the CPU time a process burns while *sleeping* between tiny parallel ops, which is
what the passive wait policy removes.

    python benchmarks/contention.py --seconds 12
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("old", "passive", "new")


def worker(policy: str, seconds: float, warmup: int, batch: int, precision: str) -> dict:
    if policy == "old":
        import torch  # OpenMP reads its environment now, before huashi could set it

        import huashi  # noqa: F401

        threads = torch.get_num_threads()
    elif policy == "passive":
        import huashi  # noqa: F401

        # isort: split
        import torch

        threads = torch.get_num_threads()
    else:
        import huashi  # noqa: F401  (sets OMP_WAIT_POLICY=PASSIVE before torch loads)

        # isort: split
        import torch

        from huashi.training.device import set_threads

        threads = set_threads("auto")
    from huashi.data import load_dataset
    from huashi.families import DataInfo, StepContext
    from huashi.families.dcgan import DCGAN

    dataset = load_dataset("emoji", resolution=32)
    torch.manual_seed(0)
    family = DCGAN(DCGAN.config_class(), DataInfo(3, 32), torch.device("cpu"))
    for module in family.modules.values():
        module.to(memory_format=torch.channels_last)
    noise = torch.Generator().manual_seed(0)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))

    def step(i: int) -> None:
        start = (i * batch) % (len(dataset) - batch)
        images = dataset.batch(order[start : start + batch])["image"]
        images = images.contiguous(memory_format=torch.channels_last)
        family.train_step(
            {"image": images}, StepContext(i, torch.device("cpu"), precision, 1, noise)
        )

    for i in range(warmup):
        step(i)
    steps, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        step(warmup + steps)
        steps += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    # spin check: tiny parallel ops with 2 ms sleeps between them; CPU burned per wall second
    x = torch.randn(256, 256)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(200):
        x.mul(1.0001).sum()
        time.sleep(0.002)
    spin = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return {
        "policy": policy,
        "threads": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "steps_per_s": steps / wall,
        "cpu_s_per_step": cpu / steps,
        "idle_cpu_fraction": spin,
    }


def measure(policy: str, competitors: int, args: argparse.Namespace, copies: int = 1) -> dict:
    """One case: ``competitors`` busy loops, and ``copies`` trainings of ``policy`` at once
    (their mean steps/s)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME")}
    env.pop("OMP_NUM_THREADS", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)
    ]
    try:
        time.sleep(1.0 if competitors else 0.0)
        command = [sys.executable, __file__, "--worker", policy, "--seconds", str(args.seconds)]
        command += ["--precision", args.precision, "--warmup", str(args.warmup)]
        runs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(copies)
        ]
        outs = [run.communicate()[0] for run in runs]
    finally:
        for process in busy:
            process.kill()
            process.wait()
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    mean = {k: sum(r[k] for r in results) / copies for k in ("steps_per_s", "cpu_s_per_step")}
    return results[0] | mean | {"competitors": competitors, "copies": copies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="timed wall seconds per case")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--worker", choices=POLICIES, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.worker:
        print(
            json.dumps(worker(args.worker, args.seconds, args.warmup, args.batch, args.precision))
        )
        return
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"load average before: {' '.join(load_before)}")
    rows = []
    cases = [(0, 1), (1, 1), (2, 1), (0, 2)]  # (busy competitors, huashi trainings at once)
    for competitors, copies in cases:
        for policy in POLICIES:
            rows.append(measure(policy, competitors, args, copies))
            r = rows[-1]
            print(
                f"{policy}  competitors={competitors}  copies={copies}  threads={r['threads']}  "
                f"{r['steps_per_s']:.2f} steps/s  {r['cpu_s_per_step']:.3f} CPU s/step  "
                f"idle CPU {100 * r['idle_cpu_fraction']:.0f}%",
                flush=True,
            )
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average after: {' '.join(load_after)}")
    quiet = {r["policy"]: r["steps_per_s"] for r in rows if r["competitors"] == r["copies"] - 1}
    print("\n| case | " + " | ".join(f"{p} steps/s (% of its quiet)" for p in POLICIES) + " |")
    print("|---|---|---|---|")
    for competitors, copies in cases:
        cells = []
        for policy in POLICIES:
            r = next(
                x
                for x in rows
                if (x["competitors"], x["copies"], x["policy"]) == (competitors, copies, policy)
            )
            share = 100 * r["steps_per_s"] / quiet[policy]
            cells.append(f"{r['steps_per_s']:.3f} ({share:.0f} %, {r['threads']} threads)")
        case = f"{competitors} busy loop(s)" if copies == 1 else f"{copies} trainings at once"
        print(f"| {case} | {' | '.join(cells)} |")
    if args.json:
        args.json.write_text(
            json.dumps({"load": [load_before, load_after], "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
