"""The folder dataset: any folder of images (searched recursively; hidden files and folders are ignored).

- Labels: when every image sits in a first-level subfolder and there are at least two of them,
  the subfolder names are the classes (sorted). ``labels=True`` demands this, ``False`` turns
  it off.
- Captions: a sidecar ``name.txt`` beside ``name.png``, or lines ``{"file_name": ..., "text":
  ...}`` in a ``metadata.jsonl`` (file names relative to that file's folder). A sidecar wins
  over metadata. Images without a caption get "" and are counted in ``info["uncaptioned"]``.
- Pairs: ``target=PATH2`` pairs each image with the file of the same relative path in PATH2
  (the extension may differ) for image-to-image; an image without a partner is an error.
- Decoding: JPEG/PNG/WebP/BMP/GIF/TIFF in any mode. Transparent images (RGBA, LA, P with
  transparency) are composited on white, 16-bit images scaled to 8 bits, CMYK/P/other modes
  converted to RGB, EXIF rotation applied. Grayscale images stay one channel unless the
  folder also holds color images.
- Resizing: each image is centre-cropped to a square (its shorter side), then resized with
  Lanczos to the resolution; nothing is stretched.
- Unreadable files are skipped, counted in ``info["skipped"]`` and named in a warning. Captions
  that are not UTF-8 text are left empty, counted in ``info["unreadable_captions"]`` and named.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from huashi.core.errors import HuashiError
from huashi.core.images import read_image
from huashi.data.base import ImageSet, check_split

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
METADATA = "metadata.jsonl"
SHOW = 5  # how many file names an error or warning lists
DECODE_ERRORS = (HuashiError,)  # what read_image raises for a file it cannot or will not read


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive, sorted, hidden ones ignored)."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and _visible(p, root)
    )


def _check_folder(path: str | Path, what: str = "image folder") -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise HuashiError(f"{what} {root} does not exist: give the path of a folder of images.")
    if not root.is_dir():
        raise HuashiError(f"{what} {root} is not a folder: give the folder that holds the images.")
    return root.resolve()


def sources(path: str | Path, target: str | Path | None = None, **_: object) -> list[Path]:
    """Every file whose change must re-decode the folder (images, captions, metadata)."""
    out = []
    for folder in [path] + ([target] if target else []):
        root = _check_folder(folder)
        out += list_images(root)
        out += [p for p in root.rglob("*.txt") if _visible(p, root)]
        out += [p for p in root.rglob(METADATA) if _visible(p, root)]
    return out


def fingerprint(path: str | Path, target: str | Path | None = None) -> dict:
    """What identifies a folder's data: the number of files (images, captions, metadata) and a
    hash of their relative names and sizes (cheap: no file is read)."""
    digest = hashlib.sha256()
    count = 0
    for name, folder in (("", path), ("target/", target)):
        if folder is None:
            continue
        root = _check_folder(folder)
        for file in sorted(sources(root)):
            digest.update(
                f"{name}{file.relative_to(root).as_posix()}\0{file.stat().st_size}\n".encode()
            )
            count += 1
    return {"files": count, "sha256": digest.hexdigest()[:16]}


def decode(path: Path, resolution: int) -> np.ndarray:
    """One image file -> uint8 [H, W] (grayscale) or [H, W, 3], square at ``resolution``."""
    pixels = read_image(path, resolution=resolution).pixels.permute(1, 2, 0).numpy()
    return pixels[..., 0] if pixels.shape[2] == 1 else pixels


def _read_caption(path: Path, unreadable: list[str]) -> str:
    """A caption file as UTF-8 text; one that is not UTF-8 gives "" and is counted."""
    try:
        return path.read_bytes().decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        unreadable.append(str(path))
        return ""


def _read_metadata(root: Path, unreadable: list[str]) -> dict[Path, str]:
    captions: dict[Path, str] = {}
    for meta in sorted(p for p in root.rglob(METADATA) if _visible(p, root)):
        for number, raw in enumerate(meta.read_bytes().splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                unreadable.append(f"{meta} line {number}")
                continue
            try:
                row = json.loads(line)
                name, text = row["file_name"], row["text"]
                key = (meta.parent / name).resolve()
            except (ValueError, KeyError, TypeError):
                raise HuashiError(
                    f'line {number} of {meta} is not a JSON object with "file_name" and '
                    f'"text": fix that line.'
                ) from None
            captions[key] = str(text).strip()
    return captions


def _captions(root: Path, files: list[Path], unreadable: list[str]) -> list[str] | None:
    """Each image's caption (None when the folder has none); captions that are not UTF-8 text
    are named in ``unreadable`` and give an empty caption."""
    metadata = _read_metadata(root, unreadable)
    captions, found = [], False
    for path in files:
        sidecar = path.with_suffix(".txt")
        if sidecar.is_file():
            captions.append(_read_caption(sidecar, unreadable))
            found = True
        elif path in metadata:
            captions.append(metadata[path])
            found = True
        else:
            captions.append("")
    return captions if found else None


def _labels(root: Path, files: list[Path], labels: bool | None):
    parts = [p.relative_to(root).parts for p in files]
    in_subfolders = all(len(pp) > 1 for pp in parts)
    classes = sorted({pp[0] for pp in parts if len(pp) > 1})
    usable = in_subfolders and len(classes) >= 2
    if labels is False or (labels is None and not usable):
        return None, None
    if not usable:
        raise HuashiError(
            f"labels=True needs every image of {root} inside one of at least two class "
            f"subfolders (found {len(classes)} subfolders, images at the top level: "
            f"{not in_subfolders}): sort the images into one folder per class."
        )
    index = {name: i for i, name in enumerate(classes)}
    return [index[pp[0]] for pp in parts], classes


def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def _pair(root: Path, files: list[Path], target_root: Path) -> list[Path]:
    targets: dict[str, Path] = {}
    for t in list_images(target_root):
        key = _key(t, target_root)
        if key in targets:
            raise HuashiError(
                f"{target_root} has two targets for '{key}' ({targets[key].name} and {t.name}): "
                "keep one of them."
            )
        targets[key] = t
    missing = [_key(p, root) for p in files if _key(p, root) not in targets]
    if missing:
        shown = ", ".join(missing[:SHOW]) + (", ..." if len(missing) > SHOW else "")
        raise HuashiError(
            f"{len(missing)} of {len(files)} images in {root} have no file with the same "
            f"relative path in {target_root} (extension aside): {shown}; add those targets "
            "or remove those images."
        )
    return [targets[_key(p, root)] for p in files]


def stack(arrays: list[np.ndarray]) -> torch.Tensor:
    """Stack [H, W] and [H, W, 3] arrays into uint8 [N, C, H, W] (C = 3 if any is color)."""
    color = any(a.ndim == 3 for a in arrays)
    if color:
        arrays = [np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in arrays]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return torch.from_numpy(np.stack(arrays))[:, None].contiguous()


@dataclass
class FolderPlan:
    """What is known of a folder before any image is decoded: its files (and their paired
    targets), labels and captions, one entry per file."""

    root: Path
    files: list[Path]
    target_root: Path | None
    target_files: list[Path] | None
    labels: list[int] | None
    class_names: list[str] | None
    captions: list[str] | None
    bad_captions: list[str]


def plan_folder(
    path: str | Path,
    split: str = "train",
    target: str | Path | None = None,
    labels: bool | None = None,
) -> FolderPlan:
    """List a folder's images, pair them, read labels and captions (nothing is decoded yet)."""
    check_split(split)
    if split == "test":
        raise HuashiError(
            "a folder has no test split (split='train' or 'all' loads every image): keep "
            "held-out images in a separate folder and load that one."
        )
    root = _check_folder(path)
    files = list_images(root)
    if not files:
        raise HuashiError(
            f"no images found in {root} (looked for {'/'.join(IMAGE_EXTENSIONS)}, also in "
            "subfolders): put image files there or give another folder."
        )
    target_root = _check_folder(target, "target folder") if target else None
    target_files = _pair(root, files, target_root) if target_root else None
    label_list, class_names = _labels(root, files, labels)
    bad_captions: list[str] = []
    captions = _captions(root, files, bad_captions)
    if bad_captions:
        shown = ", ".join(Path(s).name for s in bad_captions[:SHOW])
        warnings.warn(
            f"{len(bad_captions)} caption(s) in {root} are not UTF-8 text and were left empty: "
            f"{shown}" + (", ..." if len(bad_captions) > SHOW else "") + " (save them as UTF-8)",
            stacklevel=3,
        )
    return FolderPlan(
        root, files, target_root, target_files, label_list, class_names, captions, bad_captions
    )


