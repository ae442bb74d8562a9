"""One router per studio tab: ``router(studio)`` returns the tab's endpoints over the shared
:class:`~huashi.studio.state.Studio`. Each endpoint validates its request, calls one
:mod:`huashi.api` function (in a worker thread when it generates) and shapes the answer."""
