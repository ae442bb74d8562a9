"""Autoencoders (A1 ae, A2 vae, A3 kl-vae), the latent scale, and latent interpolation."""

import json
import math

import pytest
import torch
from PIL import Image

import huashi.data
from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.core.images import read_image_tensor, read_params
from huashi.families import DataInfo, get_family
from huashi.families.autoencoder import compute_latent_scale
from huashi.gan.latent_paths import lerp, slerp
from huashi.losses.autoencoder import kl_to_standard_normal, reconstruction_error
from huashi.losses.gan import hinge_d_loss, hinge_g_loss
from huashi.models.autoencoder.gaussian import reparameterize
from huashi.models.autoencoder.patchgan import PatchDiscriminator
from huashi.runs import load_run
from huashi.tools.interpolate import interpolate
from huashi.training.loop import TrainConfig, Trainer

CPU = torch.device("cpu")


class Blobs:
    """Images of one soft coloured disc at a random place, size and colour on a white ground:
    a few numbers explain each image, so a small code can reconstruct it."""

    def __init__(self, n: int = 96, resolution: int = 16, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        ys, xs = torch.meshgrid(torch.arange(resolution), torch.arange(resolution), indexing="ij")
        centre = torch.rand(n, 2, generator=g) * resolution * 0.6 + resolution * 0.2
        radius = (torch.rand(n, generator=g) * 0.2 + 0.15) * resolution
        colour = torch.rand(n, 3, generator=g) * 2 - 1
        distance = (
            (ys - centre[:, 0, None, None]) ** 2 + (xs - centre[:, 1, None, None]) ** 2
        ).sqrt()
        inside = torch.sigmoid((radius[:, None, None] - distance) * 2.0)[:, None]
        self.images = inside * colour[:, :, None, None] + (1 - inside) * 1.0
        self.channels, self.resolution = 3, resolution
        self.labels = self.class_names = self.captions = self.targets = None

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: torch.Tensor) -> dict:
        return {"image": self.images[indices].clone(), "index": indices}


@pytest.fixture
def blobs_data(monkeypatch):
    """``api.train(..., data="blobs")`` trains on :class:`Blobs`."""
    made = {}

    def load_dataset(spec, resolution=16, mode="memory", **options):
        made["data"] = Blobs(resolution=resolution, **options)
        return made["data"]

    monkeypatch.setattr(huashi.data, "load_dataset", load_dataset, raising=False)
    return made


def small(family: str, **model):
    sizes = {"ae": {"width": 8, "z_dim": 16}, "vae": {"width": 8, "z_dim": 16}}
    return {**sizes.get(family, {"width": 8, "max_width": 16, "lr": 1e-3}), **model}


def train_run(path, family, steps=60, resolution=16, **model):
    return api.train(
        path, family, "blobs", resolution, model=small(family, **model), progress=False,
        steps=steps, batch_size=16, precision="fp32", channels_last=False, sample_every=10**6,
        checkpoint_every=10**6, n_fixed=16, log_every=10,
    )  # fmt: skip


# --- the math --------------------------------------------------------------------------------


def test_reparameterized_samples_have_the_asked_mean_and_variance_and_carry_gradients():
    mean = torch.tensor([1.0, -2.0, 0.0], requires_grad=True)
    logvar = torch.log(torch.tensor([0.25, 4.0, 1.0])).requires_grad_(True)
    n = 200_000
    g = torch.Generator().manual_seed(0)
    z = reparameterize(mean.expand(n, 3), logvar.expand(n, 3), g)
    std = torch.tensor([0.5, 2.0, 1.0])
    # standard errors: std / sqrt(n) for the mean, about std^2 * sqrt(2 / n) for the variance
    assert torch.allclose(z.mean(0), mean.detach(), atol=float(5 * std.max() / math.sqrt(n)))
    assert torch.allclose(z.var(0), std**2, rtol=5 * math.sqrt(2 / n))
    z.sum().backward()  # dz/dmean = 1; dz/dlogvar = eps * std / 2, whose mean is ~0
    assert torch.equal(mean.grad, torch.full((3,), float(n)))
    assert logvar.grad.abs().max() < 5 * std.max() / 2 * math.sqrt(n)


