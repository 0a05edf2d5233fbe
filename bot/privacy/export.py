"""`/dulieu` export files: everything kept about a person, as JSON and as a readable text.

The files are written into `privacy.export_dir` (var/exports/ by default: no static route serves
it), one directory per export named by an unguessable token, with an `.owner` file holding a hash
of whose it is; directories older than `privacy.export_ttl_minutes` are deleted (`sweep`, run by
the privacy jobs) and an erasure deletes the person's at once (`forget`).

A reply names an export file by its reference `/exports/<token>/<name>`, the same for every
channel: the web chat links it (the download route, bot/privacy/web.py, checks that the session's
web user owns it), Telegram uploads the file it resolves to (`local_file`), Zalo, whose OA API
takes only PDF/DOC/DOCX files, sends the readable text as messages, the console prints the path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.i18n import LANGUAGES, format_datetime

ROUTE_PREFIX = "/exports/"
JSON_NAME = "langso-du-lieu.json"
TEXT_NAME = "langso-du-lieu.txt"
NAMES = (JSON_NAME, TEXT_NAME)
OWNER_FILE = ".owner"
TOKEN_RE = re.compile(r"\A[A-Za-z0-9_-]{32}\Z")
REF_RE = re.compile(r"\A/exports/([A-Za-z0-9_-]{32})/([a-z-]+\.(?:json|txt))\Z")


@dataclass(frozen=True)
class Export:
    """The references of one export's files."""

    token: str
    json_ref: str
    text_ref: str


def owner_hash(channel: str, external_id: str) -> str:
    """Who may download an export (the file holds their data anyway; this is not a secret)."""
    return hashlib.sha256(f"{channel}\x00{external_id}".encode()).hexdigest()


def is_ref(ref: str | None) -> bool:
    return isinstance(ref, str) and REF_RE.match(ref) is not None


def ref_kind(ref: str) -> str:
    """'json' or 'txt' for an export reference."""
    return ref.rsplit(".", 1)[-1]


def local_file(ref: str, exports_dir: Path) -> Path | None:
    """The file an export reference names, when it is still there; None otherwise."""
    m = REF_RE.match(ref) if isinstance(ref, str) else None
    if m is None or m.group(2) not in NAMES:
        return None
    path = Path(exports_dir) / m.group(1) / m.group(2)
    return path if path.is_file() else None


def owner_of(exports_dir: Path, token: str) -> str | None:
    if not TOKEN_RE.match(token):
        return None
    try:
        return (Path(exports_dir) / token / OWNER_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def write(
    exports_dir: Path, channel: str, external_id: str, data: dict[str, Any], text: str
) -> Export:
    """Write one export (JSON and text) into a new private directory; its references."""
    base = Path(exports_dir)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(24)  # 32 characters of A-Z a-z 0-9 _ -
    folder = base / token
    folder.mkdir(mode=0o700)
    files = {
        OWNER_FILE: owner_hash(channel, external_id),
        JSON_NAME: json.dumps(data, ensure_ascii=False, indent=2) + "\n",
        TEXT_NAME: text + "\n",
    }
    for name, content in files.items():
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
    return Export(token, f"{ROUTE_PREFIX}{token}/{JSON_NAME}", f"{ROUTE_PREFIX}{token}/{TEXT_NAME}")


def _folders(exports_dir: Path) -> list[Path]:
    try:
        return [p for p in Path(exports_dir).iterdir() if p.is_dir() and TOKEN_RE.match(p.name)]
    except FileNotFoundError:
        return []


def sweep(exports_dir: Path, ttl_seconds: float, now: float | None = None) -> int:
    """Delete exports older than `ttl_seconds`; how many."""
    now = time.time() if now is None else now
    n = 0
    for folder in _folders(exports_dir):
        try:
            age = now - folder.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= ttl_seconds:
            shutil.rmtree(folder, ignore_errors=True)
            n += 1
    return n


def forget(exports_dir: Path, channel: str, external_id: str) -> int:
    """Delete every export of the person; how many."""
    owner = owner_hash(channel, external_id)
    n = 0
    for folder in _folders(exports_dir):
        if owner_of(exports_dir, folder.name) == owner:
            shutil.rmtree(folder, ignore_errors=True)
            n += 1
    return n


# --------------------------------------------------------------------------- the readable text


def _date(value: str | None, lang: str, tz: str | None = None) -> str:
    if not value:
        return "-"
    return format_datetime(datetime.fromisoformat(value), lang, tz=tz)


def readable(
    data: dict[str, Any],
    _: Any,
    lang: str,
    now: datetime,
    purposes: dict[str, str],
    tz: str | None = None,
) -> str:
    """The export as a text a person can read, in their language (`_` translates; `purposes`
    names each consent's purpose, untranslated), times in the province's zone `tz`."""
    lines = [
        _("Dữ liệu Làng Số lưu về bạn, ngày {when}").format(when=format_datetime(now, lang, tz=tz)),
        "",
        _("Kênh: {channel}; mã tài khoản: {id}").format(
            channel=data["channel"], id=data["platform_id"]
        ),
    ]
    user = data.get("user")
    if user:
        if user.get("locale"):
            lines.append(
                _("Ngôn ngữ: {lang}").format(lang=LANGUAGES.get(user["locale"], user["locale"]))
            )
        if user.get("display_name"):
            lines.append(_("Tên: {name}").format(name=user["display_name"]))
        if user.get("phone"):
            lines.append(_("Số điện thoại: {phone}").format(phone=user["phone"]))
        if user.get("role") and user["role"] != "villager":
            lines.append(
                _("Vai trò: {role}; địa bàn: {area}").format(
                    role=user["role"], area=user.get("area_code") or "-"
                )
            )
        lines.append(
            _("Lần đầu trò chuyện: {first}; lần gần nhất: {last}").format(
                first=_date(user.get("created_at"), lang, tz),
                last=_date(user.get("last_seen_at"), lang, tz),
            )
        )
    else:
        lines.append(_("Không có hồ sơ người dùng."))
    lines.append("")
    lines.append(_("Sự đồng ý:"))
    for c in data.get("consents") or []:
        state = (
            _("rút lại ngày {when}").format(when=_date(c["withdrawn_at"], lang, tz))
            if c.get("withdrawn_at")
            else _("còn hiệu lực")
        )
        lines.append(
            _("- {purpose}: ngày {when} (thông báo bản {version}), {state}").format(
                purpose=_(purposes.get(c["purpose"], c["purpose"])),
                when=_date(c["given_at"], lang, tz),
                version=c["notice_version"],
                state=state,
            )
        )
    if not data.get("consents"):
        lines.append(_("- chưa có"))
    subs = data.get("subscriptions") or []
    receives = any(s.get("active") for s in subs)
    lines.append(_("Nhận thông báo: {state}").format(state=_("có") if receives else _("không")))
    inbox = data.get("inbox") or []
    waiting = [r for r in inbox if r.get("payload")]
    lines.append("")
    lines.append(
        _("Tin nhắn của bạn đang chờ xử lý (nội dung được xóa ngay khi xử lý xong): {n}").format(
            n=len(waiting)
        )
    )
    for r in waiting:
        lines.append("- " + json.dumps(r["payload"], ensure_ascii=False)[:500])
    outbox = data.get("outbox") or []
    lines.append(
        _("Tin trả lời gửi cho bạn: {n} (nội dung được xóa khi đã gửi)").format(n=len(outbox))
    )
    for r in outbox:
        if r.get("text"):
            lines.append("- " + r["text"][:500])
    reports = data.get("reports") or []
    if reports:
        lines.append("")
        kept = _("Báo cáo bạn đã gửi (hồ sơ chính thức, giữ lại khi bạn xóa dữ liệu): {n}")
        lines.append(kept.format(n=len(reports)))
        for r in reports:
            value = f"{r['value']:g} {r['unit']}"
            lines.append(f"- #{r['id']} {r['period']} {r['indicator']}: {value} ({r['status']})")
    feedback = data.get("feedback") or []
    if feedback:
        lines.append("")
        lines.append(_("Phản ánh bạn đã gửi: {n}").format(n=len(feedback)))
        for f in feedback:
            lines.append(f"- {f['code']} ({f['status']}): " + str(f["description"])[:200])
    handoffs = data.get("handoffs") or []
    if handoffs:
        lines.append("")
        lines.append(_("Trò chuyện với cán bộ: {n}").format(n=len(handoffs)))
        for h in handoffs:
            for m in h.get("messages") or []:
                who = _("Bạn") if m.get("from") == "villager" else _("Cán bộ")
                lines.append(f"- {_date(m.get('at'), lang, tz)} {who}: " + str(m["text"])[:500])
    translations = data.get("translations") or {}
    recordings = translations.get("recordings") or []
    if translations:
        lines.append("")
        langs = ", ".join(t["lang"] for t in translations.get("translator") or [])
        lines.append(
            _("Bạn là người dịch ({langs}); bản ghi và bản dịch: {n}").format(
                langs=langs or "-", n=len(recordings)
            )
        )
        for r in recordings:
            what = _("bản ghi âm") if r.get("has_audio") else _("bản chữ")
            lines.append(f"- {r['lang']} {r['key']}: {what} ({r['status']})")
    lines.append("")
    lines.append(_("Dữ liệu này không công bố và không có trong dữ liệu mở."))
    lines.append(_("Xóa tất cả: gõ /xoadulieu."))
    return "\n".join(lines)
