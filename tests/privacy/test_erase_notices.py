"""A person who deletes their data gets no notice queued for them before: the erasure fails
their queued notice rows (and then deletes them with their other finished rows), while the
others' rows of the same notice stay queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.notices import compose as composing
from bot.notices.model import Draft
from bot.storage.models import OutboxEntry
from bot.storage.repositories import personal
from tests.notices.conftest import person

COMMUNE = "qng.ba_dong"


async def test_erasure_drops_the_notices_still_queued_for_the_person(services):
    async with services.sessionmaker() as s:
        gone = await person(s, area=COMMUNE, external_id="e-gone")
        stays = await person(s, area=COMMUNE, external_id="e-stays")
        made = await composing.compose(
            s,
            Draft(
                title={"vi": "Tập huấn trồng quế"},
                body={"vi": "Mời bà con."},
                areas=[COMMUNE],
                send_at=datetime.now(UTC) + timedelta(days=2),
            ),
            settings=services.settings,
        )
        await s.commit()
        nid = made.notice.id
    async with services.sessionmaker() as s:
        erased = await personal.erase(s, gone.channel, gone.external_id, b"k")
        await s.commit()
    assert erased.notices_dropped == 1
    async with services.sessionmaker() as s:
        rows = (
            await s.execute(
                select(OutboxEntry.recipient, OutboxEntry.status).where(
                    OutboxEntry.notice_id == nid
                )
            )
        ).all()
    assert rows == [(stays.external_id, "queued")]
