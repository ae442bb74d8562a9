"""Diffusion building blocks: noise schedules, samplers and the img2img/inpainting inputs
(pure functions, no training). It imports only :mod:`huashi.core`."""
