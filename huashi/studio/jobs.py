"""Training jobs of the studio, each in its own process (``python -m huashi.studio.jobs SPEC``).

A job is a call of :func:`huashi.api.train` with the options the page sent. Jobs run one at a
time by default (the rest wait in a queue); closing the browser does not stop them. Stopping a
job sends SIGTERM: the trainer saves a checkpoint and the run can be resumed. A job's progress
is read from its run folder (``log.jsonl``, ``samples.png``) and from the job's output log.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huashi import api
from huashi.core.errors import HuashiError

ACTIVE = ("queued", "running", "stopping")


@dataclass
class Job:
    id: str
    run: str  # the run folder's name under the studio's runs folder
    spec: dict[str, Any]  # the keyword arguments of api.train
    folder: Path  # spec.json and output.log
    status: str = "queued"  # queued, running, stopping, finished, stopped, failed
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    start_step: int = 0
    returncode: int | None = None
    process: subprocess.Popen | None = None


class JobManager:
    """Starts queued jobs (at most ``max_running`` at once) and reports their state."""

    def __init__(self, runs_dir: Path, jobs_dir: Path, max_running: int = 1) -> None:
        self.runs_dir = runs_dir
        self.jobs_dir = jobs_dir
        self.max_running = max_running
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.closed = False
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="huashi-jobs", daemon=True)
        self.thread.start()

    # --- submitting and stopping -------------------------------------------------------------

    def submit(self, run: str, spec: dict[str, Any]) -> Job:
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self.counter)}"
        folder = self.jobs_dir / job_id
        folder.mkdir(parents=True)
        job = Job(job_id, run, spec, folder)
        (folder / "spec.json").write_text(json.dumps(spec, indent=2) + "\n")
        with self.lock:
            self.jobs[job_id] = job
        self.wake.set()
        return job

    def active_run(self, run: str) -> Job | None:
        with self.lock:
            return next(
                (j for j in self.jobs.values() if j.run == run and j.status in ACTIVE), None
            )

    def stop(self, job: Job) -> None:
        with self.lock:
            if job.status == "queued":
                job.status, job.ended = "stopped", time.time()
            elif job.status == "running" and job.process is not None:
                job.status = "stopping"
                job.process.send_signal(signal.SIGTERM)  # the trainer saves a checkpoint first

    def close(self, timeout: float = 30.0) -> None:
        """Stop every job (running ones save a checkpoint) and wait for them."""
        self.closed = True
        for job in list(self.jobs.values()):
            if job.status in ACTIVE:
                self.stop(job)
        deadline = time.time() + timeout
        for job in list(self.jobs.values()):
            if job.process is not None and job.process.poll() is None:
                try:
                    job.process.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    job.process.kill()
                    job.process.wait()
        self.wake.set()
        self._poll()

    # --- the scheduler thread ----------------------------------------------------------------

    def _loop(self) -> None:
        while not self.closed:
            self._poll()
            self.wake.wait(0.25)
            self.wake.clear()

    def _poll(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                if job.process is not None and job.status in ("running", "stopping"):
                    code = job.process.poll()
                    if code is not None:
                        job.returncode, job.ended = code, time.time()
                        job.status = (
                            "stopped"
                            if job.status == "stopping" or code == 130
                            else ("finished" if code == 0 else "failed")
                        )
            running = sum(j.status in ("running", "stopping") for j in self.jobs.values())
            for job in sorted(self.jobs.values(), key=lambda j: j.created):
                if running >= self.max_running or self.closed:
                    break
                if job.status == "queued":
                    self._start(job)
                    running += 1

    def _start(self, job: Job) -> None:
        records = api.run_log(self.runs_dir / job.run)
        job.start_step = int(records[-1]["step"]) if records and job.spec.get("resume") else 0
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # this huashi, even when not installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        with open(job.folder / "output.log", "ab") as log:
            job.process = subprocess.Popen(
                [sys.executable, "-m", "huashi.studio.jobs", str(job.folder / "spec.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        job.status, job.started = "running", time.time()

    # --- what the page sees ------------------------------------------------------------------

    def describe(self, job: Job, points: int = 200) -> dict[str, Any]:
        """The job's state: progress with ETA, the loss records, the log tail, the latest grid."""
        run_dir = self.runs_dir / job.run
        records = api.run_log(run_dir)
        step = int(records[-1]["step"]) if records else 0
        total = int(job.spec["train"].get("steps", 0))
        minutes = float(job.spec["train"].get("max_minutes", 0) or 0)
        eta = None
        if job.status == "running" and job.started and step > job.start_step:
            elapsed = time.time() - job.started
            eta = (total - step) * elapsed / (step - job.start_step)
            if minutes:
                trained = float(records[-1].get("train_seconds", 0))
                eta = min(eta, max(0.0, minutes * 60 - trained))
        grid = run_dir / "samples.png"
        try:
            tail = (job.folder / "output.log").read_text(errors="replace").splitlines()[-30:]
        except OSError:
            tail = []
        stride = max(1, len(records) // points)
        losses = [
            {k: v for k, v in r.items() if k == "step" or k.endswith("loss")}
            for r in records[::stride]
        ]
        if records and losses[-1]["step"] != step:
            losses.append(
                {k: v for k, v in records[-1].items() if k == "step" or k.endswith("loss")}
            )
        return {
            "id": job.id,
            "run": job.run,
            "status": job.status,
            "family": job.spec.get("family"),
            "data": job.spec.get("data"),
            "step": step,
            "steps": total,
            "max_minutes": minutes or None,
            "progress": min(1.0, step / total) if total else 0.0,
            "eta_seconds": None if eta is None else round(eta, 1),
            "created": job.created,
            "started": job.started,
            "ended": job.ended,
            "returncode": job.returncode,
            "losses": losses,
            "log_tail": tail,
            "grid": (
                f"/api/runs/{job.run}/samples.png?v={int(grid.stat().st_mtime_ns)}"
                if grid.exists()
                else None
            ),
        }


def _print_progress(trainer: Any, losses: dict[str, float]) -> None:
    if trainer.step % trainer.config.log_every == 0 or trainer.step == 1:
        shown = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
        print(f"step {trainer.step}/{trainer.config.steps} {shown}", flush=True)


def main(argv: list[str]) -> int:
    """Run one job: ``python -m huashi.studio.jobs SPEC.json`` (written by :class:`JobManager`)."""

    spec = json.loads(Path(argv[0]).read_text())
    print(f"training {spec['out']}", flush=True)
    try:
        result = api.train(
            spec["out"],
            family=spec.get("family"),
            data=spec.get("data"),
            resolution=spec.get("resolution"),
            model=spec.get("model") or None,
            data_options=spec.get("data_options") or None,
            resume=bool(spec.get("resume")),
            progress=False,
            callbacks=[_print_progress],
            **spec["train"],
        )
    except HuashiError as error:
        print(f"huashi: error: {error}", flush=True)
        return 2
    if result.interrupted:
        print(f"stopped at step {result.step}; checkpoint saved (resume to continue).", flush=True)
        return 130
    print(f"trained {result.step} steps.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
