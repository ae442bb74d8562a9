"""Latent editing for generators with a mapping network (and walks for any latent generator).

- Style mixing: layers in a set take w_B, the others w_A (:func:`mix`, :func:`mixing_grid`).
- Interpolation: lerp in w / w+, slerp in z (:func:`walk`).
- Directions in w (:func:`direction`), combined with + and - ("arithmetic"):
  ``sefa:K`` the K-th closed-form factor (SeFa, Shen & Zhou 2021): the eigenvectors of A^T A,
  A the stacked style (modulation) weights of the synthesis layers, by decreasing eigenvalue,
  scaled so that strength 1 is one standard deviation of w along it; ``label:NAME`` the mean w
  of a class (class-conditional models; ``label:a-label:b`` is the difference of class means);
  ``prompt:TEXT`` the mean w for a caption (text-conditional models); ``latent:FILE`` a latent
  file's w; ``clip:TEXT`` the gradient in w of a huashi CLIP run's image-text similarity to
  TEXT, averaged over samples (``clip:a smiling face-clip:a face`` contrasts it with a neutral
  prompt), scaled like SeFa's.
- A strength sweep applies ``w + s d`` for several strengths s (:func:`sweep`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from huashi.core.errors import HuashiError
from huashi.core.images import make_grid, save_png
from huashi.core.validation import MAX_GRID_IMAGES, check_count, check_number, check_output_file
from huashi.families.base import noise_for_seeds
from huashi.gan.latent_paths import lerp, slerp
from huashi.gan.latents import load_latent, render, to_ws

#: How many z are drawn to estimate a class mean or a direction's spread.
SAMPLES = 256
#: How many samples the CLIP-gradient directions average over.
CLIP_SAMPLES = 64
#: The direction kinds.
KINDS = ("sefa", "label", "prompt", "latent", "clip")


def needs_mapping(family: Any, what: str) -> None:
    if not family.style_latents:
        raise HuashiError(
            f"{what} needs a generator with a mapping network (w space), such as a stylegan "
            f"run; a {family.name} model has only z."
        )


def parse_layers(text: str | Sequence[int] | None, num_ws: int) -> list[int]:
    """ "0-3" or "0,2,5" or "4-" (to the last layer) -> layer indices; None: all layers."""
    if text is None:
        return list(range(num_ws))
    if not isinstance(text, str):
        layers = [int(i) for i in text]
    else:
        layers = []
        for part in text.split(","):
            part = part.strip()
            match = re.fullmatch(r"(\d+)(?:-(\d*))?", part)
            if not match:
                raise HuashiError(f"bad layer range {part!r}: write it like 0-3, 4- or 0,2,5.")
            start = int(match.group(1))
            end = start if match.group(2) is None else int(match.group(2) or num_ws - 1)
            layers.extend(range(start, end + 1))
    bad = [i for i in layers if not 0 <= i < num_ws]
    if bad or not layers:
        raise HuashiError(
            f"layers must be in 0-{num_ws - 1} (this model has {num_ws}), got {text}."
        )
    return sorted(set(layers))


# --- style mixing ----------------------------------------------------------------------------


def mix(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """ws_a with the rows ``layers`` taken from ws_b ([B, num_ws, w_dim] each)."""
    take = torch.zeros(ws_a.shape[1], dtype=torch.bool, device=ws_a.device)
    take[list(layers)] = True
    return torch.where(take.view(1, -1, 1), ws_b, ws_a)


@torch.no_grad()
def mixing_grid(
    family: Any,
    seeds: Sequence[int],
    layers: str | Sequence[int] | None = "0-3",
    truncation: float = 1.0,
    **options: Any,
) -> torch.Tensor:
    """The classic style-mixing figure as images [(n+1)^2, C, H, W] for n seeds: the first row
    shows the seeds' images (after a blank corner), the first column too; cell (i, j) is seed
    i's image with ``layers`` taken from seed j (coarse layers 0-3: j's pose and shape)."""
    needs_mapping(family, "style mixing")
    if len(seeds) < 2:
        raise HuashiError("--mix needs at least two seeds, e.g. --mix 3 11.")
    chosen = parse_layers(layers, family.num_ws)
    w = family.map_latents(family.latents_for_seeds(seeds), truncation, **options)
    ws = family.broadcast(w)
    plain = family.synthesize(ws)
    rows = [torch.cat([torch.ones_like(plain[:1]), plain])]
    for i in range(len(seeds)):
        mixed = mix(ws[i : i + 1].expand(len(seeds), -1, -1), ws, chosen)
        rows.append(torch.cat([plain[i : i + 1], family.synthesize(mixed)]))
    return torch.cat(rows)


def write_mixing_grid(
    run: Any,
    seeds: Sequence[int],
    layers: str,
    out: str | Path,
    truncation: float = 1.0,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    **options: Any,
) -> Path:
    """Load a run, make its :func:`mixing_grid` and write it as a PNG with its parameters."""
    from huashi.runs import load_run

    check_count("--mix", len(seeds), 64, "a grid of (seeds + 1)² images; mix fewer seeds")
    loaded = load_run(run, checkpoint, device)
    images = mixing_grid(loaded.family, seeds, layers, truncation, **options)
    params = {
        "run": str(Path(run).resolve()), "checkpoint": loaded.checkpoint.name,
        "family": loaded.config.family, "mix": list(seeds), "mix_layers": layers,
        "truncation": truncation, "options": options,
    }  # fmt: skip
    return save_png(make_grid(images, nrow=len(seeds) + 1), Path(out), params)


# --- walks ---------------------------------------------------------------------------------------


def walk(family: Any, a: torch.Tensor, b: torch.Tensor, space: str, steps: int, **options):
    """Images along the path from latent a to latent b (one latent each, without batch dim):
    slerp in z (Gaussian latents), lerp in w and w+."""
    if steps < 2:
        raise HuashiError("--steps must be at least 2.")
    t = torch.linspace(0, 1, steps)
    path = slerp(a, b, t) if space == "z" else lerp(a, b, t)
    with torch.no_grad():
        return render(family, path.to(a.dtype), space, **options)


# --- directions ----------------------------------------------------------------------------------


def style_weights(family: Any, layers: Sequence[int] | None = None) -> torch.Tensor:
    """The effective weights [sum of channels, w_dim] of the style affines of the synthesis
    convolutions (``layers``: indices into those convs; default all)."""
    synthesis = family.sampling_module("generator").synthesis
    convs = list(synthesis.convs)
    picked = convs if layers is None else [convs[i] for i in layers]
    return torch.cat([c.conv.affine.weight * c.conv.affine.scale for c in picked]).detach()


def sefa_directions(family: Any, k: int | None = None, layers=None) -> torch.Tensor:
    """Unit directions [n, w_dim] in w: eigenvectors of A^T A by decreasing eigenvalue."""
    needs_mapping(family, "SeFa directions")
    a = style_weights(family, layers).double()
    values, vectors = torch.linalg.eigh(a.T @ a)
    order = torch.argsort(values, descending=True)
    directions = vectors[:, order].T.float()
    return directions if k is None else directions[: k + 1]


def clip_direction(
    family: Any, net: Any, text: str, samples: int = CLIP_SAMPLES, **options: Any
) -> torch.Tensor:
    """The unit direction [w_dim] in w that raises a CLIP network's similarity between the image
    and ``text`` fastest on average: the mean over ``samples`` seeds' w of the gradient of the
    cosine similarity (image embedding . text embedding) with respect to w (shared by all
    layers). ``net`` is a :class:`huashi.metrics.features.FeatureNet` of kind clip."""
    if net.embed_images is None or net.embed_text is None:
        raise HuashiError(
            f"{net.spec} has no image-text embedding: clip: directions need a clip run."
        )
    with torch.no_grad():
        target = net.text_embeddings([text]).to(net.device).float()  # [1, D], unit length
        z = noise_for_seeds(range(samples), family.latent_shape, family.device)
        w = family.map_latents(z, **options)
    w = w.detach().requires_grad_(True)
    images = family.synthesize(family.broadcast(w)).clamp(-1, 1)
    similarity = net.embed_images(net.prepare(images)).float() @ target.T  # [samples, 1]
    (grad,) = torch.autograd.grad(similarity.sum(), [w])
    d = grad.mean(dim=0)
    if float(d.norm()) == 0:
        raise HuashiError(f"the clip similarity to {text!r} does not change with w here.")
    return (d / d.norm()).detach()


def _spread(family: Any, d: torch.Tensor, options: dict) -> torch.Tensor:
    """One standard deviation of w along the unit direction d."""
    with torch.no_grad():
        z = noise_for_seeds(range(SAMPLES), family.latent_shape, family.device)
        return (family.map_latents(z, **options) @ d.to(family.device)).std()


def _mean_w(family: Any, **options: Any) -> torch.Tensor:
    z = noise_for_seeds(range(SAMPLES), family.latent_shape, family.device)
    with torch.no_grad():
        return family.map_latents(z, **options).mean(dim=0)


def _term(family: Any, kind: str, value: str, options: dict, net: Any = None) -> torch.Tensor:
    if kind == "sefa":
        if not value.isdigit():
            raise HuashiError(f"sefa takes a factor number (sefa:0, sefa:1, ...), got {value!r}.")
        index = int(value)
        if index >= family.w_dim:
            raise HuashiError(f"sefa:{index} does not exist: this model has {family.w_dim}.")
        d = sefa_directions(family, index)[index].to(family.device)
        return d * _spread(family, d, options)
    if kind == "clip":
        if not value:
            raise HuashiError('clip: takes a text, e.g. --direction "clip:a smiling face".')
        if net is None:
            raise HuashiError(
                "clip: directions need a clip network: pass --clip RUN (a huashi clip run "
                "trained on images like these)."
            )
        d = clip_direction(family, net, value, **options).to(family.device)
        return d * _spread(family, d, options)
    if kind == "label":
        if family.condition != "class":
            raise HuashiError(
                "label directions need a class-conditional model (train with --condition class)."
            )
        return _mean_w(family, label=value if not value.isdigit() else int(value))
    if kind == "prompt":
        if family.condition != "text":
            raise HuashiError(
                "prompt directions need a text-conditional model (train with --condition text)."
            )
        return _mean_w(family, prompt=value)
    if kind == "latent":
        latent = load_latent(value)
        ws = to_ws(family, latent.tensor.to(family.device), latent.space, **latent.options)
        return ws.mean(dim=(0, 1)).detach()
    raise HuashiError(
        f"unknown direction {kind!r}: use sefa:K, label:NAME, prompt:TEXT, latent:FILE or "
        "clip:TEXT."
    )


def direction(
    family: Any, spec: str, clip: str | Any | None = None, **options: Any
) -> torch.Tensor:
    """A direction in w [w_dim] from a spec like "sefa:0", "label:red-label:blue",
    "clip:a smiling face" or "sefa:1+sefa:2" (terms joined by + or -). ``clip``: the network
    for clip: terms, a ``clip:RUN`` spec or a loaded FeatureNet."""
    needs_mapping(family, "latent directions")
    net = clip
    if isinstance(clip, (str, Path)) and re.search(r"(^|[+-])\s*clip:", spec):
        from huashi.metrics.features import load_features

        spec_text = str(clip) if str(clip).startswith(("clip:", "zoo:")) else f"clip:{clip}"
        net = load_features(spec_text, family.device)
    parts = re.split(rf"([+-])(?=(?:{'|'.join(KINDS)}):)", spec.strip())
    total, sign = None, 1.0
    for part in parts:
        if part in ("+", "-"):
            sign = 1.0 if part == "+" else -1.0
            continue
        kind, sep, value = part.partition(":")
        if not sep:
            raise HuashiError(
                f"bad direction {part!r}: write sefa:0, label:red-label:blue or prompt:a red heart."
            )
        term = sign * _term(family, kind.strip(), value.strip(), options, net)
        total = term if total is None else total + term
    return total


def parse_strengths(text: str | Sequence[float]) -> list[float]:
    """ "-3..3" (7 steps), "-3..3:5" (5 steps) or "1,2,4" -> strengths."""
    if not isinstance(text, str):
        return _checked_strengths([float(s) for s in text])
    match = re.fullmatch(r"\s*(-?[\d.]+)\.\.(-?[\d.]+)(?::(\d+))?\s*", text)
    try:
        if match:
            lo, hi = float(match.group(1)), float(match.group(2))
            n = int(match.group(3) or 7)
            check_count("--strength's number of steps", n, MAX_GRID_IMAGES, "ask for fewer")
            return _checked_strengths(torch.linspace(lo, hi, max(n, 2)).tolist())
        return _checked_strengths([float(s) for s in text.split(",")])
    except ValueError:
        raise HuashiError(f"bad --strength {text!r}: write -3..3, -3..3:5 or 1,2,4.") from None


def _checked_strengths(strengths: list[float]) -> list[float]:
    check_count("--strength's number of values", len(strengths), MAX_GRID_IMAGES, "ask for fewer")
    for value in strengths:
        check_number("--strength", value)
    return strengths


@torch.no_grad()
def sweep(
    family: Any,
    ws: torch.Tensor,
    d: torch.Tensor,
    strengths: Sequence[float],
    layers: Sequence[int] | None = None,
    noise: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Images [B * S, C, H, W]: each row of ``ws`` [B, num_ws, w_dim] moved by s * d for every
    strength s, on ``layers`` only (default all); ``noise`` (maps [B, 1, r, r]) instead of the
    constant noise."""
    chosen = (
        parse_layers(layers, family.num_ws) if layers is not None else list(range(family.num_ws))
    )
    mask = torch.zeros(family.num_ws, 1, device=ws.device)
    mask[chosen] = 1.0
    rows = []
    for i, row in enumerate(ws):
        moved = torch.stack([row + s * mask * d.to(ws.device) for s in strengths])
        maps = None if noise is None else [n[i : i + 1].to(ws.device) for n in noise]
        rows.append(family.synthesize(moved, noise=maps))
    return torch.cat(rows)


