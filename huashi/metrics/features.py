"""Feature networks for the metrics, chosen by a spec string:

- ``clip:RUN``        a huashi CLIP run (in-domain, captioned data): pooled image-encoder
                      features; also image/text embeddings for CLIP score.
- ``classifier:RUN``  a huashi classifier run (in-domain, labelled data): penultimate features;
                      softmax for the Inception Score.
- ``texture:SPEC``    an in-domain network's pooled features joined with texture statistics
                      (its first layer's responses, gradient histograms at three scales),
                      each block scaled to unit variance over its training set
                      (:mod:`huashi.models.features.texture`).
- ``ensemble:A+B``    several in-domain networks read as one: each one's pooled features and
                      first-layer statistics, each block scaled to unit variance over its
                      training set (no gradient histograms).
- ``inception:PATH``  torchvision's Inception-v3 with weights from a local file (.safetensors,
                      or a .pth state dict read with ``torch.load(weights_only=True)``):
                      2048-d pool features, 1000-class logits. Nothing is downloaded.

Every network takes images in [-1, 1] at any size and channel count; it converts channels
(gray -> RGB by repeating, RGB -> gray by ITU-R 601 luma) and resizes (bilinear, antialiased)
to its own input size, and records how, with its checkpoint hash, in :meth:`FeatureNet.describe`.

On their own, the in-domain networks label images (:func:`classify`, :func:`zero_shot`) and
retrieve (:func:`retrieve`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from huashi.core.errors import HuashiError
from huashi.core.images import convert_channels

INCEPTION_SIZE = 299

HOW_TO = (
    "use an in-domain feature network instead: train one with `huashi train classifier --data "
    "mnist --out runs/cls` (labelled data) or `huashi train clip --data shapes --out runs/clip` "
    "(captioned data), then pass --features classifier:runs/cls or clip:runs/clip"
)


def file_hash(path: Path) -> str:
    """sha256 of a file (first 16 hex digits): which exact weights made the features."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """The metrics' own resize of generated tensors (bilinear, antialiased): part of how each
    metric is defined and recorded, so it stays apart from the file reader's Lanczos rule."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


