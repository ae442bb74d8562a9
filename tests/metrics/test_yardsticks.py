"""The yardsticks (M6): the validation ladder, FID as a multiple of its floor, the texture view,
the copy check, and how ``huashi eval`` shows them."""

from __future__ import annotations

import pytest
import torch
from metrics_helpers import tiny_dcgan, trained_classifier

from huashi import api, zoo
from huashi.cli import main
from huashi.core.zoo_folders import zoo_entry
from huashi.metrics import ladder
from huashi.metrics import real as real_module
from huashi.metrics.copy_check import copy_check, nearest_neighbours
from huashi.metrics.evaluate import evaluate
from huashi.metrics.floor import floor_multiple, format_fid, format_multiple, real_halves
from huashi.models.features.texture import GRADIENT_EDGES, gradient_histograms


@pytest.fixture(autouse=True)
def reference_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(real_module, "reference_dir", lambda: tmp_path / "reference")


def images(n: int = 40, seed: int = 0) -> torch.Tensor:
    """Random 'drawings': smooth colour fields with a sharp square, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=16,
                                        mode="bilinear") * 2 - 1  # fmt: skip
    for i in range(n):
        r, c = torch.randint(0, 10, (2,), generator=g).tolist()
        x[i, :, r : r + 6, c : c + 6] = -1
    return x


# --- the damages ---------------------------------------------------------------------------


def test_patch_shuffle_moves_whole_patches_and_keeps_every_pixel() -> None:
    x = images(4)
    shuffled = ladder.patch_shuffle(x, 4, seed=1)
    assert not torch.equal(shuffled, x)
    patches = x.unfold(2, 4, 4).unfold(3, 4, 4).reshape(4, 3, 16, 4, 4).permute(0, 2, 1, 3, 4)
    moved = shuffled.unfold(2, 4, 4).unfold(3, 4, 4).reshape(4, 3, 16, 4, 4).permute(0, 2, 1, 3, 4)
    for i in range(4):  # the same 16 patches, each intact, in another order
        key = lambda p: tuple(p.flatten().tolist())  # noqa: E731
        assert sorted(map(key, patches[i])) == sorted(map(key, moved[i]))


def test_blur_noise_jpeg_and_colour_shift_damage_more_with_strength() -> None:
    x = images(8)

    def distance(y: torch.Tensor) -> float:
        return float((y - x).abs().mean())

    for damage, strengths in (
        (ladder.blur, ladder.BLUR_SIGMAS), (ladder.add_noise, ladder.NOISE_STDS),
        (ladder.jpeg, ladder.JPEG_QUALITIES), (ladder.colour_shift, ladder.HUE_TURNS),
    ):  # fmt: skip
        distances = [distance(damage(x, s)) for s in strengths]
        assert distances == sorted(distances) and distances[0] > 0, damage.__name__
    assert torch.allclose(ladder.blur(x, 1.0).mean((2, 3)), x.mean((2, 3)), atol=0.05)
    grey = x[:, :1]
    assert torch.equal(ladder.colour_shift(grey, 0.25), (grey + 0.25).clamp(-1, 1))


def test_keeping_modes_keeps_only_the_chosen_modes_at_the_same_count() -> None:
    x = images(40)
    modes = torch.arange(40) % 10
    kept = ladder.keep_modes(x, modes, 0.1, seed=3)
    assert kept.shape == x.shape
    sources = [int(torch.nonzero((x == k).flatten(1).all(1))[0]) for k in kept]
    assert len({int(modes[s]) for s in sources}) == 1  # one mode of ten
    clusters = ladder.pixel_clusters(x, k=4, seed=0)
    assert torch.equal(clusters, ladder.pixel_clusters(x, k=4, seed=0))
    assert set(clusters.tolist()) <= {0, 1, 2, 3}


# --- floor multiples -------------------------------------------------------------------------


def test_floor_multiple_is_about_one_for_real_like_samples_and_large_for_shifted_ones() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(2000, 8, generator=g)
    a, b = real_halves(len(real), seed=0)
    assert set(a.tolist()).isdisjoint(b.tolist()) and len(a) == len(b) == 1000
    same = floor_multiple(real[a], real[b], torch.randn(1000, 8, generator=g))
    assert 0.5 < same.multiple < 2.0 and same.n == 1000
    shifted = floor_multiple(real[a], real[b], torch.randn(1000, 8, generator=g) + 0.5)
    assert shifted.multiple > 10
    few = floor_multiple(real[a], real[b], torch.randn(300, 8, generator=g))
    assert few.n == 300  # compared at equal n: 300 generated against 300 of half B


def test_fid_is_written_as_a_multiple_of_its_floor() -> None:
    assert format_fid(0.29, 1.6, 1000, "zoo:reference-emoji") == (
        "FID 0.29 = 1.6× floor (n 1,000, zoo:reference-emoji)"
    )
    assert [format_multiple(m) for m in (0.93, 1.24, 15.4, 210.0)] == [
        "0.93×", "1.2×", "15×", "210×"]  # fmt: skip


# --- the texture view ------------------------------------------------------------------------


def test_gradient_histograms_see_blur_and_noise() -> None:
    x = images(6)
    h = gradient_histograms(x)
    bins = len(GRADIENT_EDGES) - 1
    assert h.shape == (6, 3 * 3 * bins)
    assert torch.allclose(h.reshape(6, 9, bins).sum(2), torch.ones(6, 9))  # shares of pixels
    crisp = GRADIENT_EDGES.index(0.64)  # the bins of crisp edges, 0.64 and up
    top = lambda y: gradient_histograms(y)[:, crisp:bins].sum(1)  # noqa: E731
    assert (top(ladder.blur(x, 1.0)) < top(x)).all()
    flat = gradient_histograms(x)[:, 0]
    assert (gradient_histograms(ladder.add_noise(x, 0.1))[:, 0] < flat).all()


@pytest.mark.parametrize("spec", ["texture:zoo:reference-emoji",
                                  "texture:zoo:reference-emoji-exemplar"])  # fmt: skip
def test_the_shipped_emoji_views_pass_their_validation_ladder(spec: str) -> None:
    """The default yardstick for emoji, the clip's texture view, and the second network's (an
    exemplar classifier): every ladder rises, blur sigma 1 px reads >= 5x and a tenth of the
    modes >= 3x the floor (the full reports are in docs/metrics.md)."""
    report = api.validate_features(spec)
    assert report.n == 564
    failed = [name for name, ok in report.checks.items() if not ok]
    assert not failed, report.markdown()


def test_the_mnist_texture_view_reads_a_worse_jpeg_as_farther() -> None:
    """Gradients below 5 grey levels share one bin: with finer bins the faint ringing of a
    quality-50 JPEG read farther from real mnist than quality 5's blocks (the ladder failed)."""
    from huashi.data import load_dataset
    from huashi.metrics.features import load_features
    from huashi.metrics.fid import fid

    features = load_features("texture:zoo:reference-mnist", "cpu").features
    real = load_dataset("mnist", resolution=32).batch(torch.arange(1200))["image"]
    a, b = features(real[:600]), real[600:]
    readings = [fid(a, features(ladder.jpeg(b, q))) for q in ladder.JPEG_QUALITIES]
    assert readings == sorted(readings), readings  # quality 50, 20, 5: ever farther
    assert readings[0] > fid(a, features(b))  # and even the mildest farther than real


