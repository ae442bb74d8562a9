"""The studio: a painter's web page and HTTP API over :mod:`huashi.api` (``huashi studio``).

:func:`huashi.studio.server.create_app` builds the FastAPI app from one router per tab
(:mod:`huashi.studio.routes`) over one :class:`~huashi.studio.state.Studio`; every action is one
:mod:`huashi.api` call, run through the fair, bounded queue of :mod:`huashi.studio.queue`;
training jobs run in their own process (:mod:`huashi.studio.jobs`); the page is plain HTML, JS
and CSS in ``static/``. What still reads files past the API: the runs list and a run's summary
(its config, log and eval records), the zoo's cards and the feature-network list; nothing
below imports the studio.
"""