@dataclass
class FeatureNet:
    """A frozen feature network for metrics; see the module docstring for the specs."""

    spec: str
    kind: str  # "clip" | "classifier" | "inception"
    checkpoint_hash: str
    resolution: int  # images are resized to this
    channels: int
    device: torch.device
    extract: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
    trained_on: dict[str, Any] | None = None  # the run's data spec (in-domain networks)
    class_names: tuple[str, ...] = ()
    embed_text: Callable[[Sequence[str]], torch.Tensor] | None = None
    embed_images: Callable[[torch.Tensor], torch.Tensor] | None = None
    notes: list[str] = field(default_factory=list)
    first_conv: torch.nn.Conv2d | None = None  # in-domain networks: read by the texture view
    #: How the features are computed from the network, when that has changed over time (the
    #: texture view's version): features of another version are never compared or cached as one.
    version: str = ""

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, torch.float32)
        return resize(convert_channels(images, self.channels), self.resolution)

    @torch.no_grad()
    def run(self, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, Any]:
        """(features [N, D], logits [N, K] or None) of images in [-1, 1]."""
        feats, logits = [], []
        for start in range(0, len(images), batch_size):
            f, lg = self.extract(self.prepare(images[start : start + batch_size]))
            feats.append(f.float().cpu())
            if lg is not None:
                logits.append(lg.float().cpu())
        return torch.cat(feats), (torch.cat(logits) if logits else None)

    def features(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        return self.run(images, batch_size)[0]

    @torch.no_grad()
    def image_embeddings(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        if self.embed_images is None:
            raise HuashiError(f"{self.spec} has no image-text embedding: use a clip: network.")
        parts = [
            self.embed_images(self.prepare(images[i : i + batch_size])).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(parts)

    @torch.no_grad()
    def text_embeddings(self, captions: Sequence[str]) -> torch.Tensor:
        if self.embed_text is None:
            raise HuashiError(f"{self.spec} has no text side: use a clip: network.")
        return self.embed_text(list(captions)).float().cpu()

    @property
    def has_logits(self) -> bool:
        return self.kind in ("classifier", "inception")

    @property
    def short_name(self) -> str:
        """A file-name-safe name: ``clip-<run folder>`` / ``inception-<hash>``, an ensemble's
        with its networks' joined by ``+``."""
        if self.kind == "inception":
            return f"inception-{self.checkpoint_hash[:8]}"
        if self.kind == "ensemble":  # ensemble-reference-shapes+reference-shapes-classifier
            members = self.spec.removeprefix("ensemble:").split("+")
            return "ensemble-" + "+".join(Path(m.rsplit(":", 1)[1]).name for m in members)
        return f"{self.kind}-{Path(self.spec.rsplit(':', 1)[1]).name}"

    def describe(self, image_size: int | None = None, image_channels: int | None = None) -> dict:
        """How features are made: network, checkpoint hash, input conversion."""
        out: dict[str, Any] = {
            "spec": self.spec,
            "kind": self.kind,
            "checkpoint_sha256": self.checkpoint_hash,
            **({"version": self.version} if self.version else {}),
            "input_resolution": self.resolution,
            "input_channels": self.channels,
            "trained_on": self.trained_on,
        }
        if image_size is not None:
            out["resize"] = (
                "none"
                if image_size == self.resolution
                else f"{image_size}->{self.resolution} bilinear antialiased"
            )
        if image_channels is not None and image_channels != self.channels:
            out["channels"] = f"{image_channels}->{self.channels}"
        return out


def load_features(spec: str, device: str | torch.device = "cpu") -> FeatureNet:
    """Load a feature network from ``clip:RUN``, ``classifier:RUN``, ``inception:PATH`` or a
    shipped one, ``zoo:NAME`` (e.g. ``zoo:reference-emoji``)."""
    kind, _, where = str(spec).partition(":")
    if kind == "texture":
        return texture_view(load_features(where, device), spec)
    if kind == "ensemble":
        return ensemble_view([load_features(m, device) for m in where.split("+") if m], spec)
    if kind == "zoo":
        from huashi import zoo

        folder = zoo.resolve(spec)
        kind, where = json.loads((folder / "config.json").read_text())["family"], str(folder)
    device = torch.device(device if device != "auto" else _auto_device())
    if kind == "inception":
        return _load_inception(where, spec, device)
    if kind in ("clip", "classifier") and where:
        return _load_run_features(kind, where, spec, device)
    raise HuashiError(
        f"unknown feature network '{spec}': write clip:RUN, classifier:RUN, zoo:NAME, "
        "texture:SPEC or inception:PATH_TO_WEIGHTS."
    )


def _auto_device() -> str:
    from huashi.training.device import pick_device

    return str(pick_device("auto"))


def _load_run_features(kind: str, where: str, spec: str, device: torch.device) -> FeatureNet:
    from huashi.runs import load_run

    loaded = load_run(where, device=str(device))
    if loaded.family.feature_kind != kind:
        raise HuashiError(
            f"{where} is a '{loaded.config.family}' run, not a {kind} run: pass "
            f"--features {loaded.config.family}:{where} or train a {kind} first."
        )
    info = loaded.config.data_info
    weights = loaded.checkpoint.with_suffix(".safetensors")
    common = {
        "spec": spec,
        "kind": kind,
        "checkpoint_hash": file_hash(weights),
        "resolution": int(info["resolution"]),
        "channels": int(info["channels"]),
        "device": device,
        "trained_on": dict(loaded.config.data) | {"step": loaded.step},
    }
    if kind == "classifier":
        net = loaded.family.feature_module()

        def extract(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            feats = net.features(x)
            return feats, net.head(feats)

        return FeatureNet(**common, extract=extract, class_names=tuple(info["class_names"]),
                          first_conv=net.encoder.first_conv)  # fmt: skip
    clip_model = loaded.family.feature_module()
    return FeatureNet(
        **common,
        extract=lambda x: (clip_model.features(x), None),
        embed_text=loaded.family.embed_text,
        embed_images=clip_model.embed_images,
        first_conv=clip_model.encoder.first_conv,
    )


TEXTURE_VERSION = 2  # 2: gradients below 5 grey levels in one bin


def texture_view(base: FeatureNet, spec: str) -> FeatureNet:
    """``base``'s pooled features joined with texture statistics (first-layer responses and
    gradient histograms), each block divided by the square root of its total variance over
    the images ``base`` was trained on (cached), so that content and texture weigh alike."""
    from huashi.models.features.texture import first_layer_statistics, gradient_histograms

    if base.first_conv is None or base.trained_on is None:
        raise HuashiError(
            f"texture: needs an in-domain network (clip:RUN, classifier:RUN or zoo:NAME), "
            f"not {base.spec}."
        )
    conv = base.first_conv

    def blocks(x: torch.Tensor) -> list[torch.Tensor]:
        return [base.extract(x)[0], first_layer_statistics(conv, x), gradient_histograms(x)]

    scales = _block_scales(base, blocks, {"texture_scales": TEXTURE_VERSION})

    def extract(x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return torch.cat([b / s for b, s in zip(blocks(x), scales, strict=True)], 1), None

    return FeatureNet(
        spec=spec, kind="texture", checkpoint_hash=base.checkpoint_hash,
        resolution=base.resolution, channels=base.channels, device=base.device,
        extract=extract, trained_on=base.trained_on, version=f"texture-{TEXTURE_VERSION}",
        notes=[*base.notes, "texture view: pooled features + first-layer statistics + "
               "gradient histograms, each block scaled to unit total variance on "
               f"{base.trained_on.get('spec')}"],
    )  # fmt: skip


ENSEMBLE_VERSION = 1


def ensemble_view(members: Sequence[FeatureNet], spec: str) -> FeatureNet:
    """Several in-domain networks (of one resolution and channel count) read as one: each
    member's pooled features and first-layer statistics, each block divided by the square root
    of its total variance over the member's training images, so every block weighs alike."""
    from huashi.models.features.texture import first_layer_statistics

    if len(members) < 2 or any(m.first_conv is None or m.trained_on is None for m in members):
        raise HuashiError(f"{spec}: an ensemble joins two or more in-domain networks "
                          "(ensemble:zoo:A+zoo:B), each a clip:RUN, classifier:RUN or zoo:NAME.")  # fmt: skip
    if len({(m.resolution, m.channels) for m in members}) > 1:
        raise HuashiError(f"{spec}: the networks take different image sizes or channels.")

    def blocks_of(member: FeatureNet) -> Callable:
        conv = member.first_conv
        return lambda x: [member.extract(x)[0], first_layer_statistics(conv, x)]

    parts = [(m, blocks_of(m)) for m in members]
    scales = [_block_scales(m, b, {"ensemble_scales": ENSEMBLE_VERSION}) for m, b in parts]

    def extract(x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return torch.cat([b / s for (_, blocks), sc in zip(parts, scales, strict=True)
                          for b, s in zip(blocks(x), sc, strict=True)], 1), None  # fmt: skip

    first = members[0]
    return FeatureNet(
        spec=spec, kind="ensemble", checkpoint_hash="+".join(m.checkpoint_hash for m in members),
        resolution=first.resolution, channels=first.channels, device=first.device,
        extract=extract, trained_on=first.trained_on, version=f"ensemble-{ENSEMBLE_VERSION}",
        notes=[f"ensemble of {', '.join(m.spec for m in members)}: each one's pooled features "
               "and first-layer statistics, each block scaled to unit total variance"],
    )  # fmt: skip


@torch.no_grad()
def _block_scales(base: FeatureNet, blocks: Callable, tag: dict[str, int]) -> list[float]:
    """Square roots of each of ``blocks``' total variance over ``base``'s training images
    (cached under ``tag``, which names how the blocks are made)."""
    from safetensors.torch import load_file, save_file

    from huashi.data import load_dataset
    from huashi.data.cache import cache_root

    data = base.trained_on or {}
    key_text = json.dumps({**tag, "net": base.checkpoint_hash,
                           "data": {k: data.get(k) for k in ("spec", "resolution", "options")}},
                          sort_keys=True, default=str)  # fmt: skip
    key = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    path = cache_root() / "reference" / f"texture-{key}.safetensors"
    if path.exists():
        return load_file(str(path))["scales"].tolist()
    dataset = load_dataset(str(data["spec"]), resolution=int(data["resolution"]),
                           **(data.get("options") or {}))  # fmt: skip
    images = dataset.batch(torch.arange(len(dataset)))["image"]
    parts: list[list[torch.Tensor]] = []
    for start in range(0, len(images), 256):
        x = base.prepare(images[start : start + 256])
        found = blocks(x)
        parts = parts or [[] for _ in found]
        for part, block in zip(parts, found, strict=True):
            part.append(block.float().cpu())
    scales = torch.stack([torch.cat(p).var(0).sum().sqrt().clamp_min(1e-12) for p in parts])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"scales": scales.double()}, str(tmp), metadata={"key": key_text})
    tmp.replace(path)
    return scales.tolist()


def load_inception_module(where: str, device: torch.device) -> torch.nn.Module:
    """torchvision's Inception-v3 (eval mode, on ``device``) with the weights of a local file
    (.safetensors, or a .pth state dict read with ``weights_only=True``); nothing is downloaded."""
    if not where:
        raise HuashiError(
            "inception features need the path of an Inception-v3 weights file "
            f"(--features inception:PATH; nothing is downloaded). Without one, {HOW_TO}."
        )
    path = Path(where).expanduser()
    if not path.is_file():
        raise HuashiError(f"no Inception-v3 weights file at {path}: check the path, or {HOW_TO}.")
    from torchvision.models import inception_v3

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise HuashiError(f"cannot read {path} as a weights file ({error}).") from None
    model = inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as error:
        first = str(error).strip().splitlines()[0]
        raise HuashiError(
            f"{path} is not a torchvision Inception-v3 state dict ({first}); {HOW_TO}."
        ) from None
    return model.eval().to(device)


def _load_inception(where: str, spec: str, device: torch.device) -> FeatureNet:
    model = load_inception_module(where, device)
    path = Path(where).expanduser()
    pooled: list[torch.Tensor] = []
    model.avgpool.register_forward_hook(lambda m, i, o: pooled.append(o.flatten(1)))

    def extract(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # torchvision's weights expect ImageNet-normalized input that transform_input maps
        # back to [-1, 1]; our images already are in [-1, 1], so they go in directly.
        pooled.clear()
        logits = model(x)
        return pooled[0], logits

    return FeatureNet(
        spec=spec,
        kind="inception",
        checkpoint_hash=file_hash(path),
        resolution=INCEPTION_SIZE,
        channels=3,
        device=device,
        extract=extract,
        notes=[
            "torchvision Inception-v3 (inputs in [-1, 1], bilinear resize to 299): "
            "not the TF-FID network, so values are not comparable to published FIDs"
        ],
    )


# --- the in-domain networks on their own ------------------------------------------------------


@torch.no_grad()
def classify(net: FeatureNet, images: torch.Tensor) -> tuple[list[str], torch.Tensor]:
    """Predicted class names and probabilities [N, K] (classifier or inception networks)."""
    if not net.has_logits:
        raise HuashiError(f"{net.spec} does not classify: use a classifier: network.")
    logits = net.run(images)[1]
    probs = logits.softmax(dim=1)
    names = net.class_names or tuple(str(k) for k in range(probs.shape[1]))
    return [names[k] for k in probs.argmax(1).tolist()], probs


@torch.no_grad()
def zero_shot(net: FeatureNet, images: torch.Tensor, prompts: Sequence[str]):
    """CLIP zero-shot labels: for each image, the prompt with the highest cosine similarity.
    Returns (chosen prompts, similarities [N, P])."""
    if not prompts:
        raise HuashiError("zero-shot labelling needs at least one prompt.")
    similarity = net.image_embeddings(images) @ net.text_embeddings(prompts).T
    return [prompts[k] for k in similarity.argmax(1).tolist()], similarity


@torch.no_grad()
def retrieve(
    net: FeatureNet, images: torch.Tensor, captions: Sequence[str], k: int = 5
) -> dict[str, torch.Tensor]:
    """Top-k retrieval both ways: ``text_for_image`` [N, k] caption indices per image and
    ``image_for_text`` [M, k] image indices per caption, by cosine similarity."""
    similarity = net.image_embeddings(images) @ net.text_embeddings(captions).T
    return {
        "text_for_image": similarity.topk(min(k, similarity.shape[1]), dim=1).indices,
        "image_for_text": similarity.T.topk(min(k, similarity.shape[0]), dim=1).indices,
        "similarity": similarity,
    }


def caption_top1(net: FeatureNet, images: torch.Tensor, captions: Sequence[str]) -> float:
    """Share of images whose own caption (among the distinct captions given) ranks first."""
    distinct = list(dict.fromkeys(captions))
    chosen, _ = zero_shot(net, images, distinct)
    return sum(a == b for a, b in zip(chosen, captions, strict=True)) / len(captions)
