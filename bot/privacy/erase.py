"""Erasing a person: every row that names them (bot.storage.repositories.personal), their
session memory and export files; then, once the replies still to send them are sent (the one
confirming the deletion among them), those rows too.

`erase_in_turn` runs inside the confirming message's transaction. The pipeline writes the
confirmation after it, addressed to the person (it must reach them) with no user attached:
`forget_when_sent` starts a background task that deletes those rows as soon as nothing is left to
send them. A process that stops before leaves them to the retention job, which deletes finished
rows of no stored user (`retention.purge`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from bot.privacy import export, exports_dir, hash_key
from bot.storage.repositories import personal
from bot.voice.recordings import delete_files

if TYPE_CHECKING:
    from bot.core.context import Context
    from bot.core.services import Services

log = logging.getLogger("bot.privacy")

_pending: set[asyncio.Task] = set()
FORGET_TIMEOUT = 15 * 60.0  # seconds a forget task waits for the last replies to be sent


async def erase_in_turn(ctx: Context) -> personal.Erased:
    """Erase the message's sender, in the turn's transaction (no commit)."""
    channel, external_id = ctx.msg.channel, ctx.msg.sender_id
    erased = await personal.erase(ctx.session, channel, external_id, hash_key(ctx.settings))
    await asyncio.to_thread(delete_files, ctx.settings, erased.recording_files)
    await asyncio.to_thread(export.forget, exports_dir(ctx.settings), channel, external_id)
    ctx.user = None
    ctx.consents = set()
    ctx.services.memory.forget(channel, external_id)
    forget_when_sent(ctx.services, channel, external_id)
    log.info(
        "privacy: erased a user channel=%s consents=%d subscriptions=%d outbox=%d inbox_keys=%d",
        channel,
        erased.consents,
        erased.subscriptions,
        erased.outbox,
        erased.inbox_keys,
    )
    return erased


def forget_when_sent(
    services: Services, channel: str, recipient: str, *, poll: float = 0.2
) -> asyncio.Task:
    """In the background: once the recipient has nothing left to send, delete their sent rows of
    no stored user."""
    task = asyncio.get_running_loop().create_task(
        _forget_when_sent(services, channel, recipient, poll)
    )
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task


async def _forget_when_sent(services: Services, channel: str, recipient: str, poll: float) -> None:
    deadline = time.monotonic() + FORGET_TIMEOUT
    while True:
        await asyncio.sleep(poll)
        try:
            # Not during a turn of theirs: it may be writing new rows for a user who came back.
            async with services.ordering.hold(channel, recipient), services.writing() as session:
                await services.ordering.lock(session, channel, recipient)
                if not await personal.unsent(session, channel, recipient):
                    await personal.forget_sent(session, channel, recipient)
                    await session.commit()
                    return
                await session.rollback()
        except Exception as exc:  # the database is down: try again, the retention job is behind
            log.warning("privacy: cannot forget sent replies yet (%s)", type(exc).__name__)
        if time.monotonic() > deadline:
            log.warning("privacy: replies still unsent after an erasure; the retention job will")
            return
        poll = min(poll * 2, 5.0)


async def settle(timeout: float = 10.0) -> None:
    """Wait for the forget tasks under way (tests; a stopping process)."""
    if _pending:
        await asyncio.wait(set(_pending), timeout=timeout)


async def cancel_pending() -> None:
    """Stop the forget tasks under way (their rows are left to the retention job)."""
    tasks = set(_pending)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
