"""The studio: a painter's web page and HTTP API over :mod:`huashi.api` (``huashi studio``).

:func:`huashi.studio.server.create_app` builds the FastAPI app; training jobs run in their own
process (:mod:`huashi.studio.jobs`); the page is plain HTML, JS and CSS in ``static/``.
Its actions go through :mod:`huashi.api` (the Latents tab still calls the GAN tools directly);
nothing below imports the studio.
"""
