"""Test-wide settings: a private dataset cache, one thread for the tiny test models, and a tiny
randomly initialized text encoder."""

import os

# One OpenMP thread for the tiny test models (fastest, no hand-offs), set before torch loads; the
# trainers' --threads auto and every subprocess a test starts read it too.
os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Every test session gets its own dataset cache, shared across its tests."""
    monkeypatch.setenv("HUASHI_CACHE", str(tmp_path_factory.getbasetemp() / "huashi-cache"))


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models run fastest on one intra-op thread (no OpenMP hand-offs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_text_encoder(tmp_path_factory) -> str:
    """A local Hugging Face folder with a 1-layer, 16-wide BERT and MiniLM's tokenizer: loads by
    path like any text encoder, in a fraction of the real model's time."""
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer, BertConfig, BertModel

    from huashi.text import default_model_dir

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(default_model_dir()), local_files_only=True)
    tokenizer.save_pretrained(folder)
    return str(folder)
