"""The Pix2Pix model and recipe settings (saved in a run's ``config.json``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Pix2PixConfig:
    g_width: int = 64  # channels of the U-Net's first encoder block ("ngf")
    g_max_mult: int = 8  # encoder widths double per level up to g_width * g_max_mult
    dropout: float = 0.5  # dropout in the first decoder blocks (the paper's noise source)
    dropout_blocks: int = 3  # how many decoder blocks (from the bottleneck) have dropout
    test_dropout: bool = False  # keep dropout on when translating (seeded per image)
    norm: str = "batch"  # "batch" or "instance"
    d_width: int = 64  # channels of the PatchGAN's first layer ("ndf")
    d_layers: int = 0  # strided layers of the PatchGAN; 3 = the classic 70x70; 0 = fit the size
    l1_weight: float = 100.0  # lambda of the L1 term
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
