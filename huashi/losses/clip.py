"""CLIP's loss (Radford et al. 2021): symmetric InfoNCE over a batch of image and text
embeddings, with repeated captions all counted as positives; and GigaGAN's one-sided term that
pulls generated images toward their prompts with a frozen CLIP."""

from __future__ import annotations

import torch


def contrastive_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor, same: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE. ``same[i, j]`` is True when captions i and j are identical: every
    matching caption counts as a positive (the target spreads evenly over them)."""
    logits = scale * image_emb @ text_emb.T
    target = same.float() / same.float().sum(dim=1, keepdim=True)
    image_to_text = torch.sum(-target * logits.log_softmax(dim=1), dim=1).mean()
    text_to_image = torch.sum(-target * logits.T.log_softmax(dim=1), dim=1).mean()
    return (image_to_text + text_to_image) / 2


def clip_guidance_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor, same: torch.Tensor
) -> torch.Tensor:
    """GigaGAN's CLIP contrastive term for a generator: cross-entropy of each image's scaled
    cosine similarities to every prompt of the batch, against its own prompt (with repeated
    prompts, the target spreads evenly over them). Embeddings are L2-normalized."""
    logits = scale * image_emb @ text_emb.T
    target = same.float() / same.float().sum(dim=1, keepdim=True)
    return torch.sum(-target * logits.log_softmax(dim=1), dim=1).mean()
