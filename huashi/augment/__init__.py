"""Augmentation for training discriminators on little data, a building block of the families.

:mod:`~huashi.augment.diffaugment` holds the differentiable DiffAugment policies (and the
random shifts Pix2Pix uses); :mod:`~huashi.augment.ada` adapts their strength to how much the
discriminator overfits (ADA). Pure tensor functions and one small state object; imports only
:mod:`huashi.core`.
"""
