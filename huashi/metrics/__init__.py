"""Metrics of image generators, one file each (as in NVlabs stylegan2-ada): FID, KID,
precision/recall, IS, CLIP score, exact attribute accuracy on ``shapes``, and L1/PSNR/SSIM for
image-to-image runs. :mod:`huashi.metrics.registry` lists them with what each needs and how it
is shown; evaluation and comparison read that registry.

Every metric here is a pure function of feature vectors (or images, for the attribute checker
and the image-to-image scores): which network made the features is decided in
:mod:`huashi.metrics.features`, and how a run is measured end to end in
:mod:`huashi.metrics.evaluate` (the comparison page in :mod:`huashi.metrics.compare`). Metrics
may import the run loader and everything below it; never the GAN tools, the tools, the API or
the fronts.
"""

from __future__ import annotations

from huashi.core.errors import HuashiError


def require_samples(what: str, have: int, minimum: int, why: str) -> None:
    """Refuse a statistic computed from fewer than ``minimum`` samples."""
    if have < minimum:
        raise HuashiError(
            f"{what} needs at least {minimum} samples ({why}), got {have}: "
            f"raise --n to {minimum} or more."
        )
