"""Latent-space tools of the old painter: working with a trained generator's z and w.

Latent files and the z/w/w+ spaces (:mod:`~huashi.gan.latents`), straight and spherical paths
between latents (:mod:`~huashi.gan.latent_paths`), projecting a real image into the latent
space (:mod:`~huashi.gan.inversion`), directions and style mixing (:mod:`~huashi.gan.editing`)
and DragGAN's point dragging (:mod:`~huashi.gan.drag`). It asks a family for its latent
abilities through :class:`~huashi.families.base.Family`, never for its class; it may import
everything below it (core, models, families, runs, metrics), never tools, the API or the fronts.
"""
