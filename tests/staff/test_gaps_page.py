"""Content gaps: similar wordings grouped (deterministic, no model), counts and last date, no user;
an editor marks a group answered by a real item or out of scope (audited), or opens it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.storage.models import AuditEntry, ContentGap
from bot.storage.repositories import gaps

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def row(i: int, question: str, count: int = 1, lang: str = "vi", **kw) -> ContentGap:
    return ContentGap(
        id=i,
        question=question,
        lang=lang,
        channel="web",
        count=count,
        closest=kw.pop("closest", []),
        first_seen=T0,
        last_seen=T0 + timedelta(hours=i),
        **kw,
    )


def test_similar_wordings_are_grouped_most_asked_first():
    rows = [
        row(1, "ho tro mua may cay", 3, closest=["support.housing"]),
        row(2, "nha nuoc co ho tro mua may cay khong", 2),
        row(3, "xin ho tro may cay lua", 1),
        row(4, "gao cho hoc sinh ban tru", 5),
        row(5, "hoc sinh ban tru duoc gao khong", 1),
        row(6, "bao nhieu", 1),  # no content word: only its exact twin
        row(7, "bao nhieu?", 2),
        row(8, "the nao", 1),
    ]
    groups = gaps.group_rows(rows)
    assert [sorted(g.ids) for g in groups] == [[4, 5], [1, 2, 3], [6, 7], [8]]
    assert [g.count for g in groups] == [6, 6, 3, 1]
    tractor = groups[1]
    assert tractor.label == "ho tro mua may cay"  # its most asked wording
    assert tractor.last_seen == T0 + timedelta(hours=3)
    assert tractor.closest == ("support.housing",)
    # The same input in another order: the same groups.
    again = gaps.group_rows(list(reversed(rows)))
    assert [g.ids for g in again] == [g.ids for g in groups]


def test_marked_and_open_wordings_never_share_a_group():
    rows = [row(1, "tien dien ho ngheo", 2), row(2, "tien dien ho ngheo thang nay", 1)]
    rows[1].resolution = gaps.OUT_OF_SCOPE
    assert len(gaps.group_rows(rows)) == 2


async def record(services, *questions: str) -> None:
    async with services.writing() as s:
        for q in questions:
            await gaps.record(s, q, "vi", "telegram", ["support.housing"])
        await s.commit()


async def test_editor_marks_a_group_answered_by_a_real_item(
    services, staff_client, make_staff, login, post_form, new_client, assert_refused
):
    await record(
        services,
        "ho tro mua may cay",
        "ho tro mua may cay",
        "xin ho tro may cay lua",
        "goi 0905 123 456 hoi tien dien",  # the phone is scrubbed when recorded
    )
    client = await login(staff_client, await make_staff("province"))
    page = await client.get("/staff/gaps")
    text = await page.text()
    assert page.status == 200
    assert "ho tro mua may cay" in text and "3 lần hỏi · 2 cách hỏi" in text
    assert "0905" not in text and "123 456" not in text
    async with services.sessionmaker() as s:
        tractor = [
            r.id for r in (await s.execute(select(ContentGap))).scalars() if "may cay" in r.question
        ]
    ids = ",".join(map(str, tractor))

    bad = await post_form(
        client, "/staff/gaps/mark", {"ids": ids, "resolution": "answered", "item": "no.such"}
    )
    assert bad.status == 400 and "mục nội dung có thật" in await bad.text()
    for junk in ({"ids": "1;DROP", "resolution": "answered"}, {"ids": ids, "resolution": "x"}):
        assert (await post_form(client, "/staff/gaps/mark", junk)).status == 400
    no_token = await client.post(
        "/staff/gaps/mark", data={"ids": ids, "resolution": "out_of_scope"}, allow_redirects=False
    )
    assert no_token.status == 403

    done = await post_form(
        client,
        "/staff/gaps/mark",
        {
            "ids": ids,
            "resolution": "answered",
            "item": "support.housing",
            "back": "/staff/gaps?days=30",
        },
    )
    assert done.status == 303 and done.headers["Location"] == "/staff/gaps?days=30&done=1"
    async with services.sessionmaker() as s:
        marked = (await s.execute(select(ContentGap).where(ContentGap.id.in_(tractor)))).scalars()
        assert {(r.resolution, r.resolved_item) for r in marked} == {
            ("answered", "support.housing")
        }
        [entry] = (
            await s.execute(select(AuditEntry).where(AuditEntry.action == "gaps.mark"))
        ).scalars()
    assert entry.detail == {"resolution": "answered", "item": "support.housing", "wordings": 2}
    open_page = await (await client.get("/staff/gaps")).text()
    assert "ho tro mua may cay" not in open_page and "tien dien" in open_page
    marked_page = await (await client.get("/staff/gaps?view=marked")).text()
    assert "ho tro mua may cay" in marked_page and "support.housing" in marked_page

    # Asked again after the mark: said on the marked list; reopened, it is open again.
    async with services.writing() as s:
        await s.execute(
            update(ContentGap)
            .where(ContentGap.id.in_(tractor))
            .values(resolved_at=datetime.now(UTC) - timedelta(days=1))
        )
        await s.commit()
    await record(services, "ho tro mua may cay")
    assert "vẫn có người hỏi sau đó" in await (await client.get("/staff/gaps?view=marked")).text()
    reopened = await post_form(client, "/staff/gaps/mark", {"ids": ids, "resolution": "reopen"})
    assert reopened.status == 303
    assert "ho tro mua may cay" in await (await client.get("/staff/gaps")).text()

    commune = await login(await new_client(), await make_staff("commune", "qng.ba_dong"))
    await assert_refused(commune, "GET", "/staff/gaps")


async def test_filters_and_bad_query_strings(services, staff_client, make_staff, login):
    await record(services, "ho tro mua may cay")
    async with services.writing() as s:
        await s.execute(update(ContentGap).values(last_seen=datetime.now(UTC) - timedelta(days=40)))
        await s.commit()
    client = await login(staff_client, await make_staff("admin"))
    assert "may cay" not in await (await client.get("/staff/gaps?days=30")).text()
    assert "may cay" in await (await client.get("/staff/gaps?days=90")).text()
    assert "may cay" not in await (await client.get("/staff/gaps?days=90&lang=hre")).text()
    r = await client.get("/staff/gaps?days=<x>&view=%00&lang=zz")
    assert r.status == 200
