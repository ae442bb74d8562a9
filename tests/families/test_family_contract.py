"""What every registered model family promises, tested on each (a new family gets these tests by
registering in ``huashi.families.FAMILIES``):

- exact resume: N steps straight equal N/2 steps, a checkpoint, a new process's resume and N/2
  more, in every tensor of the final checkpoint (weights, EMA, optimizers, RNG states);
- a seed paints the same image at any batch size, and again on a second call;
- a checkpoint of another family is refused with a clear error;
- data the family cannot use is refused with a clear error before training;
- generating leaves the modules as it found them (training flags, memory format, gradients
  flags), so threads may share a loaded run;
- the latent contract: ``generate(seeds) == generate_from_latents(latents_for_seeds(seeds))``,
  with gradients flowing back to the latents.

The data are real tiny ``ImageSet``s: the built-in ``shapes`` at 16 px (labels and captions),
and for image-to-image families the same images paired with their mirror images.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from functools import cache
from pathlib import Path

import pytest
import torch

import huashi
from huashi.api import data_info_of
from huashi.core.errors import HuashiError
from huashi.data import ImageSet, load_dataset
from huashi.families import FAMILIES, Family
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from huashi.training.loop import TrainConfig, Trainer
from huashi.training.step import Trainable

CPU = torch.device("cpu")
NAMES = sorted(FAMILIES)

#: Tiny model options per family (a family without an entry trains with its defaults). Chosen to
#: switch on the family's sources of randomness, so that exact resume means something.
TINY: dict[str, dict] = {
    "dcgan": {"g_width": 4, "d_width": 4, "z_dim": 8},
    "gan": {
        "g_width": 4, "d_width": 4, "z_dim": 8, "loss": "nsgan", "condition": "class",
        "diffaugment": "color,translation,cutout", "label_smoothing": True, "label_flip": 0.1,
        "instance_noise": 0.2, "r1_weight": 0.5, "r1_every": 3, "d_norm": "instance",
    },
    "ae": {"width": 8, "z_dim": 16},
    "vae": {"width": 8, "z_dim": 16},
    "kl-vae": {
        "width": 8, "max_width": 16, "lr": 1e-3, "adversarial": True, "adv_start": 1,
        "disc_width": 8,
    },
    "diffusion": {
        "base_channels": 8, "channel_mults": (1, 2), "res_blocks": 1,
        "attention_resolutions": (8,), "heads": 2, "norm_groups": 8, "timesteps": 100,
        "sample_steps": 3, "condition": "class", "prediction": "v", "loss_weighting": "min-snr",
        "cond_dropout": 0.3,
    },
    "pix2pix": {"g_width": 4, "d_width": 4, "jitter": 1},
    "clip": {"width": 8, "embed_dim": 16, "text_hidden": 16},
    "classifier": {"width": 8},
    "upsampler": {"width": 32, "w_dim": 8, "z_dim": 4, "num_kernels": 2, "r1_every": 2,
                  "d_channel_max": 8},
}  # fmt: skip
STEPS = 4  # resumed after STEPS // 2


@cache
def datasets() -> tuple[ImageSet, ...]:
    """Tiny real data sets, in order of preference: labelled and captioned shapes, and the
    same images paired with their mirror images (image-to-image)."""
    shapes = load_dataset("shapes", resolution=16, n=16)
    pairs = ImageSet("mirrored shapes", shapes.images, targets=shapes.images.flip(-1).contiguous())
    return shapes, pairs


@pytest.fixture
def make(tiny_text_encoder):
    """make(name) -> (family, dataset): a tiny model of the family on the first data set it
    accepts, built with a fixed seed."""

    def build(name: str, **changes) -> tuple[Family, ImageSet]:
        family_class = FAMILIES[name]
        options = dict(TINY.get(name, {})) | changes
        fields = {f.name for f in dataclasses.fields(family_class.config_class)}
        if "text_encoder" in fields:  # a tiny random BERT instead of MiniLM: seconds faster
            options["text_encoder"] = tiny_text_encoder
        config = family_class.make_config(options)
        refusals = []
        for dataset in datasets():
            info = data_info_of(dataset)
            try:
                family_class.check_data(info, config)
            except HuashiError as error:
                refusals.append(str(error))
                continue
            torch.manual_seed(0)
            return family_class(config, info, CPU), dataset
        raise AssertionError(f"{name} accepts none of the test data sets: {refusals}")

    return build


def trainer(make, name, run_dir, steps=STEPS, stop_at=None) -> Trainer:
    family, dataset = make(name)
    config = TrainConfig(
        steps=steps, batch_size=4, checkpoint_every=100, sample_every=2, n_fixed=4,
        log_every=1, ema=0.9, precision="fp32",
    )  # fmt: skip
    callbacks = [lambda t, losses: t.request_stop() if t.step == stop_at else None]
    return Trainer(family, dataset, config, run_dir, callbacks, progress=False)


def sampling_options(family: Family, dataset: ImageSet, seeds: list[int]) -> dict:
    """Options that give image i a condition that depends on ``seeds[i]`` only."""
    batch = dataset.batch(torch.tensor(seeds) % len(dataset))
    if family.condition == "image":
        return {"inputs": batch["image"]}
    if family.condition == "class":
        return {"label": [int(k) for k in batch["label"]]}
    if family.condition == "text":
        return {"prompt": batch["caption"]}
    return {}


def test_every_family_has_a_tiny_configuration():
    """Families without one train with their defaults here: slow, but still tested."""
    assert set(TINY) <= set(FAMILIES)
    for name, family_class in FAMILIES.items():
        family_class.make_config(dict(TINY.get(name, {})))


@pytest.mark.parametrize("name", NAMES)
def test_interrupted_and_resumed_training_equals_the_straight_run(make, name, tmp_path):
    straight = trainer(make, name, tmp_path / "a")
    straight.run()
    first = trainer(make, name, tmp_path / "b", stop_at=STEPS // 2)
    assert first.run().interrupted
    torch.manual_seed(1234)  # a new process: nothing carries over but the checkpoint
    resumed = trainer(make, name, tmp_path / "b")
    assert resumed.resume_latest() and resumed.step == STEPS // 2
    resumed.run()
    (a, meta_a), (b, meta_b) = (
        load_checkpoint(latest_checkpoint(tmp_path / run / "checkpoints")) for run in "ab"
    )
    assert meta_a["step"] == meta_b["step"] == STEPS
    assert a.keys() == b.keys()
    for key in a:  # weights, EMA, optimizer moments, RNG states: bit for bit
        assert torch.equal(a[key], b[key]), key
    ignore = {"train_seconds"}
    assert {k: v for k, v in meta_a.items() if k not in ignore} == {
        k: v for k, v in meta_b.items() if k not in ignore
    }
    if FAMILIES[name].ema_targets:
        assert any(key.startswith("ema/") for key in a)
    untrained, _ = make(name)
    before = untrained.state_tensors()[0]
    assert any(not torch.equal(before[k], a[k]) for k in before if k.startswith("modules/"))
    logs = [(tmp_path / run / "log.jsonl").read_text().splitlines() for run in "ab"]
    drop_times = [[{**json.loads(r), "train_seconds": 0} for r in log] for log in logs]
    assert drop_times[0] == drop_times[1]  # the same losses at every step


@pytest.mark.parametrize("name", NAMES)
def test_a_seed_paints_the_same_image_at_any_batch_size(make, name):
    family, dataset = make(name)
    if not family.makes_images:
        with pytest.raises(HuashiError, match="not images"):
            family.generate([0])
        return
    family.train(False)
    try:
        together = family.generate([5, 6, 7], **sampling_options(family, dataset, [5, 6, 7]))
    except HuashiError as refused:  # a model with no prior (a plain autoencoder) says so
        assert "\n" not in str(refused) and family.latent_shape is not None
        return
    again = family.generate([5, 6, 7], **sampling_options(family, dataset, [5, 6, 7]))
    alone = family.generate([6], **sampling_options(family, dataset, [6]))
    assert together.shape[0] == 3 and together.shape[-1] == dataset.resolution
    assert together.dtype == torch.float32 and together.abs().max() <= 1
    assert torch.equal(together, again)
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=0)
    assert not torch.allclose(together[0], together[2])


@pytest.mark.parametrize("name", NAMES)
def test_a_checkpoint_of_another_family_is_refused(make, name, tmp_path):
    other_name = NAMES[(NAMES.index(name) + 1) % len(NAMES)]
    other, _ = make(other_name)
    tensors, meta = other.state_tensors()
    path = save_checkpoint(tmp_path, 1, tensors, meta, keep_last=1)
    family, _ = make(name)
    tensors, meta = load_checkpoint(path)
    with pytest.raises(HuashiError, match=f"belongs to a '{other_name}' model, not '{name}'"):
        family.load_state_tensors(tensors, meta, weights_only=True)


@pytest.mark.parametrize("name", NAMES)
def test_data_the_family_cannot_use_is_a_clear_error(make, name):
    """9 px images with no labels, captions or targets: every family needs more than that."""
    _, dataset = make(name)
    unusable = ImageSet("odd", torch.zeros(8, 3, 9, 9, dtype=torch.uint8))
    family_class = FAMILIES[name]
    config = family_class.make_config(dict(TINY.get(name, {})))
    with pytest.raises(HuashiError) as refused:
        family_class.check_data(data_info_of(unusable), config)
    message = str(refused.value)
    assert message and "\n" not in message
    family_class.check_data(data_info_of(dataset), config)  # while its own data passes


def module_state(family: Family) -> list:
    """Training flag of every submodule, memory format and requires_grad of every weight."""
    state = []
    for module in [*family.modules.values(), *(e.module for e in family.ema.values())]:
        state += [m.training for m in module.modules()]
        for p in [*module.parameters(), *module.buffers()]:
            channels_last = p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)
            state.append((p.is_contiguous(), channels_last, p.requires_grad))
    return state


@pytest.mark.parametrize("name", NAMES)
def test_generating_leaves_the_modules_as_it_found_them(make, name, monkeypatch):
    family, dataset = make(name)
    if not family.makes_images:
        return
    options = sampling_options(family, dataset, [0, 1])
    precisions = ["fp32", "bf16"] if "precision" in family.sampling_option_names() else [None]
    ours = {id(m) for module in family.modules.values() for m in module.modules()}
    writes = []
    setattr_of_modules = torch.nn.Module.__setattr__

    def recording_setattr(module, key, value):
        if id(module) in ours:
            writes.append((type(module).__name__, key))
        setattr_of_modules(module, key, value)

    for mode in (True, False):  # in training (progress grids) and loaded for sampling
        family.train(mode)
        before = module_state(family)
        if not mode:  # a loaded run: generating writes nothing at all to its modules
            monkeypatch.setattr(torch.nn.Module, "__setattr__", recording_setattr)
        for precision in precisions:
            extra = {"precision": precision} if precision else {}
            if family.latent_shape is not None:
                latents = torch.randn(2, *family.latent_shape, generator=torch.Generator())
                images = family.generate_from_latents(latents, **options)
                assert module_state(family) == before
            with contextlib.suppress(HuashiError):  # no prior (a plain autoencoder)
                images = family.generate([0, 1], **options, **extra)
            assert module_state(family) == before
            if precision == "fp32" or precision is None:
                if mode:
                    in_training = images
                else:  # sampling mode is what generate uses while training, too
                    torch.testing.assert_close(images, in_training, atol=1e-6, rtol=0)
    assert writes == []


@pytest.mark.parametrize("name", [n for n in NAMES if FAMILIES[n].makes_images])
def test_the_latent_contract(make, name):
    family, dataset = make(name)
    family.train(False)
    if family.latent_shape is None:
        with pytest.raises(HuashiError, match="no latent space"):
            family.latents_for_seeds([0])
        return
    seeds = [3, 1, 4]
    options = sampling_options(family, dataset, seeds)
    try:
        latents = family.latents_for_seeds(seeds)
    except HuashiError:  # no prior to draw from (a plain autoencoder): generate says so too
        with pytest.raises(HuashiError):
            family.generate(seeds, **options)
        latents = torch.randn(len(seeds), *family.latent_shape)
    else:
        assert latents.shape == (len(seeds), *family.latent_shape)
        assert torch.equal(latents[1:2], family.latents_for_seeds([1]))
        images = family.generate(seeds, **options)
        assert torch.equal(images, family.generate_from_latents(latents, **options))
    latents = latents.clone().requires_grad_(True)
    out = family.generate_from_latents(latents, **options)
    assert out.requires_grad and out.shape[0] == len(seeds)
    out.square().mean().backward()
    assert latents.grad is not None and latents.grad.abs().sum() > 0
    with pytest.raises(HuashiError, match="latents of shape"):
        family.generate_from_latents(torch.zeros(2, 3))


@pytest.mark.parametrize("name", NAMES)
def test_sampling_options_are_declared_and_unknown_ones_refused(make, name):
    family, dataset = make(name)
    valid = family.sampling_option_names()
    options = family.parse_sampling_options(**dict.fromkeys(valid))  # None: every default
    assert isinstance(options, family.sampling_options_class)
    with pytest.raises(HuashiError, match="bogus") as refused:
        family.parse_sampling_options(bogus=1)
    assert all(option in str(refused.value) for option in valid)
    if family.makes_images:
        with pytest.raises(HuashiError, match="bogus"):
            family.generate([0], bogus=1, **sampling_options(family, dataset, [0]))


def test_labels_and_prompts_follow_one_rule_in_every_family(make):
    """A label is a class number or name, one value or one per seed; the same bad label gets
    the same answer from every class-conditional family (here both: shapes by shape name)."""
    built = [make(name)[0] for name in NAMES]
    families = [family for family in built if family.condition == "class"]
    assert len(families) >= 2
    for family in families:
        family.train(False)
        names = family.data.class_names
        by_name = family.generate([3, 4], label=[names[2], names[0]])
        torch.testing.assert_close(by_name, family.generate([3, 4], label=[2, 0]), atol=0, rtol=0)
        torch.testing.assert_close(
            family.generate([3, 4], label=str(1)), family.generate([3, 4], label=1), atol=0, rtol=0
        )
    bad = [("purple", "unknown class 'purple'"), (99, "out of range"), ([0], "1 values for label")]
    for label, message in bad:
        answers = set()
        for family in families:
            with pytest.raises(HuashiError, match=message) as refused:
                family.generate([0, 1], label=label)
            answers.add(str(refused.value))
        assert len(answers) == 1, answers  # word for word the same
    for family in families:
        with pytest.raises(HuashiError, match="not text-conditioned but class-conditioned"):
            family.generate([0], prompt="a red circle")


@pytest.mark.parametrize("name", NAMES)
def test_the_declared_abilities_hold(make, name):
    """What a family declares it can do (paint from seeds or a prompt, translate, style latents,
    noise inputs, ONNX export, a feature network) is what it does; what it does not declare is
    refused in one line."""
    family, dataset = make(name)
    family.train(False)
    seeds = [0, 1]
    options = sampling_options(family, dataset, seeds)
    assert family.paints_from_prompt == ("text" in family.conditions)
    assert (family.condition == "none") == (not family.conditions)
    assert family.translates == (family.condition == "image" and not family.upscales)
    if family.paints_from_seeds:
        assert "inputs" not in options and family.generate(seeds, **options).shape[0] == 2
    if family.style_latents:
        ws = family.broadcast(family.map_latents(family.latents_for_seeds(seeds)))
        assert ws.shape[:2] == (2, family.num_ws)
        painted = family.synthesize(ws, "const").clamp(-1, 1)
        assert torch.equal(painted, family.generate(seeds, **options))
    else:
        with pytest.raises(HuashiError, match="no mapping network"):
            family.map_latents(torch.zeros(2, 4))
    if family.noise_inputs:
        assert family.const_noise() and all(n.dim() == 4 for n in family.const_noise())
    else:
        with pytest.raises(HuashiError, match="no noise inputs"):
            family.const_noise()
    try:
        graph = family.onnx_graph(batch=3)
    except HuashiError as refused:
        assert "\n" not in str(refused) and family.name in str(refused)
    else:
        with torch.no_grad():
            out = graph.module(*graph.inputs.values())
        size = family.data.resolution
        assert out.shape == (3, family.data.channels, size, size)
        assert set(graph.batched) <= set(graph.inputs)
    if family.feature_kind is None:
        with pytest.raises(HuashiError, match="not a feature network"):
            family.feature_module()
    else:
        assert family.feature_module() is family.modules[family.feature_kind]


def test_shared_code_asks_the_family_not_its_name_class_or_attributes():
    """Outside the families and models, no code tests a family's class, name or attribute
    presence, or reads its config for what the interface says (abilities, ``condition``)."""
    root = Path(huashi.__file__).parent
    shared = [p for p in sorted(root.rglob("*.py")) if p.parent.name not in ("families", "models")]
    pattern = re.compile(
        r"hasattr\((family|loaded|run)\b|isinstance\([^)]*(Family|DCGAN|GAN|Pix2Pix)\b"
        r"|config\.family [!=]= \"|name [!=]= \"(upsampler|diffusion|clip|classifier|stylegan)\""
        r"|family\.config\.condition|in \(\"classifier\", \"clip\"\)"
    )
    found = [f"{p.relative_to(root)}: {line.strip()}" for p in shared
             for line in p.read_text().splitlines() if pattern.search(line)]  # fmt: skip
    assert len(shared) > 50 and found == []


@pytest.mark.parametrize("name", NAMES)
def test_every_family_fills_in_what_the_training_loop_drives(make, name):
    """The loop knows a family only through :class:`Trainable`; each family has all of it."""
    family, _ = make(name)
    members = set(Trainable.__annotations__) | {
        n for n in vars(Trainable) if not n.startswith("_") and callable(getattr(Trainable, n))
    }
    assert {"train_step", "preview", "state_tensors", "modules", "makes_images"} <= members
    assert [m for m in sorted(members) if not hasattr(family, m)] == []
