"""The overview: per-day counts (messages by outcome, reports, feedback by status, subscribers),
per channel, language and commune, as SVG charts each with its table; the period selector; a
commune account's area; days in the province's time zone on both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.storage.models import Feedback, Report, Subscription, User
from bot.storage.repositories import stats
from tests.conftest import message

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def today() -> datetime:
    return datetime.now(ZONE).replace(hour=12, minute=0, second=0, microsecond=0)


async def seed(services) -> None:
    now = today().astimezone(UTC)
    async with services.writing() as s:
        users = [User(channel="telegram", external_id=f"ov{i}", locale="vi") for i in range(3)]
        users[2].locale = "hre"
        s.add_all(users)
        await s.flush()
        for i, (area, days_ago) in enumerate(
            [
                ("qng.ba_dong", 0),
                ("qng.ba_dong.lang_teng", 1),
                ("qng.ba_to_21484", 1),
                ("qng.ba_dong", 40),
            ]
        ):
            s.add(
                Report(
                    project=1,
                    indicator="p1_nha_o",
                    area_code=area,
                    period="2026-11",
                    value=i + 1,
                    officer_role="officer",
                    channel="telegram",
                    created_at=now - timedelta(days=days_ago),
                    updated_at=now,
                )
            )
        for i, (status, area) in enumerate(
            [("submitted", "qng.ba_dong"), ("resolved", "qng.ba_dong"), ("resolved", None)]
        ):
            s.add(
                Feedback(
                    code=f"OV{i:02d}-TEST",
                    channel="telegram",
                    category="cong_trinh",
                    description="x",
                    status=status,
                    area_code=area,
                    created_at=now - timedelta(days=i),
                    updated_at=now,
                )
            )
        for u, area in zip(users, ["qng.ba_dong", "qng.ba_dong.lang_teng", None], strict=True):
            s.add(Subscription(user_id=u.id, channel="telegram", area_code=area, created_at=now))
        await s.commit()


async def test_turns_are_counted_by_outcome_channel_and_language(pipeline, services):
    await pipeline.handle(message("ho tro lam nha bao nhieu tien", sender="c1", lang="vi"))
    await pipeline.handle(message("xqzw plorf vvv", sender="c1", lang="vi"))
    await pipeline.handle(message("/trogiup", sender="c2", lang="hre", channel="telegram"))
    dup = message("/trogiup", sender="c2", lang="hre", channel="telegram")
    await pipeline.handle(dup)
    await pipeline.handle(dup)  # a replay is not counted twice
    d = today().date()
    async with services.sessionmaker() as s:
        o = await stats.overview(s, stats.Period(d, d, "Asia/Ho_Chi_Minh"))
    assert (o.messages.total(stats.ANSWERED), o.messages.total(stats.NOT_ANSWERED)) == (1, 1)
    assert o.messages.total(stats.OTHER) == 2
    assert o.messages_by_channel == {"web": 2, "telegram": 2}
    assert o.messages_by_lang == {"vi": 2, "hre": 2}


async def test_days_are_the_provinces(services):
    # 18:00 UTC on 30 November is 01:00 on 1 December in Quảng Ngãi.
    at = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    async with services.writing() as s:
        s.add(
            Report(
                project=1,
                indicator="p1_nha_o",
                area_code="qng.ba_dong",
                period="2026-11",
                value=1,
                officer_role="officer",
                channel="web",
                created_at=at,
                updated_at=at,
            )
        )
        await s.commit()
    period = stats.Period(
        datetime(2026, 11, 30).date(), datetime(2026, 12, 1).date(), "Asia/Ho_Chi_Minh"
    )
    async with services.sessionmaker() as s:
        o = await stats.overview(s, period)
    assert o.reports.per_day("reports") == [0, 1]
    assert o.reports_by_area == {"qng.ba_dong": 1}


async def test_the_page_shows_charts_with_tables_and_the_period(
    services, staff_client, make_staff, login, new_client
):
    await seed(services)
    client = await login(staff_client, await make_staff("province"))
    page = await client.get("/staff/overview?days=7")
    html = await page.text()
    assert page.status == 200
    assert html.count("<svg") >= 10 and html.count("<table") >= 10
    assert "<script" not in html
    reports = html[html.index('id="reports"') : html.index('id="feedback"')]
    assert "xã Ba Động" in reports and "xã Ba Tơ" in reports
    # 3 reports in the last 7 days (the one of 40 days ago is outside): Ba Động 2, Ba Tơ 1.
    assert re.search(r"xã Ba Động</th><td>2</td>", reports)
    feedback = html[html.index('id="feedback"') : html.index('id="subscribers"')]
    assert "đã giải quyết" in feedback and "đã gửi, chờ tiếp nhận" in feedback
    assert re.search(r"xã Ba Động</th><td>2</td>", feedback)  # two with its area, one unknown
    assert re.search(r"chưa rõ</th><td>1</td>", feedback)
    assert '<strong id="active-subscribers">3</strong>' in html
    wide = await (await client.get("/staff/overview?days=90")).text()
    assert re.search(r"xã Ba Động</th><td>3</td>", wide)
    start = (today() - timedelta(days=45)).date().isoformat()
    end = (today() - timedelta(days=35)).date().isoformat()
    custom = await (await client.get(f"/staff/overview?from={start}&to={end}")).text()
    assert re.search(r"xã Ba Động</th><td>1</td>", custom) and "xã Ba Tơ" not in custom
    for bad in ("from=2026-13-01", "from=2026-12-05&to=2026-12-01", "days=<b>", "from=0001-01-01"):
        r = await client.get(f"/staff/overview?{bad}")
        assert r.status == 200, bad
    assert "Ngày dạng 2026-12-01." in await (await client.get("/staff/overview?from=x")).text()

    commune = await login(await new_client(), await make_staff("commune", "qng.ba_dong"))
    mine = await (await commune.get("/staff/overview?days=7")).text()
    reports = mine[mine.index('id="reports"') : mine.index('id="feedback"')]
    assert "xã Ba Động" in reports and "xã Ba Tơ" not in reports
    assert '<strong id="active-subscribers">2</strong>' in mine


async def test_the_retention_job_folds_past_days_shards_and_the_totals_stay(services, settings):
    from sqlalchemy import select

    from bot.privacy.retention import purge
    from bot.storage.models import TurnCount

    d = today().date()
    old = (d - timedelta(days=3)).isoformat()
    async with services.writing() as s:
        for day in (old, d.isoformat()):
            for shard in range(stats.SHARDS):
                s.add(
                    TurnCount(
                        day=day,
                        channel="web",
                        lang="vi",
                        outcome="answered",
                        shard=shard,
                        n=shard + 1,
                    )
                )
        s.add(TurnCount(day=old, channel="zalo", lang="hre", outcome="other", shard=0, n=5))
        s.add(TurnCount(day=old, channel="zalo", lang="hre", outcome="other", shard=3, n=2))
        await s.commit()
    period = stats.Period(d - timedelta(days=6), d, "Asia/Ho_Chi_Minh")
    async with services.sessionmaker() as s:
        before = await stats.overview(s, period)
    await purge(services.sessionmaker, settings)
    async with services.sessionmaker() as s:
        rows = (await s.execute(select(TurnCount).order_by(TurnCount.day))).scalars().all()
        after = await stats.overview(s, period)
    old_rows = {(r.channel, r.shard): r.n for r in rows if r.day == old}
    assert old_rows == {("web", 0): 36, ("zalo", 0): 7}  # 1+2+...+8, 5+2
    assert len([r for r in rows if r.day == d.isoformat()]) == stats.SHARDS  # today: untouched
    assert after.messages.rows == before.messages.rows
    assert after.messages_by_lang == before.messages_by_lang == {"vi": 72, "hre": 7}
