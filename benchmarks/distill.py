"""Distillation on ``shapes``: a class-conditional diffusion teacher repaints shapes scenes in
one colour (img2img at a strength, label = the colour), a Pix2Pix student learns the pairs, and
the report compares them on held-out scenes: PSNR/SSIM of the student against the teacher, and
images/s of the teacher's full sampler (``--teacher-steps``, from seeds) against the student's
single pass, timed back to back on the same batch.

    python benchmarks/distill.py --out /tmp/distill-bench                 # the defaults below
    python benchmarks/distill.py --scenes 2064 --pairs 2000 --heldout 64 --student-steps 3000

Targets (issue 12): the student >= 100x faster than the teacher's 20-step sampler on CPU, and
held-out PSNR >= 20 dB against the teacher. Every stage is cached in ``--out`` (the teacher run,
the pairs, the student run), so a second call with larger numbers continues. The load average
is printed: on a shared CPU the absolute numbers move with the other jobs (the ratio less so,
since teacher and student are timed back to back).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from huashi import api
from huashi.api import distill
from huashi.training.checkpoint import latest_checkpoint

TEACHER = {"base_channels": 16, "channel_mults": [1, 2], "res_blocks": 1,
           "attention_resolutions": [], "heads": 2, "norm_groups": 8, "timesteps": 1000,
           "condition": "class", "cond_dropout": 0.1, "lr": 1e-3}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/distill-bench"))
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--scenes", type=int, default=1200, help="shapes scenes (train split)")
    parser.add_argument("--teacher-train-steps", type=int, default=2500)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--heldout", type=int, default=32)
    parser.add_argument("--label", type=int, default=0, help="the colour (0 = red)")
    parser.add_argument("--strength", type=float, default=0.35)
    parser.add_argument("--teacher-steps", type=int, default=20)
    parser.add_argument("--student-steps", type=int, default=2000)
    parser.add_argument("--student-width", type=int, default=16)
    parser.add_argument("--speed-batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))

    data_options = {"n": args.scenes, "label": "color"}
    teacher = args.out / "teacher"
    started = time.perf_counter()
    if latest_checkpoint(teacher / "checkpoints") is None:
        api.train(teacher, "diffusion", "shapes", args.resolution, model=TEACHER,
                  data_options=data_options, steps=args.teacher_train_steps, batch_size=16,
                  precision="fp32", sample_every=10_000, checkpoint_every=10_000,
                  progress=False)  # fmt: skip
    teacher_seconds = time.perf_counter() - started
    report = distill(
        teacher, "shapes", args.out / "student", pairs=args.pairs, heldout=args.heldout,
        label=args.label, strength=args.strength, teacher_steps=args.teacher_steps,
        data_options=data_options, student={"g_width": args.student_width, "d_width": 16},
        speed_batch=args.speed_batch, steps=args.student_steps, batch_size=16,
        precision="fp32", sample_every=10_000, checkpoint_every=10_000, train_progress=False,
    )  # fmt: skip
    total = time.perf_counter() - started
    print(report.summary())
    record = report.to_dict() | {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "teacher_training_seconds": round(teacher_seconds, 1),
        "total_seconds": round(total, 1),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "targets": {
            "speedup>=100": report.speed["speedup"] >= 100,
            "psnr>=20": report.student["psnr"] >= 20,
        },
    }
    (args.out / "benchmark.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["targets"]), f"load average {os.getloadavg()}, {total:.0f} s in all")


if __name__ == "__main__":
    main()
