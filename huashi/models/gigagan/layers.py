"""GigaGAN's building blocks, on top of StyleGAN2's equalized-lr layers.

- Sample-adaptive kernel selection: a layer holds a bank of K convolution kernels; each sample's
  w gives softmax weights over the bank, the weighted sum is that sample's kernel, which is then
  modulated and demodulated as in StyleGAN2. With K = 1 it is exactly StyleGAN2's modulated
  convolution.
- Stable attention: the logits are minus the squared L2 distance between query and key (divided
  by sqrt(d)), queries and keys come from one tied projection, and every projection has
  equalized lr. For self-attention the logits are -|W (x_i - x_j)|^2 / sqrt(d): the weights
  depend on the inputs only through their differences, so translating every input by the same
  vector changes nothing, and scaling the inputs by c equals scaling the tied projection by c.
  Cross-attention first maps the context tokens to the image's width, then uses the same tied
  projection for queries (image) and keys (tokens).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from huashi.models.stylegan.layers import EqualLinear, NoiseInjection, lrelu


def per_sample_modulated_conv2d(
    x: torch.Tensor, weights: torch.Tensor, styles: torch.Tensor, demodulate: bool = True
) -> torch.Tensor:
    """Convolve sample i of ``x`` [B, I, H, W] with its own kernel ``weights[i]`` [O, I, k, k],
    scaled by ``styles[i]`` [I] on its input channels and (with ``demodulate``) each output
    channel divided by the L2 norm of the scaled kernel. One grouped convolution."""
    b, c_in, h, w = x.shape
    _, c_out, _, k, _ = weights.shape
    kernels = weights * styles.view(b, 1, c_in, 1, 1)
    if demodulate:
        kernels = kernels * torch.rsqrt(kernels.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    out = F.conv2d(
        x.reshape(1, b * c_in, h, w),
        kernels.reshape(b * c_out, c_in, k, k).to(x.dtype),
        padding=k // 2,
        groups=b,
    )
    return out.reshape(b, c_out, h, w)


class AdaptiveModulatedConv2d(nn.Module):
    """A modulated convolution whose kernel is a per-sample softmax mix of ``num_kernels``
    kernels, the mixing weights an equalized-lr linear function of w; ``up`` doubles the size
    first (bilinear)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        w_dim: int,
        num_kernels: int = 4,
        demodulate: bool = True,
        up: bool = False,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # styles start near 1
        self.select = EqualLinear(w_dim, num_kernels)  # logits of the kernel mix
        # The bank [K, O, I, k, k] is stored as [K * O, I, k, k] (4-d, like any conv weight).
        self.weight = nn.Parameter(torch.randn(num_kernels * c_out, c_in, kernel, kernel))
        self.num_kernels = num_kernels
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.demodulate = demodulate
        self.up = up

    def kernel_weights(self, w: torch.Tensor) -> torch.Tensor:
        """The softmax weights of the kernel bank, [B, K]."""
        return torch.softmax(self.select(w), dim=1)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        mix = self.kernel_weights(w)
        bank = self.weight.reshape(self.num_kernels, -1, *self.weight.shape[1:]) * self.scale
        weights = torch.einsum("bk,koihw->boihw", mix, bank)
        return per_sample_modulated_conv2d(x, weights, self.affine(w), self.demodulate)


class AdaptiveStyledConv(nn.Module):
    """Adaptive modulated 3x3 convolution, noise, bias and leaky ReLU: one synthesis layer."""

    def __init__(
        self, c_in: int, c_out: int, w_dim: int, resolution: int, num_kernels: int, up=False
    ) -> None:
        super().__init__()
        self.conv = AdaptiveModulatedConv2d(c_in, c_out, 3, w_dim, num_kernels, up=up)
        self.noise = NoiseInjection(resolution)
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x, w, noise_mode="random", generator=None) -> torch.Tensor:
        x = self.noise(self.conv(x, w), noise_mode, generator)
        return lrelu(x + self.bias.view(1, -1, 1, 1))


class StableAttention(nn.Module):
    """Single-head L2-distance attention with a tied query/key projection and equalized lr.

    ``forward(x, context, mask)``: ``x`` [B, N, dim] attends to ``context`` [B, M, context_dim]
    (itself when None); ``mask`` [B, M] is True for tokens that may be attended to."""

    def __init__(self, dim: int, context_dim: int | None = None, attn_dim: int | None = None):
        super().__init__()
        attn_dim = attn_dim or dim
        self.to_dim = EqualLinear(context_dim, dim) if context_dim is not None else None
        self.qk = EqualLinear(dim, attn_dim)  # tied: queries and keys share it
        self.v = EqualLinear(dim, dim)
        self.out = EqualLinear(dim, dim)
        self.attn_dim = attn_dim

    def weights(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention weights [B, N, M]: softmax over keys of -|q_i - k_j|^2 / sqrt(d)."""
        q = self.qk(x)
        k = q if context is None else self.qk(self._context(context))
        dist = (
            q.square().sum(-1, keepdim=True)
            + k.square().sum(-1).unsqueeze(1)
            - 2.0 * q @ k.transpose(1, 2)
        ).clamp(min=0)
        logits = -dist / math.sqrt(self.attn_dim)
        if mask is not None:
            logits = logits.masked_fill(~mask.unsqueeze(1), float("-inf"))
        return torch.softmax(logits, dim=-1)

    def _context(self, context: torch.Tensor) -> torch.Tensor:
        return context if self.to_dim is None else self.to_dim(context)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        values = self.v(x if context is None else self._context(context))
        return self.out(self.weights(x, context, mask) @ values)


class ImageAttention(nn.Module):
    """Residual stable attention on a feature map [B, C, H, W]: self-attention over the pixels,
    or cross-attention from the pixels to text tokens; (x + attention(x)) / sqrt 2."""

    def __init__(self, channels: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.attention = StableAttention(channels, context_dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, c, h, w = x.shape
        seq = x.flatten(2).transpose(1, 2)  # [B, HW, C]
        out = self.attention(seq, context, mask).transpose(1, 2).reshape(b, c, h, w)
        return (x + out) / math.sqrt(2.0)
