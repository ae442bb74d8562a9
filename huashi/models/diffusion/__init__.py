"""The diffusion U-Net."""
