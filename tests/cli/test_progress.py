"""The command line's progress: a line within 2 s saying what is being done, sane rates, and
nothing with --quiet."""

from __future__ import annotations

import re
import time

from huashi.cli.options import progress_bar


def test_a_slow_start_is_shown_within_two_seconds_and_rates_count_from_the_start(capsys):
    with progress_bar(True, "loading the run") as progress:
        time.sleep(1.5)  # a model loading, before the first report
        shown = capsys.readouterr().err
        progress(4, 8, "sampling")  # four images at once after 1.5 s
        time.sleep(0.1)
        progress(8, 8, "sampling")
    err = shown + capsys.readouterr().err
    assert "loading the run ... 00:01" in shown
    rates = [float(r) for r in re.findall(r"([\d.]+)it/s", err)]
    assert rates and max(rates) < 10  # about 8 images in 1.6 s, not millions per second


def test_the_first_second_is_not_drawn_and_a_long_stage_keeps_its_clock(capsys):
    with progress_bar(True, "loading the run") as progress:
        progress(0, 4, "loading the run")
        time.sleep(0.3)
        early = capsys.readouterr().err
        progress(1, 4, "tracing")
        time.sleep(2.4)  # one long stage, no report: the bar is still redrawn each second
    err = capsys.readouterr().err
    assert early == ""  # a command done within a second shows no bar
    assert "tracing" in err and "1/4 [00:01<" in err and "1/4 [00:02<" in err


def test_quiet_shows_nothing(capsys):
    with progress_bar(False, "loading") as progress:
        assert progress is None
        time.sleep(1.2)
    assert capsys.readouterr().err == ""


def test_a_quick_command_shows_no_line(capsys):
    with progress_bar(True, "loading"):
        time.sleep(0.2)
    assert capsys.readouterr().err == ""


def test_inversion_reports_its_steps():
    import torch

    from huashi.families import DataInfo
    from huashi.families.stylegan import StyleGAN, StyleGANConfig
    from huashi.gan.inversion import invert

    torch.manual_seed(0)
    tiny = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8}
    family = StyleGAN(StyleGANConfig(**tiny), DataInfo(3, 16), torch.device("cpu"))
    calls = []
    target = torch.rand(3, 16, 16) * 2 - 1
    invert(family, target, "w", steps=4, features="none", on_step=lambda *c: calls.append(c))
    assert calls == [(1, 4, "inverting"), (2, 4, "inverting"), (3, 4, "inverting")]
