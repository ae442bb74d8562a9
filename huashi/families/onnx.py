"""What a family exports to ONNX: a module with named example inputs (see
:meth:`huashi.families.base.Family.onnx_graph`), and the small wrapper modules the one-step
painters share. The file is written by :mod:`huashi.tools.export`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class OnnxGraph:
    """What to export: a module and example inputs, with their names (in call order)."""

    module: nn.Module
    inputs: dict[str, torch.Tensor]
    batched: tuple[str, ...]  # input names whose first axis is the batch
    notes: dict[str, str] = field(default_factory=dict)


class GeneratorGraph(nn.Module):
    """``G(z)`` or ``G(z, condition)`` as float32 images."""

    def __init__(self, generator: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.generator = generator
        self.conditional = conditional

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            return self.generator(z, condition).float()
        return self.generator(z).float()


class DecoderGraph(nn.Module):
    """An autoencoder's decoder, clamped to [-1, 1] as ``family.decode`` does."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.decode(latent).float().clamp(-1.0, 1.0)


class TranslatorGraph(nn.Module):
    """An image-to-image generator: source image -> float32 image."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.generator(source).float()


class MappedGeneratorGraph(nn.Module):
    """z -> w (mapping network) -> truncation toward ``w_avg`` -> synthesis with constant noise,
    for a family with style latents (:attr:`~huashi.families.base.Family.style_latents`)."""

    def __init__(self, family: Any) -> None:
        super().__init__()
        self.family = family
        self.holder = nn.ModuleList(family.modules.values())  # so .eval() reaches them

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        family = self.family
        w = family.map_latents(z)
        w = family.w_avg + truncation * (w - family.w_avg)
        ws = w[:, None, :].expand(-1, family.num_ws, -1)
        return family.synthesize(ws, noise_mode="const").float().clamp(-1.0, 1.0)  # as generate
