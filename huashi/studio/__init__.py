"""The studio: a painter's web page and HTTP API over :mod:`huashi.api` (``huashi studio``).

:func:`huashi.studio.server.create_app` builds the FastAPI app; training jobs run in their own
process (:mod:`huashi.studio.jobs`); the page is plain HTML, JS and CSS in ``static/``.
The studio calls :mod:`huashi.api` for every action; nothing below imports it.
"""
