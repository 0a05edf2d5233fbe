"""Everything kept about one person, found and erased: what `/dulieu`, `/xoadulieu` and the
retention job (bot/privacy) share.

A person is one (channel, platform id). Their rows:

- `users` (their row), `consents` and `subscriptions` (by user id);
- `outbox` rows addressed to them (`channel`, `recipient`): the replies, with the text until sent;
- `inbox` rows they sent that are not finished yet (`sender`, `payload`: the raw platform payload),
  and inbox keys that carry their id: Zalo events without a `msg_id` are keyed
  `<event>:<user id>:<timestamp>` (bot.channels.zalo.event_key).

Erasing replaces an inbox key that names the person by a keyed hash of it (`erased_key`), so the
row still says "this message was handled" without saying whose it was; finished inbox rows keep no
sender and no payload already. Functions take a session and do not commit.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    Consent,
    InboxEntry,
    InviteCode,
    OutboxEntry,
    Subscription,
    User,
)
from bot.storage.repositories import feedback as feedback_repo
from bot.storage.repositories import handoff as handoff_repo
from bot.storage.repositories import inbox as inbox_repo
from bot.storage.repositories import notices as notices_repo
from bot.storage.repositories import outbox as outbox_repo
from bot.storage.repositories import reports as reports_repo
from bot.storage.repositories import voice as voice_repo

ERASED_PREFIX = "erased:"
ERASED = "erased"  # the error of an unfinished inbox row dropped by an erasure


def erased_key(key: bytes, channel: str, message_id: str) -> str:
    """What an inbox key naming a person becomes: a keyed hash (the key is
    `privacy.pseudonym_key`), the same for the same key, without the id."""
    digest = hmac.new(key, f"{channel}\x00{message_id}".encode(), hashlib.sha256).hexdigest()
    return ERASED_PREFIX + digest[:48]


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def names_in_key(external_id: str) -> ColumnElement[bool]:
    """Inbox keys that carry the platform id as one of their ':'-separated fields."""
    e = _like_escape(external_id)
    col = InboxEntry.message_id
    return or_(
        col == external_id,
        col.like(f"{e}:%", escape="\\"),
        col.like(f"%:{e}", escape="\\"),
        col.like(f"%:{e}:%", escape="\\"),
    )


# The events whose inbox keys are `<event>:<user id>:<timestamp>` (bot.channels.zalo.event_key,
# for events without a `msg_id`); tests/privacy checks this list against the channel's.
KEYED_EVENTS = (
    "follow",
    "unfollow",
    "user_received_message",
    "user_seen_message",
    "user_send_text",
    "user_send_image",
    "user_send_location",
    "user_send_audio",
    "user_send_sticker",
    "user_send_gif",
    "user_send_file",
    "user_send_video",
)


def keys_naming(session: AsyncSession, channel: str, external_id: str) -> ColumnElement[bool]:
    """The channel's inbox keys that carry the platform id, as the database answers fast. On
    SQLite (which holds every other writer meanwhile) a multi-index OR of range scans on the
    unique (channel, message_id) index, one per `<event>:<id>:` prefix ('<prefix>' <= key <
    '<prefix with ; for its last :>'); elsewhere `names_in_key`'s LIKE patterns, which also catch
    any other key shape that carries the id."""
    ch, col = InboxEntry.channel == channel, InboxEntry.message_id
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        return or_(
            and_(ch, col == external_id),
            *(
                and_(ch, col >= f"{ev}:{external_id}:", col < f"{ev}:{external_id};")
                for ev in KEYED_EVENTS
            ),
        )
    return and_(ch, names_in_key(external_id))


def key_names(message_id: str, external_id: str) -> bool:
    return external_id in message_id.split(":")


async def find_user(session: AsyncSession, channel: str, external_id: str) -> User | None:
    return (
        await session.execute(
            select(User).where(User.channel == channel, User.external_id == external_id)
        )
    ).scalar_one_or_none()


async def inbox_rows(session: AsyncSession, channel: str, external_id: str) -> list[InboxEntry]:
    """The person's inbox rows: not finished yet (sender kept), or keyed with their id.

    Two queries, each on an index on SQLite: by sender (ix_inbox_sender), by key."""
    found: dict[int, InboxEntry] = {}
    by_sender = and_(InboxEntry.channel == channel, InboxEntry.sender == external_id)
    for where in (by_sender, keys_naming(session, channel, external_id)):
        rows = await session.execute(select(InboxEntry).where(where))
        for r in rows.scalars():
            if r.sender == external_id or key_names(r.message_id, external_id):
                found[r.id] = r
    return [found[i] for i in sorted(found)]


async def outbox_rows(session: AsyncSession, channel: str, external_id: str) -> list[OutboxEntry]:
    rows = await session.execute(
        select(OutboxEntry)
        .where(OutboxEntry.channel == channel, OutboxEntry.recipient == external_id)
        .order_by(OutboxEntry.id)
    )
    return list(rows.scalars())


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


async def collect(session: AsyncSession, channel: str, external_id: str) -> dict[str, Any]:
    """Everything kept about the person, as plain JSON-ready data (what `/dulieu` exports).

    Secrets are not the person's data and are never included (channel tokens)."""
    user = await find_user(session, channel, external_id)
    data: dict[str, Any] = {
        "channel": channel,
        "platform_id": external_id,
        "user": None,
        "consents": [],
        "subscriptions": [],
        "inbox": [],
        "outbox": [],
    }
    if user is not None:
        data["user"] = {
            "id": user.id,
            "locale": user.locale,
            "display_name": user.display_name,
            "phone": user.phone,
            "role": user.role,
            "area_code": user.area_code,
            "reachable": user.reachable,
            "dialogue_state": user.state or {},
            "created_at": _when(user.created_at),
            "last_seen_at": _when(user.last_seen_at),
        }
        consents = await session.execute(
            select(Consent).where(Consent.user_id == user.id).order_by(Consent.id)
        )
        data["consents"] = [
            {
                "purpose": c.purpose,
                "notice_version": c.notice_version,
                "channel": c.channel,
                "given_at": _when(c.given_at),
                "withdrawn_at": _when(c.withdrawn_at),
            }
            for c in consents.scalars()
        ]
        subs = await session.execute(
            select(Subscription).where(Subscription.user_id == user.id).order_by(Subscription.id)
        )
        invites = await session.execute(
            select(InviteCode).where(InviteCode.used_by == user.id).order_by(InviteCode.id)
        )
        data["invite_codes_used"] = [
            {"role": i.role, "area_code": i.area_code, "used_at": _when(i.used_at)}
            for i in invites.scalars()
        ]
        data["subscriptions"] = [
            {
                "channel": s.channel,
                "active": s.active,
                "created_at": _when(s.created_at),
                "updated_at": _when(s.updated_at),
            }
            for s in subs.scalars()
        ]
        data["reports"] = await reports_repo.exported(session, user.id)
        data["feedback"] = await feedback_repo.exported(session, user.id)
        data["handoffs"] = await handoff_repo.exported(session, user.id)  # talks with staff
        translated = await voice_repo.exported(session, user.id)  # a translator's work
        if translated["translator"] or translated["recordings"]:
            data["translations"] = translated
    data["inbox"] = [
        {
            "message_id": r.message_id,
            "status": r.status,
            "received_at": _when(r.received_at),
            "processed_at": _when(r.processed_at),
            "payload": r.payload,
        }
        for r in await inbox_rows(session, channel, external_id)
    ]
    data["outbox"] = [
        {
            "source": r.source,
            "status": r.status,
            "created_at": _when(r.created_at),
            "sent_at": _when(r.sent_at),
            "text": (r.payload or {}).get("text"),
        }
        for r in await outbox_rows(session, channel, external_id)
    ]
    return data


