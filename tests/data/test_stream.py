"""Streaming image folders from memory-mapped shards: the same batches as the in-memory set,
exact resume, a cache that follows the folder, corrupt files skipped, and the automatic choice."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from huashi import api
from huashi.core.errors import HuashiError
from huashi.data import load_dataset, stream
from huashi.data.cache import clear_cache, datasets_dir
from huashi.training import distributed
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint
from huashi.training.loop import TrainConfig

RES = 16
PER_SHARD = 5  # images per shard in these tests (SHARD_BYTES is set to match)


@pytest.fixture(autouse=True)
def small_shards(monkeypatch):
    monkeypatch.setattr(stream, "SHARD_BYTES", PER_SHARD * 3 * RES * RES)


def noise(seed: int, gray: bool = False, size=(20, 26)) -> Image.Image:
    shape = size if gray else (*size, 3)
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


def make_folder(root: Path, n: int = 23, captions: bool = True) -> Path:
    """Two class subfolders; the first shard's images are all grayscale (a 1-channel shard in a
    color set), one caption sidecar per image."""
    for i in range(n):
        sub = root / ("cat" if i < n // 2 else "dog")
        sub.mkdir(parents=True, exist_ok=True)
        noise(i, gray=i < PER_SHARD).save(sub / f"{i:03d}.png")
        if captions:
            (sub / f"{i:03d}.txt").write_text(f"picture {i}", encoding="utf-8")
    return root


def assert_same_batches(a, b, indices: torch.Tensor) -> None:
    ba, bb = a.batch(indices), b.batch(indices)
    assert ba.keys() == bb.keys()
    for key in ba:
        if isinstance(ba[key], torch.Tensor):
            assert ba[key].dtype == bb[key].dtype and torch.equal(ba[key], bb[key]), key
        else:
            assert ba[key] == bb[key], key


def test_streamed_batches_equal_the_in_memory_ones(tmp_path):
    root = make_folder(tmp_path / "pics")
    memory = load_dataset(str(root), resolution=RES)
    streamed = load_dataset(str(root), resolution=RES, mode="stream")
    assert memory.info["data_mode"] == "memory" and streamed.info["data_mode"] == "stream"
    shards = streamed.images.shards
    assert [s["channels"] for s in shards] == [1, 3, 3, 3, 3] and len(shards) == 5
    assert (len(streamed), streamed.channels, streamed.resolution) == (23, 3, RES)
    assert streamed.class_names == memory.class_names == ["cat", "dog"]
    assert streamed.captions == memory.captions
    assert streamed.info["fingerprint"] == memory.info["fingerprint"]
    order = torch.randperm(23, generator=torch.Generator().manual_seed(3))
    for part in order.split(8):  # batches spanning several shards, in shuffled order
        assert_same_batches(memory, streamed, part)
    assert torch.equal(streamed.images[:], memory.images)
    assert torch.equal(streamed.images[-1], memory.images[-1])
    for i in (0, 22, -23):
        got, want = streamed[i], memory[i]
        assert torch.equal(got["image"], want["image"]) and got["caption"] == want["caption"]
    with pytest.raises(IndexError):
        streamed.images[23]
    gray, gray_memory = (
        load_dataset(str(root), resolution=RES, channels=1, mode=m) for m in ("stream", "memory")
    )
    assert gray.channels == 1 and torch.equal(gray.images[:], gray_memory.images)


def test_streamed_pairs_equal_the_in_memory_ones(tmp_path):
    inputs = make_folder(tmp_path / "in", n=7, captions=False)
    targets = tmp_path / "out"
    for file in inputs.rglob("*.png"):
        (targets / file.parent.name).mkdir(parents=True, exist_ok=True)
        noise(int(file.stem) + 100, size=(30, 30)).save(targets / file.parent.name / file.name)
    memory, streamed = (
        load_dataset(str(inputs), resolution=RES, target=str(targets), mode=m)
        for m in ("memory", "stream")
    )
    assert streamed.targets.shape == memory.targets.shape == (7, 3, RES, RES)
    assert_same_batches(memory, streamed, torch.tensor([6, 0, 3, 5, 1]))


def test_the_stream_cache_follows_the_folder_and_survives_damage(tmp_path):
    root = make_folder(tmp_path / "pics", n=8, captions=False)
    first = load_dataset(str(root), resolution=RES, mode="stream")
    again = load_dataset(str(root), resolution=RES, mode="stream")
    assert not first.info.get("from_cache") and again.info["from_cache"]
    assert again.info["stream_cache"] == first.info["stream_cache"]

    changed = root / "dog" / "007.png"
    noise(999).save(changed)  # new pixels, same name
    os.utime(changed, ns=(1, 1))  # and an old time stamp: the size and time still differ
    rebuilt = load_dataset(str(root), resolution=RES, mode="stream")
    assert not rebuilt.info.get("from_cache")
    assert rebuilt.info["stream_cache"] != first.info["stream_cache"]
    fresh = load_dataset(str(root), resolution=RES, mode="memory", cache=False)
    assert torch.equal(rebuilt.images[:], fresh.images)
    assert not torch.equal(rebuilt.images[7], first.images[7])

    noise(1000).save(root / "dog" / "008.png")  # one more file
    assert len(load_dataset(str(root), resolution=RES, mode="stream")) == 9

    cache = Path(load_dataset(str(root), resolution=RES, mode="stream").info["stream_cache"])
    shard = cache / "images-00001.u8"
    shard.write_bytes(shard.read_bytes()[:100])  # a truncated shard is noticed and rebuilt
    healed = load_dataset(str(root), resolution=RES, mode="stream")
    assert not healed.info.get("from_cache") and len(healed) == 9
    assert torch.equal(healed.images[:], load_dataset(str(root), resolution=RES).images)


def test_a_corrupt_image_is_skipped_in_one_line_and_the_rest_kept(tmp_path):
    root = make_folder(tmp_path / "pics", n=12, captions=False)
    png = (root / "cat" / "000.png").read_bytes()
    (root / "cat" / "002.png").write_bytes(png[: len(png) // 2])  # truncated
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image file\(s\) .*002\.png"):
        streamed = load_dataset(str(root), resolution=RES, mode="stream")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = load_dataset(str(root), resolution=RES, mode="memory")
    assert len(streamed) == len(memory) == 11 and streamed.info["skipped"] == 1
    assert torch.equal(streamed.images[:], memory.images)
    assert torch.equal(streamed.labels, memory.labels)

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("a.png", "b.png"):
        (broken / name).write_bytes(b"not an image at all")
    with (
        pytest.raises(HuashiError, match="none of the 2 image files") as error,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        load_dataset(str(broken), resolution=RES, mode="stream")
    assert "\n" not in str(error.value)
    leftovers = [p.name for p in datasets_dir().iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []  # a failed build leaves nothing half-written


def test_an_interrupted_build_leaves_the_previous_cache_usable(tmp_path, monkeypatch):
    monkeypatch.setenv("HUASHI_CACHE", str(tmp_path / "cache"))  # cleared below
    root = make_folder(tmp_path / "pics", n=8, captions=False)
    before = load_dataset(str(root), resolution=RES, mode="stream")
    decoded = []
    real = stream.decode_each

    def stop_midway(*args, **kwargs):
        for item in real(*args, **kwargs):
            decoded.append(item[0])
            if len(decoded) == 6:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(stream, "decode_each", stop_midway)
    with pytest.raises(KeyboardInterrupt):
        load_dataset(str(root), resolution=RES, mode="stream", cache=False)  # rebuild
    assert not [p for p in datasets_dir().iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(stream, "decode_each", real)
    after = load_dataset(str(root), resolution=RES, mode="stream")
    assert after.info["from_cache"] and torch.equal(after.images[:], before.images[:])
    clear_cache()
    assert not Path(after.info["stream_cache"]).exists()


def test_auto_streams_above_the_threshold(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pics", n=6, captions=False)
    size = 6 * 3 * RES * RES
    assert stream.estimated_bytes(root, RES) == size
    monkeypatch.setattr(stream, "available_memory", lambda: 1 << 40)
    monkeypatch.setattr(stream, "STREAM_ABOVE_BYTES", size)
    assert load_dataset(str(root), resolution=RES, mode="auto").info["data_mode"] == "memory"
    monkeypatch.setattr(stream, "STREAM_ABOVE_BYTES", size - 1)
    assert load_dataset(str(root), resolution=RES, mode="auto").info["data_mode"] == "stream"
    monkeypatch.setattr(stream, "STREAM_ABOVE_BYTES", 1 << 40)
    monkeypatch.setattr(stream, "available_memory", lambda: 4 * size - 4)  # a quarter of it
    assert stream.choose_mode("auto", root, RES) == "stream"
    assert stream.choose_mode("memory", root, RES) == "memory"
    with pytest.raises(HuashiError, match="choose --data-mode from auto, memory, stream"):
        load_dataset(str(root), resolution=RES, mode="disk")
    with pytest.raises(HuashiError, match="choose --data-mode from auto, memory, stream"):
        TrainConfig(data_mode="disk")
    with pytest.raises(HuashiError, match="built-in set 'shapes' is held in memory"):
        load_dataset("shapes", resolution=RES, mode="stream", n=10)


TINY_DCGAN = {"g_width": 4, "d_width": 4, "z_dim": 8}
TRAIN = dict(
    batch_size=8, precision="fp32", channels_last=False, log_every=1, sample_every=1000,
    checkpoint_every=3, n_fixed=4, threads="1", progress=False,
)  # fmt: skip


def final_state(run: Path):
    return load_checkpoint(latest_checkpoint(run / "checkpoints"))


def test_a_resumed_streaming_run_equals_the_uninterrupted_one(tmp_path):
    root = str(make_folder(tmp_path / "pics", n=20, captions=False))

    def train(run: str, mode: str, steps: int, resume: bool = False):
        if resume:
            return api.train(tmp_path / run, resume=True, steps=steps, data_mode=mode, **TRAIN)
        return api.train(tmp_path / run, "dcgan", root, RES, model=TINY_DCGAN, steps=steps,
                         data_mode=mode, **TRAIN)  # fmt: skip

    train("stream", "stream", 6)
    train("stopped", "stream", 3)
    torch.manual_seed(1234)  # nothing but the checkpoint carries over
    train("stopped", "stream", 6, resume=True)
    train("switched", "memory", 3)  # the mode is a session setting: switching stays exact
    train("switched", "stream", 6, resume=True)
    (want, meta), *others = (final_state(tmp_path / r) for r in ("stream", "stopped", "switched"))
    assert meta["step"] == 6 and meta["epoch"] == 2  # 20 images, 2 batches of 8 per epoch
    for tensors, other_meta in others:
        assert tensors.keys() == want.keys()
        for key in want:
            assert torch.equal(tensors[key], want[key]), key
        assert other_meta["position"] == meta["position"]
    config = (tmp_path / "stream" / "config.json").read_text()
    assert '"data_mode": "stream"' in config


def train_two_ranks(rank: int, root: str, folder: str) -> None:
    """One of two torchrun-like ranks (gloo): a streamed and an in-memory run of the folder."""
    import torch.distributed as dist

    os.environ |= {"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}
    os.environ |= {"LOCAL_WORLD_SIZE": "2", "HUASHI_CACHE": f"{root}/cache"}
    stream.SHARD_BYTES = PER_SHARD * 3 * RES * RES
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{root}/init", rank=rank, world_size=2)
    try:
        for mode in ("stream", "memory"):
            api.train(f"{root}/{mode}", "dcgan", folder, RES, model=TINY_DCGAN, steps=3,
                      data_mode=mode, **TRAIN)  # fmt: skip
    except BaseException:
        dist.destroy_process_group()
        raise
    distributed.end_process(0)  # as `huashi train` ends under torchrun


def test_two_ranks_stream_the_same_batches_as_in_memory(tmp_path):
    """Rank 0 writes the shards while rank 1 waits, then each rank reads its own slice of every
    global batch from them: the run equals the in-memory two-rank run bit for bit."""
    import torch.multiprocessing as mp

    folder = str(make_folder(tmp_path / "pics", n=20, captions=False))
    mp.spawn(train_two_ranks, args=(str(tmp_path), folder), nprocs=2, join=True)
    (streamed, meta), (memory, _) = (final_state(tmp_path / m) for m in ("stream", "memory"))
    assert meta["world_size"] == 2 and streamed.keys() == memory.keys()
    for key in memory:  # weights, optimizer moments and both ranks' random states
        assert torch.equal(streamed[key], memory[key]), key
    built = [p.name for p in (tmp_path / "cache" / "datasets").iterdir() if p.is_dir()]
    assert len(built) == 1 and built[0].startswith("stream-")  # one build, shared by both ranks
