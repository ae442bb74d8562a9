"""Does a text-to-image emoji painter paint the emoji it is asked for? (issue 28, target 3)

    python benchmarks/emoji_prompts.py zoo:emoji-text-gan
    python benchmarks/emoji_prompts.py runs/emoji-text --names 200 --candidates 50

One painting per name (seed i for the i-th name) for ``--names`` training names drawn at
random (seeded) and for every held-out name (the emoji test split, never trained on). Each
painting is ranked against its own name and ``candidates - 1`` other names of the same set:

- under the reference image-text network (``zoo:reference-emoji``): the cosine between the
  painting and each name;
- under the second reference network (``zoo:reference-emoji-exemplar``, a classifier whose
  classes are the training emoji): its logit for each name's emoji (training names only).

The same is printed for the real emoji of those names: the ceiling each network reads.
"""

from __future__ import annotations

import argparse

import torch

from huashi import api
from huashi.core.images import to_unit_range
from huashi.data import load_dataset
from huashi.metrics.clip_score import ranked_first_share
from huashi.metrics.features import load_features


@torch.no_grad()
def clip_scores(net, images: torch.Tensor, names: list[str]) -> torch.Tensor:
    """[N images, M names] cosine similarities under an image-text network."""
    image = torch.nn.functional.normalize(net.image_embeddings(images), dim=1)
    text = torch.nn.functional.normalize(net.text_embeddings(names), dim=1)
    return image @ text.T


@torch.no_grad()
def exemplar_scores(net, images: torch.Tensor, names: list[str]) -> torch.Tensor:
    """[N images, M names] the exemplar classifier's logits for each name's emoji."""
    classes = [net.class_names.index(name) for name in names]
    return net.run(images)[1][:, classes]


@torch.no_grad()
def paint(run, names: list[str]) -> torch.Tensor:
    """One painting per name, seed i for the i-th name."""
    family = api.load_run(run, device="cpu").family
    return torch.cat(
        [
            family.generate(list(range(k, min(k + 50, len(names)))), prompt=names[k : k + 50])
            for k in range(0, len(names), 50)
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--names", type=int, default=200, help="training names drawn")
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    train, test = (load_dataset("emoji", resolution=32, split=s) for s in ("train", "test"))
    pick = torch.randperm(len(train.captions), generator=torch.Generator().manual_seed(args.seed))
    pick = pick[: args.names].tolist()
    sets = {
        "training names": ([train.captions[i] for i in pick], to_unit_range(train.images[pick])),
        "held-out names": (list(test.captions), to_unit_range(test.images)),
    }
    clip = load_features("zoo:reference-emoji")
    exemplar = load_features("zoo:reference-emoji-exemplar")
    print(
        f"painter: {args.run}; top-1 among {args.candidates} names (chance {1 / args.candidates:.0%})"
    )
    print(f"{'names':<16} {'n':>4} {'pictures':<9} {'zoo:reference-emoji':>20} {'exemplar':>9}")
    for label, (names, real) in sets.items():
        own = torch.arange(len(names))
        for what, images in (("painted", paint(args.run, names)), ("real", real)):
            row = ranked_first_share(clip_scores(clip, images, names), own, args.candidates)
            second = "-"
            if label == "training names":
                scores = exemplar_scores(exemplar, images, names)
                second = f"{ranked_first_share(scores, own, args.candidates):.1%}"
            print(f"{label:<16} {len(names):>4} {what:<9} {row:>20.1%} {second:>9}")


if __name__ == "__main__":
    main()
