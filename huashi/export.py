"""ONNX export of one-step generators: a run's painter as a file any ONNX runtime can run.

What each exportable family's file takes and gives (all float32 unless said; B is free):

- ``dcgan``: ``z`` [B, z_dim] -> ``image`` [B, C, H, W] in [-1, 1].
- ``gan``: ``z`` plus, for a class-conditional model, ``label`` (int64 [B]); for a
  text-conditional one, ``text_embedding`` [B, text_dim], the frozen text encoder's pooled
  output (the encoder itself is not in the file: compute it with ``huashi.text``).
- ``ae``, ``vae``, ``kl-vae``: the decoder, ``latent`` [B, *latent_shape] (unscaled, as
  ``family.decode`` takes it) -> ``image``.
- ``pix2pix``: ``source`` [B, C, H, W] in [-1, 1] -> ``image`` (its translation).
- a family with a mapping network (``map_latents`` / ``synthesize``): ``z`` and ``truncation``
  (float [1], 1 = none) -> ``image``, with constant noise inputs.

The file is written by PyTorch's TorchScript-based exporter (it needs no extra package and works
offline from torch 2.4 on), opset 17, with the run, step and input description in its metadata.
A weights' EMA copy is exported when the run has one, exactly as ``huashi sample`` paints.
"""

from __future__ import annotations

import inspect
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from huashi.errors import HuashiError
from huashi.families.autoencoder import AutoencoderFamily
from huashi.families.base import Family
from huashi.families.dcgan import DCGAN
from huashi.families.gan import GAN
from huashi.families.pix2pix import Pix2Pix
from huashi.validation import check_output_file

FORMATS = ("onnx",)
OPSET = 17


@dataclass
class Graph:
    """What to export: a module and example inputs (batch 2), with their names."""

    module: nn.Module
    inputs: dict[str, torch.Tensor]
    batched: tuple[str, ...]  # input names whose first axis is the batch
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class ExportResult:
    path: Path
    family: str
    inputs: dict[str, list]  # name -> shape, "B" for the batch axis
    max_abs_diff: float | None  # onnxruntime against PyTorch on the example inputs


