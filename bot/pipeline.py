"""The message pipeline: IncomingMessage -> middlewares -> dialogue -> actions -> replies.

One database session per message. The inbox row (channel + message id) is claimed first, and marked
done in the same transaction as everything the message changed, so a retried or replayed message is
answered once and a crash leaves it to be resumed.

Concurrency lives here, for every channel (Telegram, Zalo, web chat, console): one user's messages
are handled one at a time, in the order they arrived (`Services.in_order`), and the transactions
of all users pass the database's write gate (`bot.storage.gate`): one at a time on SQLite, where
inbox records queue with them in process, several on PostgreSQL. Channels record through
`Services.record` / `record_many` and touch no lock themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import Catalogs, Translator
from bot.messages import Button, IncomingMessage, Reply
from bot.storage import inbox
from bot.storage.gate import WriteGate, writing
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


class KeyedLock:
    """One FIFO lock per key, made on first use and dropped when nobody holds or waits for it.

    Re-entrant within a task: a channel holds a user's lock across `Pipeline.handle` (which takes
    it too) and the sending of the replies, so the replies also go out in order. A task must not
    wait for another task that needs the same key.
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, _KeyEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        task = asyncio.current_task()
        entry = self._entries.get(key)
        if entry is not None and task is not None and entry.owner is task:
            yield
            return
        if entry is None:
            entry = self._entries[key] = _KeyEntry()
        entry.users += 1
        try:
            async with entry.lock:
                entry.owner = task
                try:
                    yield
                finally:
                    entry.owner = None
        finally:
            entry.users -= 1
            if not entry.users:
                del self._entries[key]


@dataclass
class _KeyEntry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting
    owner: asyncio.Task | None = None


@dataclass
class Services:
    """Long-lived parts built once at start and shared by every message.

    Also where messages wait their turn: `in_order` (one user's messages one at a time, in arrival
    order) and `writes`, the database's write gate, shared by every writer on the same engine.
    """

    settings: Settings
    content: Content
    nlu: Any  # nlu.engine engine: `async parse(text, lang) -> NluResult`
    catalogs: Catalogs
    sessionmaker: async_sessionmaker[AsyncSession]
    memory: Any = None  # bot.middlewares.SessionMemory
    user_turns: KeyedLock = field(default_factory=KeyedLock, repr=False)

    @property
    def writes(self) -> WriteGate:
        return WriteGate.of(self.sessionmaker)

    def in_order(self, channel: str, sender_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold one user's turn: their other messages wait, then go in the order they arrived."""
        return self.user_turns.hold((channel, sender_id))

    def writing(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A session for a short write, taking its turn with every other writer of the database."""
        return writing(self.sessionmaker)

    async def record(self, channel: str, message_id: str, payload: dict[str, Any] | None = None) -> bool:
        """`inbox.record` through the write gate: what a channel does before acknowledging a message."""
        return (await self.record_many(channel, [(message_id, payload)]))[0]

    async def record_many(self, channel: str, items: Sequence[tuple[str, dict[str, Any] | None]]) -> list[bool]:
        """Record several (message id, payload) in one transaction; True for each that is new."""
        if not items:
            return []
        async with self.writing() as session:
            return await inbox.record_many(session, channel, items)


Next = Callable[[Context], Awaitable[None]]
Middleware = Callable[[Context, Next], Awaitable[None]]


class Pipeline:
    """Runs each message through the middlewares, then the dialogue, in one DB transaction.

    A user's messages are handled in arrival order, one at a time; transactions pass the write gate
    (`max_transactions` overrides its size, for the whole database).
    """

    def __init__(self, services: Services, middlewares: list[Middleware], dialogue: Callable[[Context], Awaitable[None]],
                 *, max_transactions: int | None = None):
        self.services = services
        self.middlewares = middlewares
        self.dialogue = dialogue
        if max_transactions is not None:
            services.writes.limit(max_transactions)

    def in_order(self, channel: str, sender_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self.services.in_order(channel, sender_id)

    async def record(self, channel: str, message_id: str, payload: dict[str, Any] | None = None) -> bool:
        return await self.services.record(channel, message_id, payload)

    async def record_many(self, channel: str, items: Sequence[tuple[str, dict[str, Any] | None]]) -> list[bool]:
        return await self.services.record_many(channel, items)

    async def handle(self, msg: IncomingMessage) -> Turn:
        """Handle one message in its own transaction, after the sender's earlier messages.

        On failure the transaction is rolled back, the failed attempt is counted in the inbox
        (`inbox.note_failure`: a message that keeps failing is given up), and the error raised.
        """
        async with self.services.in_order(msg.channel, msg.sender_id), self.services.writes.transaction():
            started = time.perf_counter()  # the turn itself, not the wait for it
            ctx = await self._run(msg)
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

    async def _run(self, msg: IncomingMessage) -> Context:
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
            except Exception as exc:
                await session.rollback()
                log.exception("message failed channel=%s", msg.channel)
                await self._note_failure(session, msg, exc)
                raise
        return ctx

    @staticmethod
    async def _note_failure(session: AsyncSession, msg: IncomingMessage, exc: Exception) -> None:
        """Count the failed attempt (still inside the write gate); only the error's type is kept."""
        try:
            if await inbox.note_failure(session, msg.channel, msg.message_id, type(exc).__name__):
                log.error("message given up after %d attempts channel=%s error=%s", inbox.MAX_ATTEMPTS,
                          msg.channel, type(exc).__name__)
            await session.commit()
        except Exception as note_exc:  # noqa: BLE001 - e.g. the database is down: resumed and counted later
            log.warning("cannot count the failed attempt channel=%s (%s)", msg.channel, type(note_exc).__name__)
            with contextlib.suppress(Exception):
                await session.rollback()
