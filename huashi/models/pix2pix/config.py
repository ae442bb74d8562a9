"""The Pix2Pix model and recipe settings (saved in a run's ``config.json``)."""

from __future__ import annotations

from dataclasses import dataclass

from huashi.core.config_fields import option


@dataclass
class Pix2PixConfig:
    g_width: int = option(64, "channels of the U-Net's first encoder block (ngf)")
    g_max_mult: int = option(8, "encoder widths double per level up to g_width times this")
    dropout: float = option(0.5, "dropout in the first decoder blocks (the paper's noise source)")
    dropout_blocks: int = option(3, "how many decoder blocks (from the bottleneck) have dropout")
    test_dropout: bool = option(False, "keep dropout on when translating (seeded per image)")
    norm: str = option("batch", "normalization in G and D", choices=("batch", "instance"))
    d_width: int = option(64, "channels of the PatchGAN's first layer (ndf)")
    d_layers: int = option(
        0, "strided PatchGAN layers: 3 = the classic 70x70, 0 = fit the resolution"
    )
    l1_weight: float = option(100.0, "lambda: weight of the L1 term")
