"""Translators, recordings (and translated texts) and answer counts: the queries the chat
(actions/translate.py), the villagers' answers, the dashboard page and the catalog export share.
Functions take a session and do not commit.

A recording row is one attempt at one item or phrase in one language; only `approved` rows
reach villagers. Approving one marks the older approved rows of the same key and language
`replaced` (kept: who recorded what, when). `answer_counts` is one row per item and language,
added to with one statement (INSERT ... ON CONFLICT DO UPDATE) in the answering turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.dialect import counter_params, counter_upsert, dialect_name
from bot.storage.models import AnswerCount, Recording, Translator, utcnow

STATUSES = ("draft", "approved", "sent_back", "replaced")
OPEN = ("draft", "approved")  # an item with one of these needs no new recording


# ---- translators ---------------------------------------------------------------------------


async def add_translator(
    session: AsyncSession, user_id: int, lang: str, invite_id: int | None
) -> Translator:
    """The user as a translator of `lang` (the existing row when they already are one)."""
    found = await session.scalar(
        select(Translator).where(Translator.user_id == user_id, Translator.lang == lang)
    )
    if found is not None:
        return found
    row = Translator(user_id=user_id, lang=lang, label=f"{lang}-?", invite_id=invite_id)
    session.add(row)
    await session.flush()
    row.label = f"{lang}-{row.id}"
    return row


async def translators_of(session: AsyncSession, user_id: int) -> list[Translator]:
    rows = await session.scalars(
        select(Translator).where(Translator.user_id == user_id).order_by(Translator.id)
    )
    return list(rows)


async def count_translators(session: AsyncSession, lang: str) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(Translator).where(Translator.lang == lang)
        )
    ) or 0


# ---- recordings ----------------------------------------------------------------------------


async def get(session: AsyncSession, rec_id: int) -> Recording | None:
    return await session.get(Recording, rec_id)


def add_draft(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    lang: str,
    made_by: int | None,
    label: str,
    audio: str | None = None,
    original_ext: str | None = None,
    duration: float | None = None,
    text: str | None = None,
) -> Recording:
    now = utcnow()
    row = Recording(
        kind=kind,
        key=key,
        lang=lang,
        audio=audio,
        original_ext=original_ext,
        duration=duration,
        text=text,
        status="draft",
        made_by=made_by,
        made_by_label=label,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    return row


async def approved(session: AsyncSession, lang: str, kind: str, key: str) -> Recording | None:
    """The approved recording / text of one item or phrase, newest first."""
    return await session.scalar(
        select(Recording)
        .where(
            Recording.lang == lang,
            Recording.kind == kind,
            Recording.key == key,
            Recording.status == "approved",
        )
        .order_by(Recording.reviewed_at.desc(), Recording.id.desc())
        .limit(1)
    )


async def approved_all(
    session: AsyncSession, lang: str | None = None, kind: str | None = None
) -> list[Recording]:
    """Every approved row (of a language, of a kind), oldest first (a later one wins)."""
    query = select(Recording).where(Recording.status == "approved")
    if lang is not None:
        query = query.where(Recording.lang == lang)
    if kind is not None:
        query = query.where(Recording.kind == kind)
    rows = await session.scalars(query.order_by(Recording.reviewed_at, Recording.id))
    return list(rows)


async def keys_with(
    session: AsyncSession, lang: str, statuses: Iterable[str] = OPEN
) -> dict[tuple[str, str], set[str]]:
    """{(kind, key): {statuses}} of a language's rows in `statuses`."""
    rows = await session.execute(
        select(Recording.kind, Recording.key, Recording.status).where(
            Recording.lang == lang, Recording.status.in_(list(statuses))
        )
    )
    out: dict[tuple[str, str], set[str]] = {}
    for kind, key, status in rows.all():
        out.setdefault((kind, key), set()).add(status)
    return out


async def coverage_rows(session: AsyncSession) -> list[tuple[str, str, str, bool, bool]]:
    """(lang, kind, key, has audio, has text) for every approved row."""
    rows = await session.execute(
        select(
            Recording.lang,
            Recording.kind,
            Recording.key,
            Recording.audio.is_not(None),
            Recording.text.is_not(None),
        ).where(Recording.status == "approved")
    )
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def sent_back_for(session: AsyncSession, user_id: int, lang: str) -> list[Recording]:
    """A translator's rows a reviewer sent back, not redone since, oldest first."""
    rows = await session.scalars(
        select(Recording)
        .where(
            Recording.made_by == user_id,
            Recording.lang == lang,
            Recording.status == "sent_back",
        )
        .order_by(Recording.reviewed_at, Recording.id)
    )
    return list(rows)


