"""Find system font files offline (no downloads): the emoji font and the two CJK fonts.

Each font can be overridden with an environment variable that names its file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from huashi.core.errors import HuashiError


@dataclass(frozen=True)
class FontSpec:
    """How to find one font and which Debian package provides it."""

    key: str
    filename: str
    family: str
    package: str
    env: str


FONTS = {
    "emoji": FontSpec(
        "emoji",
        "NotoColorEmoji.ttf",
        "Noto Color Emoji",
        "fonts-noto-color-emoji",
        "HUASHI_EMOJI_FONT",
    ),
    "ming": FontSpec("ming", "uming.ttc", "AR PL UMing", "fonts-arphic-uming", "HUASHI_MING_FONT"),
    "kai": FontSpec("kai", "ukai.ttc", "AR PL UKai", "fonts-arphic-ukai", "HUASHI_KAI_FONT"),
}

# Folders searched (recursively) before asking fontconfig.
FONT_DIRS = [
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local" / "share" / "fonts",
    Path.home() / ".fonts",
]


def _fontconfig_files() -> list[Path]:
    """Every font file fontconfig knows about (empty if fontconfig is not installed)."""
    exe = shutil.which("fc-list")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--format", "%{file}\n"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [Path(line) for line in out.splitlines() if line.strip()]


def find_font(key: str) -> Path:
    """The font file for ``key`` ("emoji", "ming" or "kai"), or a HuashiError saying how to get it."""
    spec = FONTS[key]
    install = f"install it with `sudo apt-get install {spec.package}`"
    override = os.environ.get(spec.env)
    if override:
        path = Path(override).expanduser()
        if path.is_file():
            return path
        raise HuashiError(
            f"the {spec.family} font file {path} (set by ${spec.env}) does not exist: "
            f"fix or unset ${spec.env}, or {install}."
        )
    for folder in FONT_DIRS:
        if folder.is_dir():
            for path in sorted(folder.rglob(spec.filename)):
                if path.is_file():
                    return path
    for path in _fontconfig_files():
        if path.name == spec.filename and path.is_file():
            return path
    raise HuashiError(
        f"the {spec.family} font ({spec.filename}) was not found: {install} "
        f"(or set ${spec.env} to the font file)."
    )
