"""Losses as small pure functions, one file per kind (GAN, pix2pix, autoencoder, CLIP,
diffusion). They import only :mod:`huashi.core` and the diffusion schedules."""
