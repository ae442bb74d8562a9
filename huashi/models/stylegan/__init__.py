"""StyleGAN2 (Karras et al. 2020) as plain modules, sized for a CPU: equalized-lr layers, the
mapping network, the skip-connection synthesis network and the residual discriminator."""
