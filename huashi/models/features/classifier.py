"""A small convolutional classifier: the in-domain feature network for labelled data.

Its pooled features (penultimate layer) feed FID/KID/precision-recall and its softmax feeds
the Inception Score, with the dataset's own classes instead of ImageNet's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from huashi.core.config_fields import option
from huashi.models.features.encoder import ConvEncoder


@dataclass
class ClassifierConfig:
    width: int = option(32, "encoder channels at full resolution")


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig, channels: int, resolution: int, classes: int):
        super().__init__()
        self.encoder = ConvEncoder(channels, resolution, config.width)
        self.head = nn.Linear(self.encoder.feature_dim, classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes]."""
        return self.head(self.encoder(images))
