"""`python -m bot doctor` against the fake Telegram and Zalo APIs (real local servers): each check
passes on a good deployment and fails, saying how to fix it, on a bad one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import crypto
from bot.crypto import TokenCipher
from bot.doctor import FAIL, OK, WARN, Check, Doctor, render
from bot.storage.db import create_engine, create_sessionmaker, upgrade
from bot.storage.repositories import tokens
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, FakeZaloApi

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret_-" * 5  # 40 characters of the allowed alphabet


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloApi]:
    fake = await FakeZaloApi().start()
    try:
        yield fake
    finally:
        await fake.stop()


class Deployment:
    """A config.yml in a temporary directory, a migrated SQLite database and a media folder."""

    def __init__(self, root: Path, url: str | None = None, migrate: bool = True) -> None:
        self.root = root
        self.url = url or f"sqlite+aiosqlite:///{root / 'bot.db'}"
        (root / "content" / "media").mkdir(parents=True)
        if migrate:  # in a thread of its own: Alembic runs its own event loop
            with ThreadPoolExecutor(1) as pool:
                pool.submit(upgrade, self.url).result()
        self.sections: dict[str, Any] = {
            "database": {"url": self.url},
            "content": {"dir": "content"},
            # As config.yml takes them: from the environment (`env`).
            "privacy": {"token_encryption_keys": "${TOKEN_ENCRYPTION_KEYS:-}"},
            "web": {"session_key": "${WEB_SESSION_KEY:-}"},
        }
        self.env: dict[str, str] = {}

    def telegram(self, api: FakeTelegramAPI, **changes: Any) -> Deployment:
        self.sections["telegram"] = {
            "token": api.token,
            "api_base_url": api.base_url,
            "webhook_url": "https://bot.example.org/telegram/webhook",
            "webhook_secret": SECRET,
            **changes,
        }
        return self

    def zalo(self, fake: FakeZaloApi, **changes: Any) -> Deployment:
        self.sections["zalo"] = {
            "app_id": APP_ID,
            "oa_secret_key": OA_SECRET_KEY,
            "app_secret": fake.app_secret,
            "access_token": fake.access_token,
            "refresh_token": fake.refresh_token,
            "api_base_url": fake.url,
            "oauth_base_url": fake.url,
            **changes,
        }
        return self

    @property
    def config(self) -> Path:
        path = self.root / "config.yml"
        path.write_text(yaml.safe_dump(self.sections), encoding="utf-8")
        return path

    async def doctor(self) -> dict[str, Check]:
        checks = await Doctor(self.config, self.env, timeout=5).run()
        names = [c.name for c in checks]
        assert len(names) == len(set(names)), names
        return {c.name: c for c in checks}


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return Deployment(tmp_path)


def statuses(checks: dict[str, Check]) -> dict[str, str]:
    return {name: c.status for name, c in checks.items()}


async def test_a_good_deployment_passes_every_check(
    deployment: Deployment, telegram: FakeTelegramAPI, zalo: FakeZaloApi
) -> None:
    checks = await deployment.telegram(telegram).zalo(zalo).doctor()
    got = statuses(checks)
    for name in (
        "config",
        "database",
        "stored tokens",
        "telegram.webhook_url",
        "telegram.webhook_secret",
        "telegram token",
        "zalo.oa_secret_key",
        "zalo.app_secret",
        "zalo token",
        "clock",
        "media directory",
    ):
        assert got[name] == OK, (name, checks[name])
    # The fakes are plain-HTTP local servers: said, not failed. SQLite: development keys, said.
    assert got["telegram.api_base_url"] == got["zalo.api_base_url"] == WARN
    assert got["token encryption"] == got["web session key"] == WARN
    assert FAIL not in got.values()
    assert "@LangSoTestBot" in checks["telegram token"].detail
    assert telegram.calls_of("getMe") and zalo.calls["/v2.0/oa/getoa"] == 1
    text = render(list(checks.values()))
    for secret in (telegram.token, SECRET, zalo.access_token, zalo.app_secret, OA_SECRET_KEY):
        assert secret not in text
    assert not (deployment.root / crypto.DEV_KEY_FILE).exists()  # the doctor writes nothing


async def test_a_refused_telegram_token_fails_without_printing_it(
    deployment: Deployment, telegram: FakeTelegramAPI
) -> None:
    bad = "123456789:AAWrongTokenWrongTokenWrongToken123"
    checks = await deployment.telegram(telegram, token=bad).doctor()
    check = checks["telegram token"]
    assert check.status == FAIL and "BotFather" in check.fix
    assert bad not in render(list(checks.values()))


async def test_a_short_webhook_secret_fails(
    deployment: Deployment, telegram: FakeTelegramAPI
) -> None:
    checks = await deployment.telegram(telegram, webhook_secret="short_secret").doctor()
    check = checks["telegram.webhook_secret"]
    assert check.status == FAIL and "12 characters" in check.detail
    assert "TELEGRAM_WEBHOOK_SECRET" in check.fix and "token_urlsafe(32)" in check.fix
    assert "short_secret" not in render(list(checks.values()))


async def test_plain_http_urls_fail_and_nothing_is_sent_over_them(
    deployment: Deployment, telegram: FakeTelegramAPI, zalo: FakeZaloApi
) -> None:
    checks = await deployment.zalo(zalo, api_base_url="http://openapi.zalo.example").doctor()
    assert checks["zalo.api_base_url"].status == FAIL
    assert "ZALO_API_BASE_URL" in checks["zalo.api_base_url"].fix
    assert checks["zalo token"].status == FAIL and "not checked" in checks["zalo token"].detail
    assert "clock" not in checks
    # Telegram refuses a plain-HTTP webhook URL: the configuration itself is refused.
    deployment.sections.pop("zalo")
    checks = await deployment.telegram(
        telegram, webhook_url="http://bot.example.org/telegram/webhook"
    ).doctor()
    assert list(checks) == ["config"] and checks["config"].status == FAIL
    assert "telegram.webhook_url" in checks["config"].detail
    assert telegram.calls == []


async def test_no_network_call_for_a_channel_that_is_not_configured(
    deployment: Deployment, telegram: FakeTelegramAPI, zalo: FakeZaloApi
) -> None:
    deployment.sections["telegram"] = {"api_base_url": telegram.base_url}
    deployment.sections["zalo"] = {"api_base_url": zalo.url, "access_token": zalo.access_token}
    checks = await deployment.doctor()
    assert not [n for n in checks if n.startswith(("telegram", "zalo", "clock"))]
    assert telegram.calls == [] and zalo.calls == {}


async def test_an_unmigrated_or_unreachable_database_fails(tmp_path: Path) -> None:
    fresh = Deployment(tmp_path / "a", migrate=False)
    check = (await fresh.doctor())["database"]
    assert check.status == FAIL and "the code needs" in check.detail
    assert "python -m bot db upgrade" in check.fix
    gone = Deployment(
        tmp_path / "b", url="postgresql+asyncpg://langso:pw@127.0.0.1:1/langso", migrate=False
    )
    checks = await gone.doctor()
    assert checks["database"].status == FAIL and "cannot connect" in checks["database"].detail
    assert "DATABASE_URL" in checks["database"].fix
    assert "stored tokens" not in checks
    migrated = Deployment(tmp_path / "c")
    assert (await migrated.doctor())["database"].status == OK


async def test_the_media_directory_must_be_a_writable_directory(deployment: Deployment) -> None:
    media = deployment.root / "var" / "media"
    media.mkdir(parents=True, exist_ok=True)
    assert (await deployment.doctor())["media directory"].status == OK
    media.rmdir()
    check = (await deployment.doctor())["media directory"]
    assert check.status == OK and "does not exist" in check.detail  # the bot makes it
    media.write_text("not a folder")
    check = (await deployment.doctor())["media directory"]
    assert check.status == FAIL and "not a directory" in check.detail
    media.unlink()
    (deployment.root / "var").rename(deployment.root / "var-moved")
    (deployment.root / "var").write_text("a file where the var folder should be")
    check = (await deployment.doctor())["media directory"]
    assert check.status == FAIL and "cannot be made" in check.detail


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
async def test_a_read_only_media_directory_fails(deployment: Deployment) -> None:
    media = deployment.root / "content" / "media"
    media.chmod(0o500)
    try:
        check = (await deployment.doctor())["media directory"]
    finally:
        media.chmod(0o700)
    assert check.status == FAIL and "not writable" in check.detail


@pytest.mark.parametrize(
    ("skew", "status", "words"),
    [(0.0, OK, "within"), (-40.0, WARN, "40 s behind"), (900.0, FAIL, "900 s ahead")],
)
async def test_the_clock_is_compared_with_zalo_date_header(
    deployment: Deployment, zalo: FakeZaloApi, skew: float, status: str, words: str
) -> None:
    zalo.clock_skew = -skew  # the server's clock behind ours: ours is ahead
    check = (await deployment.zalo(zalo, timestamp_window_seconds=300).doctor())["clock"]
    assert check.status == status and words in check.detail, check
    if status != OK:
        assert "NTP" in check.fix and "300 s" in check.fix


async def test_a_refused_zalo_token_fails_and_an_expired_stored_one_warns(
    deployment: Deployment, zalo: FakeZaloApi
) -> None:
    checks = await deployment.zalo(zalo, access_token="AT-revoked-token").doctor()
    check = checks["zalo token"]
    assert check.status == FAIL and "-216" in check.detail and "ZALO_REFRESH_TOKEN" in check.fix
    assert "AT-revoked-token" not in render(list(checks.values()))
    # A stored pair past its expiry: the bot refreshes it on its own.
    key = crypto.generate_key()
    deployment.env["TOKEN_ENCRYPTION_KEYS"] = key
    engine = create_engine(deployment.url)
    try:
        async with create_sessionmaker(engine)() as session:
            await tokens.seed(
                session,
                "zalo",
                "AT-old",
                zalo.refresh_token,
                datetime.now(UTC),
                TokenCipher([key.encode()]),
            )
            row = await tokens.lock(session, "zalo")
            past = datetime.now(UTC) - timedelta(hours=1)
            tokens.store(
                row, TokenCipher([key.encode()]), "AT-old", zalo.refresh_token, past, past, past
            )
            await session.commit()
    finally:
        await engine.dispose()
    checks = await deployment.doctor()
    assert checks["zalo token"].status == WARN and "expired" in checks["zalo token"].detail
    assert checks["stored tokens"].status == OK
    assert zalo.refresh_calls == []  # the doctor never spends the refresh token


async def test_stored_tokens_under_a_missing_key_fail(
    deployment: Deployment, zalo: FakeZaloApi
) -> None:
    engine = create_engine(deployment.url)
    try:
        async with create_sessionmaker(engine)() as session:
            await tokens.seed(
                session,
                "zalo",
                zalo.access_token,
                zalo.refresh_token,
                datetime.now(UTC),
                TokenCipher([crypto.generate_key().encode()]),
            )
    finally:
        await engine.dispose()
    deployment.env["TOKEN_ENCRYPTION_KEYS"] = crypto.generate_key()
    checks = await deployment.zalo(zalo).doctor()
    assert checks["token encryption"].status == OK
    check = checks["stored tokens"]
    assert check.status == FAIL and "cannot be decrypted" in check.detail
    assert "secrets rotate" in check.detail
    # The configured token is tried instead, and works.
    assert checks["zalo token"].status == OK and "ZALO_ACCESS_TOKEN" in checks["zalo token"].detail


async def test_production_needs_the_keys_set(tmp_path: Path, postgres_url: str) -> None:
    from tests.postgres import drop_database, fresh_database

    url = fresh_database(postgres_url)
    try:
        deployment = Deployment(tmp_path, url=url)
        checks = await deployment.doctor()
        assert checks["database"].status == OK
        assert checks["token encryption"].status == FAIL
        assert "secrets generate-key" in checks["token encryption"].fix
        assert checks["web session key"].status == FAIL
        assert "WEB_SESSION_KEY" in checks["web session key"].fix
        deployment.env.update(
            TOKEN_ENCRYPTION_KEYS=crypto.generate_key(), WEB_SESSION_KEY=crypto.generate_key()
        )
        checks = await deployment.doctor()
        assert checks["token encryption"].status == OK and checks["web session key"].status == OK
    finally:
        drop_database(url)


def test_the_command_prints_fixes_and_exits_1_on_a_failure(deployment: Deployment) -> None:
    def doctor(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(deployment.config), "doctor", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k != "TOKEN_ENCRYPTION_KEYS"},
            timeout=120,
        )

    ok = doctor("--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] is True
    assert {c["name"]: c["status"] for c in report["checks"]}["database"] == OK
    (deployment.root / "var" / "media").parent.mkdir(parents=True, exist_ok=True)
    (deployment.root / "var" / "media").write_text("x")
    bad = doctor()
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("FAIL"))
    assert "media directory" in lines[failed] and "fix:" in lines[failed + 1]
    assert "Traceback" not in bad.stderr + bad.stdout
    assert json.loads(doctor("--json").stdout)["ok"] is False


async def test_the_exports_directory_must_be_writable(deployment: Deployment) -> None:
    deployment.sections["privacy"]["export_dir"] = "var/exports"
    check = (await deployment.doctor())["exports directory"]
    assert check.status == OK and "makes it" in check.detail  # missing: made on first use
    (deployment.root / "var").mkdir()
    (deployment.root / "var" / "exports").write_text("a file")
    check = (await deployment.doctor())["exports directory"]
    assert check.status == FAIL and "not a directory" in check.detail and "mkdir" in check.fix


async def test_ffmpeg_and_the_voice_directory_are_checked(deployment: Deployment) -> None:
    checks = await deployment.doctor()
    assert checks["ffmpeg"].status == OK and checks["ffmpeg"].detail.startswith("ffmpeg version")
    assert checks["ffprobe"].status == OK
    assert checks["voice directory"].status == OK
    deployment.sections["voice"] = {"ffmpeg": str(deployment.root / "no-ffmpeg")}
    check = (await deployment.doctor())["ffmpeg"]
    assert check.status == WARN and "cannot be run" in check.detail
    assert "install-system-deps" in check.fix
