"""F5 end to end with real parts: a trained KL autoencoder, a text-conditioned latent diffusion
run on top of it (the Stable-Diffusion shape), and `huashi paint` with a prompt."""

import pytest
import torch

import huashi.data
from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.core.images import read_params
from huashi.runs import load_run
from huashi.training.device import resolve_precision

COLOURS = {"red": (1.0, -1.0, -1.0), "blue": (-1.0, -1.0, 1.0)}


class CaptionedSquares:
    """16 px images of a red or blue square on white, captioned with its colour."""

    def __init__(self, n: int = 32, resolution: int = 16, **options) -> None:
        self.channels, self.resolution = 3, resolution
        self.labels = self.class_names = self.targets = None
        self.captions = [f"a {name} square" for name in list(COLOURS) * (n // 2)]
        self.images = torch.ones(n, 3, resolution, resolution)
        g = torch.Generator().manual_seed(0)
        for i, caption in enumerate(self.captions):
            y, x = torch.randint(0, resolution // 2, (2,), generator=g).tolist()
            colour = torch.tensor(COLOURS[caption.split()[1]])[:, None, None]
            self.images[i, :, y : y + resolution // 2, x : x + resolution // 2] = colour

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: torch.Tensor) -> dict:
        return {
            "image": self.images[indices].clone(),
            "caption": [self.captions[i] for i in indices.tolist()],
            "index": indices,
        }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_text_encoder):
    """A KL-VAE run and a text-conditioned latent diffusion run trained on its latents."""
    patch = pytest.MonkeyPatch()
    patch.setattr(huashi.data, "load_dataset", lambda spec, resolution=16, **o: CaptionedSquares())
    folder = tmp_path_factory.mktemp("sd")
    quick = dict(progress=False, batch_size=8, precision="fp32", channels_last=False,
                 sample_every=10**6, checkpoint_every=10**6, n_fixed=4, log_every=5)  # fmt: skip
    vae = folder / "vae"
    api.train(vae, "kl-vae", "squares", 16, steps=20,
              model={"width": 8, "max_width": 16, "factor": 4, "lr": 1e-3}, **quick)  # fmt: skip
    ldm = folder / "ldm"
    unet = dict(base_channels=8, channel_mults=[1, 2], res_blocks=1, attention_resolutions=[4],
                heads=2, norm_groups=8, timesteps=100, sample_steps=3, lr=2e-3)  # fmt: skip
    api.train(ldm, "diffusion", "squares", 16, steps=30, **quick, model=unet | {
        "latent": str(vae), "condition": "text", "text_encoder": tiny_text_encoder,
        "text_length": 8})  # fmt: skip
    patch.undo()
    return vae, ldm


def test_latent_diffusion_runs_in_the_autoencoders_latent_space(runs):
    vae_dir, ldm_dir = runs
    vae, ldm = load_run(vae_dir).family, load_run(ldm_dir).family
    assert vae.latent_shape == (4, 4, 4)  # 16 px / factor 4, 4 latent channels
    assert ldm.shape == vae.latent_shape
    assert ldm.modules["unet"].config.context_dim == 16  # cross-attends to the text tokens
    # the saved latent scale is the autoencoder's 1 / std of the training latents
    assert ldm.latent_scale == pytest.approx(vae.latent_scale) and vae.latent_scale != 1.0
    latents = torch.randn(2, *vae.latent_shape)
    decoded = ldm.decode(latents * ldm.latent_scale)
    assert torch.allclose(decoded, vae.decode(latents).clamp(-1, 1), atol=1e-5)


def test_paint_with_a_prompt_writes_images_with_their_parameters(runs, tmp_path):
    _, ldm_dir = runs
    out = tmp_path / "red.png"
    args = ["paint", str(ldm_dir), "a red square", "--sampler", "dpmpp-2m", "--steps", "3",
            "--cfg", "3", "--seed", "5", "--n", "2", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    params = read_params(out.parent / "red" / "seed-000005.png")
    assert params["seed"] == 5 and params["family"] == "diffusion"
    precision = resolve_precision("auto", torch.device("cpu"))
    assert params["options"] == {"prompt": "a red square", "sampler": "dpmpp-2m", "steps": 3,
                                 "cfg": 3.0, "precision": precision}  # fmt: skip
    family = load_run(ldm_dir).family
    red = family.generate([5, 6], prompt="a red square", sampler="dpmpp-2m", steps=3, cfg=3.0)
    blue = family.generate([5], prompt="a blue square", sampler="dpmpp-2m", steps=3, cfg=3.0)
    assert red.shape == (2, 3, 16, 16)
    assert not torch.allclose(red[:1], blue, atol=1e-4)  # the prompt reaches the U-Net
    alone = family.generate([6], prompt="a red square", sampler="dpmpp-2m", steps=3, cfg=3.0)
    assert torch.allclose(alone, red[1:], atol=1e-5)  # same seed, same image, any batch


def test_a_latent_run_whose_autoencoder_checkpoint_is_gone_is_a_clear_error(runs, tmp_path):
    vae_dir, ldm_dir = runs
    moved = tmp_path / "moved"
    (vae_dir / "checkpoints").rename(moved)
    try:
        with pytest.raises(HuashiError, match="as the autoencoder run of this diffusion model"):
            load_run(ldm_dir)
    finally:
        moved.rename(vae_dir / "checkpoints")
