"""ONNX export: every exportable family's file, run by onnxruntime, paints what PyTorch paints
(max abs difference <= 1e-3 in fp32) at a batch size other than the one it was exported with;
families that cannot be exported say so in one line."""

from __future__ import annotations

import json

import pytest
import torch

from huashi import api
from huashi.cli import main
from huashi.core.errors import HuashiError
from huashi.families import DataInfo, get_family
from huashi.families.base import noise_for_seeds
from huashi.families.dcgan import DCGAN
from huashi.families.dcgan import DCGANFamilyConfig as DCGANConfig
from huashi.families.gan import GAN, GANConfig
from huashi.families.pix2pix import Pix2Pix
from huashi.families.pix2pix import Pix2PixFamilyConfig as Pix2PixConfig

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from huashi.tools.export import export_family, export_graph, run_onnx  # noqa: E402

CPU = torch.device("cpu")
SEEDS = [3, 4, 5]  # exported with batch 2, run with batch 3
TOLERANCE = 1e-3
LABELLED = DataInfo(3, 16, num_classes=3, class_names=("red", "green", "blue"), has_captions=True)
TINY_GAN = {"g_width": 4, "d_width": 4, "z_dim": 8}
DIFFUSION = {
    "base_channels": 8,
    "channel_mults": [1],
    "res_blocks": 1,
    "attention_resolutions": [],
    "norm_groups": 8,
}


def unsettled(family):
    """Random BatchNorm running statistics, so the eval-mode normalization matters."""
    torch.manual_seed(1)
    for module in family.modules.values():
        for layer in module.modules():
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                layer.running_mean.normal_()
                layer.running_var.uniform_(0.5, 2.0)
    family.train(False)
    return family


def noise(family):
    """The generator's z for SEEDS, exactly as ``generate`` draws it."""
    return noise_for_seeds(SEEDS, (family.config.z_dim,), CPU)


def agree(family, path, inputs, expected):
    result = export_family(family, path)
    assert result.max_abs_diff is not None and result.max_abs_diff <= TOLERANCE
    got = run_onnx(path, inputs)
    assert got.shape == expected.shape and expected.abs().max() > 0.01
    assert (got - expected).abs().max() <= TOLERANCE
    return result


def test_dcgan(tmp_path):
    torch.manual_seed(0)
    family = unsettled(DCGAN(DCGANConfig(z_dim=8, g_width=4, d_width=4), DataInfo(3, 16), CPU))
    z = noise(family)
    result = agree(family, tmp_path / "dcgan.onnx", {"z": z}, family.generate(SEEDS))
    assert result.inputs == {"z": ["B", 8]}
    meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert meta["family"] == "dcgan" and json.loads(meta["inputs"]) == {"z": ["B", 8]}


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_gan_with_class_labels_as_an_input(tmp_path, arch):
    torch.manual_seed(0)
    family = unsettled(GAN(GANConfig(**TINY_GAN, arch=arch, condition="class"), LABELLED, CPU))
    z = noise(family)
    labels = torch.tensor([s % 3 for s in SEEDS])  # the family's default label per seed
    expected = family.generate(SEEDS)
    result = agree(family, tmp_path / "gan.onnx", {"z": z, "label": labels}, expected)
    assert result.inputs == {"z": ["B", 8], "label": ["B"]}
    other = run_onnx(result.path, {"z": z, "label": torch.tensor([1, 1, 1])})
    assert (other - family.generate(SEEDS, label=1)).abs().max() <= TOLERANCE


def test_gan_with_a_text_embedding_as_an_input(tmp_path, tiny_text_encoder):
    torch.manual_seed(0)
    config = GANConfig(**TINY_GAN, condition="text", text_encoder=tiny_text_encoder, cond_dim=8)
    family = unsettled(GAN(config, LABELLED, CPU))
    prompt = "a red circle"
    embedding = family.text_encoder.encode([prompt] * len(SEEDS)).pooled
    inputs = {"z": noise(family), "text_embedding": embedding}
    agree(family, tmp_path / "text.onnx", inputs, family.generate(SEEDS, prompt=prompt))


@pytest.mark.parametrize("name", ["ae", "vae", "kl-vae"])
def test_autoencoder_decoders(tmp_path, name):
    family_class = get_family(name)
    sizes = {"width": 8, "max_width": 16} if name == "kl-vae" else {"width": 8, "z_dim": 16}
    torch.manual_seed(0)
    family = family_class(family_class.make_config(sizes), DataInfo(3, 16), CPU)
    family.train(False)
    latent = torch.randn(len(SEEDS), *family.latent_shape)  # ae has no prior to draw from
    agree(family, tmp_path / f"{name}.onnx", {"latent": latent}, family.decode(latent))


def test_pix2pix(tmp_path):
    torch.manual_seed(0)
    info = DataInfo(1, 16, has_targets=True, target_channels=1)
    family = unsettled(Pix2Pix(Pix2PixConfig(g_width=4, d_width=4), info, CPU))
    images = torch.rand(len(SEEDS), 1, 16, 16) * 2 - 1
    expected = family.generate(SEEDS, inputs=images)
    agree(family, tmp_path / "p2p.onnx", {"source": images}, expected)


