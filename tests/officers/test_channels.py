# ruff: noqa: F811 - pytest fixtures imported from the channel tests are redefined as arguments
"""An officer joins over Telegram (polling and webhook) and Zalo, through the fake platforms
exactly as production wires them: the code, the consent typed, the welcome; the role bound."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot import officers
from bot.storage.models import User
from tests.channels.conftest_zalo import zalo_api  # noqa: F401
from tests.channels.test_contract import Driver, driver  # noqa: F401


async def test_an_officer_joins_on_every_push_channel(driver: Driver) -> None:
    services = driver.services
    async with services.sessionmaker() as s:
        made = await officers.make_invite(s, services.settings, "qng.ba_dong", timedelta(days=1))
        await s.commit()
    user = driver.new_user()
    await driver.say(user, f"/macanbo {officers.show(made.code)}")
    await driver.settle()
    assert "Bạn có đồng ý không?" in driver.replies(user)[-1]
    await driver.say(user, "đồng ý")
    await driver.settle()
    said = "\n".join(driver.replies(user))
    assert "Chào cán bộ! Bạn đã được gắn với xã Ba Động." in said
    async with services.sessionmaker() as s:
        row = (await s.execute(select(User).where(User.external_id == user))).scalar_one()
    assert (row.role, row.area_code) == ("officer", "qng.ba_dong")
    other = driver.new_user()
    await driver.say(other, f"/macanbo {made.code}")  # used: another user is refused
    await driver.settle()
    assert "Mã này đã được dùng rồi" in driver.replies(other)[-1]


async def test_an_officer_joins_over_the_web_chat(server, services) -> None:
    from tests.channels.web_helpers import mid, post, visitor

    async with services.sessionmaker() as s:
        made = await officers.make_invite(s, services.settings, "qng.tra_bong", timedelta(days=1))
        await s.commit()
    async with visitor(server) as v:
        status, notice = await post(v, server, message_id=mid(), text=f"/macanbo {made.code}")
        assert status == 200
        payloads = [b["payload"] for r in notice["replies"] for b in r.get("buttons", [])]
        assert "/consent yes" in payloads
        status, done = await post(v, server, message_id=mid(), payload="/consent yes")
        assert status == 200
    said = " ".join(r["text"] for r in done["replies"])
    assert "Chào cán bộ! Bạn đã được gắn với xã Trà Bồng." in said
    async with services.sessionmaker() as s:
        roles = (
            await s.execute(select(User.role, User.area_code).where(User.channel == "web"))
        ).all()
    assert [tuple(r) for r in roles] == [("officer", "qng.tra_bong")]
