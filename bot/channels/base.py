"""What every channel adapter is, and the text helpers they share.

A push channel (Telegram, Zalo OA, ...) only parses, verifies and sends:

- `register_routes` adds its webhook (verified before anything else is done with a request), and
  `start(worker)` starts polling where there is no webhook; either way the platform's payloads go
  to `InboundWorker.accept` before they are acknowledged;
- `parse(payload)` turns one recorded payload into an `IncomingMessage`, a `ContactGone` or a
  `Receipt` (None: nothing to do), the same way at receipt and when resumed after a restart;
- `parts(reply)` says what platform messages a reply becomes, and `deliver` makes one platform
  call for one part, raising `SendError` (bot.outbox.sender) with what the failure means.

Receiving order, retries, resume, poison messages, rate limits and the outbox are the inbound
worker's and the sender core's, the same for every channel. Platform limits are declared at the
top of each adapter module, beside the code that honours them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from bot.messages import Inbound, Reply
from bot.outbox.sender import Limits, SendError

__all__ = ["Channel", "Limits", "Receiver", "SendError", "split_text"]


class Receiver(Protocol):
    """Where a channel hands what it receives (`bot.inbound.worker.InboundWorker`)."""

    async def accept(self, channel: str, payloads: Sequence[dict[str, Any]]) -> int:
        """Record the payloads before they are acknowledged; raises when they could not be."""

    async def wait_for_room(self) -> None:
        """Wait while too many messages are being handled (a poller's back-pressure)."""


@runtime_checkable
class Channel(Protocol):
    """A push channel adapter: what bot.inbound.worker.Channel and bot.outbox.sender.PushChannel
    need of it, and its lifecycle."""

    name: str
    limits: Limits

    def register_routes(self, app: web.Application) -> None:
        """Add webhook routes (before the app starts); nothing for polling channels."""

    async def start(self, worker: Receiver) -> None:
        """Begin receiving (start polling, or check the webhook); payloads go to `worker`."""

    async def stop(self) -> None:
        """Stop receiving and close the platform client."""

    def parse(self, payload: dict[str, Any]) -> Inbound | None:
        """One recorded payload as a platform-neutral event; None for what needs nothing."""

    def parts(self, reply: Reply) -> Sequence[Any]:
        """The platform messages one reply becomes, in order."""

    async def deliver(self, recipient: str, part: Any) -> str | None:
        """Send one part; the platform's message id, if any. Raises SendError."""


# Where a long text may be cut, best first: (separator, how much of it stays with the first part).
CUTS = (("\n\n", 0), ("\n", 0), (". ", 1), ("? ", 1), ("! ", 1), (" ", 0))


def split_text(text: str, limit: int, units: Callable[[str], int] = len) -> list[str]:
    """Cut a long text into messages of at most `limit` units, at paragraph, line, sentence or
    word breaks.

    `units` measures a text as the platform counts it (characters; UTF-16 code units for
    Telegram). A cut is made at the last blank line in the allowed window, else the last line
    break, else the last sentence end, else the last space, so no word is broken; a run without
    any space longer than `limit` is the only thing cut mid-word (never between a letter and its
    combining marks). Whitespace at the cuts is dropped.
    """
    text = text.strip()
    parts: list[str] = []
    while text:
        n = _prefix_within(text, limit, units)
        if n >= len(text):
            parts.append(text)
            break
        window = text[: n + 1]  # a separator right after the limit is a clean cut too
        cut = _cut(window, n, minimum=n // 2) or _cut(window, n, minimum=1)
        if cut <= 0:
            cut = n
            while cut > 1 and unicodedata.combining(text[cut]):
                cut -= 1  # keep a letter and its combining marks together
        head = text[:cut].rstrip()
        if head:
            parts.append(head)
        text = text[cut:].strip()
    return parts


def _cut(window: str, n: int, minimum: int) -> int:
    """Where to cut `window` (the best separator at or after `minimum`), or 0."""
    for sep, keep in CUTS:
        pos = window.rfind(sep)
        if pos >= minimum and pos + keep <= n:
            return pos + keep
    return 0


def _prefix_within(text: str, limit: int, units: Callable[[str], int]) -> int:
    """The largest n such that text[:n] measures at most `limit`."""
    if units(text) <= limit:
        return len(text)
    if units is len:
        return limit
    lo, hi = 0, len(text)  # units() grows with the prefix: binary search
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if units(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo
