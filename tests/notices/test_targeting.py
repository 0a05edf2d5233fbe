"""Who a notice reaches: areas at any level (a commune includes its villages), languages, roles
and topics; the message each language sees; the fan-out in bulk. Both databases."""

from __future__ import annotations

import time

from sqlalchemy import select

from bot.notices import compose as composing
from bot.notices.model import Draft
from bot.storage.models import Notice, OutboxEntry
from bot.storage.repositories import notices as repo
from tests.notices.conftest import person

COMMUNE = "qng.ba_dong"
VILLAGE = "qng.ba_dong.lang_teng"


def training(**kw) -> Draft:
    base = {
        "title": {"vi": "Lớp tập huấn trồng quế", "hre": "HRE-TITLE"},
        "body": {"vi": "Mời bà con đến học.", "hre": "HRE-BODY"},
        "topics": ["tap_huan"],
        "areas": [COMMUNE],
        "langs": ["hre"],
    }
    base.update(kw)
    return Draft(**base)


async def test_one_communes_hre_speakers_on_training_get_it_and_nobody_else(services):
    async with services.sessionmaker() as s:
        want = [
            await person(s, lang="hre", area=COMMUNE, topics=["tap_huan"]),
            await person(s, lang="hre", area=VILLAGE, topics=["tap_huan", "hop"]),  # a village
            await person(s, lang="hre", area=COMMUNE, topics=None, channel="zalo"),  # all topics
        ]
        others = [
            await person(s, lang="vi", area=COMMUNE, topics=["tap_huan"]),  # Vietnamese
            await person(s, lang="hre", area="qng.ba_vinh", topics=["tap_huan"]),  # elsewhere
            await person(s, lang="hre", area=COMMUNE, topics=["hop"]),  # another topic
            await person(s, lang="hre", area=COMMUNE, topics=["tap_huan"], subscribed=False),
            await person(s, lang="hre", area=COMMUNE, topics=["tap_huan"], reachable=False),
            await person(s, lang="hre", area=COMMUNE, channel="web"),  # no push on the web chat
            await person(s, lang="hre", area=None, topics=["tap_huan"]),  # no area said
            await person(s, lang="hre", area="qng.ba_dongx", topics=["tap_huan"]),  # prefix only
            await person(s, lang="hre", officer_area=COMMUNE, role="officer", subscribed=None),
        ]
        assert others
        made = await composing.compose(s, training(), settings=services.settings)
        await s.commit()
        nid = made.notice.id
    assert made.counts == {("telegram", "hre"): 2, ("zalo", "hre"): 1}
    async with services.sessionmaker() as s:
        rows = (
            (await s.execute(select(OutboxEntry).where(OutboxEntry.notice_id == nid)))
            .scalars()
            .all()
        )
        notice = await s.get(Notice, nid)
    assert sorted(r.user_id for r in rows) == sorted(u.id for u in want)
    assert notice.recipients == 3 and notice.status == "sending"
    assert {r.source for r in rows} == {"notice"} and {r.status for r in rows} == {"queued"}
    text = rows[0].payload["text"]
    assert "HRE-TITLE" in text and "HRE-BODY" in text and "Mời bà con" not in text


async def test_vietnamese_where_no_translation_and_the_note_says_so(services):
    async with services.sessionmaker() as s:
        await person(s, lang="cua", area=COMMUNE, topics=["tap_huan"])
        await person(s, lang="vi", area=VILLAGE)
        made = await composing.compose(
            s, training(langs=[], areas=[COMMUNE]), settings=services.settings
        )
        await s.commit()
        rows = (
            (await s.execute(select(OutboxEntry).where(OutboxEntry.notice_id == made.notice.id)))
            .scalars()
            .all()
        )
    by_lang = {("cua" if "Cor" in r.payload["text"] else "vi"): r.payload["text"] for r in rows}
    assert set(by_lang) == {"cua", "vi"}
    assert "Mời bà con đến học." in by_lang["cua"] and "Chưa có bản tiếng Cor" in by_lang["cua"]
    assert "Chưa có bản" not in by_lang["vi"]


async def test_roles_officers_by_their_area_and_villagers_by_subscription(services):
    async with services.sessionmaker() as s:
        officer = await person(s, role="officer", officer_area=COMMUNE, subscribed=None)
        stopped = await person(s, role="officer", officer_area=COMMUNE, subscribed=False)
        await person(s, role="officer", officer_area="qng.ba_vinh", subscribed=None)
        villager = await person(s, area=COMMUNE)
        await s.commit()
        targets = repo.Targets(areas=(COMMUNE,), roles=("officer",))
        got = [r.user_id async for page in repo.recipients(s, targets, ("telegram",)) for r in page]
        assert got == [officer.id] and stopped.id not in got
        targets = repo.Targets(areas=(COMMUNE,), roles=("villager",))
        got = [r.user_id async for page in repo.recipients(s, targets, ("telegram",)) for r in page]
        assert got == [villager.id]


