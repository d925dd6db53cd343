"""ASGI entry point: what gunicorn serves (``scripts/serve``; settings in dashboard/gunicorn_conf.py).

Django runs each request's sync code (middleware, views, templates, the ORM) in a thread of that request's own,
so pages run side by side; long-lived answers (live logs, downloads) are async bodies on the event loop and hold
no thread. ``BoundedRequests`` keeps the number of requests doing sync work at once, per process, to
PORTICO_CONCURRENT_REQUESTS, as gthread's thread count did, so a burst of page loads cannot open a database
connection each. docs/architecture.md ("Serving") says why.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

from core.filemodes import restrict_umask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# Live log streams (API and pages). Their sync parts (session, role, one inspect per container) take a few
# milliseconds and run in one thread shared by all streams; Django would otherwise give each request a thread of
# its own that stays parked for as long as the stream is open.
STREAMS = re.compile(
    r"/api/v1/containers/[^/]+/logs/follow|/api/v1/domain-logs/[^/]+/follow"
    r"|/containers/c/[^/]+/logs/follow/|/containers/domains/[^/]+/logs/follow/"
)


class BoundedRequests:
    """At most ``limit`` HTTP requests of this process run until their answer starts; the rest wait their turn.

    A request counts until it sends its status line: then its sync work is done, and whatever it streams after
    (a follow, a download) no longer takes a turn from page loads. Also answers the lifespan protocol, which
    Django does not speak.
    """

    def __init__(self, app: ASGIHandler, limit: int):
        self.app = app
        self.limit = limit
        self._turns: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # Django refuses it with its own message
            return
        if self._turns is None:  # made on the worker's own loop, on its first request
            self._turns = asyncio.Semaphore(self.limit)
        turns = self._turns
        await turns.acquire()
        holding = True

        def give_back() -> None:
            nonlocal holding
            if holding:
                holding = False
                turns.release()

        async def send_and_free(message: Message) -> None:
            if message["type"] == "http.response.start":
                give_back()
            await send(message)

        try:
            if STREAMS.fullmatch(scope.get("path", "")):
                # handle() is __call__ without its per-request ThreadSensitiveContext: sync code goes to asgiref's
                # one shared thread instead of a new thread per request.
                await self.app.handle(scope, receive, send_and_free)
            else:
                await self.app(scope, receive, send_and_free)
        finally:
            give_back()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def _application() -> BoundedRequests:
    restrict_umask()  # before settings create var/, the secret key and the database
    django_app = get_asgi_application()  # sets Django up: settings are readable from here on
    from django.conf import settings

    return BoundedRequests(django_app, settings.PORTICO_CONCURRENT_REQUESTS)


application = _application()
