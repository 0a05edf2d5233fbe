"""Reports for the open-data tests, filed by officers whose every personal field holds a value
the public responses must never show."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from bot.storage.models import Report, User
from tests.logscan import sensitive

# Personal values planted in the data: none may appear in any public response.
OFFICER_NAME = "Đinh Thị Bímật"
OFFICER_PHONE = "0987654321"
OFFICER_PHONE_INTL = "+84987654321"
CHAT_ID = "731594826"
NOTE = "ghi chú riêng: nhà ông Xyzzy cạnh suối"
PHOTO = "media/ab/abcdef0123456789secretphoto.jpg"
LAT, LON = 14.7654321, 108.1234567
VILLAGE = "qng.ba_dong.lang_teng"
PERSONAL = [
    OFFICER_NAME,
    OFFICER_PHONE,
    OFFICER_PHONE_INTL,
    "987654321",
    CHAT_ID,
    NOTE,
    "Xyzzy",
    PHOTO,
    "secretphoto",
    "14.7654321",
    "108.1234567",
    "14.765",
    "108.123",
    "Làng Teng",
    "lang_teng",
]
for _value in (OFFICER_NAME, OFFICER_PHONE, NOTE):
    sensitive(_value)


@pytest.fixture
def settings(settings):
    """The tests change reports and read them back at once: no recheck delay (its own test
    sets one)."""
    od = dataclasses.replace(settings.open_data, recheck_seconds=0.0)
    return dataclasses.replace(settings, open_data=od)


async def add_officer(session, n: int = 0) -> User:
    user = User(
        channel="telegram",
        external_id=f"{CHAT_ID}{n or ''}",
        display_name=f"{OFFICER_NAME}{n or ''}",
        phone=OFFICER_PHONE,
        role="officer",
        area_code="qng.ba_dong",
    )
    session.add(user)
    await session.flush()
    return user


def report(officer: User, indicator: str, area: str, period: str, value: float, **kw) -> Report:
    now = kw.pop("at", datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    project = int(indicator.split("_")[0].removeprefix("p"))
    return Report(
        project=project,
        indicator=indicator,
        area_code=area,
        period=period,
        value=value,
        unit="",
        note=NOTE,
        photo_ref=PHOTO,
        latitude=LAT,
        longitude=LON,
        officer_id=officer.id,
        officer_role="officer",
        officer_area=area,
        channel="telegram",
        status=kw.pop("status", "submitted"),
        version=1,
        created_at=now,
        updated_at=now,
        **kw,
    )
