"""The 4x4 stride-2 layers whose bf16 weight gradient on small maps is a patch matrix product:
exact gradients (float64 gradcheck), the same numbers as PyTorch's layers under bf16 autocast,
and the route taken only where it was measured to pay."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from huashi.models import strided_conv
from huashi.models.strided_conv import (
    StridedConv2d,
    StridedConvTranspose2d,
    _PatchProductConv,
    patch_weight_gradient,
)


@pytest.mark.parametrize("transposed", [False, True])
def test_the_patch_product_convolution_has_the_exact_gradients(transposed):
    torch.manual_seed(0)
    small = torch.randn(2, 5, 3, 2, dtype=torch.double)  # odd channels, a rectangular map
    big = torch.randn(2, 3, 6, 4, dtype=torch.double)
    x = (small if transposed else big).requires_grad_()
    weight = torch.randn(5, 3, 4, 4, dtype=torch.double, requires_grad=True)
    bias = torch.randn(3 if transposed else 5, dtype=torch.double, requires_grad=True)
    conv = lambda x, w, b: _PatchProductConv.apply(x, w, b, transposed)  # noqa: E731
    assert torch.autograd.gradcheck(conv, (x, weight, bias))


def test_the_patch_product_is_autograds_weight_gradient():
    torch.manual_seed(1)
    big = torch.randn(3, 4, 8, 6, dtype=torch.double)
    weight = torch.randn(7, 4, 4, 4, dtype=torch.double, requires_grad=True)
    out = nn.functional.conv2d(big, weight, None, 2, 1)
    grad = torch.randn_like(out)
    (expected,) = torch.autograd.grad(out, weight, grad)
    torch.testing.assert_close(patch_weight_gradient(big, grad), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("layer", "reference", "size"),
    [
        (StridedConv2d(128, 256), nn.Conv2d(128, 256, 4, 2, 1), 8),
        (StridedConvTranspose2d(256, 128), nn.ConvTranspose2d(256, 128, 4, 2, 1), 4),
    ],
)
def test_under_bf16_autocast_it_takes_the_route_and_agrees_with_pytorchs_layer(
    layer, reference, size
):
    reference.load_state_dict(layer.state_dict())  # same parameters, same state dict
    x = torch.randn(8, layer.in_channels, size, size).contiguous(memory_format=torch.channels_last)
    results = []
    for module in (layer, reference):
        inputs = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(inputs)
        (out.float() ** 2).mean().backward()
        results.append((out, inputs.grad, module.weight.grad, module.bias.grad))
    (out, grad_x, grad_w, grad_b), (ref_out, ref_x, ref_w, ref_b) = results
    assert out.grad_fn.name() == "_PatchProductConvBackward"
    assert ref_out.grad_fn.name() != "_PatchProductConvBackward"
    # forward and input gradient are PyTorch's own kernels: the same numbers
    assert torch.equal(out, ref_out) and torch.equal(grad_x, ref_x)
    torch.testing.assert_close(grad_b, ref_b, rtol=1e-2, atol=1e-6)
    # the weight gradient is summed in another order, then rounded to bf16 like oneDNN's
    assert grad_w.dtype == torch.float32 and grad_w.shape == ref_w.shape
    assert (grad_w - ref_w).abs().max() <= 1e-2 * ref_w.abs().max()


def test_the_route_is_taken_only_where_it_was_measured_to_pay():
    def route(layer, x, precision="bf16", grad=True):
        bf16 = precision == "bf16"
        with torch.set_grad_enabled(grad), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            out = layer(x)
        return out.grad_fn is not None and out.grad_fn.name() == "_PatchProductConvBackward"

    wide = StridedConv2d(64, strided_conv.MIN_CHANNELS)
    assert route(wide, torch.randn(2, 64, 8, 8))
    bf16_weights = StridedConv2d(64, strided_conv.MIN_CHANNELS).bfloat16()
    assert route(bf16_weights, torch.randn(2, 64, 8, 8).bfloat16(), precision="fp32")
    assert not route(wide, torch.randn(2, 64, 8, 8), precision="fp32")  # fp32: oneDNN's
    assert not route(wide, torch.randn(2, 64, 8, 8), grad=False)  # sampling
    assert not route(wide, torch.randn(2, 64, 2 * strided_conv.SMALL_MAP + 2, 18))  # large map
    assert not route(StridedConv2d(64, 128), torch.randn(2, 64, 8, 8))  # few channels
    frozen = StridedConvTranspose2d(strided_conv.MIN_CHANNELS, 8).requires_grad_(False)
    assert not route(frozen, torch.randn(2, strided_conv.MIN_CHANNELS, 4, 4))  # no weight grad


def test_under_torch_compile_the_layers_are_pytorchs_own_and_autocast_holds():
    """Dynamo lost the autocast state after the route's forward (the next layer then got bf16
    input and fp32 weights), so compiled code takes PyTorch's layers; the numbers are the same
    as eager mode's."""
    torch.manual_seed(0)
    net = nn.Sequential(StridedConv2d(64, 256, bias=False), nn.LeakyReLU(0.2), nn.Conv2d(256, 1, 4))
    x = torch.randn(2, 64, 8, 8)
    results = []
    for model in (net, torch.compile(net, backend="eager")):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x).float().sum()
        (grad,) = torch.autograd.grad(out, net[0].weight)
        results.append((out, grad))
    (eager_out, eager_grad), (compiled_out, compiled_grad) = results
    torch.testing.assert_close(compiled_out, eager_out, rtol=1e-2, atol=1e-2)
    assert (compiled_grad - eager_grad).abs().max() <= 1e-2 * eager_grad.abs().max()