def test_kl_matches_the_closed_form_and_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mean, logvar = torch.randn(4, 2, 3, 3, generator=g), torch.randn(4, 2, 3, 3, generator=g)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
    )
    assert torch.allclose(
        kl_to_standard_normal(mean, logvar), reference.flatten(1).sum(1), atol=1e-5
    )
    # by hand: N(1, 1) -> 0.5 * 1; N(0, e^2) -> 0.5 * (e^2 - 1 - 2); N(0, 1) -> 0
    by_hand = kl_to_standard_normal(
        torch.tensor([[1.0], [0.0], [0.0]]), torch.tensor([[0.0], [2.0], [0.0]])
    )
    assert torch.allclose(by_hand, torch.tensor([0.5, 0.5 * (math.e**2 - 3), 0.0]))


def test_reconstruction_errors_and_paths():
    x, y = (
        torch.zeros(2, 1, 2, 2),
        torch.tensor([1.0, -1.0, 2.0, 0.0]).view(1, 1, 2, 2).repeat(2, 1, 1, 1),
    )
    assert torch.equal(reconstruction_error(x, y, "l1"), torch.tensor([1.0, 1.0]))
    assert torch.equal(reconstruction_error(x, y, "l2"), torch.tensor([1.5, 1.5]))
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    t = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(lerp(a, b, t), torch.tensor([[3.0, 0.0], [1.5, 1.5], [0.0, 3.0]]))
    walk = slerp(a, b, t)  # a quarter circle of radius 3
    s = 3 / math.sqrt(2)
    assert torch.allclose(walk, torch.tensor([[3.0, 0.0], [s, s], [0.0, 3.0]]), atol=1e-6)
    assert torch.allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t))  # parallel: a straight line


def test_patchgan_shapes_and_hinge_losses():
    disc = PatchDiscriminator(3, width=8, layers=2)
    assert disc(torch.zeros(2, 3, 32, 32)).shape == (2, 1, 6, 6)
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert hinge_d_loss(real, fake) == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert hinge_g_loss(fake) == pytest.approx(1.0)


# --- models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("factor", [4, 8])
def test_kl_autoencoder_latent_is_spatial_with_the_asked_factor(resolution, factor):
    family_class = get_family("kl-vae")
    config = family_class.make_config(small("kl-vae", factor=factor, z_channels=3))
    family = family_class(config, DataInfo(3, resolution), CPU)
    images = torch.rand(2, 3, resolution, resolution) * 2 - 1
    latents = family.encode(images)
    side = resolution // factor
    assert family.latent_shape == (3, side, side) and latents.shape == (2, 3, side, side)
    decoded = family.decode(latents)
    assert decoded.shape == images.shape and decoded.abs().max() <= 1
    mean, logvar = family.model.encode(images)  # encode() returns the mean of q(z | x)
    assert torch.equal(latents, mean) and logvar.shape == mean.shape


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_vector_autoencoders_shapes_and_per_image_independence(name):
    family_class = get_family(name)
    family = family_class(family_class.make_config(small(name)), DataInfo(1, 32), CPU)
    images = torch.rand(3, 1, 32, 32) * 2 - 1
    latents = family.encode(images)
    assert family.latent_shape == (16, 1, 1) and latents.shape == (3, 16, 1, 1)
    assert family.decode(latents).shape == (3, 1, 32, 32)
    # GroupNorm, not BatchNorm: an image's code does not depend on its batch-mates
    assert torch.allclose(family.encode(images[1:2]), latents[1:2], atol=1e-6)


def test_prior_samples_depend_only_on_their_seed_and_ae_has_no_prior():
    vae_class = get_family("vae")
    vae = vae_class(vae_class.make_config(small("vae")), DataInfo(3, 16), CPU)
    assert torch.allclose(vae.generate([5, 6, 7])[1], vae.generate([6])[0], atol=1e-6)
    ae_class = get_family("ae")
    ae = ae_class(ae_class.make_config(small("ae")), DataInfo(3, 16), CPU)
    with pytest.raises(HuashiError, match="no prior"):
        ae.generate([0])


# --- training, the latent scale, save/load, resume ---------------------------------------------


