"""GigaGAN end to end on a tiny run: train, sample with a prompt, prompt mixing and truncation
from the command line, each image equal to the family's own and regenerated from its PNG."""

import numpy as np
import pytest
import torch
from PIL import Image

from huashi.cli import main
from huashi.core.images import read_params
from huashi.runs import load_run

TINY = [
    "--data", "shapes", "--data-option", "n=16", "--resolution", "16", "--z-dim", "8",
    "--w-dim", "8", "--mapping-layers", "1", "--text-width", "8", "--text-layers", "1",
    "--channel-base", "64", "--channel-max", "8", "--num-kernels", "2", "--batch-size", "4",
    "--quiet", "--sample-every", "100", "--n-fixed", "4",
]  # fmt: skip


def pixels(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_text_encoder):
    out = tmp_path_factory.mktemp("runs") / "giga"
    args = ["train", "gigagan", *TINY, "--text-encoder", tiny_text_encoder, "--steps", "2"]
    assert main([*args, "--out", str(out)]) == 0
    return out


def test_prompt_mixing_from_the_command_line(run_dir, tmp_path):
    a, b = "a small red circle", "a large blue square"
    grid = tmp_path / "mix.png"
    command = ["sample", str(run_dir), "--n", "2", "--prompt", a, "--prompt-mix", b]
    assert main([*command, "--mix-layers", "0-1", "--out", str(grid)]) == 0
    files = sorted((tmp_path / "mix").glob("*.png"))
    assert len(files) == 2
    params = read_params(files[1])
    assert params["options"] == {"prompt": a, "prompt_mix": b, "mix_layers": "0-1"}
    family = load_run(run_dir).family
    expected = family.generate([1], prompt=a, prompt_mix=b, mix_layers="0-1")
    painted = torch.from_numpy(pixels(files[1]).copy()).permute(2, 0, 1).float() / 127.5 - 1
    torch.testing.assert_close(painted, expected[0], atol=1 / 127.5 + 1e-6, rtol=0)
    assert main(["regenerate", str(files[1]), "--out", str(tmp_path / "again.png")]) == 0
    assert np.array_equal(pixels(files[1]), pixels(tmp_path / "again.png"))


def test_truncation_zero_paints_one_image_per_prompt(run_dir, tmp_path):
    grid = tmp_path / "t.png"
    command = ["sample", str(run_dir), "--n", "3", "--prompt", "a small red circle"]
    assert main([*command, "--truncation", "0", "--out", str(grid)]) == 0
    files = sorted((tmp_path / "t").glob("*.png"))
    assert np.array_equal(pixels(files[0]), pixels(files[2]))