async def test_urgent_reaches_every_subscriber_of_the_area_and_goes_first(services):
    async with services.sessionmaker() as s:
        a = await person(s, area=COMMUNE, topics=["hop"])
        b = await person(s, area=VILLAGE, topics=["tap_huan"])
        await person(s, area="qng.ba_vinh", topics=["canh_bao"])
        made = await composing.compose(
            s,
            Draft(title={"vi": "Bão"}, body={"vi": "Sạt lở"}, topics=["canh_bao"], areas=[COMMUNE]),
            settings=services.settings,
        )
        await s.commit()
        rows = (
            (await s.execute(select(OutboxEntry).where(OutboxEntry.notice_id == made.notice.id)))
            .scalars()
            .all()
        )
    assert sorted(r.user_id for r in rows) == sorted([a.id, b.id])
    assert {r.priority for r in rows} == {10} and rows[0].payload["text"].startswith("⚠️ Bão")


async def test_preview_counts_and_each_languages_message(services):
    async with services.sessionmaker() as s:
        await person(s, lang="hre", area=COMMUNE, channel="zalo")
        await person(s, lang="vi", area=COMMUNE)
        shown = await composing.preview(
            s,
            training(langs=[], rsvp=True, details={"date": "2026-12-15", "place": "Nhà văn hóa"}),
            settings=services.settings,
        )
        assert await s.scalar(select(Notice.id)) is None  # a preview stores nothing
    assert shown.counts == {("zalo", "hre"): 1, ("telegram", "vi"): 1} and not shown.problems
    assert "HRE-TITLE" in shown.messages["hre"] and "Lớp tập huấn trồng quế" in shown.messages["vi"]
    assert "Thời gian: 15/12/2026" in shown.messages["vi"]
    assert "1. Tôi sẽ tham gia\n2. Không tham gia" in shown.messages["vi"]
    assert set(shown.messages) == {"vi", "hre", "cua", "sed"}


async def test_compose_in_bulk_is_fast_and_complete(services):
    """A modest N here; bot.notices.compose.compose at 100,000 belongs to the benchmark."""
    n = 3000
    from bot.storage.models import Subscription, User

    async with services.sessionmaker() as s:
        users = [
            {
                "channel": "telegram",
                "external_id": f"b{i}",
                "locale": "vi",
                "role": "villager",
                "reachable": True,
                "state": {},
            }
            for i in range(n)
        ]
        await s.execute(User.__table__.insert(), users)
        ids = (await s.execute(select(User.id))).scalars().all()
        await s.execute(
            Subscription.__table__.insert(),
            [
                {"user_id": i, "channel": "telegram", "active": True, "area_code": COMMUNE}
                for i in ids
            ],
        )
        await s.commit()
    statements = []
    from sqlalchemy import event

    engine = s.bind.sync_engine if s.bind is not None else None
    assert engine is not None

    def count(*_a):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        async with services.sessionmaker() as s:
            made = await composing.compose(
                s, training(langs=[], topics=[]), settings=services.settings, page=1000
            )
            await s.commit()
        took = time.perf_counter() - started
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert made.total == n
    assert len(statements) < 40, len(statements)  # bulk: never a statement per recipient
    assert took < 20, took


async def test_a_recorded_audio_per_language(services):
    async with services.sessionmaker() as s:
        await person(s, lang="hre", area=COMMUNE)
        await person(s, lang="vi", area=COMMUNE)
        made = await composing.compose(
            s,
            training(langs=[], topics=[], audio={"hre": "https://example.org/hre.ogg"}),
            settings=services.settings,
        )
        await s.commit()
        rows = (
            (await s.execute(select(OutboxEntry).where(OutboxEntry.notice_id == made.notice.id)))
            .scalars()
            .all()
        )
    voices = {("HRE" in r.payload["text"]): r.payload.get("voice") for r in rows}
    assert voices == {True: "https://example.org/hre.ogg", False: None}
    async with services.sessionmaker() as s:
        bad = await composing.preview(
            s, training(audio={"hre": "../../etc/passwd"}), settings=services.settings
        )
    assert any("Ghi âm (hre)" in p for p in bad.problems)
