"""Latent editing on a tiny StyleGAN: style mixing layer by layer, SeFa against an SVD, label
directions against class means, strength sweeps and walks."""

import pytest
import torch

from huashi.core.errors import HuashiError
from huashi.families import DataInfo
from huashi.families.base import noise_for_seeds
from huashi.families.stylegan import StyleGAN, StyleGANConfig
from huashi.gan.editing import (
    direction,
    mix,
    mixing_grid,
    parse_layers,
    parse_strengths,
    sefa_directions,
    style_weights,
    sweep,
    walk,
)
from huashi.gan.latents import render

CPU = torch.device("cpu")
TINY = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8}
LABELLED = DataInfo(3, 16, num_classes=3, class_names=("red", "green", "blue"))


@pytest.fixture(scope="module")
def sg():
    torch.manual_seed(0)
    return StyleGAN(StyleGANConfig(**TINY), DataInfo(3, 16), CPU)


def test_layer_and_strength_syntax():
    assert parse_layers("0-3", 6) == [0, 1, 2, 3]
    assert parse_layers("4-", 6) == [4, 5] and parse_layers("0,2,5", 6) == [0, 2, 5]
    with pytest.raises(HuashiError, match="layers must be in 0-5"):
        parse_layers("3-9", 6)
    assert parse_strengths("-3..3") == pytest.approx([-3, -2, -1, 0, 1, 2, 3])
    assert parse_strengths("-1..1:3") == pytest.approx([-1, 0, 1])
    assert parse_strengths("1,2.5") == [1.0, 2.5]
    with pytest.raises(HuashiError, match="bad --strength"):
        parse_strengths("lots")


def test_style_mixing_feeds_w_a_before_the_crossover_and_w_b_after(sg):
    synthesis = sg.sampling_module("generator").synthesis
    seen: dict[int, torch.Tensor] = {}
    # which w each style affine reads: conv 0 -> 0, toRGB k -> 2k + 1, conv k -> k
    modules = {i: c.conv.affine for i, c in enumerate(synthesis.convs)}
    hooks = [
        m.register_forward_hook(lambda m, a, o, i=i: seen.__setitem__(i, a[0]))
        for i, m in modules.items()
    ]
    rgb_seen: dict[int, torch.Tensor] = {}
    hooks += [
        r.conv.affine.register_forward_hook(
            lambda m, a, o, k=k: rgb_seen.__setitem__(2 * k + 1, a[0])
        )
        for k, r in enumerate(synthesis.to_rgbs)
    ]
    w = sg.map_latents(sg.latents_for_seeds([1, 2]))
    ws_a, ws_b = sg.broadcast(w[:1]), sg.broadcast(w[1:])
    crossover = 3
    sg.synthesize(mix(ws_a, ws_b, range(crossover, sg.num_ws)))
    for h in hooks:
        h.remove()
    for layer, value in list(seen.items()) + list(rgb_seen.items()):
        expected = w[0] if layer < crossover else w[1]
        torch.testing.assert_close(value[0], expected, msg=f"layer {layer}")


def test_mixing_grid_cells_are_row_seed_with_column_layers(sg):
    grid = mixing_grid(sg, [3, 11], "0-3")
    assert grid.shape == (9, 3, 16, 16)
    w = sg.broadcast(sg.map_latents(sg.latents_for_seeds([3, 11])))
    torch.testing.assert_close(grid[1:3], sg.synthesize(w))  # the top row: the seeds
    expected = sg.synthesize(mix(w[:1], w[1:], [0, 1, 2, 3]))  # row 3, column 11
    torch.testing.assert_close(grid[5], expected[0])
    torch.testing.assert_close(grid[4], grid[1])  # a seed mixed with itself is itself


def test_sefa_directions_are_the_top_singular_vectors(sg):
    a = style_weights(sg).double()
    directions = sefa_directions(sg).double()
    torch.testing.assert_close(
        directions @ directions.T, torch.eye(8, dtype=torch.double), atol=1e-5, rtol=0
    )
    gains = (a @ directions.T).norm(dim=0)
    top = torch.linalg.svdvals(a)
    torch.testing.assert_close(gains, top[: len(gains)], rtol=1e-4, atol=1e-6)


def test_sefa_strength_is_one_standard_deviation_of_w(sg):
    d = direction(sg, "sefa:0")
    unit = sefa_directions(sg, 0)[0]
    w = sg.map_latents(noise_for_seeds(range(256), (8,), CPU))
    torch.testing.assert_close(d.norm(), (w @ unit).std(), rtol=1e-4, atol=1e-6)


def test_label_directions_are_differences_of_class_means():
    torch.manual_seed(0)
    sg = StyleGAN(StyleGANConfig(**TINY, condition="class"), LABELLED, CPU)
    d = direction(sg, "label:red-label:blue")
    z = noise_for_seeds(range(256), (8,), CPU)
    expected = sg.map_latents(z, label="red").mean(0) - sg.map_latents(z, label="blue").mean(0)
    torch.testing.assert_close(d, expected)
    with pytest.raises(HuashiError, match="class-conditional"):
        direction(StyleGAN(StyleGANConfig(**TINY), DataInfo(3, 16), CPU), "label:red")
    with pytest.raises(HuashiError, match="unknown direction"):
        direction(sg, "hue:3")


def test_sweep_moves_only_the_chosen_layers(sg):
    ws = sg.broadcast(sg.map_latents(sg.latents_for_seeds([5])))
    d = direction(sg, "sefa:1")
    images = sweep(sg, ws, d, [0.0, 2.0], layers="0-1")
    torch.testing.assert_close(images[0], sg.synthesize(ws)[0])  # strength 0: unchanged
    moved = ws.clone()
    moved[:, :2] += 2.0 * d
    torch.testing.assert_close(images[1], sg.synthesize(moved)[0])


def test_walks_start_and_end_at_their_latents(sg):
    za, zb = sg.latents_for_seeds([1, 2])
    images = walk(sg, za, zb, "z", steps=5)
    torch.testing.assert_close(images[0], render(sg, za[None], "z")[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(images[-1], render(sg, zb[None], "z")[0], rtol=1e-4, atol=1e-4)
    wa, wb = sg.map_latents(torch.stack([za, zb]))
    middle = walk(sg, wa, wb, "w", steps=3)[1]
    torch.testing.assert_close(
        middle, render(sg, ((wa + wb) / 2)[None], "w")[0], rtol=1e-4, atol=1e-4
    )


def test_clip_directions_default_to_the_zoo_clip_of_the_run_dataset(tmp_path):
    """Without --clip, an emoji run's clip: direction uses zoo:reference-emoji (a clip run)."""
    from huashi import api
    from huashi.core.images import read_params
    from huashi.gan.latents import Latent, save_latent

    tiny = {"z_dim": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 64, "channel_max": 16}
    run = tmp_path / "sg"
    api.train(run, "stylegan", "emoji", 16, model=tiny, steps=1, batch_size=4, progress=False)
    loaded = api.load_run(run)
    latent = tmp_path / "z.safetensors"
    z = loaded.family.latents_for_seeds([0])
    save_latent(latent, Latent(z, "z", str(run), loaded.checkpoint.name, {}, {}))
    out = api.edit(run, latent, tmp_path / "e.png", "clip:a red heart-clip:a heart", "-1..1")
    assert read_params(out)["clip"] == "zoo:reference-emoji"
