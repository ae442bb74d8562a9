"""The GAN latent-space actions (see :mod:`huashi.gan`): inversion, editing, style mixing and
dragging. Each takes a run folder and files and writes its results into ``out``."""

from __future__ import annotations

from huashi.gan.drag import drag_file as drag
from huashi.gan.editing import edit_file as edit
from huashi.gan.editing import write_mixing_grid as mixing_grid
from huashi.gan.inversion import invert_file as invert

__all__ = ["drag", "edit", "invert", "mixing_grid"]
