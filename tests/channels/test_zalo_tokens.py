# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""Zalo OA tokens: refreshed ahead of expiry, stored before use, one refresh at a time, used
once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text

from bot import crypto
from bot.channels.zalo_tokens import TokenError, TokenRefreshUnavailable, ZaloTokens
from bot.crypto import TokenCipher
from bot.messages import Reply
from bot.storage.db import create_engine, create_sessionmaker, upgrade
from bot.storage.models import ChannelToken
from bot.storage.repositories import tokens
from bot.storage.repositories.tokens import StoredTokens
from tests.channels.conftest_zalo import (  # noqa: F401 - fixtures
    send_only,
    sessionmaker,
    zalo_api,
    zalo_settings,
)
from tests.fakes.zalo_api import REFRESH, SEND, FakeZaloApi, Fault

SENT = ("sent", None)


async def store(sm: Any, access: str, refresh: str, expires_at: datetime | None) -> None:
    async with sm() as session:
        session.add(
            ChannelToken(
                channel="zalo",
                access_token=access,
                refresh_token=refresh,
                access_expires_at=expires_at,
                refresh_expires_at=None,
                updated_at=datetime.now(UTC),
            )
        )
        await session.commit()


async def stored(sm: Any) -> StoredTokens | None:
    """The stored pair, decrypted with the process's keys (what the channel uses)."""
    async with sm() as session:
        row = (await session.execute(select(ChannelToken))).scalar_one_or_none()
        return None if row is None else tokens.read(row, crypto.current())


async def raw(sm: Any) -> tuple[str, str]:
    """The columns as the database holds them."""
    async with sm() as session:
        row = (
            await session.execute(
                text("SELECT access_token, refresh_token FROM channel_tokens WHERE channel='zalo'")
            )
        ).one()
        return row[0], row[1]


def issued(fake: FakeZaloApi) -> int:
    """Refresh tokens the fake accepted (each is spent once)."""
    return len(fake.spent_refresh_tokens)


