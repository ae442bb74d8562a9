"""ONNX export of one-step generators: a run's painter as a file any ONNX runtime can run.

What each exportable family's file takes and gives (all float32 unless said; B is free):

- ``dcgan``: ``z`` [B, z_dim] -> ``image`` [B, C, H, W] in [-1, 1].
- ``gan``: ``z`` plus, for a class-conditional model, ``label`` (int64 [B]); for a
  text-conditional one, ``text_embedding`` [B, text_dim], the frozen text encoder's pooled
  output (the encoder itself is not in the file: compute it with ``huashi.text``).
- ``ae``, ``vae``, ``kl-vae``: the decoder, ``latent`` [B, *latent_shape] (unscaled, as
  ``family.decode`` takes it) -> ``image``.
- ``pix2pix``: ``source`` [B, C, H, W] in [-1, 1] -> ``image`` (its translation).
- ``stylegan`` (a family with style latents): ``z`` and ``truncation`` (float [1], 1 = none)
  -> ``image``, with constant noise inputs.

Each family says what it exports and how (:meth:`~huashi.families.base.Family.onnx_graph`);
this module writes the file and checks it.

The file is written by PyTorch's TorchScript-based exporter (it needs no extra package and works
offline from torch 2.4 on), opset 17, with the run, step and input description in its metadata.
A weights' EMA copy is exported when the run has one, exactly as ``huashi sample`` paints.
"""

from __future__ import annotations

import inspect
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from huashi.core.errors import HuashiError
from huashi.core.progress import Progress, no_progress
from huashi.core.validation import check_output_file
from huashi.families.base import Family
from huashi.families.onnx import OnnxGraph

FORMATS = ("onnx",)
OPSET = 17
#: export's stages (loading the run, tracing, writing, checking), as its progress counts them
STAGES = 4


@dataclass
class ExportResult:
    path: Path
    family: str
    inputs: dict[str, list]  # name -> shape, "B" for the batch axis
    max_abs_diff: float | None  # onnxruntime against PyTorch on the example inputs


def export_graph(family: Family, batch: int = 2) -> OnnxGraph:
    """The module and example inputs to export for ``family`` (its
    :meth:`~huashi.families.base.Family.onnx_graph`), or a one-line :class:`HuashiError` saying
    why this family cannot be exported yet."""
    return family.onnx_graph(batch)


def _onnx_bytes(graph: OnnxGraph) -> bytes:
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
    family: Family,
    out: str | Path,
    metadata: dict[str, Any] | None = None,
    check: bool = True,
    progress: Progress | None = None,
) -> ExportResult:
    """Write ``family``'s painter to ``out`` as ONNX; with ``check`` run the file with
    onnxruntime on the example inputs and report the largest difference from PyTorch.
    ``progress`` is told of each stage after the first (loading, which :func:`export_run`
    counts): 1 traced, 2 written, 3 checked, of ``STAGES``, or of 3 without ``check``."""
    onnx = _require("onnx")
    progress = progress or no_progress
    total = STAGES if check else STAGES - 1
    progress(1, total, "tracing the painter to ONNX")
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
    progress(2, total, f"writing {out}")
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
        progress(3, total, "running the file with onnxruntime")
        got = run_onnx(out, inputs)
        difference = float((got - expected).abs().max())
    progress(total, total, f"wrote {out}")
    return ExportResult(out, family.name, shapes, difference)


def export_run(
    run: str | Path,
    out: str | Path,
    format: str = "onnx",
    checkpoint: str | Path | None = None,
    check: bool = True,
    progress: Progress | None = None,
) -> ExportResult:
    """Export a trained run's painter (its newest checkpoint, or ``checkpoint``); the CPU
    copy of the weights is exported, so the file runs anywhere. ``progress(done, total,
    message)`` counts the stages: 0 loading the run, then as :func:`export_family`."""
    from huashi.runs import load_run

    if format not in FORMATS:
        raise HuashiError(f"unknown export format '{format}': choose one of {', '.join(FORMATS)}.")
    check_output_file(out)
    if progress is not None:
        progress(0, STAGES if check else STAGES - 1, f"loading {run}")
    loaded = load_run(run, checkpoint, device="cpu")
    name = str(run)  # a zoo name stays a name; a folder is recorded by its absolute path
    metadata = {"run": name if name.startswith("zoo:") else str(Path(run).resolve())}
    metadata["step"] = loaded.step
    return export_family(loaded.family, out, metadata, check, progress)
