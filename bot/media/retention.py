"""Stored media nobody's record names any more are deleted.

A stored file is linked to a person only through the records that name it: the answers of a
form in progress (`users.state`), a report's or a feedback's `photo_ref`, a report's history,
a voice message passed on to staff (`handoff_messages.media_ref`).
An erasure removes those links (the state is deleted with the user; a feedback kept for the
record is anonymised, its `photo_ref` cleared), and an abandoned form expires: the file is
then an orphan. `sweep_orphans` deletes the files no record names, once they are older than
`grace_seconds` (by default the forms' expiry plus an hour: a photo just stored for a form whose
state is being written is never taken). Meant for the daily privacy job (bot/privacy/
retention.py), beside the exports sweep.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.media.store import REF_RE, MediaStore, is_stored_ref, refs_in
from bot.storage.models import Feedback, HandoffMessage, Report, ReportHistory, User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.config import Settings

log = logging.getLogger("bot.media")


async def referenced(session: AsyncSession) -> set[str]:
    """Every stored reference some record names."""
    refs: set[str] = set()
    for column in (Report.photo_ref, Feedback.photo_ref, HandoffMessage.media_ref):
        rows = await session.execute(select(column).where(column.is_not(None)))
        refs.update(r for (r,) in rows if is_stored_ref(r))
    history = await session.stream(select(ReportHistory.old_values, ReportHistory.new_values))
    async for old, new in history:
        refs.update(refs_in(old))
        refs.update(refs_in(new))
    states = await session.stream(select(User.state))
    async for (state,) in states:
        refs.update(refs_in(state))
    return refs


async def sweep_orphans(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    grace_seconds: float | None = None,
    now: float | None = None,
) -> int:
    """Delete stored files no record names and older than the grace; how many."""
    store = MediaStore(settings.path(settings.media.dir))
    if not store.root.is_dir():
        return 0
    if grace_seconds is None:
        grace_seconds = settings.forms.expire_after_hours * 3600 + 3600
    cutoff = (time.time() if now is None else now) - grace_seconds
    async with sessionmaker() as session:
        keep = await referenced(session)
    deleted = 0
    for path in store.root.glob("*/*"):
        ref = f"media/{path.parent.name}/{path.name}"
        if not REF_RE.match(ref) or ref in keep:
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    if deleted:
        log.info("media: %d stored file(s) no record names were deleted", deleted)
    return deleted
