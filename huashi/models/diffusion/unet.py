"""The diffusion U-Net, sized by :class:`UNetConfig`; reads top to bottom.

x_t [B, C, R, R] and timesteps t [B] (float) -> a prediction shaped like x_t (ε or v).

* the timestep goes through a sinusoidal embedding and a two-layer MLP; a class label (with one
  extra learned "null" class for classifier-free guidance) adds its embedding to it;
* residual blocks: GroupNorm, SiLU, conv, plus the (time + class) embedding as a per-channel
  shift, GroupNorm, SiLU, dropout, conv; a 1x1 conv on the skip when the width changes;
* at the feature-map sizes in ``attention_resolutions``: self-attention, and cross-attention to
  text tokens (with a key padding mask) when ``context_dim`` > 0;
* ``len(channel_mults)`` levels: down with strided convs, up with nearest-neighbour + conv, a
  skip connection from every down block to the mirrored up block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from huashi.core.errors import HuashiError


@dataclass
class UNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2)
    res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16,)
    resolution: int = 32
    heads: int = 4
    dropout: float = 0.0
    norm_groups: int = 32
    num_classes: int = 0  # > 0: class conditioning, with one extra null class
    context_dim: int = 0  # > 0: cross-attention to text tokens of this width


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [B, dim] of (possibly fractional) timesteps t [B]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    embedding = torch.cat([angles.cos(), angles.sin()], dim=1)
    return F.pad(embedding, (0, dim % 2))


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32, returned in the input's dtype: exact statistics under bf16
    autocast, and on CPUs faster than bf16 GroupNorm on channels_last tensors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps)
        return out.to(x.dtype)


def norm(channels: int, groups: int) -> nn.GroupNorm:
    return GroupNorm32(math.gcd(groups, channels), channels)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None):
    """Scaled dot-product attention. On the CPU it runs in float32 even under bf16 autocast: the
    CPU's bf16 attention backward is 2x slower than its float32 one."""
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with torch.autocast("cpu", enabled=False):
        out = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    return out.to(q.dtype)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1 = norm(c_in, groups)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = norm(c_out, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head attention of image positions to themselves (context None) or to a context."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        if dim % heads:
            raise HuashiError(
                f"--heads {heads} does not divide the attention width {dim}: choose a number of "
                "heads that divides every level's channels (e.g. 4)."
            )
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(context_dim or dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, n, d = x.shape
        source = x if context is None else context
        q = self.q(x)
        k, v = self.kv(source).chunk(2, dim=-1)
        q, k, v = (z.reshape(b, -1, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        attn_mask = None if mask is None else mask[:, None, None, :]  # True = attend
        h = attention(q, k, v, attn_mask)
        return self.out(h.transpose(1, 2).reshape(b, n, d))


class AttentionBlock(nn.Module):
    """Self-attention over the feature map, then cross-attention to text tokens if any."""

    def __init__(self, channels: int, heads: int, groups: int, context_dim: int = 0) -> None:
        super().__init__()
        self.norm = norm(channels, groups)
        self.self_attn = Attention(channels, heads)
        self.cross = context_dim > 0
        if self.cross:
            self.norm_cross = nn.LayerNorm(channels)
            self.cross_attn = Attention(channels, heads, context_dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None, mask: torch.Tensor | None
    ) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # [B, HW, C]
        out = x.flatten(2).transpose(1, 2) + self.self_attn(tokens)
        if self.cross:
            out = out + self.cross_attn(self.norm_cross(out), context, mask)
        return out.transpose(1, 2).reshape(b, c, h, w)


class Level(nn.Module):
    """The blocks of one resolution: residual blocks, each followed by attention if asked."""

    def __init__(self, blocks: list[ResBlock], attentions: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)


class UNet(nn.Module):
    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        ch = c.base_channels
        emb_dim = 4 * ch
        self.time_mlp = nn.Sequential(
            nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.class_embed = nn.Embedding(c.num_classes + 1, emb_dim) if c.num_classes else None
        if c.context_dim:  # the learned "no text" context: one token
            self.null_context = nn.Parameter(torch.randn(1, c.context_dim) * 0.02)

        def attention(channels: int, size: int) -> nn.Module:
            if size in c.attention_resolutions:
                return AttentionBlock(channels, c.heads, c.norm_groups, c.context_dim)
            return nn.Identity()

        self.stem = nn.Conv2d(c.in_channels, ch, 3, padding=1)
        widths = [ch * m for m in c.channel_mults]
        skips = [ch]
        size, width = c.resolution, ch
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, out in enumerate(widths):
            blocks, attns = [], []
            for _ in range(c.res_blocks):
                blocks.append(ResBlock(width, out, emb_dim, c.dropout, c.norm_groups))
                attns.append(attention(out, size))
                width = out
                skips.append(width)
            self.down.append(Level(blocks, attns))
            last = i == len(widths) - 1
            self.downsample.append(
                nn.Identity() if last else nn.Conv2d(width, width, 3, stride=2, padding=1)
            )
            if not last:
                skips.append(width)
                size //= 2

        self.mid1 = ResBlock(width, width, emb_dim, c.dropout, c.norm_groups)
        self.mid_attn = AttentionBlock(width, c.heads, c.norm_groups, c.context_dim)
        self.mid2 = ResBlock(width, width, emb_dim, c.dropout, c.norm_groups)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, out in reversed(list(enumerate(widths))):
            blocks, attns = [], []
            for _ in range(c.res_blocks + 1):
                blocks.append(ResBlock(width + skips.pop(), out, emb_dim, c.dropout, c.norm_groups))
                attns.append(attention(out, size))
                width = out
            self.up.append(Level(blocks, attns))
            first = i == 0
            self.upsample.append(
                nn.Identity()
                if first
                else nn.Sequential(
                    nn.Upsample(scale_factor=2.0), nn.Conv2d(width, width, 3, padding=1)
                )
            )
            if not first:
                size *= 2

        self.head = nn.Sequential(norm(width, c.norm_groups), nn.SiLU())
        self.out = nn.Conv2d(width, c.out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def null_class(self) -> int:
        return self.config.num_classes

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``labels`` [B] (``null_class`` = unconditional); ``context`` [B, L, D] text tokens with
        ``context_mask`` [B, L] True at real tokens (each row needs at least one)."""
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels))
        if self.class_embed is not None:
            if labels is None:
                labels = torch.full((len(x),), self.null_class, device=x.device)
            emb = emb + self.class_embed(labels)
        if self.config.context_dim and context is None:
            context, context_mask = self.null_tokens(len(x))

        h = self.stem(x)
        skips = [h]
        for level, down in zip(self.down, self.downsample, strict=True):
            for block, attn in zip(level.blocks, level.attentions, strict=True):
                h = block(h, emb)
                h = attn(h, context, context_mask) if not isinstance(attn, nn.Identity) else h
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb), context, context_mask), emb)
        for level, up in zip(self.up, self.upsample, strict=True):
            for block, attn in zip(level.blocks, level.attentions, strict=True):
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
                h = attn(h, context, context_mask) if not isinstance(attn, nn.Identity) else h
            h = up(h)
        return self.out(self.head(h))

    def null_tokens(self, n: int, length: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned "no text" context for ``n`` samples, padded to ``length`` tokens."""
        tokens = self.null_context.new_zeros(n, length, self.config.context_dim)
        tokens[:, 0] = self.null_context[0]
        mask = torch.zeros(n, length, dtype=torch.bool, device=tokens.device)
        mask[:, 0] = True
        return tokens, mask
