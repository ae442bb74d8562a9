"""4x4 stride-2 convolutions whose bf16 weight gradient on small maps is one matrix product.

The DCGAN-style down- and up-sampling layers (``Conv2d(c_in, c_out, 4, 2, 1)`` and its transpose)
spend most of a CPU training step in backward. On small maps with many channels oneDNN's bf16
kernel for the *weight* gradient is slow (barely faster than fp32), while the same gradient as
one matrix product of image patches runs 1.5-1.8x faster (measured on an AMD EPYC with
AVX512-BF16, batch 64, one and two threads: D's 128 -> 256 layer on 8x8 -> 4x4 maps 5.2 -> 3.4
ms, G's 512 -> 256 layer on 4x4 -> 8x8 maps 20.8 -> 11.8 ms; with 128 channels or maps of 16x16
and up oneDNN is as fast or faster). So these layers take that route exactly where it was
measured to pay: bf16 on the CPU, the small map at most ``SMALL_MAP`` pixels a side, and at
least ``MIN_CHANNELS`` channels on the small map's side, when the weight needs a gradient.
Everything else (the forward, the input gradient, fp32, GPUs, inference, export, ``--compile``)
is PyTorch's own convolution. The classes are ``nn.Conv2d`` / ``nn.ConvTranspose2d`` with the same parameters and
state dict, so checkpoints do not change.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: the weight gradient goes through a patch matrix product from this many channels on the
#: small map's side (the product's output rows) ...
MIN_CHANNELS = 256
#: ... on small maps of at most this size (the larger side is twice it)
SMALL_MAP = 8


def patch_weight_gradient(big: torch.Tensor, small_grad: torch.Tensor) -> torch.Tensor:
    """The weight gradient [M, C, 4, 4] of ``conv2d(big, W, stride=2, padding=1)``, where
    ``big`` is [N, C, 2h, 2w] and ``small_grad`` [N, M, h, w] is the gradient of its output.

    The same array is the weight gradient of ``conv_transpose2d(small, W, stride=2,
    padding=1)`` (weight [M, C, 4, 4]) with ``big`` the gradient of its output: a transposed
    convolution is the adjoint of the convolution with the same weight.
    """
    n, m, h, w = small_grad.shape
    padded = F.pad(big, (1, 1, 1, 1)).permute(0, 2, 3, 1).contiguous()  # [N, 2h+2, 2w+2, C]
    sn, sy, sx, sc = padded.stride()
    c = padded.shape[-1]
    windows = padded.as_strided((n, h, w, 4, 4, c), (sn, 2 * sy, 2 * sx, sy, sx, sc))
    patches = windows.reshape(n * h * w, 16 * c)  # one 4x4xC window per output pixel
    rows = small_grad.permute(0, 2, 3, 1).reshape(n * h * w, m)
    return (rows.t() @ patches).view(m, 4, 4, c).permute(0, 3, 1, 2)


class _PatchProductConv(torch.autograd.Function):
    """A 4x4 stride-2 padding-1 (transposed) convolution in bf16 whose weight gradient is
    :func:`patch_weight_gradient`; forward and input gradient are PyTorch's."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.bfloat16)
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        transposed: bool,
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.transposed = transposed
        if transposed:
            return F.conv_transpose2d(x, weight, bias, 2, 1)
        return F.conv2d(x, weight, bias, 2, 1)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:  # the kernel autograd runs for PyTorch's own layer
            grad_x = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                None,
                [2, 2],
                [1, 1],
                [1, 1],
                ctx.transposed,
                [0, 0],
                1,
                [True, False, False],
            )[0]
        if ctx.needs_input_grad[1]:
            big, small = (grad, x) if ctx.transposed else (x, grad)
            grad_weight = patch_weight_gradient(big, small)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum((0, 2, 3), dtype=torch.float32).to(grad.dtype)
        return grad_x, grad_weight, grad_bias, None


def _patch_product_pays(x: torch.Tensor, weight: torch.Tensor, channels: int, small: int) -> bool:
    """Whether this call takes the patch-product route (see the module docstring). Not under
    ``torch.compile``: inductor makes its own kernels, and its tracing lost the autocast state
    after the route's autocast-disabled forward (the next layer got bf16 input, fp32 weight)."""
    if x.device.type != "cpu" or not (torch.is_grad_enabled() and weight.requires_grad):
        return False
    if torch.compiler.is_compiling():
        return False
    if channels < MIN_CHANNELS or small > SMALL_MAP:
        return False
    autocast_bf16 = torch.is_autocast_enabled("cpu") and (
        torch.get_autocast_dtype("cpu") == torch.bfloat16
    )
    return autocast_bf16 or x.dtype == torch.bfloat16


class StridedConv2d(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)`` that halves even-sized maps."""

    def __init__(self, c_in: int, c_out: int, bias: bool = True) -> None:
        super().__init__(c_in, c_out, 4, 2, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        small = max(h, w) // 2
        if (
            h % 2 == 0
            and w % 2 == 0
            and _patch_product_pays(x, self.weight, self.out_channels, small)
        ):
            return _PatchProductConv.apply(x, self.weight, self.bias, False)
        return super().forward(x)


class StridedConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)`` that doubles maps."""

    def __init__(self, c_in: int, c_out: int, bias: bool = True) -> None:
        super().__init__(c_in, c_out, 4, 2, 1, bias=bias)

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        small = max(x.shape[-2:])
        if output_size is None and _patch_product_pays(x, self.weight, self.in_channels, small):
            return _PatchProductConv.apply(x, self.weight, self.bias, True)
        return super().forward(x, output_size)
