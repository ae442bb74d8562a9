"""Paint the 60 images of the labelled shapes set (run once; the PNGs are committed).

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/metrics/shapes_labelled/paint.py

Sources (the ``source`` of each entry in ``labels.json``):

- ``zoo:shapes-ldm``: the README's headline prompt, seeds 0-7, and 36 random captions with
  colours drawn evenly and red, orange and brown drawn twice as often (the colours that get
  confused), each at its own seed, with the run's own sampler (dpmpp-2m, 20 steps, cfg 4);
- ``zoo:shapes-ldm cfg 1.5 steps 8``: 8 random captions painted with weak guidance and few steps
  (the blurrier, less saturated pictures of an under-trained or badly sampled model);
- ``zoo:shapes-kl-vae reconstruction``: 8 test images of the dataset through the autoencoder.

Images 00-59 were painted and labelled first (``part``: ``dev``, or ``held-out`` for every third
image); the reader was improved looking only at the ``dev`` part. Images 60-83 (``part``:
``fresh``: 16 + 4 + 4 from the same sources, new captions and seeds) were painted and labelled
after the reader was settled. Images 84-119 (``part``: ``fresh-2``: 24 + 6 + 6, two thirds of them
small shapes, where the reader and people disagree most) were painted and labelled on 2026-12-07
before the rules of docs/metrics.md were measured on them (``python paint.py --fresh-2`` adds
them); images 120-155 (``part``: ``fresh-3``, the same mix, ``--fresh-3``) were painted and
labelled after those rules were written down, to test them on images nobody had looked at. Images
156-195 (``part``: ``fresh-4``, ``--fresh-4``, weighted to blurred circles and triangles, where
people and the reader differ on size) were painted and labelled (size by the second person) before
the size rules of docs/metrics.md were run on them.

This writes ``images/NN.png`` and ``painted.json`` (prompt and source of each image); the labels
(``labels.json``) were then written by a person looking at enlarged images, not by the reader,
and without looking at the prompts (except the headline prompt's, which is known).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch

from huashi import api
from huashi.core.images import to_uint8
from huashi.data import load_dataset
from huashi.data.shapes import SHAPES_ATTRIBUTES, make_caption

HERE = Path(__file__).parent
HEADLINE = "a large red star in the center on a white background"


def random_captions(
    n: int, rng: random.Random, small: float = 0.5, favour: tuple[str, ...] = ()
) -> list[str]:
    """``n`` captions; red, orange and brown twice as likely as the other colours, the shapes in
    ``favour`` three times as likely as the others, the size small with probability ``small``."""
    colors = SHAPES_ATTRIBUTES["color"] + ["red", "orange", "brown"]
    captions = []
    for _ in range(n):
        scene = {key: rng.choice(values) for key, values in SHAPES_ATTRIBUTES.items()}
        scene["color"] = rng.choice(colors)
        if favour:
            scene["shape"] = rng.choice(SHAPES_ATTRIBUTES["shape"] + 2 * list(favour))
        if small != 0.5:
            scene["size"] = "small" if rng.random() < small else "large"
        captions.append(make_caption(scene))
    return captions


def reconstructions(vae: api.LoadedRun, n: int, seed: int) -> list:
    """``n`` test images of the dataset (drawn with ``seed``) through the autoencoder."""
    real = load_dataset("shapes", 32, split="test", n=n, seed=seed, cache=False)
    batch = real.batch(torch.arange(len(real)))["image"].float()
    rebuilt = vae.family.reconstruct(batch).cpu()
    source = "zoo:shapes-kl-vae reconstruction"
    return [(rebuilt[k], caption, source, k) for k, caption in enumerate(real.captions)]


def fresh_set(k: int) -> list[tuple[torch.Tensor, str, str, int]]:
    """Fresh set ``k`` (2: images 84-119, 3: 120-155): 24 + 6 paintings (two thirds small shapes)
    and 6 reconstructions (4 small), with captions and seeds of their own."""
    rng = random.Random(27 + k)
    ldm = api.load_run("zoo:shapes-ldm", device="cpu")
    entries = []
    first = {2: 500, 3: 700}[k]
    for j, caption in enumerate(random_captions(24, rng, small=2 / 3)):
        image = api.paint(ldm, caption, n=1, seed=first + j, per_image=False, device="cpu").images
        entries.append((image[0], caption, "zoo:shapes-ldm", first + j))
    weak = "zoo:shapes-ldm cfg 1.5 steps 8"
    for j, caption in enumerate(random_captions(6, rng, small=2 / 3)):
        seed = first + 100 + j
        image = api.paint(
            ldm, caption, n=1, seed=seed, per_image=False, device="cpu", cfg=1.5, steps=8
        ).images
        entries.append((image[0], caption, weak, seed))
    vae = api.load_run("zoo:shapes-kl-vae", device="cpu")
    rebuilt = reconstructions(vae, 40, seed=27 + k)
    small = [e for e in rebuilt if " small " in e[1]][:4]
    return entries + small + [e for e in rebuilt if " large " in e[1]][:2]


def fresh_4() -> list[tuple[torch.Tensor, str, str, int]]:
    """Fresh set 4 (images 156-195), weighted to where people and the reader differ on size
    (blurred circles and triangles between the two sizes): 16 paintings and 12 at cfg 1.5 and 8
    steps, circles and triangles three times as likely as each other shape, and 12
    reconstructions of circles and triangles (6 small, 6 large)."""
    rng = random.Random(31)
    ldm = api.load_run("zoo:shapes-ldm", device="cpu")
    favour = ("circle", "triangle")
    entries = []
    for j, caption in enumerate(random_captions(16, rng, favour=favour)):
        image = api.paint(ldm, caption, n=1, seed=900 + j, per_image=False, device="cpu").images
        entries.append((image[0], caption, "zoo:shapes-ldm", 900 + j))
    weak = "zoo:shapes-ldm cfg 1.5 steps 8"
    for j, caption in enumerate(random_captions(12, rng, favour=favour)):
        image = api.paint(
            ldm, caption, n=1, seed=1000 + j, per_image=False, device="cpu", cfg=1.5, steps=8
        ).images
        entries.append((image[0], caption, weak, 1000 + j))
    vae = api.load_run("zoo:shapes-kl-vae", device="cpu")
    rebuilt = [e for e in reconstructions(vae, 120, seed=31) if any(s in e[1] for s in favour)]
    small = [e for e in rebuilt if " small " in e[1]][:6]
    return entries + small + [e for e in rebuilt if " large " in e[1]][:6]


def save(entries: list[tuple[torch.Tensor, str, str, int]], first: int, painted: list) -> None:
    """Write ``entries`` as images ``first``, ``first + 1``, ... and add them to ``painted``."""
    from PIL import Image

    (HERE / "images").mkdir(exist_ok=True)
    for i, (image, caption, source, seed) in enumerate(entries, start=first):
        pixels = to_uint8(image[None].float().cpu())[0].permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(HERE / "images" / f"{i:02d}.png")
        painted.append({"file": f"{i:02d}.png", "prompt": caption, "source": source, "seed": seed})
    (HERE / "painted.json").write_text(json.dumps(painted, indent=1) + "\n")


def main() -> None:
    if "--fresh-4" in sys.argv:
        save(fresh_4(), 156, json.loads((HERE / "painted.json").read_text())[:156])
        return
    for k, first in ((2, 84), (3, 120)):
        if f"--fresh-{k}" in sys.argv:
            painted = json.loads((HERE / "painted.json").read_text())[:first]
            save(fresh_set(k), first, painted)
            return

    rng = random.Random(27)
    ldm = api.load_run("zoo:shapes-ldm", device="cpu")
    entries: list[tuple[torch.Tensor, str, str, int]] = []
    for seed in range(8):
        image = api.paint(ldm, HEADLINE, n=1, seed=seed, per_image=False, device="cpu").images
        entries.append((image[0], HEADLINE, "zoo:shapes-ldm", seed))
    for k, caption in enumerate(random_captions(36, rng)):
        seed = 100 + k
        image = api.paint(ldm, caption, n=1, seed=seed, per_image=False, device="cpu").images
        entries.append((image[0], caption, "zoo:shapes-ldm", seed))
    for k, caption in enumerate(random_captions(8, rng)):
        seed = 200 + k
        image = api.paint(
            ldm, caption, n=1, seed=seed, per_image=False, device="cpu", cfg=1.5, steps=8
        ).images
        entries.append((image[0], caption, "zoo:shapes-ldm cfg 1.5 steps 8", seed))
    vae = api.load_run("zoo:shapes-kl-vae", device="cpu")
    entries += reconstructions(vae, 8, seed=27)
    # the fresh held-out part, painted after the reader was settled
    fresh = random.Random(28)
    for k, caption in enumerate(random_captions(16, fresh)):
        seed = 300 + k
        image = api.paint(ldm, caption, n=1, seed=seed, per_image=False, device="cpu").images
        entries.append((image[0], caption, "zoo:shapes-ldm", seed))
    for k, caption in enumerate(random_captions(4, fresh)):
        seed = 400 + k
        image = api.paint(
            ldm, caption, n=1, seed=seed, per_image=False, device="cpu", cfg=1.5, steps=8
        ).images
        entries.append((image[0], caption, "zoo:shapes-ldm cfg 1.5 steps 8", seed))
    entries += reconstructions(vae, 4, seed=28)
    save(entries, 0, [])


if __name__ == "__main__":
    main()
