"""Image-to-image metrics: L1, PSNR and SSIM between outputs and their targets.

Pure functions on batches [B, C, H, W] in ``value_range`` (huashi's [-1, 1] by default, or
(0, 1)). Images are first mapped to [0, 1], so L1 is a fraction of the full range, PSNR uses a
peak of 1 and SSIM a data range of 1. Each returns one value per image, [B].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def to_unit(images: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    low, high = value_range
    return (images.double() - low) / (high - low)


def _check(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"expected two batches [B, C, H, W] of one shape, got {x.shape}, {y.shape}"
        )


def l1(
    x: torch.Tensor, y: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """Mean absolute difference per image, on the [0, 1] scale."""
    _check(x, y)
    return (to_unit(x, value_range) - to_unit(y, value_range)).abs().mean(dim=(1, 2, 3)).float()


def psnr(
    x: torch.Tensor, y: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB: 10 log10(1 / MSE) on the [0, 1] scale
    (infinite for identical images)."""
    _check(x, y)
    mse = (to_unit(x, value_range) - to_unit(y, value_range)).pow(2).mean(dim=(1, 2, 3))
    return (10 * torch.log10(1.0 / mse)).float()


def gaussian_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """A normalized 1-D Gaussian [size] (float64)."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(offsets**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """A normalized 2-D Gaussian [size, size] (float64): the outer product of two 1-D ones."""
    g = gaussian_1d(size, sigma)
    return g[:, None] * g[None, :]


def ssim(
    x: torch.Tensor, y: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image: local means, variances and covariance
    under an 11x11 Gaussian window (sigma 1.5), C1 = (0.01)^2, C2 = (0.03)^2. The images are
    reflect-padded by 5 pixels so that every pixel has a full window (as torchmetrics does);
    the SSIM map is averaged over channels and pixels."""
    _check(x, y)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels")
    x, y = to_unit(x, value_range), to_unit(y, value_range)
    g = gaussian_1d().to(x.device)
    pad = SSIM_WINDOW // 2

    def blur(images: torch.Tensor) -> torch.Tensor:
        """The Gaussian window, applied as a column then a row pass (it is separable: the same
        sums, ~5x faster than the 2-D window in float64)."""
        b, c, height, width = images.shape
        flat = images.reshape(b * c, 1, height, width)
        flat = F.conv2d(F.conv2d(flat, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))
        return flat.reshape(b, c, *flat.shape[-2:])

    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.pad(y, (pad, pad, pad, pad), mode="reflect")
    mu_x, mu_y = blur(x), blur(y)
    var_x = (blur(x * x) - mu_x**2).clamp(min=0)  # clamped: rounding can make them negative
    var_y = (blur(y * y) - mu_y**2).clamp(min=0)
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return index.mean(dim=(1, 2, 3)).float()


def pair_metrics(
    x: torch.Tensor, y: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> dict[str, torch.Tensor]:
    """All three per image: {"l1": [B], "psnr": [B], "ssim": [B]}."""
    return {
        "l1": l1(x, y, value_range),
        "psnr": psnr(x, y, value_range),
        "ssim": ssim(x, y, value_range),
    }
