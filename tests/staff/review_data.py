"""Officers, reports, citizens and feedback written straight to the test database, for the
reports and feedback page tests (what the chat would have filed: actions/reports.py and
actions/feedback.py write the same rows through the same repositories)."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy import select

from bot.feedback import tracking
from bot.media.store import MediaStore
from bot.storage.models import OutboxEntry, User
from bot.storage.repositories import feedback as fb_repo
from bot.storage.repositories import reports as report_repo

BA_DONG = "qng.ba_dong"
LANG_TENG = "qng.ba_dong.lang_teng"
BA_TO = "qng.ba_to_21484"
_ids = itertools.count(1001)


async def make_user(
    services: Any,
    *,
    role: str = "villager",
    area: str | None = None,
    channel: str = "telegram",
    external_id: str | None = None,
    locale: str | None = "vi",
    name: str | None = None,
) -> User:
    async with services.writing() as session:
        user = User(
            channel=channel,
            external_id=external_id or str(next(_ids)),
            role=role,
            area_code=area,
            locale=locale,
            display_name=name,
        )
        session.add(user)
        await session.commit()
        return user


async def make_officer(services: Any, area: str = BA_DONG, **kw: Any) -> User:
    return await make_user(services, role="officer", area=area, **kw)


async def make_report(services: Any, officer: User | None, **kw: Any) -> int:
    values = {
        "project": 1,
        "indicator": "p1_nha_o",
        "area_code": officer.area_code if officer is not None else BA_DONG,
        "period": "2026-11",
        "value": 12.0,
        "unit": "hộ",
        "note": None,
        **kw,
    }
    created_at = values.pop("created_at", None)
    async with services.writing() as session:
        report = report_repo.add_report(
            session,
            **values,
            officer_id=officer.id if officer is not None else None,
            officer_role="officer",
            officer_area=officer.area_code if officer is not None else None,
            channel=officer.channel if officer is not None else "web",
        )
        if created_at is not None:
            report.created_at = report.updated_at = created_at
        await session.commit()
        return report.id


async def make_feedback(services: Any, citizen: User | None, **kw: Any) -> tuple[int, str]:
    values = {
        "category": "cong_trinh",
        "description": "Đường vào thôn bị sạt lở, xe máy không qua được.",
        "channel": citizen.channel if citizen is not None else "web",
        "lang": "vi",
        **kw,
    }
    created_at = values.pop("created_at", None)
    async with services.writing() as session:
        fb = await fb_repo.add_feedback(
            session,
            tracking.new_code,
            user_id=citizen.id if citizen is not None else None,
            **values,
        )
        if created_at is not None:
            fb.created_at = fb.updated_at = created_at
        await session.commit()
        return fb.id, fb.code


def jpeg_bytes(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buf, "JPEG")
    return buf.getvalue()


def store_photo(services: Any, data: bytes | None = None) -> str:
    store = MediaStore(services.settings.path(services.settings.media.dir))
    return store.put(data or jpeg_bytes(), "jpg")


async def outbox_rows(services: Any, recipient: str) -> list[OutboxEntry]:
    async with services.sessionmaker() as session:
        got = await session.execute(
            select(OutboxEntry).where(OutboxEntry.recipient == recipient).order_by(OutboxEntry.id)
        )
        return list(got.scalars())


def days_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)
