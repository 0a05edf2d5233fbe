"""A notice as staff write it (`Draft`), and the checks it must pass before anything is stored.

The same checks serve the CLI (exit code 2 and the problems) and the dashboard's composer (the
problems shown above the form): Vietnamese title and body required (the other languages fall
back to them), known topics, areas, languages and roles, a sending time not in the past, a
training date that reads as a date, an online link that is a web address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.i18n import LANGUAGES
from bot.storage.repositories.notices import ROLES, Targets

if TYPE_CHECKING:
    from bot.areas import AreaTree
    from bot.notices.topics import Topic

TITLE_MAX = 200
BODY_MAX = 3000
DETAIL_MAX = 300
URGENT_PRIORITY = 10  # outbox.priority of an urgent warning (higher goes first)
DEFAULT_EVENT_TIME = time(7, 0)  # a training with a date but no time: its day's morning
PAST_TOLERANCE = timedelta(minutes=1)  # "--at" this close to now is "now"
DETAILS = ("date", "time", "place", "link", "contact")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


@dataclass
class Draft:
    """What staff typed. `title`/`body`/`audio`: {lang: text or media ref}."""

    title: dict[str, str]
    body: dict[str, str]
    topics: list[str] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    rsvp: bool = False
    send_at: datetime | None = None  # None: now
    photo: str | None = None
    document: str | None = None
    audio: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)  # date, time, place, link, contact
    use_quota: bool = False
    created_by: str = "cli"

    def clean(self) -> Draft:
        """Whitespace trimmed, empty values dropped, lists de-duplicated (order kept)."""

        def texts(d: dict[str, str]) -> dict[str, str]:
            return {k: v.strip() for k, v in d.items() if isinstance(v, str) and v.strip()}

        def codes(xs: list[str]) -> list[str]:
            return list(dict.fromkeys(x.strip() for x in xs if x and x.strip()))

        self.title, self.body, self.audio = texts(self.title), texts(self.body), texts(self.audio)
        self.details = {k: v for k, v in texts(self.details).items() if k in DETAILS}
        self.topics, self.areas = codes(self.topics), codes(self.areas)
        self.langs, self.roles = codes(self.langs), codes(self.roles)
        self.photo = (self.photo or "").strip() or None
        self.document = (self.document or "").strip() or None
        return self


def parse_when(text: str, tz: tzinfo) -> datetime | None:
    """ "2026-12-15 08:00", "15/12/2026 08:00", ISO with an offset; naive in the province's zone.
    None when it does not read as a time."""
    text = " ".join((text or "").strip().replace("T", " ").split())
    if not text:
        return None
    try:
        got = datetime.fromisoformat(text)
    except ValueError:
        got = None
        for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %Hh%M", "%d/%m/%Y %Hh", "%d/%m/%Y"):
            try:
                got = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if got is None:
            return None
    if got.tzinfo is None:
        got = got.replace(tzinfo=tz)
    return got.astimezone(UTC)


def parse_date(text: str) -> date | None:
    text = (text or "").strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def parse_time(text: str) -> time | None:
    text = (text or "").strip().lower().replace("h", ":")
    if text.endswith(":"):
        text += "00"
    try:
        return time.fromisoformat(text if len(text) != 4 else "0" + text)
    except ValueError:
        return None


def event_at(details: dict[str, str], tz: tzinfo) -> datetime | None:
    """When the training takes place (for the reminder); None without a date."""
    day = parse_date(details.get("date", ""))
    if day is None:
        return None
    at = parse_time(details.get("time", "")) or DEFAULT_EVENT_TIME
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def zone(name: str) -> tzinfo:
    return ZoneInfo(name or "Asia/Ho_Chi_Minh")


def problems(
    draft: Draft,
    *,
    tree: AreaTree,
    topics: dict[str, Topic],
    now: datetime,
    content_dir: Path | None = None,
) -> list[str]:
    """What is wrong with the draft, each in a short line that says what to do; [] when none."""
    out: list[str] = []
    if not draft.title.get("vi"):
        out.append("Thiếu tiêu đề tiếng Việt (--title-vi).")
    if not draft.body.get("vi"):
        out.append("Thiếu nội dung tiếng Việt (--body-vi).")
    for what, texts, limit in (
        ("tiêu đề", draft.title, TITLE_MAX),
        ("nội dung", draft.body, BODY_MAX),
    ):
        for lang, text in texts.items():
            if lang not in LANGUAGES:
                out.append(f"Ngôn ngữ {lang!r} không có: dùng {', '.join(LANGUAGES)}.")
            elif len(text) > limit:
                out.append(f"{what.capitalize()} ({lang}) dài quá {limit} ký tự.")
    for lang, ref in draft.audio.items():
        if lang not in LANGUAGES:
            out.append(f"Ghi âm: ngôn ngữ {lang!r} không có.")
        elif not _media_ok(ref, content_dir):
            out.append(f"Ghi âm ({lang}): một địa chỉ https:// hoặc một tệp trong content/.")
    unknown = [t for t in draft.topics if t not in topics]
    if unknown:
        out.append(f"Chủ đề không có: {', '.join(unknown)}. Dùng: {', '.join(topics)}.")
    for code in draft.areas:
        if tree.by_code.get(code) is None:
            out.append(f"Địa bàn không có: {code} (mã như qng.ba_dong; xem python -m bot areas).")
    bad = [x for x in draft.langs if x not in LANGUAGES]
    if bad:
        out.append(f"Ngôn ngữ không có: {', '.join(bad)}. Dùng: {', '.join(LANGUAGES)}.")
    bad = [x for x in draft.roles if x not in ROLES]
    if bad:
        out.append(f"Vai trò không có: {', '.join(bad)}. Dùng: {', '.join(ROLES)}.")
    if draft.send_at is not None and draft.send_at < now - PAST_TOLERANCE:
        out.append("Thời điểm gửi (--at) đã qua: chọn một lúc sau bây giờ, hoặc bỏ để gửi ngay.")
    details = draft.details
    if details.get("date") and parse_date(details["date"]) is None:
        out.append("Ngày tập huấn không đọc được: viết như 15/12/2026.")
    if details.get("time") and parse_time(details["time"]) is None:
        out.append("Giờ không đọc được: viết như 08:00.")
    if details.get("link") and not _URL.match(details["link"]):
        out.append("Đường dẫn họp trực tuyến phải bắt đầu bằng https://")
    for key, value in details.items():
        if len(value) > DETAIL_MAX:
            out.append(f"Mục {key} dài quá {DETAIL_MAX} ký tự.")
    if draft.photo and draft.document:
        out.append("Chỉ đính kèm một ảnh hoặc một tài liệu, không cả hai.")
    for what, ref in (("Ảnh", draft.photo), ("Tài liệu", draft.document)):
        if ref and not _media_ok(ref, content_dir):
            out.append(f"{what}: một địa chỉ https:// hoặc một tệp trong content/ ({ref}).")
    return out


def _media_ok(ref: str, content_dir: Path | None) -> bool:
    if _URL.match(ref):
        return True
    if content_dir is None or ref.startswith("/") or ".." in Path(ref).parts:
        return False
    return (content_dir / ref).is_file()


def targets(draft: Draft, topics: dict[str, Topic]) -> Targets:
    return Targets(
        areas=tuple(draft.areas),
        langs=tuple(draft.langs),
        roles=tuple(draft.roles),
        topics=tuple(draft.topics),
        urgent=is_urgent(draft.topics, topics),
    )


def is_urgent(codes: list[str] | tuple[str, ...], topics: dict[str, Topic]) -> bool:
    return any(topics[c].urgent for c in codes if c in topics)
