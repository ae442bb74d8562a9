"""The gan family's projected discriminator (``--projected RUN``): trainable heads on a frozen
feature network that gets no gradient and no optimizer state, one step on tiny data, and a run
that saves and loads with its frozen network."""

import pytest
import torch
from gan_fakes import Squares
from safetensors.torch import load_file

import huashi.data
from huashi import api
from huashi.core.errors import HuashiError
from huashi.families import DataInfo, StepContext, get_family
from huashi.families.classifier import ClassifierFamily, ClassifierFamilyConfig
from huashi.families.gan import GAN, GANConfig
from huashi.models.features.encoder import ConvEncoder
from huashi.models.gan.projected import ProjectedDiscriminator
from huashi.runs import load_run

CPU = torch.device("cpu")
LABELLED = DataInfo(3, 16, num_classes=3, class_names=("red", "green", "blue"))
TINY = {"g_width": 4, "d_width": 4, "z_dim": 8}


def features(resolution: int = 16) -> ClassifierFamily:
    torch.manual_seed(1)
    data = DataInfo(3, resolution, num_classes=3, class_names=("red", "green", "blue"))
    return ClassifierFamily(ClassifierFamilyConfig(width=8), data, CPU)


def test_heads_read_three_scales_and_the_frozen_network_passes_gradients_only_through():
    encoder = ConvEncoder(3, 16, width=8)
    D = ProjectedDiscriminator(encoder, 3, 16, width=4, norm="none")
    assert D.taps == [0, 2, 4]  # the blocks that end 16x16, 8x8 and 4x4
    assert [m.shape[-1] for m in D.feature_maps(torch.zeros(2, 3, 16, 16))] == [16, 8, 4]
    images = torch.randn(5, 3, 16, 16, requires_grad=True)
    logits = D(images)
    assert logits.shape == (5,)
    logits.sum().backward()
    assert all(p.grad is None and not p.requires_grad for p in D.features.parameters())
    assert all(p.grad is not None for p in D.heads.parameters())
    assert images.grad.abs().sum() > 0  # what G learns from
    # a copy: training the projected D never touches the encoder it was built from
    assert D.features is not encoder and all(p.requires_grad for p in encoder.parameters())


def test_more_scales_add_the_larger_maps_and_too_many_is_a_clear_error():
    encoder = ConvEncoder(3, 32, width=8)
    D = ProjectedDiscriminator(encoder, 3, 32, width=4, norm="none", scales=4)
    assert [m.shape[-1] for m in D.feature_maps(torch.zeros(1, 3, 32, 32))] == [32, 16, 8, 4]
    assert len(D.heads) == 4 and D(torch.zeros(2, 3, 32, 32)).shape == (2,)
    with pytest.raises(HuashiError, match="--projected-scales must be 1 to 3"):
        ProjectedDiscriminator(ConvEncoder(3, 16, width=8), 3, 16, scales=4)


def test_one_step_trains_the_heads_and_g_but_not_the_frozen_network():
    net = features()
    gan = GAN(GANConfig(**TINY, projected="run", diffaugment="translation"), LABELLED, CPU, net)
    D, G = gan.modules["discriminator"], gan.modules["generator"]
    in_optimizer = {id(p) for group in gan.optimizers["discriminator"].param_groups
                    for p in group["params"]}  # fmt: skip
    assert not in_optimizer & {id(p) for p in D.features.parameters()}
    assert in_optimizer == {id(p) for p in D.heads.parameters()}
    frozen = {k: v.clone() for k, v in D.features.state_dict().items()}
    heads, g = [p.clone() for p in D.heads.parameters()], [p.clone() for p in G.parameters()]
    batch = {"image": Squares(n=8).images.float() / 127.5 - 1}
    logged = gan.train_step(batch, StepContext(0, CPU, "fp32", 1, torch.Generator().manual_seed(0)))
    assert torch.isfinite(torch.tensor([logged["d_loss"], logged["g_loss"]])).all()
    for name, value in D.features.state_dict().items():
        torch.testing.assert_close(value, frozen[name], rtol=0, atol=0)
        torch.testing.assert_close(value, net.feature_module().encoder.state_dict()[name])
    assert all(p.grad is None for p in D.features.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(heads, D.heads.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(g, G.parameters(), strict=True))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"projected": "zoo:reference-emoji"}, "would game the score"),
        ({"projected": "run", "condition": "class"}, "unconditional D of its own"),
        ({"projected": "run", "arch": "fastgan"}, "unconditional D of its own"),
    ],
)
def test_projected_options_that_cannot_work_are_clear_errors(options, message):
    with pytest.raises(HuashiError, match=message):
        get_family("gan").make_config(TINY | options)


def test_a_feature_network_of_another_size_is_a_clear_error():
    with pytest.raises(HuashiError, match="trained on 32 px images"):
        GAN(GANConfig(**TINY, projected="run"), LABELLED, CPU, features(32))


def test_a_projected_run_saves_and_loads_with_its_frozen_network(tmp_path, monkeypatch):
    monkeypatch.setattr(huashi.data, "load_dataset", lambda spec, resolution=16, **o: Squares())
    quick = dict(progress=False, batch_size=8, precision="fp32", channels_last=False,
                 sample_every=10**6, checkpoint_every=10**6, n_fixed=4, log_every=1)  # fmt: skip
    classifier = tmp_path / "features"
    api.train(classifier, "classifier", "squares", 16, steps=3, model={"width": 8}, **quick)
    gan_dir = tmp_path / "gan"
    api.train(gan_dir, "gan", "squares", 16, steps=2, **quick,
              model=TINY | {"projected": str(classifier), "diffaugment": "translation"})  # fmt: skip
    loaded = load_run(gan_dir, device="cpu")
    assert loaded.family.config.projected == str(classifier.resolve())
    encoder = load_run(classifier, device="cpu").family.feature_module().encoder
    weights = load_file(loaded.checkpoint.with_suffix(".safetensors"))
    saved = {k.split("modules/discriminator/features.")[1]: v for k, v in weights.items()
             if k.startswith("modules/discriminator/features.")}  # fmt: skip
    assert saved.keys() == encoder.state_dict().keys()
    for name, value in encoder.state_dict().items():
        torch.testing.assert_close(saved[name], value, rtol=0, atol=0)
    again = load_run(gan_dir, device="cpu").family
    loaded.family.train(False), again.train(False)
    torch.testing.assert_close(again.generate([3, 4]), loaded.family.generate([3, 4]))