# --- files in, files out (the edit command) --------------------------------------------------


def edit_file(
    run: str | Path,
    latent_path: str | Path,
    out: str | Path,
    direction_spec: str | None = None,
    strengths: str | Sequence[float] = "-3..3",
    layers: str | None = None,
    toward: str | Path | None = None,
    steps: int = 8,
    invert_steps: int = 300,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    clip: str | Path | None = None,
    on_step: Callable[[int, int, str], None] | None = None,
) -> Path:
    """Edit the latent in ``latent_path`` and write one row per latent as a PNG grid: a
    strength sweep along ``direction_spec``, or a walk of ``steps`` images ``toward`` another
    latent file (or an image, inverted first in the same space). ``clip`` is the clip run for
    clip: directions (default: the zoo's reference network for the run's dataset, when that is
    a clip). A latent with fitted noise maps is swept with them. ``on_step`` follows the
    inversion of a ``toward`` image."""
    from huashi.runs import load_run

    check_output_file(out)
    if toward is not None:
        check_count("--steps", steps, MAX_GRID_IMAGES, "walk in fewer steps")
    else:
        parse_strengths(strengths)
    loaded = load_run(run, checkpoint, device)
    family = loaded.family
    latent = load_latent(latent_path)
    tensor = latent.tensor.to(family.device)
    params = {
        "run": str(Path(run).resolve()), "checkpoint": loaded.checkpoint.name,
        "family": loaded.config.family, "latent": str(Path(latent_path).resolve()),
    }  # fmt: skip
    if (direction_spec is None) == (toward is None):
        raise HuashiError("pass either --direction or --toward.")
    if toward is not None:
        other = _other_latent(loaded, toward, latent.space, invert_steps, latent.options, on_step)
        images = walk(family, tensor[0], other[0], latent.space, steps, **latent.options)
        params |= {"toward": str(toward), "steps": steps}
        return save_png(make_grid(images, nrow=steps), Path(out), params)
    ws = to_ws(family, tensor, latent.space, **latent.options).detach()
    if clip is None:  # the zoo's reference network of the run's dataset, when it is a CLIP
        from huashi.zoo import reference_features

        data = loaded.config.data
        reference = reference_features(str(data.get("spec", "")), data.get("resolution"))
        clip = reference if reference and _is_clip(reference) else None
    d = direction(family, direction_spec, clip, **latent.options)
    values = parse_strengths(strengths)
    images = sweep(family, ws, d, values, layers, latent.noise)
    params |= {"direction": direction_spec, "strengths": values, "layers": layers}
    if clip is not None and "clip:" in direction_spec:
        params["clip"] = str(clip)
    return save_png(make_grid(images, nrow=len(values)), Path(out), params)


def _is_clip(spec: str) -> bool:
    """Whether a ``zoo:NAME`` or ``clip:RUN`` spec names a clip network."""
    from huashi import zoo
    from huashi.families import get_family

    if zoo.is_zoo(spec):  # asked of the family its card names, not of the name
        return get_family(zoo.zoo_entry(zoo.resolve(spec)).family).feature_kind == "clip"
    return spec.startswith("clip:")


def _other_latent(
    loaded: Any, toward: str | Path, space: str, steps: int, options: dict, on_step: Any = None
):
    if str(toward).endswith(".safetensors"):
        other = load_latent(toward)
        if other.space != space:
            raise HuashiError(
                f"--toward {toward} is a {other.space} latent, the edited one is {space}: "
                "invert both in the same --space."
            )
        return other.tensor.to(loaded.family.device)
    from huashi.core.images import read_image_tensor
    from huashi.gan.inversion import invert

    info = loaded.config.data_info
    image, _ = read_image_tensor(toward, int(info["channels"]), int(info["resolution"]))
    inverted = invert(loaded.family, image, space, steps, on_step=on_step, **options)
    return inverted.latent.to(loaded.family.device)
