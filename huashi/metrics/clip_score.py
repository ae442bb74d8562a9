"""CLIP score (Hessel et al. 2021): how well images match their prompts, by an image–text
model. For each (image, prompt) pair: 100 * max(cos(image embedding, text embedding), 0),
averaged. With huashi's in-domain CLIP (trained on the dataset's captions) it measures
prompt fidelity on that data; compare scores only under the same CLIP checkpoint.
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