class _Generator(nn.Module):
    """``G(z)`` or ``G(z, condition)`` as float32 images."""

    def __init__(self, generator: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.generator = generator
        self.conditional = conditional

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            return self.generator(z, condition).float()
        return self.generator(z).float()


class _Decoder(nn.Module):
    """An autoencoder's decoder, clamped to [-1, 1] as ``family.decode`` does."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.decode(latent).float().clamp(-1.0, 1.0)


class _Translator(nn.Module):
    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.generator(source).float()


class _MappedGenerator(nn.Module):
    """z -> w (mapping network) -> truncation toward ``w_avg`` -> synthesis, constant noise."""

    def __init__(self, family: Family) -> None:
        super().__init__()
        self.family = family
        self.holder = nn.ModuleList(family.modules.values())  # so .eval() reaches them

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        family = self.family
        w = family.map_latents(z)
        w = family.w_avg + truncation * (w - family.w_avg)
        ws = w[:, None, :].expand(-1, family.num_ws, -1)
        return family.synthesize(ws, noise_mode="const").float().clamp(-1, 1)  # as it paints


def export_graph(family: Family) -> Graph:
    """The module and example inputs to export for ``family``, or a one-line
    :class:`HuashiError` saying why this family cannot be exported yet."""
    if isinstance(family, DCGAN):
        G = family.sampling_module("generator")
        return Graph(_Generator(G, False), {"z": torch.randn(2, family.config.z_dim)}, ("z",))
    if isinstance(family, GAN):
        if family.config.dropout > 0:
            raise HuashiError(
                "this gan keeps dropout on while painting (--dropout > 0), and its seeded masks "
                "cannot be exported to ONNX yet: export a model trained without --dropout."
            )
        G = family.sampling_module("generator")
        inputs = {"z": torch.randn(2, family.config.z_dim)}
        if family.condition == "class":
            inputs["label"] = torch.arange(2) % family.data.num_classes
        elif family.condition == "text":
            inputs["text_embedding"] = torch.randn(2, family.text_encoder.dim)
        return Graph(_Generator(G, family.condition != "none"), inputs, tuple(inputs))
    if isinstance(family, AutoencoderFamily):
        latent = torch.randn(2, *family.latent_shape)
        return Graph(_Decoder(family.model), {"latent": latent}, ("latent",))
    if isinstance(family, Pix2Pix):
        if family.config.test_dropout:
            raise HuashiError(
                "this pix2pix model paints with dropout on (--test-dropout), and its seeded "
                "masks cannot be exported to ONNX yet: export a model trained without it."
            )
        data = family.data
        image = torch.rand(2, data.channels, data.resolution, data.resolution) * 2 - 1
        G = family.sampling_module("generator")
        return Graph(_Translator(G), {"source": image}, ("source",))
    if all(hasattr(family, name) for name in ("map_latents", "synthesize", "w_avg", "num_ws")):
        inputs = {"z": torch.randn(2, *family.latent_shape), "truncation": torch.tensor([0.7])}
        return Graph(_MappedGenerator(family), inputs, ("z",))
    if not family.makes_images:
        raise HuashiError(
            f"a {family.name} model makes no images, so there is no painter to export."
        )
    raise HuashiError(
        f"a {family.name} model cannot be exported to ONNX yet: only one-step generators can "
        "(dcgan, gan, ae/vae/kl-vae decoders, pix2pix); diffusion paints in many network steps."
    )


def _onnx_bytes(graph: Graph) -> bytes:
    names = list(graph.inputs)
    kwargs: dict[str, Any] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: no onnxscript needed
    axes = {name: {0: "batch"} for name in graph.batched} | {"image": {0: "batch"}}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
        torch.onnx.export(
            graph.module,
            tuple(graph.inputs.values()),
            buffer,
            input_names=names,
            output_names=["image"],
            dynamic_axes=axes,
            opset_version=OPSET,
            **kwargs,
        )
    return buffer.getvalue()


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise HuashiError(
            f"ONNX export needs the '{module}' package: pip install 'huashi[export]'."
        ) from None


def run_onnx(path: str | Path, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Run an exported file with onnxruntime on the CPU."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    feed = {k: v.detach().cpu().numpy() for k, v in inputs.items() if k in wanted}
    return torch.from_numpy(session.run(["image"], feed)[0])


def export_family(
    family: Family, out: str | Path, metadata: dict[str, Any] | None = None, check: bool = True
) -> ExportResult:
    """Write ``family``'s painter to ``out`` as ONNX; with ``check`` run the file with
    onnxruntime on the example inputs and report the largest difference from PyTorch."""
    onnx = _require("onnx")
    graph = export_graph(family)
    module = graph.module
    modes = [(m, m.training) for m in module.modules()]
    module.eval()  # BatchNorm running statistics, no dropout: as the family paints
    device = family.device
    inputs = {k: v.to(device) for k, v in graph.inputs.items()}
    try:
        graph.inputs = inputs
        data = _onnx_bytes(graph)
        with torch.no_grad():
            expected = module(*inputs.values()).float().cpu()
    finally:
        for m, mode in modes:
            m.train(mode)
    shapes = {
        name: ["B" if name in graph.batched else n for n in value.shape][:1] + list(value.shape[1:])
        for name, value in inputs.items()
    }
    model = onnx.load_from_string(data)
    info = {"family": family.name, "inputs": json.dumps(shapes), **(metadata or {})}
    for key, value in info.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    difference = None
    if check:
        got = run_onnx(out, inputs)
        difference = float((got - expected).abs().max())
    return ExportResult(out, family.name, shapes, difference)


def export_run(
    run: str | Path,
    out: str | Path,
    format: str = "onnx",
    checkpoint: str | Path | None = None,
    check: bool = True,
) -> ExportResult:
    """Export a trained run's painter (its newest checkpoint, or ``checkpoint``); the CPU
    copy of the weights is exported, so the file runs anywhere."""
    from huashi.runs import load_run

    if format not in FORMATS:
        raise HuashiError(f"unknown export format '{format}': choose one of {', '.join(FORMATS)}.")
    check_output_file(out)
    loaded = load_run(run, checkpoint, device="cpu")
    name = str(run)  # a zoo name stays a name; a folder is recorded by its absolute path
    metadata = {"run": name if name.startswith("zoo:") else str(Path(run).resolve())}
    metadata["step"] = loaded.step
    return export_family(loaded.family, out, metadata, check)
