"""GigaGAN (Kang et al. 2023) as plain modules, sized for a CPU: sample-adaptive kernel selection,
stable (L2-distance) attention, the text-conditioned generator with an image pyramid, and the
multi-scale text-projection discriminator."""
