"""``huashi train classifier``: a small conv classifier on labelled data (cross-entropy, AdamW).

It makes features, not images (``makes_images = False``): its penultimate layer is an in-domain
feature network for FID/KID/precision-recall and its softmax gives the Inception Score
(see :mod:`huashi.metrics.features`). On its own it predicts labels (:func:`huashi.metrics.features.classify`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from huashi.augment.diffaugment import diff_augment, parse_policy
from huashi.core.config_fields import option
from huashi.core.errors import HuashiError
from huashi.families.base import DataInfo, Family
from huashi.models.features.classifier import Classifier, ClassifierConfig
from huashi.training.device import adam
from huashi.training.step import StepContext


@dataclass
class ClassifierFamilyConfig(ClassifierConfig):
    """The config of the classifier family: the model's settings plus the optimizer's (and the loss's)."""

    lr: float = option(1e-3, "AdamW learning rate")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy")
    augment: str = option(
        "",
        "DiffAugment policy on the training images, e.g. translation,cutout (labels that "
        "hold under it: with --data-option exemplar=true, an exemplar network)",
    )

    def __post_init__(self) -> None:
        parse_policy(self.augment)


class ClassifierFamily(Family):
    """Small conv classifier on labelled data: an in-domain feature network (FID, IS)."""

    name = "classifier"
    feature_kind = "classifier"
    config_class = ClassifierFamilyConfig
    makes_images = False

    def __init__(
        self, config: ClassifierFamilyConfig, data: DataInfo, device: torch.device
    ) -> None:
        super().__init__(config, data, device)
        net = Classifier(config, data.channels, data.resolution, data.num_classes).to(device)
        self.policy = parse_policy(config.augment)
        self.modules = {"classifier": net}
        self.optimizers = {
            "classifier": adam(
                net.parameters(), config.lr, weight_decay=config.weight_decay, decoupled=True
            )
        }

    @classmethod
    def check_data(cls, data: DataInfo, config: ClassifierFamilyConfig) -> None:
        if data.num_classes < 2:
            raise HuashiError(
                "a classifier needs labelled data with at least 2 classes: use --data mnist, "
                "--data shapes, or a folder with one subfolder per class."
            )

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        net, opt = self.modules["classifier"], self.optimizers["classifier"]

        def loss_fn(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            images = chunk["image"]
            if self.policy:
                images = diff_augment(images, self.policy, ctx.generator)
            logits = net(images).float()
            loss = F.cross_entropy(
                logits, chunk["label"], label_smoothing=self.config.label_smoothing
            )
            accuracy = (logits.argmax(1) == chunk["label"]).float().mean()
            return loss, {"loss": loss.item(), "accuracy": accuracy.item()}

        logged = ctx.update(opt, batch, loss_fn)
        return logged

    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        raise HuashiError(
            "a classifier run makes features, not images: use it as `huashi eval RUN "
            "--features classifier:THIS_RUN`, or huashi.metrics.features.classify(...)."
        )
