"""The studio: a painter's web page and HTTP API over :mod:`huashi.api` (``huashi studio``).

:func:`huashi.studio.server.create_app` builds the FastAPI app from one router per tab
(:mod:`huashi.studio.routes`) over one :class:`~huashi.studio.state.Studio`; every action is one
:mod:`huashi.api` call, run through the fair, bounded queue of :mod:`huashi.studio.queue`;
training jobs run in their own process (:mod:`huashi.studio.jobs`); the page is plain HTML, JS
and CSS in ``static/``. What still reads past the API, to show rather than to act: the zoo's
cards (:mod:`huashi.studio.painters`), the parameters of gallery PNGs and uploads, the lists of
families, datasets and samplers, the metric registry's labels, a job's log; nothing below
imports the studio.
"""