def test_families_that_cannot_be_exported_say_so_in_one_line():
    diffusion = get_family("diffusion")
    torch.manual_seed(0)
    cases = [
        diffusion(diffusion.make_config(DIFFUSION), DataInfo(3, 16), CPU),
        GAN(GANConfig(**TINY_GAN, dropout=0.1), DataInfo(3, 16), CPU),
        Pix2Pix(Pix2PixConfig(g_width=4, d_width=4, test_dropout=True), DataInfo(1, 16), CPU),
    ]
    for family, words in zip(cases, ["diffusion", "--dropout", "--test-dropout"], strict=True):
        with pytest.raises(HuashiError) as error:
            export_graph(family)
        message = str(error.value)
        assert "cannot be exported" in message and words in message and "\n" not in message


def test_cli_exports_a_trained_run(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--data", "shapes", "--data-option", "n=16", "--resolution", "16", "--quiet"]
    tiny += ["--g-width", "4", "--d-width", "4", "--batch-size", "8", "--steps", "2"]
    assert main(["train", "dcgan", *tiny, "--out", str(run)]) == 0
    out = tmp_path / "painter.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "onnxruntime agrees with PyTorch" in printed and out.is_file()
    from huashi.api import load_run

    family = load_run(run, device="cpu").family  # EMA-free run: the live generator
    z = noise(family)
    assert (run_onnx(out, {"z": z}) - family.generate(SEEDS)).abs().max() <= TOLERANCE
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["step"] == "2"
    assert main(["export", str(run), "--format", "tflite", "--out", str(out)]) == 2
    assert "unknown export format 'tflite'" in capsys.readouterr().err
    assert main(["export", str(run), "--out", str(tmp_path / "q.onnx"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "") and (tmp_path / "q.onnx").is_file()


def test_export_reports_each_stage(tmp_path):
    run = tmp_path / "run"
    tiny = ["--data", "shapes", "--data-option", "n=16", "--resolution", "16", "--quiet"]
    tiny += ["--g-width", "4", "--d-width", "4", "--batch-size", "8", "--steps", "1"]
    assert main(["train", "dcgan", *tiny, "--out", str(run)]) == 0
    calls = []
    for check, stages in ((True, 4), (False, 3)):  # loading, tracing, writing (, onnxruntime)
        calls.clear()
        api.export(run, tmp_path / "p.onnx", check=check, progress=lambda *c: calls.append(c))
        assert [c[:2] for c in calls] == [(i, stages) for i in range(stages + 1)]
        assert calls[0][2] == f"loading {run}" and ("onnxruntime" in calls[-2][2]) == check


@pytest.fixture(scope="module")
def stylegan_file(tmp_path_factory):
    family_class = get_family("stylegan")
    config = family_class.make_config(
        {"z_dim": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 64, "channel_max": 16}
    )
    torch.manual_seed(0)
    family = family_class(config, DataInfo(3, 16), CPU)
    family.train(False)
    result = export_family(family, tmp_path_factory.mktemp("stylegan") / "stylegan.onnx")
    assert result.inputs == {"z": ["B", 16], "truncation": [1]}
    return family, result.path


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_stylegan_runs_at_any_batch_size(stylegan_file, batch):
    """The file declares a free batch axis and keeps to it (it once ran only at batch 2), and
    paints what ``generate`` paints, truncation included."""
    family, path = stylegan_file
    seeds = list(range(10, 10 + batch))
    z = noise_for_seeds(seeds, family.latent_shape, CPU)
    for truncation in (1.0, 0.5):
        got = run_onnx(path, {"z": z, "truncation": torch.tensor([truncation])})
        expected = family.generate(seeds, truncation=truncation)
        assert got.shape == expected.shape and expected.abs().max() > 0.01
        assert (got - expected).abs().max() <= TOLERANCE


@pytest.mark.parametrize("synthesis_input", ["const", "fourier"])
def test_stylegan_through_the_mapping_network_route(tmp_path, synthesis_input):
    from huashi.families.stylegan import StyleGAN, StyleGANConfig

    torch.manual_seed(0)
    tiny = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8}
    config = StyleGANConfig(**tiny, input=synthesis_input)
    family = StyleGAN(config, DataInfo(3, 16), CPU)
    family.train(False)
    with torch.no_grad():
        family.w_avg.copy_(torch.randn_like(family.w_avg))  # truncation toward it matters
        expected = family.generate(SEEDS, truncation=0.7, noise_mode="const")
    z = noise_for_seeds(SEEDS, family.latent_shape, CPU)
    result = agree(
        family, tmp_path / "sg.onnx", {"z": z, "truncation": torch.tensor([0.7])}, expected
    )
    assert set(result.inputs) == {"z", "truncation"}


def test_a_zoo_run_is_recorded_by_its_name_a_folder_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "zoo:emoji-gan", "--out", "zoo.onnx", "--no-check"]) == 0
    meta = {p.key: p.value for p in onnx.load("zoo.onnx").metadata_props}
    assert meta["run"] == "zoo:emoji-gan"  # not <cwd>/zoo:emoji-gan
