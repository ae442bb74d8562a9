"""The yardsticks beside every score (M6): FID as a multiple of its real-vs-real floor under
each view (feature network), and the copy check against the training images.

:func:`huashi.metrics.evaluate.evaluate` calls :func:`measure` with the generated images; the pure
statistics live in :mod:`huashi.metrics.floor` and :mod:`huashi.metrics.copy_check`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from huashi.metrics.copy_check import CopyCheck, closest_pairs, copy_check
from huashi.metrics.features import FeatureNet
from huashi.metrics.floor import floor_multiple, format_fid, format_multiple, real_halves

#: ``encode(net, images, description)``: features of real images, cached by description.
Encode = Callable[[FeatureNet, torch.Tensor, dict], torch.Tensor]

DISAGREEMENT = 2.0  # views whose floor multiples differ by more than this are a finding


def floor_view(
    net: FeatureNet, fake: torch.Tensor, real: torch.Tensor, described: dict, seed: int,
    encode: Encode,
) -> dict[str, Any]:  # fmt: skip
    """FID of ``fake`` against half A of ``real`` and its floor (half B against half A) at
    equal n, under ``net``; a note instead when the halves are too small for FID."""
    feats = encode(net, real, described)
    half_a, half_b = real_halves(len(feats), seed)
    k = min(len(fake), len(half_b))
    dim = feats.shape[1]
    if k <= dim:
        return {"network": net.spec, "note": f"the real split's halves ({len(half_b)}) "
                f"or the samples ({len(fake)}) are too few for {dim}-dim features"}  # fmt: skip
    result = floor_multiple(feats[half_a], feats[half_b], net.features(fake[:k]))
    return {"network": net.spec, "kind": net.kind} | result.to_dict()


def describe_floor(view: dict[str, Any]) -> str:
    """``FID 0.29 = 1.6× floor (n 564, zoo:reference-emoji)``, or the view's note."""
    if "multiple" not in view:
        return f"{view['network']}: no floor: {view['note']}"
    return format_fid(view["fid"], view["multiple"], view["n"], view["network"])


def base_network(spec: str) -> str:
    """The network under a view: ``zoo:reference-emoji`` for ``texture:zoo:reference-emoji``;
    an ensemble's first network (``ensemble:zoo:a+zoo:b`` -> ``zoo:a``)."""
    if spec.startswith("ensemble:"):
        return spec.removeprefix("ensemble:").split("+")[0]
    return spec.removeprefix("texture:")


def disagreement(views: list[dict[str, Any]]) -> str | None:
    """A sentence when two views of the first view's network differ by more than
    ``DISAGREEMENT``x in floor multiples."""
    first = base_network(views[0]["network"]) if views else None
    measured = [v for v in views if "multiple" in v and base_network(v["network"]) == first]
    if len(measured) < 2:
        return None
    low = min(measured, key=lambda v: v["multiple"])
    high = max(measured, key=lambda v: v["multiple"])
    return _differ(high, low, "the views disagree", "what each view sees")


def networks_disagreement(views: list[dict[str, Any]]) -> str | None:
    """A sentence when the first measured view of another network differs from the first
    measured view of the first network by more than ``DISAGREEMENT``x in floor multiples."""
    firsts: dict[str, dict[str, Any]] = {}
    for view in views:
        if "multiple" in view:
            firsts.setdefault(base_network(view["network"]), view)
    if len(firsts) < 2:
        return None
    first, *others = firsts.values()
    for other in others:
        high, low = max(first, other, key=_multiple), min(first, other, key=_multiple)
        found = _differ(high, low, "the networks disagree", "two networks")
        if found:
            return found
    return None


def _multiple(view: dict[str, Any]) -> float:
    return view["multiple"]


def _differ(high: dict[str, Any], low: dict[str, Any], what: str, section: str) -> str | None:
    if high["multiple"] <= DISAGREEMENT * low["multiple"]:
        return None
    return (f"{what}: {format_multiple(high['multiple'])} the floor under {high['network']} "
            f"but {format_multiple(low['multiple'])} under {low['network']} (docs/metrics.md: "
            f"{section})")  # fmt: skip


def copies(
    net: FeatureNet, fake: torch.Tensor, training: torch.Tensor, described: dict, encode: Encode
) -> tuple[CopyCheck, CopyCheck]:
    """The copy check of ``fake`` against the ``training`` images in ``net``'s feature space
    and in pixels (both at the generated images' size)."""
    train_feats = encode(net, training, described)
    in_features = copy_check(net.features(fake), train_feats, "features")
    return in_features, copy_check(fake, at_size(training, fake), "pixels")


