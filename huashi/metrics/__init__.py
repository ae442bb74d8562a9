"""Metrics of image generators, one file each (as in NVlabs stylegan2-ada): FID, KID,
precision/recall, IS, CLIP score, exact attribute accuracy on ``shapes``, and (image_to_image.py,
from the pix2pix branch) L1/PSNR/SSIM.

Every metric here is a pure function of feature vectors (or images, for the attribute checker):
which network made the features is decided in :mod:`huashi.features`, and how a run is measured
end to end in :mod:`huashi.evaluate`.
"""

from __future__ import annotations

from huashi.errors import HuashiError


def require_samples(what: str, have: int, minimum: int, why: str) -> None:
    """Refuse a statistic computed from fewer than ``minimum`` samples."""
    if have < minimum:
        raise HuashiError(
            f"{what} needs at least {minimum} samples ({why}), got {have}: "
            f"raise --n to {minimum} or more."
        )
