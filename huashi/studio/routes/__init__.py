"""The studio's endpoints, one router per tab of the page: ``runs`` (the runs list, the zoo, a
run's page and files), ``paint`` (paint, translate and upscale, progress, cancel), ``latents``
(walks, inversion, dragging), ``measure`` (eval, compare, reports), ``uploads``, ``train``
(families, jobs) and ``data`` (datasets). Each module's ``router(studio)`` returns a FastAPI
``APIRouter`` over the shared :class:`huashi.studio.state.Studio`; a route parses and checks
the request, calls one :mod:`huashi.api` function and answers."""
