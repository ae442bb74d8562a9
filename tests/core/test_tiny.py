"""HUASHI_DOCS_TINY, the docs tests' one size switch: off by default, caps only sizes."""

from __future__ import annotations

import argparse

from huashi.core import tiny


def test_off_unless_set(monkeypatch):
    monkeypatch.delenv(tiny.ENV, raising=False)
    assert not tiny.enabled() and tiny.cap("steps", 500) == 500
    monkeypatch.setenv(tiny.ENV, "0")
    assert not tiny.enabled()


def test_caps_sizes_and_keeps_the_rest(monkeypatch):
    monkeypatch.setenv(tiny.ENV, "1")
    assert tiny.cap("steps", 500) == 2 and tiny.cap("steps", 1) == 1
    new = tiny.train_options({"steps": 2000, "batch_size": 64, "max_minutes": 10, "seed": 3})
    assert new == {"steps": 2, "batch_size": 4, "n_fixed": 4, "max_minutes": 0.0, "seed": 3}
    assert tiny.train_options({}, resume=True) == {}
    assert tiny.train_options({"steps": 8000, "batch_size": 64}, resume=True) == {
        "steps": 4, "batch_size": 4
    }  # fmt: skip
    assert tiny.model_options("diffusion", {"base_channels": 32})["base_channels"] == 32
    assert tiny.model_options("dcgan", None) == {}
    args = argparse.Namespace(command="paint", n=64, steps=50, sweep="ddim:10,heun:50", seed=7)
    tiny.shrink(args)
    assert (args.n, args.steps, args.sweep, args.seed) == (4, 2, "ddim:2,heun:2", 7)
    scores = tiny.shrink(argparse.Namespace(command="eval", n=5000))
    assert scores.n == tiny.CAPS["eval_n"]