@pytest.mark.parametrize("name", ["ae", "vae", "kl-vae"])
def test_short_training_cuts_the_reconstruction_error(tmp_path, blobs_data, name):
    family_class = get_family(name)
    torch.manual_seed(0)
    before = family_class(family_class.make_config(small(name)), DataInfo(3, 16), CPU)
    data = Blobs()
    start = reconstruction_error(data.images, before.reconstruct(data.images), "l2").mean()
    train_run(tmp_path / name, name, steps=100)
    family = load_run(tmp_path / name).family
    end = reconstruction_error(data.images, family.reconstruct(data.images), "l2").mean()
    assert end < 0.2 * start, (float(start), float(end))
    if name == "ae":  # no prior: `huashi sample` says so in one line
        assert main(["sample", str(tmp_path / name), "--out", str(tmp_path / "s.png")]) == 2
    else:
        assert api.sample(tmp_path / name, n=3).images.shape == (3, 3, 16, 16)


def test_latent_scale_gives_unit_std_and_survives_save_and_load(tmp_path, blobs_data):
    train_run(tmp_path / "run", "kl-vae", steps=20, kl_weight=1e-4)
    family = load_run(tmp_path / "run").family
    data = blobs_data["data"]
    scaled = family.encode(data.images) * family.latent_scale
    assert family.latent_scale != 1.0
    assert scaled.std().item() == pytest.approx(1.0, abs=0.05)  # measured on 96 of 96 images
    # the function itself: deterministic, no training randomness used, same as the saved value
    rng = torch.get_rng_state()
    assert compute_latent_scale(family, data) == pytest.approx(family.latent_scale, rel=1e-6)
    assert torch.equal(torch.get_rng_state(), rng)


def make_trainer(run_dir, steps):
    torch.manual_seed(0)
    family_class = get_family("kl-vae")
    config = family_class.make_config(small("kl-vae", adversarial=True, adv_start=2, disc_width=8))
    family = family_class(config, DataInfo(3, 16), CPU)
    train = TrainConfig(
        steps=steps, batch_size=8, checkpoint_every=3, sample_every=4, n_fixed=8, log_every=1,
        ema=0.9, precision="fp32",
    )  # fmt: skip
    return Trainer(family, Blobs(n=32), train, run_dir, progress=False)


def test_the_vae_gan_trains_its_discriminator_from_adv_start(tmp_path):
    """(Exact resume of this run is part of the family contract, tests/families/test_family_contract.py.)"""
    trainer = make_trainer(tmp_path / "a", 5)
    trainer.run()
    a = trainer.family.state_tensors()[0]
    assert "modules/autoencoder/latent_scale" in a
    assert any(k.startswith("optim/discriminator/") for k in a)
    # the adversarial term starts at adv_start (step index 2, i.e. the third logged step)
    records = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [("d_loss" in r, "g_adv" in r) for r in records] == [(False, False)] * 2 + [
        (True, True)
    ] * 3


# --- interpolation -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("vae") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            huashi.data,
            "load_dataset",
            lambda spec, resolution, **o: Blobs(resolution=resolution),
            raising=False,
        )
        train_run(path, "vae", steps=40)
    return path


