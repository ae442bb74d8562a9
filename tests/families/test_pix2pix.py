"""Pix2Pix (G6): U-Net and PatchGAN shapes, losses, exact resume, translate; M3 metrics."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

import huashi.data
from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.core.images import read_params
from huashi.families import DataInfo, StepContext
from huashi.families.pix2pix import Pix2Pix, Pix2PixFamilyConfig, jittered
from huashi.losses.pix2pix import discriminator_loss, generator_loss
from huashi.metrics.image_to_image import l1, pair_metrics, psnr, ssim
from huashi.models.pix2pix import PatchGAN, UNet, receptive_field
from huashi.models.pix2pix.patchgan import layers_for, patch_size
from huashi.runs import load_run
from huashi.tools.translate import load_image
from huashi.training.loop import TrainConfig, Trainer

CPU = torch.device("cpu")
TINY = Pix2PixFamilyConfig(g_width=4, d_width=4)
EVIDENCE_STEPS = 250


class FakePairs:
    """Random paired images with the ``batch`` interface (target = a fixed function of input)."""

    def __init__(self, n: int = 24, channels: int = 1, resolution: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, channels, resolution, resolution, generator=g) * 2 - 1
        self.targets = -self.images.flip(-1)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: torch.Tensor) -> dict:
        return {"image": self.images[indices], "target": self.targets[indices], "index": indices}


# --- models ------------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_unet_shapes_depth_and_skips_per_resolution(resolution):
    G = UNet(TINY, 1, 3, resolution)
    depth = int(math.log2(resolution))
    assert len(G.encoder) == len(G.decoder) == depth  # down to 1x1 and back
    sizes = []
    hooks = [b.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1])) for b in G.encoder]
    out = G(torch.randn(2, 1, resolution, resolution))
    for hook in hooks:
        hook.remove()
    assert out.shape == (2, 3, resolution, resolution) and out.abs().max() <= 1
    assert sizes == [resolution // 2**i for i in range(1, depth + 1)]  # bottleneck 1x1
    # Every decoder block but the innermost sees its skip: twice the encoder width.
    widths = [4 * min(2**i, 8) for i in range(depth)]
    ins = [next(m for m in b if isinstance(m, nn.ConvTranspose2d)).in_channels for b in G.decoder]
    assert ins == [widths[-1]] + [2 * w for w in reversed(widths[:-1])]
    dropouts = [m.p for m in G.modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.5, 0.5, 0.5]
    assert isinstance(G.decoder[-1][-1], nn.Tanh)
    assert all(m.negative_slope == 0.2 for m in G.modules() if isinstance(m, nn.LeakyReLU))


def test_unet_at_256_is_the_papers_architecture():
    with torch.device("meta"):
        G = UNet(Pix2PixFamilyConfig(), 3, 3, 256)
    enc = [next(m for m in b.modules() if isinstance(m, nn.Conv2d)).out_channels for b in G.encoder]
    assert enc == [64, 128, 256, 512, 512, 512, 512, 512]  # C64-C128-C256-C512-C512-...
    dec = [next(m for m in b if isinstance(m, nn.ConvTranspose2d)) for b in G.decoder]
    # CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128 (widths after the skip), then 3 channels.
    assert [c.in_channels for c in dec[1:]] == [1024, 1024, 1024, 1024, 512, 256, 128]
    assert [c.out_channels for c in dec] == [512, 512, 512, 512, 256, 128, 64, 3]
    with_dropout = [any(isinstance(m, nn.Dropout) for m in b) for b in G.decoder]
    assert with_dropout == [True] * 3 + [False] * 5


def test_patchgan_receptive_field_is_70_for_the_classic_config():
    D = PatchGAN(Pix2PixFamilyConfig(d_width=2), 6, n_layers=3)
    assert receptive_field(D) == patch_size(3) == 70
    assert [receptive_field(PatchGAN(TINY, 2, n)) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]
    assert [patch_size(n) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]
    # The paper's 30x30 grid of patch logits at 256 px.
    x = torch.randn(1, 3, 256, 256, requires_grad=True)
    D.eval()
    logits = D(x, torch.randn(1, 3, 256, 256))
    assert logits.shape == (1, 1, 30, 30)
    # Empirically: the input pixels that move one central logit span exactly 70x70.
    logits[0, 0, 15, 15].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_patchgan_depth_fits_small_images():
    assert [layers_for(r) for r in (16, 32, 64, 128, 256)] == [1, 1, 2, 3, 3]
    for r in (16, 32, 64, 128, 256):
        assert patch_size(layers_for(r)) <= r
    family = Pix2Pix(TINY, DataInfo(1, 32, has_targets=True, target_channels=1), CPU)
    assert receptive_field(family.modules["discriminator"]) == 16
    assert family.modules["discriminator"].net[0].in_channels == 2  # input and output


# --- losses and the training step ----------------------------------------------------------------


def test_losses_on_hand_computed_tensors():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 0.0])
    # BCE(l, 1) = log(1 + e^-l), BCE(l, 0) = log(1 + e^l); D's loss is halved.
    expected = 0.5 * (
        (math.log(2) + math.log(1 + math.exp(-2))) / 2
        + (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    )
    assert discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    output = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
    target = torch.zeros(2, 2)
    total, adversarial, l1_term = generator_loss(torch.zeros(3), output, target, l1_weight=100.0)
    assert adversarial.item() == pytest.approx(math.log(2))
    assert l1_term.item() == pytest.approx(0.5)  # (0.5 + 0.5 + 1 + 0) / 4
    assert total.item() == pytest.approx(math.log(2) + 50.0)


def test_train_step_is_adversarial_plus_lambda_l1():
    """With learning rate 0 nothing moves, so the logged losses and G's gradient can be
    recomputed by hand (dropout masks replayed from the same global seed)."""
    torch.manual_seed(0)
    config = Pix2PixFamilyConfig(g_width=4, d_width=4, lr=0.0, l1_weight=7.0)
    family = Pix2Pix(config, DataInfo(1, 16, has_targets=True, target_channels=1), CPU)
    G, D = family.modules["generator"], family.modules["discriminator"]
    data = FakePairs(n=6)
    batch = data.batch(torch.arange(6))
    ctx = StepContext(0, CPU, "fp32", 1, torch.Generator())
    torch.manual_seed(5)
    logged = family.train_step(batch, ctx)
    step_grads = [p.grad.clone() for p in G.parameters()]

    torch.manual_seed(5)
    x, y = batch["image"], batch["target"]
    fake = G(x)
    real_logits, fake_logits = D(x, y), D(x, fake.detach())
    d_loss = -0.5 * (F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())
    g_adv = -F.logsigmoid(D(x, fake)).mean()
    g_l1 = (fake - y).abs().mean()
    g_loss = g_adv + 7.0 * g_l1
    assert logged["d_loss"] == pytest.approx(d_loss.item(), rel=1e-5)
    assert logged["g_adv"] == pytest.approx(g_adv.item(), rel=1e-5)
    assert logged["g_l1"] == pytest.approx(g_l1.item(), rel=1e-5)
    assert logged["g_loss"] == pytest.approx(g_loss.item(), rel=1e-5)
    # G's gradient is exactly that of its own loss: D's update does not leak into G.
    for got, want in zip(
        step_grads, torch.autograd.grad(g_loss, list(G.parameters())), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)  # bias before BN: ~0


def test_jitter_shifts_each_input_and_its_target_alike():
    config = Pix2PixFamilyConfig(g_width=4, d_width=4, lr=0.0, jitter=2)
    family = Pix2Pix(config, DataInfo(1, 16, has_targets=True, target_channels=1), CPU)
    images = torch.rand(8, 1, 16, 16) * 2 - 1
    batch = {"image": images, "target": images.flip(-1)}
    out = jittered(batch, 2, torch.Generator().manual_seed(3))
    shifts = set()
    for x, y, moved, moved_target in zip(
        images, batch["target"], out["image"], out["target"], strict=True
    ):
        (dy, dx), = [
            (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
            if torch.equal(moved[:, 2:14, 2:14], x[:, 2 + dy : 14 + dy, 2 + dx : 14 + dx])
        ]  # fmt: skip
        # the target moved by the same (dy, dx)
        assert torch.equal(moved_target[:, 2:14, 2:14], y[:, 2 + dy : 14 + dy, 2 + dx : 14 + dx])
        shifts.add((dy, dx))
    assert len(shifts) > 3  # each pair its own shift
    # a training step sees the jittered pairs: with lr 0 its L1 is that of G on them
    torch.manual_seed(5)
    logged = family.train_step(
        batch, StepContext(0, CPU, "fp32", 1, torch.Generator().manual_seed(3))
    )
    torch.manual_seed(5)
    G = family.modules["generator"]
    assert logged["g_l1"] == pytest.approx(
        (G(out["image"]) - out["target"]).abs().mean().item(), rel=1e-5
    )
    with pytest.raises(HuashiError, match="--jitter must be between 0 and 7"):
        Pix2Pix.check_data(
            DataInfo(1, 16, has_targets=True, target_channels=1), Pix2PixFamilyConfig(jitter=8)
        )


def test_seed_recipe_optimizers_and_init():
    torch.manual_seed(0)
    family = Pix2Pix(
        Pix2PixFamilyConfig(), DataInfo(3, 64, has_targets=True, target_channels=3), CPU
    )
    for optimizer in family.optimizers.values():
        assert optimizer.param_groups[0]["lr"] == 2e-4
        assert optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    convs = [m.weight for m in family.modules["generator"].modules() if isinstance(m, nn.Conv2d)]
    weights = torch.cat([w.flatten() for w in convs])
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)


def test_unpaired_data_and_bad_sizes_are_refused_clearly():
    with pytest.raises(HuashiError, match="paired.*calligraphy.*target=PATH"):
        Pix2Pix.check_data(DataInfo(3, 32), Pix2PixFamilyConfig())
    with pytest.raises(HuashiError, match="power-of-two"):
        Pix2Pix.check_data(
            DataInfo(3, 48, has_targets=True, target_channels=3), Pix2PixFamilyConfig()
        )
    with pytest.raises(HuashiError, match="'batch' or 'instance'"):
        Pix2Pix.check_data(DataInfo(1, 32, has_targets=True), Pix2PixFamilyConfig(norm="layer"))
    family = Pix2Pix(TINY, DataInfo(1, 16, has_targets=True, target_channels=1), CPU)
    with pytest.raises(HuashiError, match="huashi translate"):
        family.generate([0, 1])


# --- generation ---------------------------------------------------------------------------------


def test_generation_is_per_image_and_seeded_only_with_test_dropout():
    torch.manual_seed(0)
    info = DataInfo(1, 16, has_targets=True, target_channels=1)
    x = FakePairs(n=3).images
    plain = Pix2Pix(TINY, info, CPU)
    assert torch.equal(plain.generate([0, 1, 2], inputs=x), plain.generate([7, 8, 9], inputs=x))
    torch.manual_seed(0)
    noisy = Pix2Pix(Pix2PixFamilyConfig(g_width=4, d_width=4, test_dropout=True), info, CPU)
    rng = torch.get_rng_state()
    a = noisy.generate([5, 6, 7], inputs=x)
    assert torch.equal(torch.get_rng_state(), rng)  # the training RNG is left alone
    assert torch.equal(a[1:2], noisy.generate([6], inputs=x[1:2]))  # batch-mates do not matter
    assert not torch.equal(a[0], noisy.generate([99], inputs=x[:1])[0])  # the seed does
    assert noisy.modules["generator"].training  # mode restored


def test_preview_rows_are_input_output_target():
    family = Pix2Pix(TINY, DataInfo(1, 16, has_targets=True, target_channels=1), CPU)
    data = FakePairs(n=24)
    family.use_dataset(data)
    grid = family.preview(list(range(64)))
    picked = torch.linspace(0, 23, 8).round().long()
    assert grid.shape == (24, 1, 16, 16)
    assert torch.equal(grid[0::3], data.images[picked])
    assert torch.equal(grid[2::3], data.targets[picked])
    assert torch.equal(grid[1::3], family.generate(list(range(8)), inputs=data.images[picked]))


# --- resume and the RNG -------------------------------------------------------------------------------


def make_trainer(run_dir, steps, stop_at=None):
    torch.manual_seed(0)
    family = Pix2Pix(TINY, DataInfo(1, 16, has_targets=True, target_channels=1), CPU)
    config = TrainConfig(
        steps=steps, batch_size=4, checkpoint_every=100, sample_every=3, n_fixed=4,
        precision="fp32", ema=0.9,
    )  # fmt: skip
    callbacks = [lambda t, losses: t.request_stop() if t.step == stop_at else None]
    return Trainer(family, FakePairs(), config, run_dir, callbacks, progress=False)


def test_a_resume_that_forgot_the_global_rng_would_differ(tmp_path):
    """Training dropout draws from torch's global RNG, which checkpoints keep: the exact resume
    of tests/families/test_family_contract.py depends on it (this shows the masks matter)."""
    straight = make_trainer(tmp_path / "a", 4)
    straight.run()
    forgetful = make_trainer(tmp_path / "c", 4, stop_at=2)
    forgetful.run()
    again = make_trainer(tmp_path / "c", 4)
    assert again.resume_latest() and again.step == 2
    torch.manual_seed(123)
    again.run()
    a, _ = straight.family.state_tensors()
    c, _ = again.family.state_tensors()
    assert not torch.equal(
        a["modules/generator/encoder.0.weight"], c["modules/generator/encoder.0.weight"]
    )


# --- metrics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_metrics_match_torchmetrics(value_range):
    low, high = value_range
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, 3, 24, 24, generator=g)
    y = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    scale = lambda t: t * (high - low) + low  # noqa: E731
    tm_psnr = PeakSignalNoiseRatio(data_range=1.0, reduction="none", dim=(1, 2, 3))
    tm_ssim = StructuralSimilarityIndexMeasure(data_range=1.0, reduction="none")
    torch.testing.assert_close(
        psnr(scale(x), scale(y), value_range), tm_psnr(x, y), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        ssim(scale(x), scale(y), value_range), tm_ssim(x, y), atol=1e-4, rtol=0
    )
    gray = x[:, :1], y[:, :1]
    torch.testing.assert_close(
        ssim(scale(gray[0]), scale(gray[1]), value_range), tm_ssim(*gray), atol=1e-4, rtol=0
    )


def test_metrics_closed_forms():
    x = torch.full((2, 1, 16, 16), -1.0)  # black in [-1, 1]
    y = x + 0.2  # 0.1 brighter on the [0, 1] scale: MSE 0.01
    assert l1(x, y).tolist() == pytest.approx([0.1, 0.1])
    assert psnr(x, y).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)  # 10 log10(1 / 0.01)
    assert psnr(x, x + 0.02).tolist() == pytest.approx([40.0, 40.0], abs=1e-3)
    # Constant images: no variance, so SSIM is the luminance term alone.
    a, b, c1 = 0.25, 0.75, 0.01**2
    flat = pair_metrics(torch.full((1, 1, 12, 12), a), torch.full((1, 1, 12, 12), b), (0.0, 1.0))
    assert flat["ssim"].item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-5)
    noise = torch.rand(3, 3, 20, 20) * 2 - 1
    assert ssim(noise, noise).tolist() == pytest.approx([1.0] * 3)
    torch.testing.assert_close(ssim(noise, noise.flip(0)), ssim(noise.flip(0), noise))
    assert math.isinf(psnr(noise, noise)[0].item())


# --- translate and eval-pairs through the CLI ----------------------------------------------------


def write_paired_folders(root, n=24, size=16):
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        pixels = (torch.rand(size, size, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(root / "in" / f"{i:02d}.png")
        Image.fromarray(255 - pixels).save(root / "out" / f"{i:02d}.png")  # target: negative


def test_train_translate_and_eval_pairs_end_to_end(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    write_paired_folders(tmp_path)
    run = tmp_path / "run"
    code = main([
        "train", "pix2pix", "--data", str(tmp_path / "in"), "--data-option",
        f"target={tmp_path / 'out'}", "--resolution", "16", "--out", str(run), "--steps", "3",
        "--batch-size", "4", "--g-width", "4", "--d-width", "4", "--quiet", "--no-channels-last",
    ])  # fmt: skip
    assert code == 0
    assert (run / "samples.png").exists()
    # An RGB input of another size: converted and resized, with a note.
    odd = tmp_path / "odd.jpg"
    Image.new("RGB", (40, 24), (200, 30, 90)).save(odd)
    capsys.readouterr()
    assert (
        main(
            [
                "translate",
                str(run),
                str(odd),
                str(tmp_path / "in"),
                "--out",
                str(tmp_path / "t"),
                "--seed",
                "3",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "40x24 -> 16x16" in printed and "RGB -> L" in printed and "wrote 25" in printed
    written = tmp_path / "t" / "odd.png"
    params = read_params(written)
    assert params["input"] == str(odd.resolve()) and params["seed"] == 3 and params["step"] == 3
    assert (tmp_path / "t" / "23.png").exists()  # a folder keeps its layout
    # The PNG holds exactly what the run computes for that input.
    loaded = load_run(run)
    image, _ = load_image(odd, 16, 1)
    expected = ((loaded.family.generate([3], inputs=image[None])[0, 0] + 1) * 127.5).round()
    got = torch.from_numpy(np.array(Image.open(written))).float()
    assert Image.open(written).size == (16, 16)
    assert (got - expected).abs().max() <= 1  # rounding of the last bit of the float
    # The PNG's metadata makes it again (U4).
    assert main(["regenerate", str(written), "--out", str(tmp_path / "again.png")]) == 0
    assert np.array_equal(
        np.array(Image.open(tmp_path / "again.png")), np.array(Image.open(written))
    )
    # Bad inputs: one-line errors, exit status 2.
    (tmp_path / "bad.png").write_bytes(b"not an image")
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "odd.png").write_bytes((tmp_path / "in" / "00.png").read_bytes())
    for inputs, message in [
        ([tmp_path / "missing.png"], "does not exist"),
        ([tmp_path / "bad.png"], "cannot read"),
        ([odd, tmp_path / "again"], "would both be written to odd.png"),
    ]:
        args = ["translate", str(run), *map(str, inputs), "--out", str(tmp_path / "t2")]
        assert main(args) == 2
        assert message in capsys.readouterr().err
    # eval-pairs: the saved numbers are the metrics of the run's outputs on those pairs.
    assert main(["eval-pairs", str(run), "--split", "all"]) == 0
    report = json.loads((run / "pairs_eval-all.json").read_text())
    data = huashi.data.load_dataset(
        str(tmp_path / "in"), resolution=16, split="all", target=str(tmp_path / "out")
    )
    batch = data.batch(torch.arange(len(data)))
    outputs = loaded.family.generate(list(range(len(data))), inputs=batch["image"])
    for name, values in pair_metrics(outputs, batch["target"]).items():
        assert report["model"][name] == pytest.approx(values.double().mean().item(), abs=1e-5)
    assert report["identity"]["l1"] == pytest.approx(
        l1(batch["image"], batch["target"]).mean().item(), abs=1e-5
    )
    assert report["pairs"] == 24
    # Sampling from noise makes no sense for Pix2Pix: a clear error, exit status 2.
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 2
    assert "huashi translate" in capsys.readouterr().err


def test_unpaired_folder_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    write_paired_folders(tmp_path, n=4)
    code = main(
        [
            "train",
            "pix2pix",
            "--data",
            str(tmp_path / "in"),
            "--resolution",
            "16",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ]
    )
    assert code == 2
    assert "--data-option target=PATH" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_pix2pix_beats_the_identity_on_held_out_calligraphy(tmp_path):
    """A short CPU run at 32 px: on characters never seen in training, the translated Ming
    glyphs are closer (L1) to the Kai targets than the Ming inputs themselves are."""
    result = api.train(
        tmp_path / "run", "pix2pix", "calligraphy", 32, model={"g_width": 16, "d_width": 16},
        steps=EVIDENCE_STEPS, batch_size=8, precision="fp32", progress=False, sample_every=1000,
    )  # fmt: skip
    report = result.reports["pairs_eval"]
    assert report["split"] == "test" and report["pairs"] > 100
    assert report["model"]["l1"] < report["identity"]["l1"]
    assert (
        json.loads((tmp_path / "run" / "pairs_eval.json").read_text())["model"] == report["model"]
    )
