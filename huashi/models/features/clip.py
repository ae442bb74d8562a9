"""A small CLIP (Radford et al. 2021) for one dataset: a conv image encoder and a trainable
projection on top of the frozen text encoder (all-MiniLM-L6-v2), trained with the symmetric
InfoNCE loss (:mod:`huashi.losses.clip`) and a learned temperature.

The text side reads either the sentence vector (``text_input="pooled"``) or the token states
through a learned attention pooling (``"tokens"``); either way a 2-layer MLP projects it into
the shared embedding space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from huashi.core.config_fields import option
from huashi.core.errors import HuashiError
from huashi.models.features.encoder import ConvEncoder


@dataclass
class CLIPConfig:
    width: int = option(32, "image encoder channels at full resolution")
    embed_dim: int = option(128, "width of the shared embedding")
    text_hidden: int = option(256, "hidden width of the text projection")
    text_input: str = option(
        "pooled",
        "text side: the sentence vector, or the token states with attention pooling",
        choices=("pooled", "tokens"),
    )
    text_encoder: str = option("minilm", "text encoder: minilm or a local Hugging Face folder")
    temperature: float = option(
        0.07, "initial softmax temperature (learned as log 1/T, capped at 100)"
    )

    def __post_init__(self) -> None:
        if self.text_input not in ("pooled", "tokens"):
            raise HuashiError(f"text_input must be 'pooled' or 'tokens', not '{self.text_input}'.")


class TextProjection(nn.Module):
    """Frozen-encoder outputs -> shared embedding (optionally attention-pooling the tokens)."""

    def __init__(self, text_dim: int, config: CLIPConfig) -> None:
        super().__init__()
        self.use_tokens = config.text_input == "tokens"
        if self.use_tokens:
            self.query = nn.Parameter(torch.zeros(text_dim))
        self.mlp = nn.Sequential(
            nn.Linear(text_dim, config.text_hidden),
            nn.GELU(),
            nn.Linear(config.text_hidden, config.embed_dim),
        )

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor):
        if self.use_tokens:
            scores = tokens @ self.query / math.sqrt(tokens.shape[-1])
            weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
            pooled = (weights[..., None] * tokens).sum(dim=1)
        return self.mlp(pooled)


class CLIP(nn.Module):
    def __init__(self, config: CLIPConfig, channels: int, resolution: int, text_dim: int):
        super().__init__()
        self.encoder = ConvEncoder(channels, resolution, config.width)
        self.image_projection = nn.Linear(self.encoder.feature_dim, config.embed_dim)
        self.text_projection = TextProjection(text_dim, config)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / config.temperature)))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_projection(self.encoder(images)), dim=-1)

    def embed_text(self, pooled: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor):
        return F.normalize(self.text_projection(pooled, tokens, mask), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()
