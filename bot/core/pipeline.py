"""The message pipeline: IncomingMessage -> middlewares -> dialogue -> replies as outbox rows.

One database transaction per message. The inbox row (channel + message id) is claimed first and
marked done in the same transaction as everything the message changed, the replies included:
they are written as outbox rows (`bot.storage.repositories.outbox`), which the sender core
(`bot.outbox.sender`) delivers after the commit. So a message is either handled with its replies
stored, or rolled back and left to be resumed; a reply is never lost between commit and send.

One user's messages are handled one at a time (`bot.core.ordering`: in process, and on
PostgreSQL across processes with an advisory lock), and every turn passes the database's write
gate (`bot.storage.gate`). Channels do not call the pipeline directly: the inbound worker
(`bot.inbound.worker`) does, for every channel.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Context, Turn
from bot.core.services import Services
from bot.messages import IncomingMessage
from bot.storage.outage import Outage
from bot.storage.repositories import inbox, outbox

log = logging.getLogger("bot.pipeline")

Next = Callable[[Context], Awaitable[None]]
Middleware = Callable[[Context, Next], Awaitable[None]]
Dialogue = Callable[[Context], Awaitable[None]]


class TurnFailed(Exception):
    """A message's turn raised and was rolled back.

    `counted`: the failed attempt was written to the inbox (False when even that failed, e.g. the
    database is down); `given_up`: the message reached its last attempt and is marked failed.
    """

    def __init__(self, error: BaseException, *, counted: bool, given_up: bool) -> None:
        super().__init__(type(error).__name__)
        self.error = error
        self.counted = counted
        self.given_up = given_up


class Pipeline:
    """Runs each message through the middlewares, then the dialogue, in one DB transaction."""

    def __init__(
        self,
        services: Services,
        middlewares: list[Middleware],
        dialogue: Dialogue,
        *,
        max_transactions: int | None = None,
    ) -> None:
        self.services = services
        self.middlewares = middlewares
        self.dialogue = dialogue
        # Set by the inbound worker: replies are written already taken for sending, for this
        # long, so the sender core sends them after the commit without claiming them first.
        self.reply_lease: timedelta | None = None
        if max_transactions is not None:
            services.writes.limit(max_transactions)

    async def handle(self, msg: IncomingMessage) -> Turn:
        """Handle one message in its own transaction, after the sender's earlier messages.

        Raises `TurnFailed` after a rollback; the failed attempt is counted in the inbox
        (`inbox.note_failure`), and a message that keeps failing is given up.
        """
        services = self.services
        ordering = services.ordering
        async with ordering.hold(msg.channel, msg.sender_id), services.writes.transaction():
            started = time.perf_counter()  # the turn itself, not the wait for it
            memory = services.memory.snapshot(msg.channel, msg.sender_id)
            async with services.sessionmaker() as session:
                ctx = Context(msg=msg, session=session, services=services)
                try:
                    await ordering.lock(session, msg.channel, msg.sender_id)
                    await self._run(0, ctx)
                    ctx.turn.lang = ctx.lang if ctx.lang_known else None
                    if ctx.turn.replies and not ctx.turn.duplicate:
                        queued = await outbox.add_replies(
                            session,
                            channel=msg.channel,
                            recipient=msg.sender_id,
                            user_id=ctx.user.id if ctx.user is not None else None,
                            message_id=msg.message_id,
                            replies=ctx.turn.replies,
                            lease=self.reply_lease,
                        )
                        ctx.turn.outbox_ids, ctx.turn.claimed = queued.ids, queued.claimed
                    await session.commit()
                except Exception as exc:
                    with contextlib.suppress(Exception):  # a broken connection cannot roll back
                        await session.rollback()
                    services.memory.restore(msg.channel, msg.sender_id, memory)
                    if Outage.of(services.sessionmaker).failed(exc, "handling a message"):
                        # The database is away, not the message at fault: no attempt counted
                        # (an outage never makes a message failed), logged once per outage.
                        raise TurnFailed(exc, counted=False, given_up=False) from exc
                    log.error("message failed channel=%s error=%s", msg.channel, type(exc).__name__)
                    counted, given_up = await self._note_failure(session, msg, exc)
                    raise TurnFailed(exc, counted=counted, given_up=given_up) from exc
        if ctx.user is not None:
            log.info(
                "handled channel=%s user=%s intent=%s conf=%s answer=%s replies=%d ms=%.1f",
                msg.channel,
                services.memory.pseudonym(msg.channel, msg.sender_id),
                ctx.turn.intent,
                None if ctx.turn.confidence is None else round(ctx.turn.confidence, 3),
                ctx.turn.answer_id,
                len(ctx.turn.replies),
                (time.perf_counter() - started) * 1000,
            )
        return ctx.turn

    async def _run(self, i: int, ctx: Context) -> None:
        if ctx.stop:
            return
        if i < len(self.middlewares):
            await self.middlewares[i](ctx, lambda c: self._run(i + 1, c))
        else:
            await self.dialogue(ctx)

    @staticmethod
    async def _note_failure(
        session: AsyncSession, msg: IncomingMessage, exc: Exception
    ) -> tuple[bool, bool]:
        """Count the failed attempt (still inside the write gate); only the error's type is kept."""
        try:
            given_up = await inbox.note_failure(
                session, msg.channel, msg.message_id, type(exc).__name__
            )
            await session.commit()
        except Exception as note_exc:  # e.g. the database is down: resumed and counted later
            log.warning(
                "cannot count the failed attempt channel=%s (%s)",
                msg.channel,
                type(note_exc).__name__,
            )
            with contextlib.suppress(Exception):
                await session.rollback()
            return False, False
        if given_up:
            log.error(
                "message given up after %d attempts channel=%s error=%s",
                inbox.MAX_ATTEMPTS,
                msg.channel,
                type(exc).__name__,
            )
        return True, given_up