async def test_settings_seed_the_store_and_are_used_until_refused(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send("u1", Reply(text="một")) == SENT
    row = await stored(sessionmaker)
    assert (row.access_token, row.refresh_token, row.access_expires_at) == (
        zalo_api.access_token,
        zalo_api.refresh_token,
        None,
    )
    assert zalo_api.refresh_calls == []  # expiry unknown: no refresh until Zalo refuses the token


async def test_refreshes_ahead_of_expiry_and_stores_the_pair_before_using_it(
    zalo_api: FakeZaloApi, sessionmaker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    old_refresh = zalo_api.refresh_token
    await store(
        sessionmaker, zalo_api.access_token, old_refresh, datetime.now(UTC) + timedelta(minutes=30)
    )
    seen: list[tuple[str, str | None]] = []

    async def look_at_the_database(token: str) -> None:
        row = await stored(sessionmaker)
        seen.append((token, row.access_token if row else None))

    zalo_api.on_send = look_at_the_database
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send("u1", Reply(text="một")) == SENT
        assert await zs.send("u1", Reply(text="hai")) == SENT
    assert issued(zalo_api) == 1 and zalo_api.refresh_calls[0]["secret_key_ok"]
    assert zalo_api.refresh_calls[0]["grant_type"] == "refresh_token"
    new_access = zalo_api.access_token
    # Both sends used the new token, and when the first arrived it was already committed.
    assert seen == [(new_access, new_access), (new_access, new_access)]
    row = await stored(sessionmaker)
    assert (row.access_token, row.refresh_token) == (new_access, zalo_api.refresh_token)
    assert row.refresh_token != old_refresh
    expires = row.access_expires_at.replace(tzinfo=row.access_expires_at.tzinfo or UTC)
    assert timedelta(hours=24) < expires - datetime.now(UTC) <= timedelta(seconds=90000)
    logged = caplog.text
    for secret in (old_refresh, new_access, zalo_api.refresh_token, zalo_api.app_secret):
        assert secret not in logged


async def test_concurrent_sends_trigger_exactly_one_refresh(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    await store(
        sessionmaker,
        zalo_api.access_token,
        zalo_api.refresh_token,
        datetime.now(UTC) - timedelta(minutes=1),
    )
    zalo_api.expire_access_token()
    zalo_api.refresh_delay = 0.3  # every waiting send piles up behind the one refresh
    async with send_only(zalo_api, sessionmaker) as zs:
        results = await asyncio.gather(
            *(zs.send(f"u{i}", Reply(text=f"tin {i}")) for i in range(25))
        )
    assert results == [SENT] * 25
    assert len(zalo_api.refresh_calls) == 1
    assert len(zalo_api.sent) == 25
    assert {s.access_token for s in zalo_api.sent} == {zalo_api.access_token}


async def test_invalid_token_error_refreshes_and_retries_once(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    """A token Zalo refuses before its known expiry (revoked): -216, refresh, send again."""
    await store(
        sessionmaker,
        zalo_api.access_token,
        zalo_api.refresh_token,
        datetime.now(UTC) + timedelta(hours=20),
    )
    zalo_api.expire_access_token()
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send("u1", Reply(text="một")) == SENT
    assert issued(zalo_api) == 1
    assert zalo_api.texts() == ["một"]
    assert zalo_api.calls["/v3.0/oa/message/cs"] == 2


async def test_reused_refresh_token_is_rejected_by_the_fake(zalo_api: FakeZaloApi) -> None:
    token = zalo_api.refresh_token
    form = {"refresh_token": token, "app_id": zalo_api.app_id, "grant_type": "refresh_token"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            zalo_api.url + REFRESH, data=form, headers={"secret_key": zalo_api.app_secret}
        ) as r:
            first = await r.json()
        async with http.post(
            zalo_api.url + REFRESH, data=form, headers={"secret_key": zalo_api.app_secret}
        ) as r:
            second = await r.json()
        form["refresh_token"] = first["refresh_token"]
        async with http.post(
            zalo_api.url + REFRESH, data=form, headers={"secret_key": "wrong"}
        ) as r:
            wrong_secret = await r.json()
    assert (
        set(first) == {"access_token", "refresh_token", "expires_in"}
        and first["expires_in"] == "90000"
    )
    assert second["error"] == -14014 and "access_token" not in second
    assert wrong_secret["error"] == -14002


async def test_a_spent_refresh_token_fails_with_a_message_naming_the_setting(
    zalo_api: FakeZaloApi, sessionmaker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    spent = zalo_api.refresh_token
    zalo_api.spent_refresh_tokens.add(spent)
    await store(sessionmaker, "expired-access", spent, datetime.now(UTC) - timedelta(minutes=5))
    settings = zalo_settings(zalo_api, refresh_token=spent)
    async with send_only(zalo_api, sessionmaker, settings) as zs:
        status, error = await zs.send("u1", Reply(text="một"))
    assert status == "failed" and "ZALO_REFRESH_TOKEN" in error
    assert zalo_api.sent == [] and SEND not in zalo_api.calls
    assert len(zalo_api.refresh_calls) == 1  # refused: an operator error, not retried
    assert spent not in caplog.text and "expired-access" not in caplog.text
    row = await stored(sessionmaker)
    assert row.refresh_token == spent  # nothing overwritten by a failed refresh


async def test_a_newly_authorised_refresh_token_in_the_settings_takes_over(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    """The stored refresh token is spent; the operator set a new ZALO_REFRESH_TOKEN: it is used."""
    await store(
        sessionmaker, "old-access", "spent-refresh", datetime.now(UTC) - timedelta(minutes=5)
    )
    # The settings carry the fake's valid refresh token.
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send("u1", Reply(text="một")) == SENT
    assert zalo_api.texts() == ["một"]
    assert (await stored(sessionmaker)).access_token == zalo_api.access_token


async def test_two_processes_refresh_once(zalo_api: FakeZaloApi, postgres_url: str) -> None:
    """Two bot processes on one PostgreSQL database: the row lock lets only one spend the token."""
    from tests.postgres import drop_database, fresh_database

    url = fresh_database(postgres_url)
    engines = []
    try:
        await asyncio.to_thread(upgrade, url)
        engines = [create_engine(url), create_engine(url)]
        sms = [create_sessionmaker(e) for e in engines]
        await store(
            sms[0],
            zalo_api.access_token,
            zalo_api.refresh_token,
            datetime.now(UTC) - timedelta(minutes=1),
        )
        zalo_api.refresh_delay = 0.3
        async with aiohttp.ClientSession() as http:
            managers = [ZaloTokens(zalo_settings(zalo_api), sm, lambda: http) for sm in sms]
            tokens = await asyncio.gather(*(m.access_token() for m in managers for _ in range(5)))
        assert set(tokens) == {zalo_api.access_token}
        assert issued(zalo_api) == 1
    finally:
        for e in engines:
            await e.dispose()
        drop_database(url)


async def test_no_tokens_at_all_is_an_operator_error(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    async with aiohttp.ClientSession() as http:
        tokens = ZaloTokens(
            zalo_settings(zalo_api, access_token="", refresh_token=""), sessionmaker, lambda: http
        )
        with pytest.raises(TokenError, match="ZALO_ACCESS_TOKEN"):
            await tokens.access_token()


async def test_refresh_endpoint_outage_is_retried(zalo_api: FakeZaloApi, sessionmaker: Any) -> None:
    """Expired token and the OAuth server answering 5xx: the send is retried until the refresh
    works."""
    await store(
        sessionmaker,
        zalo_api.access_token,
        zalo_api.refresh_token,
        datetime.now(UTC) - timedelta(minutes=5),
    )
    zalo_api.expire_access_token()
    zalo_api.fail(REFRESH, Fault(status=503), Fault(status=502))
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send("u1", Reply(text="một")) == SENT
    assert zalo_api.texts() == ["một"]
    assert zalo_api.calls[REFRESH] == 3 and issued(zalo_api) == 1


async def test_early_refresh_failing_keeps_using_the_current_token(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    current = zalo_api.access_token
    await store(
        sessionmaker, current, zalo_api.refresh_token, datetime.now(UTC) + timedelta(minutes=5)
    )
    zalo_api.fail(REFRESH, Fault(status=503))
    async with send_only(zalo_api, sessionmaker) as zs:
        # The refresh fails: sent with the current token; then tried again, and it works.
        assert await zs.send("u1", Reply(text="một")) == SENT
        assert await zs.send("u1", Reply(text="hai")) == SENT
    assert [(s.text, s.access_token == current) for s in zalo_api.sent] == [
        ("một", True),
        ("hai", False),
    ]
    assert issued(zalo_api) == 1


# --------------------------------------------------------------------------- encrypted at rest


def cipher(*keys: str) -> TokenCipher:
    return TokenCipher([k.encode() for k in keys])


async def test_the_database_never_holds_a_token_in_clear(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    """Seeded from the settings, then refreshed: both pairs are stored as Fernet tokens only."""
    seeded = (zalo_api.access_token, zalo_api.refresh_token)
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send("u1", Reply(text="một")) == SENT
        columns = await raw(sessionmaker)
        assert all(c.startswith(crypto.PREFIX) for c in columns)
        assert not {t for t in seeded if any(t in c for c in columns)}
        zalo_api.expire_access_token()  # refused: refreshed, and the new pair stored
        assert await zs.send("u1", Reply(text="hai")) == SENT
    refreshed = (zalo_api.access_token, zalo_api.refresh_token)
    assert refreshed != seeded and issued(zalo_api) == 1
    columns = await raw(sessionmaker)
    assert all(c.startswith(crypto.PREFIX) for c in columns)
    assert not {t for t in seeded + refreshed if any(t in c for c in columns)}
    assert (await stored(sessionmaker)).access_token == zalo_api.access_token


async def test_a_plaintext_pair_from_before_encryption_is_encrypted_on_first_read(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    await store(sessionmaker, zalo_api.access_token, zalo_api.refresh_token, None)
    assert await raw(sessionmaker) == (zalo_api.access_token, zalo_api.refresh_token)
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send("u1", Reply(text="một")) == SENT
    assert zalo_api.sent[0].access_token == zalo_api.access_token  # read as it was
    columns = await raw(sessionmaker)
    assert all(c.startswith(crypto.PREFIX) for c in columns)
    assert zalo_api.access_token not in columns[0] and zalo_api.refresh_token not in columns[1]
    assert zalo_api.refresh_calls == []


async def test_a_pair_no_key_decrypts_makes_sends_wait_with_what_to_do(
    zalo_api: FakeZaloApi, sessionmaker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    old, new = crypto.generate_key(), crypto.generate_key()
    async with sessionmaker() as session:
        await tokens.seed(
            session,
            "zalo",
            zalo_api.access_token,
            zalo_api.refresh_token,
            datetime.now(UTC),
            cipher(old),
        )
    async with aiohttp.ClientSession() as http:
        keeper = ZaloTokens(zalo_settings(zalo_api), sessionmaker, lambda: http, cipher=cipher(new))
        with pytest.raises(TokenRefreshUnavailable) as err:  # retried later, never "failed"
            await keeper.access_token()
    message = str(err.value)
    assert "TOKEN_ENCRYPTION_KEYS" in message and "secrets rotate" in message
    for secret in (old, new, zalo_api.access_token, zalo_api.refresh_token):
        assert secret not in message and secret not in caplog.text
    assert zalo_api.refresh_calls == []  # the stored refresh token is not lost to a blind refresh


async def test_rotation_a_pair_under_the_old_key_is_read_and_refreshed_under_the_new(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    old, new = crypto.generate_key(), crypto.generate_key()
    async with sessionmaker() as session:
        await tokens.seed(
            session,
            "zalo",
            zalo_api.access_token,
            zalo_api.refresh_token,
            datetime.now(UTC),
            cipher(old),
        )
    seeded = zalo_api.access_token
    zalo_api.expire_access_token()
    async with aiohttp.ClientSession() as http:
        keeper = ZaloTokens(
            zalo_settings(zalo_api), sessionmaker, lambda: http, cipher=cipher(new, old)
        )
        assert await keeper.access_token() == seeded  # read with the old key
        assert await keeper.refresh(seeded) == zalo_api.access_token != seeded
    assert issued(zalo_api) == 1
    columns = await raw(sessionmaker)
    assert all(cipher(new).is_current(c) for c in columns)
    assert not any(cipher(old).is_current(c) for c in columns)
    async with sessionmaker() as session:
        row = await session.get(ChannelToken, "zalo")
        assert tokens.read(row, cipher(new)).access_token == zalo_api.access_token
