"""Test-wide settings: a private dataset cache, and one thread for the tiny test models."""

import pytest
import torch


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
