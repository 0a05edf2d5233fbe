"""The retention job: nothing personal is kept longer than `privacy.retention_days`.

`purge` deletes, for what is older than the retention:

- users with no activity (`last_seen_at`) for that long: erased as by `/xoadulieu` (consents,
  subscriptions, replies, the inbox keys that name them, their export files);
- the chat log: finished outbox rows (the replies sent) created before the cutoff;
- inbox rows received before the cutoff: payload and sender blanked, the key replaced by its keyed
  hash (still a de-duplication key, no longer anyone's message id); one still unfinished is
  given up;

and at any age: the payload of a finished outbox row (normally dropped when sent), sent rows left
by an erasure (of no stored user), export files past `privacy.export_ttl_minutes`. Unanswered
questions counted for the province (`content_gaps`, no user id) go when last asked before the
cutoff; so do the messages of villagers' conversations with staff (`handoff_messages`) written
before it.

Every step is an idempotent statement in short batches, so several processes may run it at once;
on PostgreSQL a transaction-level advisory lock (`pg_try_advisory_xact_lock`) lets one do a batch
while the others skip it. `PrivacyJobs` runs it from `serve` every
`privacy.retention_interval_hours` (and sweeps expired exports every minute);
`python -m bot privacy purge [--dry-run]` runs it once and prints the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, cast, delete, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.privacy import export, exports_dir, hash_key
from bot.storage.dialect import dialect_name
from bot.storage.gate import writing
from bot.storage.models import ContentGap, InboxEntry, OutboxEntry, User
from bot.storage.repositories import handoff as handoff_repo
from bot.storage.repositories import inbox as inbox_repo
from bot.storage.repositories import outbox as outbox_repo
from bot.storage.repositories import personal
from bot.storage.repositories import stats as stats_repo
from bot.tasks import stop_task
from bot.voice.recordings import delete_files

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.ordering import Ordering

log = logging.getLogger("bot.privacy")

BATCH = 200
ADVISORY_KEY = 0x4C616E67536F5052  # "LangSoPR": one retention batch at a time across processes
RETENTION = "retention"  # the error of an inbox row given up by the retention job


@dataclass
class Report:
    """What a purge deleted or anonymised (or, dry, would)."""

    users: int = 0
    consents: int = 0
    subscriptions: int = 0
    outbox_deleted: int = 0
    outbox_payloads: int = 0
    inbox_anonymised: int = 0
    content_gaps: int = 0
    handoff_messages: int = 0  # villagers' conversations with staff
    exports: int = 0
    media: int = 0  # stored photos and recordings no report, feedback or open form names
    skipped: bool = False  # another process held the lock

    def lines(self) -> list[str]:
        return [f"{k}: {v}" for k, v in asdict(self).items() if k != "skipped"]


_finished_out = and_(
    OutboxEntry.status != outbox_repo.QUEUED, OutboxEntry.status != outbox_repo.SENDING
)
_no_user = ~exists().where(
    User.channel == OutboxEntry.channel, User.external_id == OutboxEntry.recipient
)


def _json_set(column):
    """A JSON column holding a value: SQLAlchemy writes Python None as JSON null, not SQL NULL."""
    return and_(column.is_not(None), cast(column, Text) != "null")


def _old_inbox(cutoff: datetime):
    return and_(
        InboxEntry.received_at < cutoff,
        or_(
            _json_set(InboxEntry.payload),
            InboxEntry.sender.is_not(None),
            ~InboxEntry.message_id.startswith(personal.ERASED_PREFIX),
        ),
    )


async def _locked(session: AsyncSession) -> bool:
    """Take the retention lock for this transaction (PostgreSQL); False when another has it."""
    if dialect_name(session) != "postgresql":
        return True
    got = await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})
    return bool(got.scalar())


async def _count(session: AsyncSession, query) -> int:
    return (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()


async def purge(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    ordering: Ordering | None = None,
) -> Report:
    """Enforce the retention once; what was (or, `dry_run`, would be) deleted."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=settings.privacy.retention_days)
    key = hash_key(settings)
    report = Report()
    folder = exports_dir(settings)
    if dry_run:
        async with sessionmaker() as s:
            report.users = await _count(s, select(User.id).where(User.last_seen_at < cutoff))
            report.outbox_deleted = await _count(
                s,
                select(OutboxEntry.id).where(
                    _finished_out,
                    or_(
                        OutboxEntry.created_at < cutoff,
                        and_(OutboxEntry.user_id.is_(None), _no_user),
                    ),
                ),
            )
            report.outbox_payloads = await _count(
                s, select(OutboxEntry.id).where(_finished_out, _json_set(OutboxEntry.payload))
            )
            report.inbox_anonymised = await _count(
                s, select(InboxEntry.id).where(_old_inbox(cutoff))
            )
            report.content_gaps = await _count(
                s, select(ContentGap.id).where(ContentGap.last_seen < cutoff)
            )
            report.handoff_messages = await handoff_repo.purge(s, cutoff, dry_run=True)
        report.exports = _expired_exports(folder, settings, time.time())
        return report

    # Inactive users, erased one batch at a time.
    recordings: list[str] = []  # unpublished recordings' files, deleted once the batch commits
    while True:
        async with writing(sessionmaker) as s:
            if not await _locked(s):
                report.skipped = True
                return report
            query = select(User.channel, User.external_id).where(User.last_seen_at < cutoff)
            people = (await s.execute(query.order_by(User.id).limit(BATCH))).all()
            for channel, external_id in people:
                if ordering is not None:
                    await ordering.lock(s, channel, external_id)
                # Still inactive (a message may have come in since the batch was read)?
                still = await s.execute(
                    select(User.id)
                    .where(
                        User.channel == channel,
                        User.external_id == external_id,
                        User.last_seen_at < cutoff,
                    )
                    .with_for_update()
                )
                if still.first() is None:
                    continue
                erased = await personal.erase(s, channel, external_id, key)
                report.users += erased.users
                report.consents += erased.consents
                report.subscriptions += erased.subscriptions
                report.outbox_deleted += erased.outbox
                report.inbox_anonymised += erased.inbox_keys
                report.exports += await asyncio.to_thread(
                    export.forget, folder, channel, external_id
                )
                recordings += erased.recording_files
            await s.commit()
            await asyncio.to_thread(delete_files, settings, recordings)
            recordings = []
        if len(people) < BATCH:
            break

    # The chat log past the cutoff, sent rows of erased people, payloads of finished rows.
    while True:
        async with writing(sessionmaker) as s:
            if not await _locked(s):
                report.skipped = True
                return report
            ids = (
                (
                    await s.execute(
                        select(OutboxEntry.id)
                        .where(
                            _finished_out,
                            or_(
                                OutboxEntry.created_at < cutoff,
                                and_(OutboxEntry.user_id.is_(None), _no_user),
                            ),
                        )
                        .limit(BATCH * 5)
                    )
                )
                .scalars()
                .all()
            )
            if ids:
                await s.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(ids)))
            report.outbox_deleted += len(ids)
            cleared = await s.execute(
                update(OutboxEntry)
                .where(_finished_out, _json_set(OutboxEntry.payload))
                .values(payload=None)
            )
            report.outbox_payloads += cleared.rowcount or 0
            await s.commit()
        if len(ids) < BATCH * 5:
            break

    # Inbox rows past the cutoff: no payload, no sender, a hashed key.
    while True:
        async with writing(sessionmaker) as s:
            if not await _locked(s):
                report.skipped = True
                return report
            rows = list(
                (
                    await s.execute(
                        select(InboxEntry)
                        .where(_old_inbox(cutoff))
                        .order_by(InboxEntry.id)
                        .limit(BATCH * 5)
                    )
                ).scalars()
            )
            for row in rows:
                values: dict = {"payload": None, "sender": None}
                if not row.message_id.startswith(personal.ERASED_PREFIX):
                    values["message_id"] = personal.erased_key(key, row.channel, row.message_id)
                if row.status in inbox_repo.UNFINISHED:
                    values.update(status="failed", error=RETENTION, processed_at=now)
                await s.execute(
                    update(InboxEntry)
                    .where(InboxEntry.id == row.id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            report.inbox_anonymised += len(rows)
            await s.commit()
        if len(rows) < BATCH * 5:
            break

    # Unanswered questions counted for the province (no user id, but a person's words).
    async with writing(sessionmaker) as s:
        if not await _locked(s):
            report.skipped = True
            return report
        gone = await s.execute(delete(ContentGap).where(ContentGap.last_seen < cutoff))
        report.content_gaps += gone.rowcount or 0
        report.handoff_messages += await handoff_repo.purge(s, cutoff)
        await s.commit()

    # Not personal (counts only): the overview's message counts of past days folded to one row
    # per day, channel, language and outcome instead of one per shard, a month at a time.
    yesterday = (now - timedelta(days=1)).astimezone(ZoneInfo(settings.timezone))
    while True:
        async with writing(sessionmaker) as s:
            if not await _locked(s):
                report.skipped = True
                return report
            folded = await stats_repo.compact(s, yesterday.date().isoformat())
            await s.commit()
        if not folded:
            break

    report.exports += await asyncio.to_thread(sweep_exports, settings)
    # A photo an erased citizen sent loses its last reference when the feedback is anonymised;
    # an abandoned form's photo when the form expires. Both files go here.
    from bot.media.retention import sweep_orphans

    report.media += await sweep_orphans(sessionmaker, settings)
    return report


def _expired_exports(folder, settings: Settings, now: float) -> int:
    ttl = settings.privacy.export_ttl_minutes * 60
    n = 0
    for p in export._folders(folder):
        with contextlib.suppress(FileNotFoundError):
            if now - p.stat().st_mtime >= ttl:
                n += 1
    return n


def sweep_exports(settings: Settings, now: float | None = None) -> int:
    """Delete the export files past their time to live; how many exports."""
    return export.sweep(exports_dir(settings), settings.privacy.export_ttl_minutes * 60, now)


class PrivacyJobs:
    """What `serve` runs in the background: the export sweep every `sweep_interval` seconds, the
    retention purge every `privacy.retention_interval_hours` (first `first_purge` seconds after
    start)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        ordering: Ordering | None = None,
        sweep_interval: float = 60.0,
        first_purge: float = 60.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.ordering = ordering
        self.sweep_interval = sweep_interval
        self.first_purge = first_purge
        self.purges = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        next_purge = time.monotonic() + self.first_purge
        interval = self.settings.privacy.retention_interval_hours * 3600
        while True:
            try:
                await asyncio.to_thread(sweep_exports, self.settings)
                if time.monotonic() >= next_purge:
                    report = await purge(self.sessionmaker, self.settings, ordering=self.ordering)
                    self.purges += 1
                    next_purge = time.monotonic() + interval
                    log.info("privacy: retention purge %s", ", ".join(report.lines()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: next time
                log.warning("privacy: retention job failed (%s)", type(exc).__name__)
            await asyncio.sleep(min(self.sweep_interval, max(0.01, next_purge - time.monotonic())))


def run_purge(settings: Settings, *, dry_run: bool = False) -> int:
    """`python -m bot privacy purge [--dry-run]`: one purge, its counts on stdout."""
    from bot.storage.db import create_engine, create_sessionmaker, resolve_url

    async def main() -> Report:
        engine = create_engine(resolve_url(settings.database_url, settings.base_dir))
        try:
            return await purge(create_sessionmaker(engine), settings, dry_run=dry_run)
        finally:
            await engine.dispose()

    report = asyncio.run(main())
    days = settings.privacy.retention_days
    print(f"{'would delete' if dry_run else 'deleted'} (older than {days} days):")
    for line in report.lines():
        print("  " + line)
    if report.skipped:
        print("another process is purging now; run again later")
    return 0
