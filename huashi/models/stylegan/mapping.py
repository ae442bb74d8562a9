"""The mapping network: z (and a class or text embedding) -> w, with the tracked average of w
that truncation pulls towards."""

from __future__ import annotations

import torch
from torch import nn

from huashi.models.stylegan.layers import EqualLinear


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class MappingNetwork(nn.Module):
    """``num_layers`` equalized-lr fully connected layers with leaky ReLU, at ``lr_mul`` of the
    learning rate (0.01 in StyleGAN2). A condition (class index or text vector) is embedded,
    normalized and concatenated to the normalized z. ``w_avg`` follows the batches' mean w
    during training (``update_w_avg=True``) with decay ``w_avg_beta``."""

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        num_layers: int = 8,
        lr_mul: float = 0.01,
        condition: str = "none",
        num_classes: int = 0,
        text_dim: int = 0,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.w_avg_beta = z_dim, w_dim, w_avg_beta
        self.condition = condition
        embed_dim = 0
        if condition == "class":
            self.embed: nn.Module | None = nn.Embedding(num_classes, w_dim)
            embed_dim = w_dim
        elif condition == "text":
            self.embed = EqualLinear(text_dim, w_dim)
            embed_dim = w_dim
        else:
            self.embed = None
        dims = [z_dim + embed_dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(
            *[
                EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul, activation=True)
                for i in range(num_layers)
            ]
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor,
        cond: torch.Tensor | None = None,
        truncation: float = 1.0,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        x = normalize_2nd_moment(z.float())
        if self.embed is not None:
            if cond is None:
                raise ValueError("this mapping network is conditional: pass cond")
            x = torch.cat([x, normalize_2nd_moment(self.embed(cond).float())], dim=1)
        w = self.layers(x)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().float().mean(dim=0), 1.0 - self.w_avg_beta)
        if truncation != 1.0:
            w = self.w_avg + truncation * (w - self.w_avg)
        return w
