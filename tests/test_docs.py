"""The docs are tests: every fenced ``bash``/``sh``/``python`` block of README.md and docs/*.md
runs as written, in order, in one working folder per document.

Sizes are made tiny by one mechanism only: ``HUASHI_DOCS_TINY=1`` (:mod:`huashi.core.tiny`), which
the command line and :func:`huashi.api.train` honour. ``huashi ...`` lines run in this process
(``huashi.cli.main``, no interpreter start-up per line); other lines run in ``bash`` with
``huashi`` and ``python`` on the PATH meaning this interpreter and this checkout.

A block may be marked by an HTML comment on the line just above its fence:

- ``<!-- docs-test: slow, about 12 minutes on a 2-core CPU -->``: a long job (its measured
  time stated); it runs only with ``pytest -m slow``;
- ``<!-- docs-test: skip, REASON -->``: not run by tests at all (it installs packages, needs two
  machines, ...); the reason is required.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = ("bash", "sh", "python")
MARKER = re.compile(r"<!--\s*docs-test:\s*(slow|skip)\s*,\s*(\S.*?)\s*-->")


@dataclass
class Block:
    """A fenced block: its document, first line number, language, text and mark."""

    doc: Path
    line: int
    language: str
    text: str
    mark: str = ""  # "", "slow" or "skip"
    reason: str = ""

    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks_of(doc: Path) -> list[Block]:
    """The runnable fenced blocks of ``doc`` (languages in :data:`RUN_LANGUAGES`), in order."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        language = fence.group(1)
        if language in RUN_LANGUAGES:
            mark = MARKER.search(lines[i - 1]) if i else None
            found.append(
                Block(
                    doc,
                    i + 1,
                    language,
                    "\n".join(lines[i + 1 : end]),
                    mark.group(1) if mark else "",
                    mark.group(2) if mark else "",
                )  # fmt: skip
            )
        i = end + 1
    return found


def commands_of(text: str) -> list[str]:
    """A bash block's commands: continuation lines joined, comments and blank lines dropped,
    ``a && b`` split."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        command: list[str] = []
        for word in [*words, "&&"]:
            if word == "&&":
                commands.append(shlex.join(command))
                command = []
            else:
                command.append(word)
    return [c for c in commands if c]


def _bin_folder(tmp: Path) -> Path:
    """A folder with ``huashi`` and ``python`` scripts that run this interpreter on this checkout."""
    folder = tmp / ".docs-bin"
    folder.mkdir(exist_ok=True)
    for name, tail in (("huashi", "-m huashi"), ("python", "")):
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" {tail} "$@"\n')
        script.chmod(0o755)
    return folder


def run_command(command: str, work: Path, where: str) -> None:
    """Run one documented command in ``work``; fail the test with its output if it fails."""
    words = shlex.split(command)
    if words[0] == "huashi":
        from huashi.cli import main

        try:
            status = main(words[1:])
        except SystemExit as stop:  # argparse errors
            status = stop.code
        assert status == 0, f"{where}: `{command}` exited with {status}"
        return
    path = f"{_bin_folder(work)}:{Path(sys.executable).parent}:{os.environ['PATH']}"  # torchrun
    env = os.environ | {"PATH": path, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, (
        f"{where}: `{command}` exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )


def run_block(block: Block, work: Path) -> None:
    """Run a block; each command's (or snippet's) seconds go to stdout (``pytest -s`` shows them)."""
    if block.language == "python":
        started = time.perf_counter()
        code = compile(block.text, block.where(), "exec")
        exec(code, {"__name__": "__docs__"})  # noqa: S102 - the documented snippet, as written
        print(f"docs-test {time.perf_counter() - started:6.1f} s  {block.where()} (python)")
        return
    for command in commands_of(block.text):
        started = time.perf_counter()
        run_command(command, work, block.where())
        print(f"docs-test {time.perf_counter() - started:6.1f} s  {block.where()} {command[:90]}")


def run_doc(doc: Path, work: Path, monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    monkeypatch.setenv("HUASHI_DOCS_TINY", "1")
    monkeypatch.chdir(work)
    for folder in ("benchmarks", "scripts"):  # the docs run their scripts from a checkout
        (work / folder).symlink_to(ROOT / folder)
    for block in blocks_of(doc):
        if block.mark == "skip" or (block.mark == "slow" and not slow):
            continue
        run_block(block, work)


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_doc_examples_run_as_written(doc, tmp_path, monkeypatch):
    if not blocks_of(doc):
        pytest.skip(f"{doc.name} has no runnable blocks")
    run_doc(doc, tmp_path, monkeypatch, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    "doc",
    [d for d in DOCS if any(b.mark == "slow" for b in blocks_of(d))],
    ids=lambda d: d.name,
)
def test_doc_long_jobs_run_as_written(doc, tmp_path, monkeypatch):
    run_doc(doc, tmp_path, monkeypatch, slow=True)


def test_every_mark_is_slow_or_skip_with_a_reason():
    """A misspelt mark would silently run (or not run) a block: every docs-test comment must parse."""
    for doc in DOCS:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if "docs-test" in line:
                assert MARKER.search(line), f"{doc.name}:{number}: unreadable mark {line!r}"


def test_commands_of_joins_continuations_and_splits_and():
    text = "# note\nhuashi a --x 1 \\\n    --y 2  # why\n\nb && huashi c 'two words'\n"
    assert commands_of(text) == ["huashi a --x 1 --y 2", "b", "huashi c 'two words'"]
