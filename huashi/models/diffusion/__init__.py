"""The diffusion U-Net (F2)."""
