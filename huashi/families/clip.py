"""``huashi train clip``: contrastive image–text training on captioned data.

The image encoder and the text projection learn, the text encoder (all-MiniLM-L6-v2) stays
frozen; loss = symmetric InfoNCE with a learned temperature. It makes features, not images
(``makes_images = False``): an in-domain feature network for FID/KID and the judge of CLIP
score; on its own it labels images zero-shot from prompts and retrieves images/captions
(:mod:`huashi.metrics.features`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from huashi.core.config_fields import option
from huashi.core.errors import HuashiError
from huashi.families.base import DataInfo, Family
from huashi.losses.clip import contrastive_loss
from huashi.models.features.clip import CLIP, CLIPConfig
from huashi.text.encoder import TextEncoder, load_text_encoder
from huashi.training.device import adam
from huashi.training.step import StepContext

_ENCODERS: dict[tuple[str, str], TextEncoder] = {}


def shared_text_encoder(spec: str, device: torch.device) -> TextEncoder:
    """One frozen text encoder per (spec, device) in a process (loading takes seconds)."""
    key = (spec, str(device))
    if key not in _ENCODERS:
        _ENCODERS[key] = load_text_encoder(spec, device)
    return _ENCODERS[key]


@dataclass
class CLIPFamilyConfig(CLIPConfig):
    """The config of the CLIP family: the model's settings plus the optimizer's."""

    lr: float = option(1e-3, "AdamW learning rate")
    weight_decay: float = option(1e-4, "AdamW weight decay")


class CLIPFamily(Family):
    """Contrastive image-text model on captioned data: in-domain features and CLIP score."""

    name = "clip"
    feature_kind = "clip"
    config_class = CLIPFamilyConfig
    makes_images = False

    def __init__(self, config: CLIPFamilyConfig, data: DataInfo, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.text_encoder = shared_text_encoder(config.text_encoder, device)
        model = CLIP(config, data.channels, data.resolution, self.text_encoder.dim).to(device)
        self.modules = {"clip": model}
        self.optimizers = {
            "clip": adam(
                model.parameters(), config.lr, weight_decay=config.weight_decay, decoupled=True
            )
        }

    @classmethod
    def check_data(cls, data: DataInfo, config: CLIPFamilyConfig) -> None:
        if not data.has_captions:
            raise HuashiError(
                "CLIP trains on captioned images: use --data shapes or --data emoji, or a folder "
                "with a .txt caption beside each image (or metadata.jsonl)."
            )

    def embed_text(self, captions: Sequence[str]) -> torch.Tensor:
        text = self.text_encoder.encode(list(captions))
        return self.modules["clip"].embed_text(text.pooled, text.tokens, text.mask)

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        model, opt = self.modules["clip"], self.optimizers["clip"]

        def loss_fn(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            captions = chunk["caption"]
            same = torch.tensor([[a == b for b in captions] for a in captions], device=self.device)
            image_emb = model.embed_images(chunk["image"]).float()
            text_emb = self.embed_text(captions).float()
            loss = contrastive_loss(image_emb, text_emb, model.scale(), same)
            hits = (image_emb @ text_emb.T).argmax(1)
            top1 = same[torch.arange(len(captions)), hits].float().mean()
            return loss, {"loss": loss.item(), "batch_top1": top1.item()}

        logged = ctx.update(opt, batch, loss_fn)
        return logged | {"temperature": 1 / model.scale().item()}

    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        raise HuashiError(
            "a clip run makes features, not images: use it as `huashi eval RUN --features "
            "clip:THIS_RUN`, or `huashi clip THIS_RUN --image ... --prompt ...`."
        )
