"""Composing a notice: the message each language sees, the preview, and the fan-out.

`compose(session, draft, settings=...)` checks the draft, stores the notice and writes one
outbox row per recipient (`outbox.add_many`, chunked multi-row INSERTs, never a statement per
row) in the caller's transaction: the caller commits both or neither (on SQLite inside the write
gate, `bot.storage.gate.writing`). Recipients are read a page at a time by user id
(`bot.storage.repositories.notices.recipients`); each language's message is built once and shared
by all its rows. A scheduled notice's rows are due at its time (`--at`): the dispatcher does not
take them before. An urgent topic's rows carry a higher priority: they go before everything
queued. The dispatcher (bot/outbox) sends the rows; Zalo rows may spend the month's proactive
quota only when the notice says so (`use_quota`).

The message, per language: the title and body in that language, else the Vietnamese ones with the
note "Chưa có bản tiếng Hrê, xin đọc bản tiếng Việt."; the training's date, time, place, online
link and contact; a photo, document or that language's recorded audio; and, with RSVP, the
buttons "Tôi sẽ tham gia" / "Không tham gia" (numbered options on Zalo, which has no buttons).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import LANGUAGES
from bot.messages import Button, Reply, render_numbered
from bot.notices import model
from bot.notices import topics as topics_mod
from bot.storage.models import Notice
from bot.storage.repositories import notices as repo
from bot.storage.repositories import outbox

if TYPE_CHECKING:
    from bot.areas import AreaTree
    from bot.config import Settings

SOURCE = "notice"  # the outbox rows' source
RSVP_COMMAND = "/rsvp"
PUSH_CHANNELS = ("telegram", "zalo")  # the channels a notice can reach (the others cannot push)


class DraftError(ValueError):
    """The draft cannot be sent: `problems` says why, line by line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Vietnamese:
    """The source strings themselves (no catalogs given)."""

    def _(self, message: str) -> str:
        return message


Translators = Callable[[str], Any]


@dataclass
class Composed:
    notice: Notice
    counts: dict[tuple[str, str], int]  # (channel, language) -> rows written

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Preview:
    counts: dict[tuple[str, str], int]
    messages: dict[str, str]  # language -> the message as that language sees it (numbered)
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _format_date(text: str) -> str:
    day = model.parse_date(text)
    return day.strftime("%d/%m/%Y") if day else text


def render(
    notice: Notice | model.Draft,
    lang: str,
    t: Any = None,
    notice_id: int | None = None,
    urgent: bool | None = None,
) -> Reply:
    """The notice as one language sees it (`urgent` None: from the stored notice's priority)."""
    t = t or _Vietnamese()
    title = notice.title.get(lang) or notice.title.get("vi", "")
    body = notice.body.get(lang) or notice.body.get("vi", "")
    fell_back = lang != "vi" and not (notice.title.get(lang) and notice.body.get(lang))
    if urgent is None:
        urgent = (getattr(notice, "priority", 0) or 0) >= model.URGENT_PRIORITY
    lines = [("⚠️ " if urgent else "📢 ") + title, "", body]
    details = notice.details or {}
    shown: list[str] = []
    when = " ".join(
        x for x in (_format_date(details.get("date", "")), details.get("time", "")) if x
    )
    if when:
        shown.append(t._("Thời gian: {when}").format(when=when))
    if details.get("place"):
        shown.append(t._("Địa điểm: {place}").format(place=details["place"]))
    if details.get("link"):
        shown.append(t._("Họp trực tuyến: {link}").format(link=details["link"]))
    if details.get("contact"):
        shown.append(t._("Liên hệ: {contact}").format(contact=details["contact"]))
    if shown:
        lines += ["", *shown]
    if fell_back:
        lines += [
            "",
            t._("Chưa có bản tiếng {name}, xin đọc bản tiếng Việt.").format(
                name=LANGUAGES.get(lang, lang)
            ),
        ]
    buttons: tuple[Button, ...] = ()
    if notice.rsvp:
        lines += ["", t._("Bạn có tham gia không?")]
        nid = notice_id if notice_id is not None else getattr(notice, "id", None) or 0
        buttons = (
            Button(t._("Tôi sẽ tham gia"), f"{RSVP_COMMAND} {nid} yes"),
            Button(t._("Không tham gia"), f"{RSVP_COMMAND} {nid} no"),
        )
    media: dict[str, str] = {}
    if notice.photo:
        media["photo"] = notice.photo
    elif notice.document:
        media["document"] = notice.document
    elif (notice.audio or {}).get(lang):
        media["voice"] = notice.audio[lang]
    return Reply(text="\n".join(lines).strip(), buttons=buttons, **media)


def _translators(settings: Settings | None, given: Translators | None) -> Translators:
    if given is not None:
        return given
    if settings is None:
        return lambda _lang: _Vietnamese()
    from bot.i18n import Catalogs

    return Catalogs(settings.path("content/locales"), settings.path("var/locales")).for_lang


