"""Autoencoders: the plain conv autoencoder, the VAE, and the KL autoencoder for latent diffusion."""
