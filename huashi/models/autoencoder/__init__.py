"""Autoencoders: A1 plain conv autoencoder, A2 VAE, A3 KL autoencoder for latent diffusion."""
