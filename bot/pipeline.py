"""The message pipeline: IncomingMessage -> middlewares -> dialogue -> actions -> replies.

One database session per message. The inbox row (channel + message id) is claimed first, and marked
done in the same transaction as everything the message changed, so a retried or replayed message is
answered once and a crash leaves it to be resumed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import Catalogs, Translator
from bot.messages import Button, IncomingMessage, Reply
from bot.storage.models import User

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.content import Content
    from nlu.engine import NluResult

log = logging.getLogger("bot.pipeline")


@dataclass
class Turn:
    """What handling one message produced."""

    replies: list[Reply] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    answer_id: str | None = None
    duplicate: bool = False
    lang: str | None = None  # the user's language after this message, when known


@dataclass
class Context:
    """Everything an action may use for one message. Actions never see the transport."""

    msg: IncomingMessage
    session: AsyncSession
    services: Services
    user: User | None = None
    lang: str = "vi"
    lang_known: bool = True
    t: Translator | None = None
    consents: set[str] | None = None  # loaded on demand: bot.middlewares.load_consents
    turn: Turn = field(default_factory=Turn)
    nlu: NluResult | None = None
    arg: str = ""  # argument of the command being run ("/lang vi" -> "vi")
    stop: bool = False

    def _(self, message: str) -> str:
        assert self.t is not None
        return self.t._(message)

    def say(self, text: str = "", buttons: list[Button] | tuple[Button, ...] = (), **media: Any) -> None:
        self.turn.replies.append(Reply(text=text, buttons=tuple(buttons), **media))

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def content(self) -> Content:
        return self.services.content

    @property
    def state(self) -> dict[str, Any]:
        assert self.user is not None
        return self.user.state

    def set_state(self, **changes: Any) -> None:
        """Change dialogue state; reassigning the dict makes SQLAlchemy write it."""
        assert self.user is not None
        new = dict(self.user.state or {})
        for k, v in changes.items():
            if v is None:
                new.pop(k, None)
            else:
                new[k] = v
        self.user.state = new


@dataclass
class Services:
    """Long-lived parts built once at start and shared by every message."""

    settings: Settings
    content: Content
    nlu: Any  # nlu.engine engine: `async parse(text, lang) -> NluResult`
    catalogs: Catalogs
    sessionmaker: async_sessionmaker[AsyncSession]
    memory: Any = None  # bot.middlewares.SessionMemory


Next = Callable[[Context], Awaitable[None]]
Middleware = Callable[[Context, Next], Awaitable[None]]


class Pipeline:
    """Runs each message through the middlewares, then the dialogue, in one DB transaction."""

    def __init__(self, services: Services, middlewares: list[Middleware], dialogue: Callable[[Context], Awaitable[None]]):
        self.services = services
        self.middlewares = middlewares
        self.dialogue = dialogue

    async def handle(self, msg: IncomingMessage) -> Turn:
        started = time.perf_counter()
        async with self.services.sessionmaker() as session:
            ctx = Context(msg=msg, session=session, services=self.services)

            async def run(i: int, c: Context) -> None:
                if c.stop:
                    return
                if i < len(self.middlewares):
                    await self.middlewares[i](c, lambda cc: run(i + 1, cc))
                else:
                    await self.dialogue(c)

            try:
                await run(0, ctx)
                ctx.turn.lang = ctx.lang if ctx.lang_known else None
                await session.commit()
            except Exception:
                await session.rollback()
                log.exception("message failed channel=%s", msg.channel)
                raise
        if ctx.user is not None:
            log.info(
                "handled channel=%s user=%s intent=%s conf=%s answer=%s replies=%d ms=%.1f",
                msg.channel,
                self.services.memory.pseudonym(msg.channel, msg.sender_id) if self.services.memory else "-",
                ctx.turn.intent,
                None if ctx.turn.confidence is None else round(ctx.turn.confidence, 3),
                ctx.turn.answer_id,
                len(ctx.turn.replies),
                (time.perf_counter() - started) * 1000,
            )
        return ctx.turn
