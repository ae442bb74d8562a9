"""CLIP-gradient edit directions: the mean gradient in w of a clip run's image-text similarity.

A tiny fixed StyleGAN paints 16 px images; a tiny clip run trained briefly on shapes scores them
against a caption. Moving fresh samples (not the ones the direction was averaged over) along the
direction must raise their similarity to the caption, and moving them against it must lower it."""

import pytest
import torch
from metrics_helpers import trained_clip

from huashi.core.errors import HuashiError
from huashi.families import DataInfo
from huashi.families.base import noise_for_seeds
from huashi.families.stylegan import StyleGAN, StyleGANConfig
from huashi.gan.editing import clip_direction, direction
from huashi.metrics.features import load_features

CPU = torch.device("cpu")
TEXT = "a red circle"


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    sg = StyleGAN(
        StyleGANConfig(z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8),
        DataInfo(3, 16),
        CPU,
    )
    return sg, load_features(f"clip:{trained_clip()}")


def similarity(sg, net, w: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        images = sg.synthesize(sg.broadcast(w)).clamp(-1, 1)
        return net.image_embeddings(images) @ net.text_embeddings([TEXT]).T


def test_moving_along_the_clip_direction_raises_the_similarity(setup):
    sg, net = setup
    d = direction(sg, f"clip:{TEXT}", net)
    unit = clip_direction(sg, net, TEXT)
    assert d.shape == (8,) and unit.norm().item() == pytest.approx(1, 1e-5)
    torch.testing.assert_close(d / d.norm(), unit)  # the term is the unit direction, scaled
    fresh = sg.map_latents(noise_for_seeds(range(5000, 5032), (8,), CPU)).detach()
    scores = [similarity(sg, net, fresh + s * d).mean().item() for s in (-0.5, 0.0, 0.5)]
    assert scores[0] < scores[1] < scores[2], scores
    # a first-order check: the rise matches the mean gradient's length along the unit direction
    small = 1e-2
    rise = similarity(sg, net, fresh + small * unit) - similarity(sg, net, fresh - small * unit)
    w = fresh.clone().requires_grad_(True)
    images = sg.synthesize(sg.broadcast(w)).clamp(-1, 1)
    sim = net.embed_images(net.prepare(images)) @ net.text_embeddings([TEXT]).T
    (grad,) = torch.autograd.grad(sim.sum(), [w])
    expected = (grad @ unit).mean().item()
    assert rise.mean().item() / (2 * small) == pytest.approx(expected, rel=0.05)


def test_contrasting_a_neutral_prompt_is_the_difference_of_terms(setup):
    sg, net = setup
    both = direction(sg, f"clip:{TEXT}-clip:a blue square", net)
    torch.testing.assert_close(
        both, direction(sg, f"clip:{TEXT}", net) - direction(sg, "clip:a blue square", net)
    )


def test_clip_terms_need_a_clip_network(setup):
    sg, net = setup
    with pytest.raises(HuashiError, match="pass --clip RUN"):
        direction(sg, "clip:a smiling face")
    with pytest.raises(HuashiError, match="takes a text"):
        direction(sg, "clip:", net)
