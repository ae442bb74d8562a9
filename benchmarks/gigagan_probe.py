"""What a GigaGAN run on shapes knows of each attribute: its discriminator, and its generator.

    python benchmarks/gigagan_probe.py RUN                      # the newest checkpoint
    python benchmarks/gigagan_probe.py RUN --checkpoint CKPT    # an older one

For every attribute (shape, colour, size, position, background), each test caption gets one
attribute changed to another value at random, and:

- **D**: the share of real test images whose discriminator logit (mean over its pyramid levels)
  is higher with the true caption than with the changed one (0.5 = D ignores that attribute,
  1 = it always prefers the truth), and the mean drop of the logit;
- **G**: the same latents painted with the true and with the changed caption: the mean pixel
  change (in grey levels) and the share in which the shapes reader reads the changed value
  (chance is one over the attribute's values).

A generator learns an attribute only from its discriminator's preference, so an attribute that
D hardly tells apart is one G has no reason to paint. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import random

import torch

from huashi import api
from huashi.data import load_dataset, to_uint8
from huashi.data.shapes import SHAPES_ATTRIBUTES, make_caption, parse_caption
from huashi.metrics.shapes_accuracy import read_attributes
from huashi.models.gigagan.generator import image_pyramid


def changed(captions: list[str], attribute: str, rng: random.Random) -> list[str]:
    """Each caption with ``attribute`` set to another of its values, chosen at random."""
    out = []
    for caption in captions:
        scene = parse_caption(caption)
        others = [v for v in SHAPES_ATTRIBUTES[attribute] if v != scene[attribute]]
        out.append(make_caption(scene | {attribute: rng.choice(others)}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--checkpoint")
    parser.add_argument("--n", type=int, default=300, help="test captions (and images)")
    args = parser.parse_args()
    run = api.load_run(args.run, args.checkpoint, device="cpu", cache=False)
    family = run.family
    if run.config.family != "gigagan" or run.config.data["spec"] != "shapes":
        raise SystemExit(f"{args.run} is a {run.config.family} run on {run.config.data['spec']}: "
                         "this probe reads GigaGAN runs on shapes.")  # fmt: skip
    D, text_encoder = family.modules["discriminator"].eval(), family.text_encoder
    data = load_dataset("shapes", resolution=run.config.data["resolution"], split="test")
    n = min(args.n, len(data))
    real = data.batch(torch.arange(n))["image"]
    captions = data.captions[:n]
    pyramid = image_pyramid(real, family._levels())
    latents = torch.randn(n, family.config.z_dim, generator=torch.Generator().manual_seed(1))

    @torch.no_grad()
    def d_logit(texts: list[str]) -> torch.Tensor:
        pooled = text_encoder.encode(texts).pooled
        return torch.stack([level.float().view(-1) for level in D(pyramid, pooled)]).mean(0)

    @torch.no_grad()
    def paint(texts: list[str]) -> torch.Tensor:
        return family.generate_from_latents(latents, prompt=texts)

    rng = random.Random(0)
    true_logit, true_paint = d_logit(captions), paint(captions)
    print(f"{args.run} (step {run.step}), {n} test captions\n")
    print("| attribute | chance | D prefers the true caption | D's logit drop "
          "| G's pixel change (grey levels) | G paints the changed value |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for attribute, values in SHAPES_ATTRIBUTES.items():
        other = changed(captions, attribute, rng)
        logit = d_logit(other)
        painted = paint(other)
        change = (painted - true_paint).abs().mean().item() * 127.5
        read = [read_attributes(image)[attribute] for image in to_uint8(painted)]
        follows = sum(r == parse_caption(c)[attribute] for r, c in zip(read, other, strict=True))
        print(f"| {attribute} | {1 / len(values):.0%} | {(true_logit > logit).float().mean():.0%} "
              f"| {(true_logit - logit).mean():.2f} | {change:.1f} | {follows / n:.0%} |")  # fmt: skip


if __name__ == "__main__":
    main()
