"""Pure ``nn.Module`` networks, one family of networks per folder: no files, no training.

Each model reads top to bottom from its config dataclass. Models may import
:mod:`huashi.core` (config fields), :mod:`huashi.losses` (names of reconstruction losses) and
each other's layers; never training, families or anything above.
"""
