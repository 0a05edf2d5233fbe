"""Officers: invite codes (made, typed in the chat, single use, expiring, revocable), the
consent asked before the officer's chat id is kept, the guessing limit across restarts, the
role and area bound, deactivation; the `officers` CLI. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from bot import officers
from bot.app import build_pipeline, build_services
from bot.storage.models import InviteAttempt, InviteCode, User
from bot.storage.repositories import officers as repo
from tests.conftest import all_text, message


async def make(services, area="qng.ba_dong", expires=timedelta(days=7), now=None, role="officer"):
    async with services.sessionmaker() as s:
        made = await officers.make_invite(s, services.settings, area, expires, role=role, now=now)
        await s.commit()
    return made


async def row(services, sender: str) -> User | None:
    async with services.sessionmaker() as s:
        query = select(User).where(User.channel == "web", User.external_id == sender)
        return (await s.execute(query)).scalar_one_or_none()


async def join(pipeline, sender: str, typed: str) -> str:
    """Send the code, agree to the notice if asked; all the bot said."""
    first = await pipeline.handle(message(typed, sender=sender))
    said = all_text(first)
    if "Bạn có đồng ý không?" in said:
        said += "\n" + all_text(
            await pipeline.handle(message(payload="/consent yes", sender=sender))
        )
    return said


def test_codes_are_short_unambiguous_and_typed_loosely():
    codes = {officers.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 8 and not set(c) & set("0O1IL") for c in codes)
    code = "K7QF9XPA"
    for typed in ("K7QF-9XPA", "k7qf9xpa", "k7qf 9xpa", " K7QF – 9XPA ", "k7qf.9xpa"):
        assert officers.normalize(typed) == code
    for typed in ("K7QF-9XP", "K7QF-9XPAA", "K7QF-9XP0", "K7QF-9XPO", "K7QF-9XPI", "K7QF-9XPL"):
        assert officers.normalize(typed) is None
    # Eight letters over several words are a sentence: not a code, nor a wrong try at one.
    for typed in ("the du an 7", "xa ba to 2", "k7 qf 9x pa"):
        assert officers.normalize(typed) is None and not officers.looks_like_a_try(typed)
    assert officers.looks_like_a_try("K7QF-9XP0")
    assert officers.show(code) == "K7QF-9XPA"
    assert officers.parse_expiry("7d") == timedelta(days=7)
    assert officers.parse_expiry("12h") == timedelta(hours=12)
    for bad in ("7", "0d", "7y", "1000d", ""):
        with pytest.raises(ValueError):
            officers.parse_expiry(bad)


def test_the_stored_hash_is_keyed(settings):
    a = officers.code_hashes(settings, "K7QF9XPA")[0]
    other = dataclasses.replace(
        settings,
        privacy=dataclasses.replace(settings.privacy, token_encryption_keys="x" * 43 + "="),
    )
    assert a != officers.code_hashes(other, "K7QF9XPA")[0]
    import hashlib

    assert a != hashlib.sha256(b"K7QF9XPA").hexdigest()
    # Two keys (a rotation): the code made under the old one still checks.
    rotated = dataclasses.replace(
        settings,
        privacy=dataclasses.replace(
            settings.privacy,
            token_encryption_keys=("y" * 43 + "=") + "," + ("x" * 43 + "="),
        ),
    )
    assert officers.code_hashes(other, "K7QF9XPA")[0] in officers.code_hashes(rotated, "K7QF9XPA")


async def test_invite_then_join_binds_the_officer_to_the_area(pipeline, services):
    made = await make(services)
    said = await join(pipeline, "off1", f"/macanbo {officers.show(made.code).lower()}")
    assert "nhận báo cáo của cán bộ" in said  # the notice of the report purpose
    assert "Chào cán bộ! Bạn đã được gắn với xã Ba Động." in said
    user = await row(services, "off1")
    assert (user.role, user.area_code) == ("officer", "qng.ba_dong")
    async with services.sessionmaker() as s:
        assert await officers.officer_area(s, user.id) == "qng.ba_dong"
        invite = await s.get(InviteCode, made.id)
        assert invite.used_by == user.id and officers.state_of(invite) == "used"
        # A dump shows no usable code: not the code, not an unkeyed hash of it.
        dump = " ".join(
            str(v) for r in (await s.execute(text("SELECT * FROM invite_codes"))).all() for v in r
        )
    assert made.code not in dump and made.code[:4] not in dump
    assert "state" not in user.state or "officer_invite" not in user.state


async def test_without_a_code_the_next_message_is_taken_as_the_code(pipeline, services):
    made = await make(services, area="qng.tra_bong")
    ask = await pipeline.handle(message("/macanbo", sender="off2"))
    assert "Gõ mã mời cán bộ" in all_text(ask)
    said = await join(pipeline, "off2", officers.show(made.code))
    assert "xã Trà Bồng" in said
    assert (await row(services, "off2")).role == "officer"


async def test_declining_consent_binds_nothing_and_the_code_stays_usable(pipeline, services):
    made = await make(services)
    await pipeline.handle(message(f"/macanbo {made.code}", sender="off3"))
    turn = await pipeline.handle(message(payload="/consent no", sender="off3"))
    assert "Tôi không lưu gì cả" in all_text(turn)
    assert (await row(services, "off3")).role == "villager"
    said = await join(pipeline, "off4", f"/macanbo {made.code}")
    assert "Chào cán bộ!" in said


async def test_a_code_works_once(pipeline, services):
    made = await make(services)
    assert "Chào cán bộ!" in await join(pipeline, "a1", f"/macanbo {made.code}")
    said = await join(pipeline, "a2", f"/macanbo {made.code}")
    assert "Mã này đã được dùng rồi" in said
    assert (await row(services, "a2")).role == "villager"


async def test_expired_revoked_and_wrong_codes_are_refused(pipeline, services):
    old = await make(services, now=datetime.now(UTC) - timedelta(days=8))
    revoked = await make(services)
    async with services.sessionmaker() as s:
        assert await repo.revoke_invite(s, revoked.id, datetime.now(UTC))
        assert not await repo.revoke_invite(s, revoked.id, datetime.now(UTC))  # once
        await s.commit()
    assert "Mã này đã hết hạn." in await join(pipeline, "b1", f"/macanbo {old.code}")
    assert "Mã này đã bị thu hồi." in await join(pipeline, "b1", f"/macanbo {revoked.code}")
    said = await join(pipeline, "b1", "/macanbo 2345-6789")
    assert "Mã này không đúng." in said and "còn 2 lần thử" in said
    malformed = await join(pipeline, "b1", "/macanbo 1234-OOOO")
    assert "8 chữ và số" in malformed
    assert (await row(services, "b1")).role == "villager"


async def test_guessing_is_limited_and_the_limit_survives_a_restart(
    settings, db_url, pipeline, services, count
):
    good = await make(services)
    for n in range(officers.MAX_WRONG_TRIES):
        said = await join(pipeline, "g1", f"/macanbo 2345-678{n + 2}")
        assert "Mã này không đúng." in said
    assert "hết lượt thử" in said
    refused = await join(pipeline, "g1", f"/macanbo {good.code}")  # even the right code
    assert "Bạn đã nhập sai mã nhiều lần. Hãy thử lại sau 60 phút." in refused
    assert await count(InviteAttempt) == officers.MAX_WRONG_TRIES
    async with services.sessionmaker() as s:
        stored = (await s.execute(select(InviteAttempt.who))).scalars().all()
    assert all("g1" not in w and len(w) == 64 for w in stored)  # a keyed hash, not the id
    # A new process on the same database: still limited. Another user: not.
    again, engine = await asyncio.to_thread(build_services, settings, db_url)
    try:
        fresh = build_pipeline(again)
        assert "thử lại sau" in await join(fresh, "g1", f"/macanbo {good.code}")
        assert "Chào cán bộ!" in await join(fresh, "g2", f"/macanbo {good.code}")
    finally:
        await engine.dispose()
    # An hour later the tries no longer count.
    async with services.sessionmaker() as s:
        later = datetime.now(UTC) + officers.WRONG_TRY_WINDOW + timedelta(seconds=1)
        assert await officers.limited(s, settings, "web", "g1", later) is None


async def test_deactivated_officer_is_a_villager_again(pipeline, services):
    made = await make(services)
    await join(pipeline, "d1", f"/macanbo {made.code}")
    user = await row(services, "d1")
    async with services.sessionmaker() as s:
        assert await repo.deactivate(s, user.id, datetime.now(UTC)) is not None
        await s.commit()
    async with services.sessionmaker() as s:
        assert await officers.officer_area(s, user.id) is None
        assert await repo.deactivate(s, user.id, datetime.now(UTC)) is None  # already
        invite = await s.get(InviteCode, made.id)
        assert officers.state_of(invite) == "deactivated"
    user = await row(services, "d1")
    assert (user.role, user.area_code) == ("villager", None)


async def test_erasing_the_officer_keeps_the_invite_as_role_and_area_only(pipeline, services):
    made = await make(services)
    await join(pipeline, "e1", f"/macanbo {made.code}")
    user = await row(services, "e1")
    async with services.sessionmaker() as s:
        await s.delete(await s.get(User, user.id))
        await s.commit()
    async with services.sessionmaker() as s:
        invite = await s.get(InviteCode, made.id)
        assert invite.used_by is None and invite.used_at is not None
        assert (invite.role, invite.area_code) == ("officer", "qng.ba_dong")


async def test_role_helpers(pipeline, services):
    made = await make(services, role="admin", area="qng")
    said = await join(pipeline, "ad1", f"/macanbo {made.code}")
    assert "quản trị viên của tỉnh Quảng Ngãi" in said
    user = await row(services, "ad1")
    assert officers.role_of(user) == "admin" and officers.is_officer(user)
    assert officers.role_of(None) == "villager" and not officers.is_officer(None)


# ---- the CLI -------------------------------------------------------------------------------


def cli(monkeypatch, capsys, db_url, *args) -> tuple[int, str, str]:
    from bot.__main__ import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("TOKEN_ENCRYPTION_KEYS", raising=False)
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_invite_list_revoke_deactivate(monkeypatch, capsys, db_url, settings):
    code, out, _ = cli(monkeypatch, capsys, db_url, "officers", "invite", "--area", "21496")
    assert code == 0
    typed = re.search(r"/macanbo ([A-Z0-9]{4}-[A-Z0-9]{4})", out).group(1)
    assert "qng.ba_dong (xã Ba Động)" in out
    code, out, _ = cli(monkeypatch, capsys, db_url, "officers", "invite", "--area", "qng.ba_dong")
    second = re.search(r"invite #(\d+)", out).group(1)

    # The officer joins in the chat (the same database, the pipeline of a running bot).
    async def chat() -> int:
        services, engine = await asyncio.to_thread(build_services, settings, db_url)
        try:
            said = await join(build_pipeline(services), "cli1", f"/macanbo {typed}")
            assert "Chào cán bộ!" in said
            return (await row(services, "cli1")).id
        finally:
            await engine.dispose()

    user_id = asyncio.run(chat())
    code, out, _ = cli(monkeypatch, capsys, db_url, "officers", "list")
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"#{second}\t") and "\tunused" in lines[0]
    assert "used" in lines[1] and f"by user {user_id} (officer of qng.ba_dong" in lines[1]
    assert typed not in out and typed.replace("-", "") not in out and "cli1" not in out
    assert cli(monkeypatch, capsys, db_url, "officers", "revoke", f"#{second}")[0] == 0
    assert cli(monkeypatch, capsys, db_url, "officers", "revoke", second)[0] == 1  # done already
    assert cli(monkeypatch, capsys, db_url, "officers", "revoke", typed)[0] == 1  # used
    assert "revoked" in cli(monkeypatch, capsys, db_url, "officers", "list")[1]
    assert cli(monkeypatch, capsys, db_url, "officers", "deactivate", str(user_id))[0] == 0
    assert cli(monkeypatch, capsys, db_url, "officers", "deactivate", str(user_id))[0] == 1
    assert "deactivated" in cli(monkeypatch, capsys, db_url, "officers", "list")[1]


def test_cli_refuses_an_unknown_area_and_suggests(monkeypatch, capsys, db_url):
    code, _, err = cli(monkeypatch, capsys, db_url, "officers", "invite", "--area", "qng.ba_thanh")
    assert code == 1
    assert "no area 'qng.ba_thanh'" in err
    assert "qng.ba_dong (xã Ba Thành cũ, nay là xã Ba Động)" in err
    code, _, err = cli(
        monkeypatch,
        capsys,
        db_url,
        "officers",
        "invite",
        "--area",
        "qng.ba_dong",
        "--expires",
        "9y",
    )
    assert code == 1 and "--expires" in err


async def test_two_racing_redeems_of_one_code_cannot_both_win(services):
    made = await make(services)
    async with services.sessionmaker() as s:
        a = User(channel="web", external_id="race-a", state={})
        b = User(channel="web", external_id="race-b", state={})
        s.add_all([a, b])
        await s.flush()
        checked = [
            await officers.check_code(s, services.settings, "web", u.external_id, made.code)
            for u in (a, b)
        ]
        assert all(r.outcome is officers.Outcome.JOINED for r in checked)  # both saw it unused
        wins = [await officers.redeem(s, u, r.invite) for u, r in zip((a, b), checked, strict=True)]
        assert wins == [True, False]
        assert (a.role, b.role) == ("officer", "villager")


async def test_old_wrong_tries_are_purged(pipeline, services, count):
    await join(pipeline, "p1", "/macanbo 2345-6789")
    assert await count(InviteAttempt) == 1
    async with services.sessionmaker() as s:
        assert await repo.purge_wrong_tries(s, datetime.now(UTC) - officers.WRONG_TRY_WINDOW) == 0
        assert await repo.purge_wrong_tries(s, datetime.now(UTC) + timedelta(seconds=1)) == 1
        await s.commit()
    assert await count(InviteAttempt) == 0


def test_the_context_says_role_and_area():
    from bot.core.context import Context

    def ctx(user):
        return Context(msg=message("x"), session=None, services=None, user=user)  # type: ignore[arg-type]

    officer = User(channel="web", external_id="c", role="officer", area_code="qng.ba_dong")
    assert (ctx(officer).role, ctx(officer).area_code) == ("officer", "qng.ba_dong")
    villager = User(channel="web", external_id="v", role="villager", area_code="qng.ba_dong")
    assert (ctx(villager).role, ctx(villager).area_code) == ("villager", None)
    assert (ctx(None).role, ctx(None).area_code) == ("villager", None)
