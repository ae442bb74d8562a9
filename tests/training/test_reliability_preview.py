"""Progress grids stay cheap and interruptible: a diffusion run's preview uses few images and a
fast sampler; Ctrl-C during any progress grid stops it at once and the run stops cleanly."""

import os
import signal
import time

import pytest
import torch
from fakes import FakeImages

from huashi.diffusion import samplers
from huashi.families import DataInfo
from huashi.families.dcgan import DCGAN
from huashi.families.dcgan import DCGANFamilyConfig as DCGANConfig
from huashi.families.diffusion import Diffusion, DiffusionConfig
from huashi.training.checkpoint import latest_checkpoint
from huashi.training.loop import TrainConfig, Trainer

CPU = torch.device("cpu")


@pytest.mark.parametrize("sample_steps, expected_steps", [(50, 20), (4, 4)])
def test_a_diffusion_preview_is_16_images_with_a_fast_sampler(
    monkeypatch, sample_steps, expected_steps
):
    config = DiffusionConfig(
        base_channels=8, channel_mults=(1, 2), res_blocks=1, attention_resolutions=(8,),
        heads=2, norm_groups=8, timesteps=100, sample_steps=sample_steps,
    )  # fmt: skip
    family = Diffusion(config, DataInfo(3, 16), CPU)
    calls = []
    real = samplers.sample

    def spy(model_fn, x, abar, sampler, steps, **kwargs):
        calls.append((len(x), sampler, steps))
        return real(model_fn, x, abar, sampler, 1, **kwargs)  # 1 step keeps the test fast

    monkeypatch.setattr(samplers, "sample", spy)
    assert family.preview(list(range(64))).shape == (16, 3, 16, 16)
    assert calls == [(16, "dpmpp-2m", expected_steps)]


def test_ctrl_c_during_a_progress_grid_skips_it_and_stops_after_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    family = DCGAN(DCGANConfig(g_width=4, d_width=4, z_dim=8), DataInfo(3, 16), CPU)
    previews = []

    def slow_preview(seeds):  # Ctrl-C arrives during a grid that would take 20 s
        previews.append(len(seeds))
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(2000):
            time.sleep(0.01)
        raise AssertionError("the preview was not interrupted")

    family.preview = slow_preview
    config = TrainConfig(
        steps=10, batch_size=8, sample_every=3, checkpoint_every=100, n_fixed=4,
        precision="fp32", log_every=1,
    )  # fmt: skip
    trainer = Trainer(family, FakeImages(), config, tmp_path, progress=False)
    started = time.perf_counter()
    result = trainer.run()
    assert time.perf_counter() - started < 10
    assert result.interrupted and result.step == 3 and previews == [4]  # no final grid either
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step-00000003.json"
    assert not (tmp_path / "samples").exists()
