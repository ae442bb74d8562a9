"""Text side of huashi: the frozen text encoder that conditions generators on captions.
A building block: it imports only :mod:`huashi.core`."""

from huashi.text.encoder import (
    DEFAULT_NAME,
    TextEmbedding,
    TextEncoder,
    default_model_dir,
    load_text_encoder,
)

__all__ = ["DEFAULT_NAME", "TextEmbedding", "TextEncoder", "default_model_dir", "load_text_encoder"]