def save_image(tensor: torch.Tensor, path, size: int | None = None) -> None:
    array = ((tensor.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    image = Image.fromarray(array)
    (image.resize((size, size), Image.Resampling.LANCZOS) if size else image).save(path)


@pytest.mark.parametrize("path", ["linear", "slerp"])
def test_interpolation_ends_in_the_reconstructions_and_moves_in_small_steps(vae_run, path):
    loaded = load_run(vae_run)
    data = Blobs()
    a, b = data.images[3], data.images[10]
    walk = interpolate(loaded, a, b, steps=9, path=path)
    ends = loaded.family.reconstruct(torch.stack([a, b]))
    assert walk.images.shape == (9, 3, 16, 16)
    assert torch.allclose(walk.images[0], ends[0], atol=1e-5)
    assert torch.allclose(walk.images[-1], ends[1], atol=1e-5)
    frames = walk.images.flatten(1)
    steps = (frames[1:] - frames[:-1]).norm(dim=1)
    assert steps.max() < (frames[-1] - frames[0]).norm()  # each step is shorter than the jump


def test_interpolate_files_resize_with_a_note_and_write_a_strip_with_parameters(
    vae_run, tmp_path, capsys
):
    data = Blobs()
    save_image(data.images[3], tmp_path / "a.png")
    save_image(data.images[10], tmp_path / "b.png", size=40)  # another size: resized, noted
    code = main([
        "interpolate", str(vae_run), str(tmp_path / "a.png"), str(tmp_path / "b.png"),
        "--steps", "5", "--out", str(tmp_path / "walk.png"),
    ])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "b.png: 40x40 resized to 16x16" in err and "a.png" not in err
    with Image.open(tmp_path / "walk.png") as strip:
        assert strip.size == (5 * 18 + 2, 18 + 2)  # one row of 5 images, 2 px padding
    params = read_params(tmp_path / "walk.png")
    assert params["steps"] == 5 and params["path"] == "linear" and params["family"] == "vae"
    # the file at its own size decodes like the tensor it came from (8-bit rounding only)
    tensor, notes = read_image_tensor(tmp_path / "a.png", 3, 16)
    assert notes == [] and torch.allclose(tensor, data.images[3], atol=1 / 127.5 + 1e-6)


def test_interpolate_between_training_images_by_index(vae_run, monkeypatch):
    data = Blobs()
    monkeypatch.setattr(
        huashi.data, "load_dataset", lambda spec, resolution, **o: data, raising=False
    )
    by_index = interpolate(vae_run, "data:3", "data:10", steps=4)
    by_tensor = interpolate(vae_run, data.images[3], data.images[10], steps=4)
    assert torch.equal(by_index.images, by_tensor.images)
    with pytest.raises(HuashiError, match="use data:0 to data:95"):
        interpolate(vae_run, "data:3", "data:96")


def test_interpolate_rejects_bad_input(vae_run, tmp_path, capsys):
    data = Blobs()
    save_image(data.images[0], tmp_path / "a.png")
    (tmp_path / "broken.png").write_text("not an image")
    with pytest.raises(HuashiError, match="cannot read"):
        interpolate(vae_run, tmp_path / "a.png", tmp_path / "broken.png")
    with pytest.raises(HuashiError, match="does not exist"):
        interpolate(vae_run, tmp_path / "a.png", tmp_path / "missing.png")
    with pytest.raises(HuashiError, match="at least 2"):
        interpolate(vae_run, tmp_path / "a.png", tmp_path / "a.png", steps=1)
    with pytest.raises(HuashiError, match="unknown --path"):
        interpolate(vae_run, tmp_path / "a.png", tmp_path / "a.png", path="zigzag")
    with pytest.raises(HuashiError, match=r"shape \[B, 3, 16, 16\]"):
        interpolate(vae_run, torch.zeros(1, 8, 8), torch.zeros(1, 8, 8))
    # a run of another family
    dcgan = tmp_path / "dcgan"
    dcgan.mkdir()
    config = json.loads((vae_run / "config.json").read_text()) | {"family": "dcgan", "model": {}}
    (dcgan / "config.json").write_text(json.dumps(config))
    with pytest.raises(HuashiError, match="'dcgan' run, not an autoencoder"):
        interpolate(dcgan, tmp_path / "a.png", tmp_path / "a.png")
    # the CLI prints one line and exits with status 2
    assert main(["interpolate", str(dcgan), str(tmp_path / "a.png"), str(tmp_path / "a.png")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_bad_model_options_are_clear_errors():
    kl = get_family("kl-vae")
    with pytest.raises(HuashiError, match="--factor must be one of 4, 8"):
        kl.check_data(DataInfo(3, 32), kl.make_config({"factor": 2}))
    with pytest.raises(HuashiError, match="--disc-layers 3"):
        kl.check_data(DataInfo(3, 16), kl.make_config({"adversarial": True, "disc_layers": 3}))
    with pytest.raises(HuashiError, match="unknown --recon"):
        get_family("vae").check_data(
            DataInfo(3, 32), get_family("vae").make_config({"recon": "l3"})
        )
    with pytest.raises(HuashiError, match="power-of-two"):
        get_family("ae").check_data(DataInfo(3, 24), get_family("ae").make_config({}))
