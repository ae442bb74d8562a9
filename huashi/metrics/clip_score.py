"""How well images follow their prompts, read by an image–text network.

CLIP score (Hessel et al. 2021): for each (image, prompt) pair, 100 * max(cos(image embedding,
text embedding), 0), averaged. Caption retrieval: the share of images whose own prompt ranks
first among ``candidates`` captions (itself and others drawn from the measured prompts), a
score a person can read ("picks its own caption out of 50 in 62 % of paintings"). With
huashi's in-domain CLIP (trained on the dataset's captions) both measure prompt fidelity on
that data; compare them only under the same CLIP checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from huashi.core.errors import HuashiError
from huashi.metrics import require_samples


def clip_score(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> float:
    """Mean of 100 * max(cosine, 0) over matching rows of [N, D] image and text embeddings."""
    if image_embeddings.shape != text_embeddings.shape:
        raise HuashiError(
            f"CLIP score needs one prompt per image: got {tuple(image_embeddings.shape)} image "
            f"and {tuple(text_embeddings.shape)} text embeddings."
        )
    require_samples("CLIP score", len(image_embeddings), 1, "a mean")
    cos = F.cosine_similarity(image_embeddings.float(), text_embeddings.float(), dim=1)
    return float((100 * cos.clamp(min=0)).mean())


def caption_retrieval_top1(
    image_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    captions: list[str],
    candidates: int = 50,
    seed: int = 0,
) -> float:
    """Share of images whose own caption is the most similar of ``candidates`` captions: its
    own and ``candidates - 1`` different ones drawn (seeded) from the other rows' captions.
    Row i of ``text_embeddings`` embeds ``captions[i]``; a tie counts as a miss."""
    if len(captions) != len(image_embeddings) or image_embeddings.shape != text_embeddings.shape:
        raise HuashiError("caption retrieval needs one caption and one text embedding per image.")
    first = {c: i for i, c in reversed(list(enumerate(captions)))}
    if len(first) < 2:
        raise HuashiError("caption retrieval needs at least 2 different captions.")
    rows = torch.tensor(list(first.values()))
    texts = F.normalize(text_embeddings.float()[rows], dim=1)
    images = F.normalize(image_embeddings.float(), dim=1)
    column = {c: k for k, c in enumerate(first)}
    own = torch.tensor([column[c] for c in captions])
    return ranked_first_share(images @ texts.T, own, candidates, seed)


def ranked_first_share(
    scores: torch.Tensor, own: torch.Tensor, candidates: int = 50, seed: int = 0
) -> float:
    """Share of rows i of ``scores`` [N, M] (image i against M names) whose own column
    ``own[i]`` scores above ``candidates - 1`` other columns drawn for it (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    hits = 0
    for i in range(len(scores)):
        others = torch.randperm(scores.shape[1], generator=generator)
        others = others[others != own[i]][: candidates - 1]
        hits += bool(scores[i, own[i]] > scores[i, others].max())
    return hits / len(scores)
