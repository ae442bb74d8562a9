"""The Pix2Pix PatchGAN discriminator: a grid of real/fake logits, one per image patch.

It sees the input and the (real or generated) output concatenated on channels, so it judges
whether the output fits the input. ``n_layers`` strided 4x4 convolutions (C64-C128-C256, widths
capped at 8x) are followed by a stride-1 4x4 convolution (C512 for 3 layers) and a stride-1 4x4
convolution to one logit per position. Each logit sees a square patch of the input whose side is
the receptive field: 70 px for the classic ``n_layers=3`` (the paper's "70x70 PatchGAN"), 34 for
2, 16 for 1. LeakyReLU(0.2) everywhere, BatchNorm on all but the first and last convolutions.
"""

from __future__ import annotations

import torch
from torch import nn

from huashi.models.pix2pix.config import Pix2PixConfig
from huashi.models.pix2pix.unet import norm_layer
from huashi.models.strided_conv import StridedConv2d


class PatchGAN(nn.Module):
    def __init__(self, config: Pix2PixConfig, in_channels: int, n_layers: int) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"a PatchGAN needs at least one strided layer, got {n_layers}")
        width = config.d_width
        layers: list[nn.Module] = [StridedConv2d(in_channels, width), nn.LeakyReLU(0.2)]
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1
            out = config.d_width * min(2**n, 8)
            layers += [
                StridedConv2d(width, out) if stride == 2 else nn.Conv2d(width, out, 4, 1, 1),
                norm_layer(config.norm, out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        """(input, output) pairs -> patch logits [B, 1, h, w] (D = sigmoid(logit))."""
        return self.net(torch.cat([inputs, outputs], dim=1))


def receptive_field(module: nn.Module) -> int:
    """Side of the input square that one output position of a stack of convolutions sees:
    each conv of kernel k adds (k - 1) * (product of the strides before it)."""
    field, jump = 1, 1
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            field += (layer.kernel_size[0] - 1) * layer.dilation[0] * jump
            jump *= layer.stride[0]
    return field


def layers_for(resolution: int, max_layers: int = 3) -> int:
    """The most strided layers (at most ``max_layers``, the classic 70x70) whose receptive
    field still fits inside the image: 1 at 16-33 px, 2 at 34-69 px, 3 from 70 px up."""
    n = 1
    while n < max_layers and patch_size(n + 1) <= resolution:
        n += 1
    return n


def patch_size(n_layers: int) -> int:
    """Receptive field of a PatchGAN with ``n_layers`` strided layers (closed form)."""
    # Strided layers add 3, 6, 12, ...; the two stride-1 layers add 3 * 2**n_layers each.
    return 1 + 3 * (2**n_layers - 1) + 2 * 3 * 2**n_layers