def test_real_features_of_another_view_version_are_not_taken_from_the_cache() -> None:
    """A changed view (its features' length changed with the gradient bins) must not read the
    real features cached by the old one: eval crashed on 282 vs 264 features."""
    import dataclasses

    from huashi.metrics.features import load_features
    from huashi.metrics.real import real_features

    now = load_features("texture:zoo:reference-emoji", "cpu")
    assert now.version.startswith("texture-") and now.describe()["version"] == now.version
    old = dataclasses.replace(
        now, version="texture-1", extract=lambda x: (x.flatten(1)[:, :5], None)
    )
    x = images(4)
    described = {"test": "real features per view version"}
    assert real_features(old, x, described)[0].shape == (4, 5)
    feats, cache = real_features(now, x, described)
    assert cache == "miss" and feats.shape[1] > 5


# --- the copy check --------------------------------------------------------------------------


def test_nearest_neighbours_leave_each_image_out_when_asked() -> None:
    x = torch.tensor([[0.0], [1.0], [3.0]])
    d, i = nearest_neighbours(x, x)
    assert d.tolist() == [0, 0, 0]
    d, i = nearest_neighbours(x, x, skip=torch.arange(3), chunk=2)
    assert d.tolist() == [1, 1, 2] and i.tolist() == [1, 0, 1]