def at_size(images: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``images`` resized (bilinear, antialiased) to ``like``'s height and width."""
    if images.shape[-2:] == like.shape[-2:]:
        return images
    return torch.nn.functional.interpolate(images, size=like.shape[-2:], mode="bilinear",
                                           antialias=True)  # fmt: skip


def copies_picture(check: CopyCheck, fake: torch.Tensor, training: torch.Tensor, path: Path):
    """The samples closest to a training image (top row) above those images (bottom row)."""
    from huashi.core.images import make_grid

    order, nearest = closest_pairs(check)
    grid = make_grid(torch.cat([fake[order].float(), training[nearest].float()]), nrow=len(order))
    scale = max(1, 96 // fake.shape[-1])
    grid.resize((grid.width * scale, grid.height * scale), 0).save(path)
    return path


def measure(
    nets: list[FeatureNet], fake: torch.Tensor, real: dict[str, Any], described: dict,
    seed: int, encode: Encode, train: tuple[dict[str, Any], dict] | None = None,
    picture: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The floor of each view against the whole real split ``real`` (a batch and its
    description) and, given the ``train`` split, the copy check under the first view;
    ``picture``: where to draw the closest pairs."""
    reference = real["target"] if "target" in real else real["image"]
    views = [floor_view(net, fake, reference, described, seed, encode) for net in nets]
    out: dict[str, Any] = {"views": views, "disagreement": disagreement(views),
                           "networks_disagreement": networks_disagreement(views)}  # fmt: skip
    if train is not None:
        batch, train_described = train
        in_features, in_pixels = copies(nets[0], fake, batch["image"], train_described, encode)
        out["copy_check"] = {
            "network": nets[0].spec, "training_images": len(batch["image"]),
            "features": in_features.summary(), "pixels": in_pixels.summary(),
            "flagged": in_features.flagged or in_pixels.flagged,
        }  # fmt: skip
        if picture is not None:
            pixels = at_size(batch["image"], fake)
            out["copy_check"]["picture"] = str(copies_picture(in_pixels, fake, pixels, picture))
    return out


def describe_copies(check: dict[str, Any]) -> str:
    """One line: the shares below the real median in both spaces, and the verdict."""
    f, p = check["features"], check["pixels"]
    verdict = ("COPIES: samples sit on training images" if check["flagged"]
               else "no sign of copying")  # fmt: skip
    return (f"{f['share_below_real_median']:.0%} (features) / {p['share_below_real_median']:.0%} "
            f"(pixels) of samples closer to a training image than the median real pair "
            f"(about 50 % expected): {verdict}")  # fmt: skip


def summary_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    """What an evaluation record says beside its metrics, as (label, text) rows: the FID's
    floor multiple under the measured view, each other view of its network, each view of a
    second network, the findings when views or networks disagree, and the copy check
    (``huashi eval``'s table and the studio show the same rows)."""
    sticks = record.get("yardsticks", {})
    views = sticks.get("views", [])
    first = base_network(views[0]["network"]) if views else None
    rows = [(_view_label(i, base_network(view["network"]) == first), describe_floor(view))
            for i, view in enumerate(views)]  # fmt: skip
    for key in ("disagreement", "networks_disagreement"):
        if sticks.get(key):
            rows.append(("finding", sticks[key]))
    if "copy_check" in sticks:
        rows.append(("copy check", describe_copies(sticks["copy_check"])))
    return rows


def _view_label(index: int, same_network: bool) -> str:
    if index == 0:
        return "FID vs floor"
    return "other view" if same_network else "second network"


#: The card keys :func:`describe_card` reads: a listing that shows its line needs none of them.
CARD_FID_KEYS = frozenset({"fid", "n", "features", "fid_floor_fid", "fid_floor_multiple",
                           "fid_floor_n", "fid_floor_features", "fid_floor_note"})  # fmt: skip


def describe_card(scores: dict[str, Any]) -> str | None:
    """A zoo card's FID for a person: its floor multiple when the card records one
    (``fid_floor_multiple``), else the raw FID labelled as such, with its n and network and why
    there is no floor (``fid_floor_note``); None when the card has no FID."""
    if not isinstance(scores.get("fid"), (int, float)):
        return None
    n, network = int(scores.get("n", 0)), str(scores.get("features", "?"))
    multiple = scores.get("fid_floor_multiple")
    if isinstance(multiple, (int, float)):  # measured under its own view and n
        network = str(scores.get("fid_floor_features", network))
        fid = scores.get("fid_floor_fid", scores["fid"])
        return format_fid(fid, multiple, int(scores.get("fid_floor_n", n)), network)
    why = f": {scores['fid_floor_note']}" if scores.get("fid_floor_note") else ""
    return f"raw FID {scores['fid']:.3g}, no floor (n {n:,}, {network}){why}"
