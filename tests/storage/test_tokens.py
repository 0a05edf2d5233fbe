"""Channel tokens encrypted at rest: the columns hold Fernet tokens only, a plaintext row from
before is encrypted on first read, rotation re-encrypts with the first key, a missing key is a
clear error (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot import crypto
from bot.config import ConfigError, load_settings
from bot.crypto import TokenCipher, TokenKeyError
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import ChannelToken
from bot.storage.repositories import tokens

ROOT = Path(__file__).resolve().parents[2]
ACCESS, REFRESH = "AT-plain-access-0123456789", "RT-plain-refresh-0123456789"


def cipher(*keys: str) -> TokenCipher:
    return TokenCipher([k.encode() for k in keys])


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[Any]:
    engine = create_engine(db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def raw(sm: Any, channel: str = "zalo") -> tuple[str, str]:
    async with sm() as s:
        row = (
            await s.execute(
                text("SELECT access_token, refresh_token FROM channel_tokens WHERE channel = :c"),
                {"c": channel},
            )
        ).one()
        return row[0], row[1]


async def put_plaintext(sm: Any, channel: str = "zalo", access=ACCESS, refresh=REFRESH) -> None:
    async with sm() as s:
        s.add(
            ChannelToken(
                channel=channel,
                access_token=access,
                refresh_token=refresh,
                updated_at=datetime.now(UTC),
            )
        )
        await s.commit()


async def test_seed_and_store_write_ciphertext_and_read_back_plaintext(sm: Any) -> None:
    key = cipher(crypto.generate_key())
    async with sm() as s:
        seeded = await tokens.seed(s, "zalo", ACCESS, REFRESH, datetime.now(UTC), key)
    assert (seeded.access_token, seeded.refresh_token) == (ACCESS, REFRESH)
    columns = await raw(sm)
    assert all(c.startswith(crypto.PREFIX) for c in columns)
    assert ACCESS not in "".join(columns) and REFRESH not in "".join(columns)
    async with sm() as s:
        got = await tokens.get(s, "zalo", key)
        assert (got.access_token, got.refresh_token) == (ACCESS, REFRESH)
        row = await tokens.lock(s, "zalo")
        now = datetime.now(UTC)
        tokens.store(row, key, "AT-new-plain", "RT-new-plain", now, now, now)
        await s.commit()
    columns = await raw(sm)
    assert "AT-new-plain" not in "".join(columns) and "RT-new-plain" not in "".join(columns)
    async with sm() as s:
        assert (await tokens.get(s, "zalo", key)).refresh_token == "RT-new-plain"


async def test_a_plaintext_row_is_encrypted_on_its_first_read(sm: Any) -> None:
    key = cipher(crypto.generate_key())
    await put_plaintext(sm)
    async with sm() as s:
        got = await tokens.get(s, "zalo", key)
    assert (got.access_token, got.refresh_token) == (ACCESS, REFRESH)
    columns = await raw(sm)
    assert all(key.is_current(c) for c in columns)
    async with sm() as s:
        assert await tokens.check(s, key) == [("zalo", "current")]


async def test_the_first_read_never_overwrites_a_pair_refreshed_meanwhile(sm: Any) -> None:
    """Another process refreshes between this read of the plaintext row and its re-encryption:
    the new pair stays (writing back the old one would keep a spent refresh token)."""
    key = cipher(crypto.generate_key())
    await put_plaintext(sm)
    async with sm() as s:
        stale = await s.get(ChannelToken, "zalo")  # this process reads the plaintext row ...
        async with sm() as other:  # ... another one refreshes the pair ...
            row = await tokens.lock(other, "zalo")
            now = datetime.now(UTC)
            tokens.store(row, key, "AT-refreshed", "RT-refreshed", now, now, now)
            await other.commit()
        got = await tokens.get(s, "zalo", key)  # ... and this one encrypts what it had read
    assert got.access_token == ACCESS == stale.access_token
    async with sm() as s:
        now = await tokens.get(s, "zalo", key)
    assert (now.access_token, now.refresh_token) == ("AT-refreshed", "RT-refreshed")


async def test_rotate_re_encrypts_every_row_with_the_first_key(sm: Any) -> None:
    old, new = crypto.generate_key(), crypto.generate_key()
    async with sm() as s:
        await tokens.seed(s, "zalo", ACCESS, REFRESH, datetime.now(UTC), cipher(old))
    await put_plaintext(sm, "legacy", "AT-legacy", "RT-legacy")
    both = cipher(new, old)
    async with sm() as s:
        assert sorted(await tokens.check(s, both)) == [("legacy", "plaintext"), ("zalo", "old key")]
        done = await tokens.rotate(s, both)
    assert (done.rows, done.already) == (2, 0)
    for channel in ("zalo", "legacy"):
        assert all(cipher(new).is_current(c) for c in await raw(sm, channel))
    # The old key can go: the new one alone reads everything.
    async with sm() as s:
        got = await tokens.get(s, "zalo", cipher(new))
        assert (got.access_token, got.refresh_token) == (ACCESS, REFRESH)
        assert (await tokens.get(s, "legacy", cipher(new))).access_token == "AT-legacy"
        again = await tokens.rotate(s, cipher(new))
    assert (again.rows, again.already) == (0, 2)


async def test_a_missing_key_is_a_clear_error_and_changes_nothing(sm: Any) -> None:
    lost, other = crypto.generate_key(), crypto.generate_key()
    async with sm() as s:
        await tokens.seed(s, "zalo", ACCESS, REFRESH, datetime.now(UTC), cipher(lost))
    before = await raw(sm)
    for attempt in (tokens.rotate, tokens.check, lambda s, c: tokens.get(s, "zalo", c)):
        async with sm() as s:
            with pytest.raises(TokenKeyError) as err:
                await attempt(s, cipher(other))
        message = str(err.value)
        assert "TOKEN_ENCRYPTION_KEYS" in message and "secrets rotate" in message
        assert "secrets forget zalo" in message
        assert lost not in message and other not in message and ACCESS not in message
    assert await raw(sm) == before


async def test_forget_deletes_the_pair(sm: Any) -> None:
    await put_plaintext(sm)
    async with sm() as s:
        assert await tokens.forget(s, "zalo") is True
        assert await tokens.get(s, "zalo", cipher(crypto.generate_key())) is None
        assert await tokens.forget(s, "zalo") is False


def test_malformed_keys_are_named_by_place_never_by_value() -> None:
    good = crypto.generate_key()
    with pytest.raises(TokenKeyError) as err:
        crypto.parse_keys(f"{good}, not-a-fernet-key-XYZ")
    assert "key 2 of 2" in str(err.value) and "secrets generate-key" in str(err.value)
    assert "XYZ" not in str(err.value) and good not in str(err.value)
    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEYS"):
        load_settings(ROOT / "config.yml", env={"TOKEN_ENCRYPTION_KEYS": "short"})
    assert len(crypto.parse_keys(f" {good} ,{crypto.generate_key()},")) == 2


def test_without_the_setting_a_development_key_is_made_once_0600_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.crypto")
    assert crypto.load_cipher("", tmp_path, create=False) is None
    first = crypto.load_cipher("", tmp_path)
    path = tmp_path / crypto.DEV_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "TOKEN_ENCRYPTION_KEYS is not set" in caplog.text and "production" in caplog.text
    assert path.read_text().strip() not in caplog.text
    second = crypto.load_cipher("", tmp_path)
    assert second.decrypt(first.encrypt(ACCESS)) == ACCESS  # the same key, kept
    path.chmod(0o644)
    crypto.load_cipher("", tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("garbage\n")
    with pytest.raises(TokenKeyError, match="not a readable Fernet key"):
        crypto.load_cipher("", tmp_path)