def decode_each(
    plan: FolderPlan, resolution: int, skipped: list[tuple[str, str]]
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """(file number, image, target or None) for every readable file, in order; each unreadable
    file is appended to ``skipped`` as (name, reason) instead."""
    for i, path_i in enumerate(plan.files):
        try:
            image = decode(path_i, resolution)
            pair = decode(plan.target_files[i], resolution) if plan.target_files else None
        except DECODE_ERRORS as error:
            bad = path_i if plan.target_files is None else f"{path_i} / {plan.target_files[i]}"
            skipped.append((str(bad), str(error)))
            continue
        yield i, image, pair


def finish_folder(
    plan: FolderPlan, kept: list[int], skipped: list[tuple[str, str]]
) -> dict[str, Any]:
    """Warn about skipped files (an error when none was readable) and return the ImageSet
    fields other than the pixels (``name``, ``labels``, ``class_names``, ``captions``,
    ``attributes``, ``info``) for the ``kept`` file numbers."""
    root, names = plan.root, [name for name, _ in skipped]
    if skipped:
        shown = ", ".join(Path(s).name for s in names[:SHOW])
        warnings.warn(
            f"skipped {len(skipped)} unreadable image file(s) in {root}: {shown}"
            + (", ..." if len(skipped) > SHOW else "")
            + f" (first: {skipped[0][1]})",
            stacklevel=3,
        )
    if not kept:
        raise HuashiError(
            f"none of the {len(plan.files)} image files in {root} could be read "
            f"({skipped[0][1]}): check that they are valid images."
        )
    info: dict = {"source": str(root), "skipped": len(skipped), "skipped_files": names[:50]}
    info["fingerprint"] = fingerprint(root, plan.target_root)
    if plan.bad_captions:
        info["unreadable_captions"] = len(plan.bad_captions)
        info["unreadable_caption_files"] = plan.bad_captions[:50]
    if plan.target_root:
        info["target"] = str(plan.target_root)
    captions = plan.captions
    if captions is not None:
        captions = [captions[i] for i in kept]
        info["uncaptioned"] = sum(1 for c in captions if not c)
        if info["uncaptioned"]:
            warnings.warn(
                f"{info['uncaptioned']} of {len(captions)} images in {root} have no caption "
                "(no .txt sidecar or metadata.jsonl entry); they get an empty caption.",
                stacklevel=3,
            )
    labels = None if plan.labels is None else torch.tensor([plan.labels[i] for i in kept])
    return {
        "name": f"folder:{root}",
        "labels": labels,
        "class_names": plan.class_names,
        "captions": captions,
        "attributes": None,
        "info": info,
    }


def load_folder(
    path: str | Path,
    resolution: int = 64,
    split: str = "train",
    target: str | Path | None = None,
    labels: bool | None = None,
) -> ImageSet:
    """Decode every image of a folder (see the module docstring for the rules)."""
    plan = plan_folder(path, split, target, labels)
    images, targets, kept, skipped = [], [], [], []
    for i, image, pair in decode_each(plan, resolution, skipped):
        images.append(image)
        if pair is not None:
            targets.append(pair)
        kept.append(i)
    fields = finish_folder(plan, kept, skipped)
    return ImageSet(images=stack(images), targets=stack(targets) if targets else None, **fields)
