"""Channel adapters: each turns its platform's payloads into `IncomingMessage` and sends `Reply`s.

One module per channel with a small interface (`Channel`): start (register routes or start
polling), send, stop. Platform limits are declared at the top of each module, beside the code that
honours them.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from bot.messages import Reply


class Channel(Protocol):
    name: str

    def register_routes(self, app: web.Application) -> None:
        """Add webhook routes (before the app starts); nothing for polling channels."""

    async def start(self) -> None:
        """Begin receiving (start polling, resume recorded messages)."""

    async def send(self, recipient: str, reply: Reply) -> None: ...

    async def stop(self) -> None: ...