def test_copy_check_flags_a_copier_and_not_noise_or_new_drawings() -> None:
    training = images(300, seed=0)
    copier = copy_check(training[torch.randperm(300)[:100]], training, "pixels")
    assert copier.share_below_median == 1.0 and copier.flagged
    noise = copy_check(torch.rand(100, 3, 16, 16) * 2 - 1, training, "pixels")
    assert noise.share_below_median == 0.0 and not noise.flagged
    new = copy_check(images(100, seed=1), training, "pixels")  # the same kind, never seen
    assert 0.25 < new.share_below_median < 0.75 and not new.flagged


# --- huashi eval -----------------------------------------------------------------------------


def test_eval_reports_floor_multiples_under_each_view_and_the_copy_check(tmp_path, capsys):
    cls, run = trained_classifier(), tiny_dcgan()
    record = evaluate(run, f"classifier:{cls}", n=160, kid_subsets=5,
                      also=[f"texture:classifier:{cls}"])  # fmt: skip
    views = record["yardsticks"]["views"]
    assert [v["network"] for v in views] == [f"classifier:{cls}", f"texture:classifier:{cls}"]
    for view in views:  # a 2-step DCGAN paints noise: far above the real-vs-real floor
        assert view["n"] == 160 and view["floor"] > 0 and view["multiple"] > 3
    check = record["yardsticks"]["copy_check"]
    assert check["training_images"] == 4500 and not check["flagged"]
    assert check["pixels"]["share_below_real_median"] < 0.5
    picture = run / f"eval-classifier-{cls.name}-160-copies.png"
    assert check["picture"] == str(picture) and picture.exists()
    assert main(["eval", str(run), "--features", f"classifier:{cls}", "--n", "100",
                 "--kid-subsets", "5"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "× floor (n 100, classifier:" in printed and "no sign of copying" in printed


def test_eval_validate_prints_the_ladder_and_fails_a_network_that_misses_a_requirement(
    tmp_path, capsys
) -> None:  # fmt: skip
    cls = trained_classifier()
    out = tmp_path / "ladder.json"
    code = main(["eval", "--validate", f"classifier:{cls}", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| Gaussian blur | sigma 0.5 px |" in printed and "floor FID" in printed
    report = api.validate_features(f"classifier:{cls}")
    assert code == (0 if report.passed else 1) and out.exists()


def test_a_zoo_cards_fid_reads_as_its_floor_multiple_or_labelled_raw() -> None:
    card = {"fid": 0.218, "n": 1000, "features": "zoo:reference-emoji"}
    assert api.card_fid(card) == "raw FID 0.218, no floor (n 1,000, zoo:reference-emoji)"
    measured = card | {"fid_floor_multiple": 3.6, "fid_floor_n": 564,
                       "fid_floor_features": "texture:zoo:reference-emoji"}  # fmt: skip
    assert api.card_fid(measured) == format_fid(0.218, 3.6, 564, "texture:zoo:reference-emoji")
    own = measured | {"fid_floor_fid": 0.477}  # the FID under the floor's own view and n
    assert api.card_fid(own) == format_fid(0.477, 3.6, 564, "texture:zoo:reference-emoji")
    shipped = api.card_fid(zoo_entry(zoo.resolve("zoo:emoji-gan")).scores)
    assert shipped.startswith("FID 0.477 = 3.6× floor (n 564, texture:zoo:reference-emoji)")
    assert api.card_fid({"psnr": 27.4}) is None  # no FID: nothing to say
    why = card | {"fid_floor_note": "too few held-out pairs"}  # a card says why it has no floor
    assert api.card_fid(why) == api.card_fid(card) + ": too few held-out pairs"


def test_huashi_zoo_lists_each_cards_fid_as_a_person_reads_it(capsys) -> None:
    assert main(["zoo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    scores = {lines[i].split()[0]: lines[i + 1] for i in range(len(lines) - 1)
              if lines[i].startswith("zoo:")}  # fmt: skip
    # the FID first, as its floor multiple; the card's raw floor keys are not repeated after it
    assert scores["zoo:emoji-gan"].strip().startswith("FID 0.477 = 3.6× floor (n 564, texture:")
    assert "fid_floor" not in scores["zoo:emoji-gan"]
    # a card without a floor says why, and what to judge the painter by instead
    assert "raw FID 1.07, no floor (n 193" in scores["zoo:calligraphy"]
    assert "judge it by held-out L1" in scores["zoo:calligraphy"]
