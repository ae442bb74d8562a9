"""StyleGAN2's building blocks.

- Equalized learning rate: weights are stored as N(0, 1) and scaled by 1/sqrt(fan_in) at run time,
  so every layer learns at the same speed under Adam (``lr_mul`` slows a layer down further).
- Modulated convolution: a per-sample style scales the input channels of the weight, and
  demodulation rescales each output channel to unit norm (one grouped convolution, or the
  equal and faster scale-input / shared-conv / scale-output form).
- Noise injection: per-pixel noise times a learned strength (starts at 0).
- ToRGB: a 1x1 modulated convolution without demodulation, plus a bias.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with the gain that keeps the signal's variance."""
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


def crop(x: torch.Tensor, px: int) -> torch.Tensor:
    """``x`` [..., H, W] without ``px`` pixels at every edge."""
    return x[..., px : x.shape[-2] - px, px : x.shape[-1] - px] if px else x


class EqualLinear(nn.Module):
    """A linear layer with equalized learning rate (and an optional leaky ReLU)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(x) if self.activation else x


class EqualConv2d(nn.Module):
    """A stride-1 'same' convolution with equalized learning rate (optional bias and lrelu)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, bias: bool = True, activation: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)
        return lrelu(x) if self.activation else x


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    fused: bool = False,
) -> torch.Tensor:
    """Convolve sample i of ``x`` [B, I, H, W] with ``weight`` [O, I, k, k] scaled by
    ``styles[i]`` [I] on its input channels; with ``demodulate`` each sample's output channel
    is divided by the L2 norm of its scaled kernel.

    ``fused`` runs it as one grouped convolution with a kernel per sample; otherwise (the same
    numbers, and faster on a CPU) the styles scale the input, one shared convolution runs, and
    the demodulation coefficients scale the output."""
    b, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    if demodulate:  # 1 / ||weight * style||, per sample and output channel: [B, O]
        norms = styles.square() @ weight.square().sum(dim=(2, 3)).t()
        demod = torch.rsqrt(norms + 1e-8)
    if not fused:
        out = F.conv2d(
            x * styles.view(b, c_in, 1, 1).to(x.dtype), weight.to(x.dtype), padding=k // 2
        )
        return out * demod.view(b, c_out, 1, 1).to(out.dtype) if demodulate else out
    per_sample = weight.unsqueeze(0) * styles.view(b, 1, c_in, 1, 1)  # [B, O, I, k, k]
    if demodulate:
        per_sample = per_sample * demod.view(b, c_out, 1, 1, 1)
    out = F.conv2d(
        x.reshape(1, b * c_in, h, w),
        per_sample.reshape(b * c_out, c_in, k, k).to(x.dtype),
        padding=k // 2,
        groups=b,
    )
    return out.reshape(b, c_out, out.shape[-2], out.shape[-1])


class ModulatedConv2d(nn.Module):
    """A convolution whose weight each sample's w modulates (and demodulates); ``up`` doubles
    the size first (bilinear)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        w_dim: int,
        demodulate: bool = True,
        up: bool = False,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # styles start near 1
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.demodulate = demodulate
        self.up = up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        styles = self.affine(w)
        return modulated_conv2d(x, self.weight * self.scale, styles, self.demodulate)


class NoiseInjection(nn.Module):
    """Adds per-pixel noise times a learned strength. ``noise_mode``: "random" (fresh noise,
    from ``generator`` when given), "const" (a fixed noise image stored with the model) or
    "none"."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("const_noise", torch.randn(1, 1, resolution, resolution))

    def forward(
        self,
        x: torch.Tensor,
        noise_mode: str = "random",
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if noise is None:
            if noise_mode == "none":
                return x
            if noise_mode == "const":
                noise = self.const_noise
            elif noise_mode == "random":
                b, _, h, w = x.shape
                device = generator.device if generator is not None else x.device
                noise = torch.randn(b, 1, h, w, generator=generator, device=device)
            else:
                raise ValueError(f"unknown noise_mode {noise_mode!r}: random, const or none")
        return x + self.strength * noise.to(x.device, x.dtype)


class StyledConv(nn.Module):
    """Modulated 3x3 convolution, noise, bias and leaky ReLU: one synthesis layer (one w).
    ``crop`` px are cut from every edge after the convolution (before the noise)."""

    def __init__(
        self, c_in: int, c_out: int, w_dim: int, resolution: int, up: bool = False, crop: int = 0
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim, up=up)
        self.noise = NoiseInjection(resolution)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.crop = crop

    def forward(self, x, w, noise_mode="random", generator=None, noise=None) -> torch.Tensor:
        x = crop(self.conv(x, w), self.crop)
        x = self.noise(x, noise_mode, generator, noise)
        return lrelu(x + self.bias.view(1, -1, 1, 1))


class ToRGB(nn.Module):
    """A 1x1 modulated convolution to image channels (no demodulation) plus a bias."""

    def __init__(self, c_in: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.view(1, -1, 1, 1)
