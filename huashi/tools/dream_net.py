"""DeepDream's networks: a frozen classifier or CLIP run (or Inception-v3) as a :class:`DreamNet`,
its layers by name, and one layer's output for a batch of images (:mod:`huashi.tools.dream`
ascends on it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from huashi.core.errors import HuashiError
from huashi.metrics.features import file_hash, load_inception_module
from huashi.runs import LoadedRun

INCEPTION_SIZE = 299
INCEPTION_MIN = 75  # torchvision's Inception-v3 needs inputs of at least 75x75
RUN_MIN = 4  # smallest octave for the small in-domain networks


@dataclass
class DreamNet:
    """A frozen network to dream with: the module whose layers can be picked, and how to get
    class logits or CLIP embeddings from it."""

    spec: str  # the run folder (absolute) or inception:PATH
    kind: str  # "classifier" | "clip" | "inception"
    module: nn.Module
    forward: Callable[[torch.Tensor], torch.Tensor]  # the image path through ``module``
    channels: int
    resolution: int  # the size the network was trained at
    min_size: int  # the smallest input it accepts
    checkpoint: str  # the checkpoint file name of a run, or the weights' sha256 prefix
    class_names: tuple[str, ...] = ()
    embed_text: Callable[[list[str]], torch.Tensor] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device


def load_dream_net(
    spec: str | Path | LoadedRun, checkpoint: str | Path | None = None, device: str = "cpu"
) -> DreamNet:
    """The network of a classifier or clip run folder (or of such a run already loaded), or of
    ``inception:PATH``."""
    if isinstance(spec, LoadedRun):
        return _run_net(spec, str(spec.run_dir))
    spec = str(spec)
    torch_device = torch.device(device if device != "auto" else "cpu")
    if spec.startswith("inception:"):
        where = str(Path(spec.removeprefix("inception:")).expanduser().resolve())
        model = load_inception_module(where, torch_device)
        model.requires_grad_(False)
        return DreamNet(
            spec=f"inception:{where}", kind="inception", module=model, forward=model,
            channels=3, resolution=INCEPTION_SIZE, min_size=INCEPTION_MIN,
            checkpoint=file_hash(Path(where)),
            class_names=tuple(str(k) for k in range(model.fc.out_features)),
        )  # fmt: skip
    from huashi.runs import load_run

    return _run_net(load_run(spec, checkpoint, str(torch_device)), spec)


def _run_net(loaded: LoadedRun, spec: str) -> DreamNet:
    kind = loaded.family.feature_kind
    if kind is None:
        raise HuashiError(
            f"{spec} is a '{loaded.config.family}' run: dreaming needs a classifier or clip run (huashi train "
            "classifier|clip), or inception:PATH_TO_WEIGHTS."
        )
    module = loaded.family.feature_module()
    module.requires_grad_(False)
    info = loaded.config.data_info
    common = {
        "spec": str(Path(spec).resolve()),
        "kind": kind,
        "module": module,
        "channels": int(info["channels"]),
        "resolution": int(info["resolution"]),
        "min_size": RUN_MIN,
        "checkpoint": loaded.checkpoint.name,
    }
    if kind == "classifier":
        return DreamNet(**common, forward=module, class_names=tuple(info["class_names"]))
    return DreamNet(**common, forward=module.embed_images, embed_text=loaded.family.embed_text)


class _Stop(Exception):
    """Raised by a layer hook once the layer's output is captured (the rest is not needed)."""


def find_layer(net: DreamNet, name: str) -> nn.Module:
    """The module called ``name`` in the network, or a clear error."""
    modules = dict(net.module.named_modules())
    if not name or name not in modules:
        raise HuashiError(
            f"no layer '{name}' in the {net.kind} network: `huashi dream --list-layers "
            f"{net.spec}` lists them."
        )
    return modules[name]


def layer_output(net: DreamNet, name: str, images: torch.Tensor) -> torch.Tensor:
    """The output of the module called ``name`` for ``images`` (with gradients); the forward pass
    stops there."""
    captured: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _Stop

    handle = find_layer(net, name).register_forward_hook(hook)
    try:
        net.forward(images)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not captured:
        raise HuashiError(f"layer '{name}' is not on the image path of the {net.kind} network.")
    return captured[0]


@torch.no_grad()
def list_layers(net: DreamNet, size: int | None = None) -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, module type, output shape without the batch) of every module an image passes
    through, in the network's own order (a block before its parts), for an input of ``size``
    pixels (default: the net's)."""
    size = size or net.resolution
    modules = {m: n for n, m in net.module.named_modules() if n}
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(out, torch.Tensor):
            shapes.setdefault(modules[module], tuple(out.shape[1:]))

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        net.forward(torch.zeros(1, net.channels, size, size, device=net.device))
    finally:
        for handle in handles:
            handle.remove()
    return [(n, type(m).__name__, shapes[n]) for m, n in modules.items() if n in shapes]