@dataclass
class Erased:
    """What an erasure removed (counts), for the retention job's report."""

    users: int = 0
    consents: int = 0
    subscriptions: int = 0
    outbox: int = 0
    inbox_dropped: int = 0  # unfinished messages of theirs, no longer handled
    inbox_keys: int = 0  # keys that named them, hashed
    reports_kept: int = 0  # an officer's reports, kept without who filed them
    feedback_anonymised: int = 0  # a citizen's feedback, kept anonymised
    handoffs: int = 0  # conversations with staff, deleted with their messages
    notices_dropped: int = 0  # notices queued for them, not sent
    # A translator's unpublished recordings, deleted: their files' digests, to delete after
    recording_files: list[str] = field(default_factory=list)

    def add(self, other: Erased) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


async def hash_inbox_keys(
    session: AsyncSession,
    key: bytes,
    rows: list[InboxEntry],
    now: datetime,
    external_id: str | None = None,
) -> int:
    """Drop the rows' sender and payload, and replace their keys by `erased_key` (only the keys
    that carry `external_id` when it is given: the others, a platform's message ids, stay and
    still de-duplicate a retry); how many keys were replaced."""
    n = 0
    for row in rows:
        values: dict[str, Any] = {"sender": None, "payload": None}
        named = external_id is None or key_names(row.message_id, external_id)
        if named and not row.message_id.startswith(ERASED_PREFIX):
            values["message_id"] = erased_key(key, row.channel, row.message_id)
            n += 1
        if row.status in inbox_repo.UNFINISHED:
            values.update(status="done", error=ERASED, processed_at=now)
        await session.execute(
            update(InboxEntry)
            .where(InboxEntry.id == row.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return n


async def erase(session: AsyncSession, channel: str, external_id: str, key: bytes) -> Erased:
    """Delete or anonymise every row that names the person. Does not commit.

    Their replies not sent yet stay, to go out (the one confirming the deletion among them): once
    sent, `forget_sent` deletes them. Their messages not handled yet are dropped (marked done, so a
    replay is not answered). The consent and subscription rows also hang off the user row with
    ON DELETE CASCADE; they are deleted explicitly for SQLite files without foreign keys enforced.
    """
    out = Erased()
    now = datetime.now(UTC)
    user = await find_user(session, channel, external_id)
    if user is not None:
        out.consents = (
            await session.execute(delete(Consent).where(Consent.user_id == user.id))
        ).rowcount or 0
        out.subscriptions = (
            await session.execute(delete(Subscription).where(Subscription.user_id == user.id))
        ).rowcount or 0
        await session.execute(  # the code keeps the role and area it granted, not who used it
            update(InviteCode).where(InviteCode.used_by == user.id).values(used_by=None)
        )
        # Officers' reports stay as official records (role and area, not who); feedback stays
        # for the record without what leads back to the citizen (no user, phone, photo, place).
        out.reports_kept = await reports_repo.unlink_officer(session, user.id)
        out.feedback_anonymised = await feedback_repo.anonymise_user(session, user.id)
        out.handoffs = await handoff_repo.erase_user(session, user.id)
        # Drafts and sent-back recordings were never published: only the translator's data.
        # Approved ones stay, under the translator's label alone (bot/voice/).
        out.recording_files = await voice_repo.erase_unpublished(session, user.id)
        # Notices not sent to them yet are not sent (a reply still is: the confirmation).
        out.notices_dropped = await notices_repo.drop_user_rows(session, user.id, "erased")
        out.users = (await session.execute(delete(User).where(User.id == user.id))).rowcount or 0
        if user in session:
            session.expunge(user)
    out.outbox = await forget_sent(session, channel, external_id, any_user=True)
    await session.execute(  # what is left is unsent: once sent, `forget_sent` takes it
        update(OutboxEntry)
        .where(OutboxEntry.channel == channel, OutboxEntry.recipient == external_id)
        .values(user_id=None)
        .execution_options(synchronize_session=False)
    )
    rows = await inbox_rows(session, channel, external_id)
    out.inbox_dropped = sum(1 for r in rows if r.status in inbox_repo.UNFINISHED)
    out.inbox_keys = await hash_inbox_keys(session, key, rows, now, external_id)
    return out


async def forget_sent(
    session: AsyncSession, channel: str, recipient: str, *, any_user: bool = False
) -> int:
    """Delete the recipient's finished outbox rows; how many. Without `any_user`, only rows of no
    stored user (sent after an erasure): a user who came back keeps their new rows."""
    where = [
        OutboxEntry.channel == channel,
        OutboxEntry.recipient == recipient,
        OutboxEntry.status != outbox_repo.QUEUED,
        OutboxEntry.status != outbox_repo.SENDING,
    ]
    if not any_user:
        where.append(OutboxEntry.user_id.is_(None))
    return (await session.execute(delete(OutboxEntry).where(*where))).rowcount or 0


async def unsent(session: AsyncSession, channel: str, recipient: str) -> int:
    """The recipient's outbox rows still to send."""
    rows = await session.execute(
        select(OutboxEntry.id).where(
            OutboxEntry.channel == channel,
            OutboxEntry.recipient == recipient,
            or_(
                OutboxEntry.status == outbox_repo.QUEUED,
                OutboxEntry.status == outbox_repo.SENDING,
            ),
        )
    )
    return len(rows.all())
