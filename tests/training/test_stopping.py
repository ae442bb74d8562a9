"""Every training says its stopping rules at the start and, at the end, one line naming the rule
that stopped it and how to continue; ``huashi resume`` takes --steps and --max-minutes."""

from __future__ import annotations

from huashi import api
from huashi.cli import main

TINY = ["--resolution", "16", "--batch-size", "4", "--g-width", "4", "--d-width", "4"]
TINY += ["--z-dim", "8", "--n-fixed", "4", "--precision", "fp32", "--data-option", "n=32"]
TINY += ["--sample-every", "1000", "--checkpoint-every", "1000"]
CAP = "0.00001"  # minutes: the cap is reached by the first step


def test_time_cap_carries_into_resume_is_shown_and_can_be_changed(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "dcgan", "--data", "shapes", *TINY, "--steps", "6", "--out", str(run)]
    assert main([*argv, "--max-minutes", CAP]) == 0
    out, err = capsys.readouterr()
    assert f"training to step 6 (--steps) or until {float(CAP):g} min of training in all" in err
    assert f"stopped at step 1 of 6: the time cap of {float(CAP):g} min" in out
    assert f"`huashi resume {run} --max-minutes 0`" in out

    assert main(["resume", str(run), "--steps", "4"]) == 0  # the first session's cap still holds
    out, err = capsys.readouterr()
    assert f"{run}: resuming at step 1, training to step 4 (--steps) or until" in err
    assert "stopped at step 2 of 4: the time cap" in out

    assert main(["resume", str(run), "--steps", "4", "--max-minutes", "0"]) == 0
    out, err = capsys.readouterr()
    assert "until" not in err  # no cap any more
    assert (
        f"stopped at step 4: the 4 steps asked for are done. Train further with `huashi resume {run} --steps 8`."
        in out
    )


def test_resume_refuses_a_negative_cap(tmp_path, capsys):
    assert main(["resume", str(tmp_path), "--max-minutes", "-1"]) == 2
    assert "--max-minutes must be 0 (no limit) or more" in capsys.readouterr().err


def test_an_interrupted_training_says_so_and_how_to_continue(tmp_path):
    def stop_now(trainer, losses):
        trainer.request_stop()

    run = tmp_path / "run"
    result = api.train(
        run, "dcgan", "shapes", 16, model={"g_width": 4, "d_width": 4, "z_dim": 8},
        data_options={"n": 32}, steps=5, batch_size=4, n_fixed=4, precision="fp32",
        progress=False, callbacks=[stop_now],
    )  # fmt: skip
    assert result.interrupted and result.step == 1
    assert result.stop_line() == (
        f"stopped at step 1 of 5: interrupted (Ctrl-C or SIGTERM). Continue with "
        f"`huashi resume {run}`."
    )
