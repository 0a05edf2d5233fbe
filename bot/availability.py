"""Answering when the bot cannot serve: the database away, the pool exhausted, shutting down.

One aiohttp middleware guards what receives messages, the channels' webhooks and the web chat's
`POST /api/...`:

- shutting down (SIGTERM): 503 "shutting down" at once, so the platform sends the update again,
  to the next process;
- the database known to be away (`bot.storage.outage.Outage.down`): 503 at once, without waiting
  for a connection; the refusal is counted with the outage;
- a webhook not answered within `WEBHOOK_DEADLINE` while no statement completed meanwhile (a
  database that hangs rather than refuses), or within `WEBHOOK_BUSY_DEADLINE` however busy the
  database is: 503, while the handler goes on in the background: if its record lands after all,
  the message is handled and the platform's resend is a duplicate, answered 200. A burst with
  the database up (statements completing) waits for its records, as before;
- an outage error escaping a handler (e.g. the web chat marking replies handed over): 503, never
  a 500; it is reported to the tracker, which logs one traceback per outage, not one per request.

Every 503 of these routes carries `Retry-After`. `/healthz` (bot.app) says why as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.storage.outage import Outage

log = logging.getLogger("bot.availability")

# A webhook that has not recorded its update by then is answered 503, and the platform sends it
# again. The first deadline holds while the database answers nothing (it hangs); the second
# while it answers but this process is busy (a burst): a slow 200 beats a 503 whose resend adds
# to the load (the pool's own wait, `database.pool_timeout`, bounds the queue).
WEBHOOK_DEADLINE = 0.7
WEBHOOK_BUSY_DEADLINE = 8.0
RETRY_AFTER = "5"  # seconds: what a 503 of a guarded route suggests
HEALTH_CACHE = 0.5  # seconds a /healthz result is reused (one probe connection at a time)

MESSAGES = {
    "shutting down": "Hệ thống đang khởi động lại, xin gửi lại sau ít phút. "
    "The service is restarting; please send your message again in a minute.",
    "busy": "Hệ thống đang bận, xin gửi lại sau ít phút. "
    "The service is busy; please send your message again in a minute.",
}
UNAVAILABLE = (
    "Hệ thống tạm thời gián đoạn, xin gửi lại sau ít phút. "
    "The service is briefly unavailable; please send your message again in a minute."
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Availability:
    """What the middleware and `/healthz` need: the database's tracker, whether the process is
    stopping, and which routes are webhooks."""

    def __init__(self, tracker: Outage) -> None:
        self.tracker = tracker
        self.stopping = False
        self.webhooks: set[str] = set()  # canonical paths of the channels' webhook routes
        self.late = 0  # webhooks answered 503 at the deadline
        self._background: set[asyncio.Task] = set()
        self._health: tuple[float, bool, dict[str, Any]] | None = None
        self._health_lock = asyncio.Lock()

    def stop_accepting(self) -> None:
        self.stopping = True

    def guarded(self, request: web.Request) -> bool:
        if request.method != "POST":
            return False
        return request.path in self.webhooks or request.path.startswith("/api/")

    async def health(
        self, check: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
    ) -> tuple[bool, dict[str, Any]]:
        """`check()`'s result, reused for `HEALTH_CACHE` seconds, one check at a time."""
        async with self._health_lock:
            now = time.monotonic()
            if self._health is not None and now - self._health[0] < HEALTH_CACHE:
                return self._health[1], self._health[2]
            ok, body = await check()
            self._health = (time.monotonic(), ok, body)
            return ok, body

    async def finish_background(self, timeout: float) -> None:
        """Wait (at shutdown) for webhooks that went on after their deadline."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=max(0.0, timeout))


def unavailable(request: web.Request, why: str) -> web.Response:
    """A 503 the client can act on: JSON with a sentence for the web chat, text for webhooks."""
    headers = {"Retry-After": RETRY_AFTER}
    if request.path.startswith("/api/"):
        return web.json_response(
            {"error": MESSAGES.get(why, UNAVAILABLE), "status": why}, status=503, headers=headers
        )
    return web.Response(status=503, text=why, headers=headers)


def middleware(availability: Availability) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not availability.guarded(request):
            return await handler(request)
        tracker = availability.tracker
        if availability.stopping:
            return unavailable(request, "shutting down")
        if tracker.down:
            tracker.refuse()
            return unavailable(request, tracker.reason or "database unreachable")
        webhook = request.path in availability.webhooks
        what = "receiving a webhook" if webhook else "answering the web chat"
        try:
            if webhook:
                response = await _within_deadline(availability, handler, request)
            else:
                response = await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            if tracker.failed(exc, what):
                return unavailable(request, tracker.reason or "busy")
            raise
        if response.status == 503 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = RETRY_AFTER
        return response

    return guard


async def _within_deadline(
    availability: Availability, handler: Handler, request: web.Request
) -> web.StreamResponse:
    availability.tracker.silent()  # starts the heartbeat at the first webhook
    task = asyncio.ensure_future(handler(request))
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + WEBHOOK_DEADLINE
    while True:
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        if done:
            return task.result()
        waited = loop.time() - started
        # Statements still complete (or the loop is too busy to tell): the database is busy, not
        # away; give the record more time.
        if waited < WEBHOOK_BUSY_DEADLINE and not availability.tracker.silent():
            deadline = min(started + WEBHOOK_BUSY_DEADLINE, loop.time() + 0.1)
            continue
        availability.tracker.suspect()  # no statement completed: is the database there?
        availability.late += 1
        availability._background.add(task)
        task.add_done_callback(lambda t: _settled(availability, t))
        return unavailable(request, "busy")


def _settled(availability: Availability, task: asyncio.Task) -> None:
    """A webhook that went on after its deadline ended: an outage error is reported."""
    availability._background.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not availability.tracker.failed(exc, "receiving a webhook"):
        with contextlib.suppress(Exception):
            log.error("a webhook failed after its deadline (%s)", type(exc).__name__)