_trees: dict[Path, AreaTree] = {}


def area_tree(content_dir: Path) -> AreaTree:
    """The area tree of `content_dir/areas.yml` (read once)."""
    tree = _trees.get(content_dir)
    if tree is None:
        from bot.areas import AreaTree
        from bot.content import load_areas

        tree = _trees[content_dir] = AreaTree(load_areas(content_dir, []))
    return tree


def _content_dir(settings: Settings | None, content_dir: str | Path | None) -> Path:
    if content_dir is not None:
        return Path(content_dir)
    if settings is not None:
        return settings.path(settings.content_dir)
    return Path(__file__).resolve().parent.parent.parent / "content"


def channels_of(settings: Settings | None) -> tuple[str, ...]:
    cfg = getattr(settings, "notices", None)
    return tuple(cfg.channels) if cfg is not None else PUSH_CHANNELS


def check(
    draft: model.Draft,
    *,
    settings: Settings | None = None,
    content_dir: str | Path | None = None,
    now: datetime | None = None,
) -> list[str]:
    """The draft's problems (after `Draft.clean`)."""
    root = _content_dir(settings, content_dir)
    draft.clean()
    return model.problems(
        draft,
        tree=area_tree(root),
        topics=topics_mod.by_code(root),
        now=now or datetime.now(UTC),
        content_dir=root,
    )


async def preview(
    session: AsyncSession,
    draft: model.Draft,
    *,
    settings: Settings | None = None,
    translators: Translators | None = None,
    content_dir: str | Path | None = None,
    now: datetime | None = None,
) -> Preview:
    """How many the draft reaches per channel and language, and each language's message."""
    root = _content_dir(settings, content_dir)
    found = check(draft, settings=settings, content_dir=root, now=now)
    topics = topics_mod.by_code(root)
    tr = _translators(settings, translators)
    counts: dict[tuple[str, str], int] = {}
    if not found:
        counts = await repo.count_by_channel_lang(
            session, model.targets(draft, topics), channels_of(settings)
        )
    shown = draft.langs or list(LANGUAGES)
    urgent = model.is_urgent(draft.topics, topics)
    messages = {
        lang: render_numbered(render(draft, lang, tr(lang), urgent=urgent)) for lang in shown
    }
    return Preview(counts=counts, messages=messages, problems=found)


async def compose(
    session: AsyncSession,
    draft: model.Draft,
    *,
    settings: Settings | None = None,
    translators: Translators | None = None,
    content_dir: str | Path | None = None,
    now: datetime | None = None,
    page: int = repo.PAGE,
) -> Composed:
    """Store the notice and queue one outbox row per recipient, in the caller's transaction
    (does not commit). Raises DraftError with the draft's problems."""
    now = now or datetime.now(UTC)
    root = _content_dir(settings, content_dir)
    found = check(draft, settings=settings, content_dir=root, now=now)
    if found:
        raise DraftError(found)
    topics = topics_mod.by_code(root)
    tz = model.zone(settings.timezone if settings is not None else "")
    send_at = max(draft.send_at or now, now)
    urgent = model.is_urgent(draft.topics, topics)
    notice = Notice(
        title=draft.title,
        body=draft.body,
        audio=draft.audio or None,
        photo=draft.photo,
        document=draft.document,
        details=draft.details or None,
        event_at=model.event_at(draft.details, tz),
        topics=draft.topics,
        areas=draft.areas,
        langs=draft.langs,
        roles=draft.roles,
        rsvp=draft.rsvp,
        priority=model.URGENT_PRIORITY if urgent else 0,
        use_quota=draft.use_quota,
        status=repo.SCHEDULED if send_at > now + model.PAST_TOLERANCE else repo.SENDING,
        recipients=0,
        created_by=draft.created_by[:64],
        send_at=send_at,
        created_at=now,
    )
    session.add(notice)
    await session.flush()
    tr = _translators(settings, translators)
    replies: dict[str, Reply] = {}
    counts: dict[tuple[str, str], int] = {}
    async for batch in repo.recipients(
        session, model.targets(draft, topics), channels_of(settings), page=page
    ):
        rows = []
        for r in batch:
            reply = replies.get(r.lang)
            if reply is None:
                reply = replies[r.lang] = render(notice, r.lang, tr(r.lang))
            rows.append(
                {
                    "channel": r.channel,
                    "recipient": r.external_id,
                    "user_id": r.user_id,
                    "reply": reply,
                    "source": SOURCE,
                    "notice_id": notice.id,
                    "priority": notice.priority,
                    "use_quota": notice.use_quota,
                    "due_at": send_at,
                }
            )
            key = (r.channel, r.lang)
            counts[key] = counts.get(key, 0) + 1
        await outbox.add_many(session, rows)
    notice.recipients = sum(counts.values())
    if notice.recipients == 0 and notice.status == repo.SENDING:
        notice.status, notice.finished_at = repo.DONE, now
    await session.flush()
    return Composed(notice=notice, counts=counts)