async def next_draft(
    session: AsyncSession, lang: str, not_by: int | None, skip: Iterable[int] = ()
) -> Recording | None:
    """The oldest draft of a language a reviewer may review (not their own)."""
    query = select(Recording).where(Recording.lang == lang, Recording.status == "draft")
    if not_by is not None:
        query = query.where((Recording.made_by.is_(None)) | (Recording.made_by != not_by))
    skipped = list(skip)
    if skipped:
        query = query.where(Recording.id.not_in(skipped))
    return await session.scalar(query.order_by(Recording.created_at, Recording.id).limit(1))


async def drafts(session: AsyncSession, lang: str | None = None, limit: int = 100) -> list:
    query = select(Recording).where(Recording.status == "draft")
    if lang is not None:
        query = query.where(Recording.lang == lang)
    rows = await session.scalars(query.order_by(Recording.created_at, Recording.id).limit(limit))
    return list(rows)


async def approve(
    session: AsyncSession, rec: Recording, reviewer_id: int | None, label: str, now: datetime
) -> None:
    """Approve `rec`; the older approved rows of its key and language become `replaced`."""
    await session.execute(
        update(Recording)
        .where(
            Recording.lang == rec.lang,
            Recording.kind == rec.kind,
            Recording.key == rec.key,
            Recording.status == "approved",
            Recording.id != rec.id,
        )
        .values(status="replaced", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    rec.status = "approved"
    rec.comment = None
    rec.reviewed_by, rec.reviewed_label, rec.reviewed_at = reviewer_id, label, now
    rec.updated_at = now


def send_back(
    rec: Recording, reviewer_id: int | None, label: str, comment: str, now: datetime
) -> None:
    rec.status = "sent_back"
    rec.comment = comment
    rec.reviewed_by, rec.reviewed_label, rec.reviewed_at = reviewer_id, label, now
    rec.updated_at = now


async def audio_in_use(session: AsyncSession, digest: str, but: int | None = None) -> bool:
    """Whether a row (other than `but`) still names the recording's files."""
    query = select(func.count()).select_from(Recording).where(Recording.audio == digest)
    if but is not None:
        query = query.where(Recording.id != but)
    return bool(await session.scalar(query))


async def visible(session: AsyncSession, digest: str) -> list[tuple[str, str, int | None]]:
    """(status, lang, made_by) of the rows naming a recording's files."""
    rows = await session.execute(
        select(Recording.status, Recording.lang, Recording.made_by).where(Recording.audio == digest)
    )
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def erase_unpublished(session: AsyncSession, user_id: int) -> list[str]:
    """Delete a person's drafts and sent-back rows (never published: nothing else needs them);
    the recordings' digests no row names any more (their files to delete). Approved and
    replaced rows stay, with `made_by` set NULL by the foreign key and the label kept."""
    rows = await session.execute(
        select(Recording.id, Recording.audio).where(
            Recording.made_by == user_id, Recording.status.in_(["draft", "sent_back"])
        )
    )
    found = rows.all()
    if not found:
        return []
    await session.execute(delete(Recording).where(Recording.id.in_([r.id for r in found])))
    gone = []
    for digest in {r.audio for r in found if r.audio}:
        if not await audio_in_use(session, digest):
            gone.append(digest)
    return gone


async def exported(session: AsyncSession, user_id: int) -> dict:
    """A translator's own data for /dulieu: their languages and recordings (no file bytes)."""
    langs = [
        {"lang": t.lang, "label": t.label, "joined_at": t.joined_at.isoformat()}
        for t in await translators_of(session, user_id)
    ]
    rows = await session.scalars(
        select(Recording).where(Recording.made_by == user_id).order_by(Recording.id)
    )
    recs = [
        {
            "kind": r.kind,
            "key": r.key,
            "lang": r.lang,
            "status": r.status,
            "text": r.text,
            "has_audio": r.audio is not None,
            "duration": r.duration,
            "comment": r.comment,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]
    return {"translator": langs, "recordings": recs}


# ---- answer counts -------------------------------------------------------------------------


async def count_answer(session: AsyncSession, item_id: str, lang: str) -> None:
    """One more answer of `item_id` in `lang`, in the turn's transaction."""
    values = {"item_id": item_id[:100], "lang": lang[:8], "count": 1, "last_at": utcnow()}
    stmt = counter_upsert(
        dialect_name(session), AnswerCount.__table__, "count", ("item_id", "lang"), ("last_at",)
    )
    await session.execute(stmt, counter_params(values))


async def answer_counts(session: AsyncSession, lang: str | None = None) -> dict[str, int]:
    """{item id: answers} (of one language, or all together)."""
    query = select(AnswerCount.item_id, func.sum(AnswerCount.count)).group_by(AnswerCount.item_id)
    if lang is not None:
        query = query.where(AnswerCount.lang == lang)
    rows = await session.execute(query)
    return {item: int(n or 0) for item, n in rows.all()}
