"""The ground floor: what every other layer may use and that knows nothing of models.

Errors (:mod:`~huashi.core.errors`), image files and grids (:mod:`~huashi.core.images`), the
parameters written into every PNG (:mod:`~huashi.core.metadata`), the dataclass fields that
generate CLI flags, studio forms and config checks (:mod:`~huashi.core.config_fields`) and the
checks on config values (:mod:`~huashi.core.validation`). It imports nothing from huashi but
the package's version.
"""
