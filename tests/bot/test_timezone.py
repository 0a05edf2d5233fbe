"""Times shown to users are in the province's time zone (`timezone`, default Asia/Ho_Chi_Minh),
not the server's or UTC: stored times are UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import i18n
from bot.config import ConfigError, load_settings
from tests.conftest import all_text, message

ROOT = Path(__file__).resolve().parents[2]
# 20:30 UTC on 9 March is 03:30 on 10 March in Quảng Ngãi (UTC+7).
EVENING_UTC = datetime(2026, 3, 9, 20, 30, tzinfo=UTC)


def test_format_datetime_shows_the_province_time_by_default():
    shown = i18n.format_datetime(EVENING_UTC, "vi")
    assert "03:30" in shown and "10" in shown, shown
    assert "20:30" not in shown


def test_format_datetime_in_another_zone_when_set():
    assert "20:30" in i18n.format_datetime(EVENING_UTC, "vi", tz="UTC")
    assert "03:30" in i18n.format_datetime(EVENING_UTC.replace(tzinfo=None), "hre")  # naive: UTC


def test_the_setting_defaults_to_the_province_and_is_checked(tmp_path):
    settings = load_settings(ROOT / "config.yml", env={"DATABASE_URL": "sqlite+aiosqlite:///x.db"})
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    bad = tmp_path / "config.yml"
    bad.write_text(
        "database:\n  url: sqlite+aiosqlite:///x.db\ntimezone: Mars/Olympus\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="timezone"):
        load_settings(bad, env={})


async def test_my_data_shows_the_consent_time_in_the_province_zone(pipeline, services):
    await pipeline.handle(message("/subscribe", sender="tz1", lang="vi"))
    await pipeline.handle(message("đồng ý", sender="tz1", lang="vi"))
    shown = all_text(await pipeline.handle(message("/dulieu", sender="tz1", lang="vi")))
    [when] = re.findall(r"Đồng ý để .*, ngày (.+)", shown)
    now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    expected = {
        i18n.format_datetime(now + timedelta(minutes=d), "vi", tz="Asia/Ho_Chi_Minh")
        for d in (-1, 0, 1)
    }
    assert when.strip() in expected, (when, expected)
    # The readable export file too.
    from bot.privacy import export, exports_dir

    turn = await pipeline.handle(message("/dulieu", sender="tz1", lang="vi"))
    [ref] = [r.document for r in turn.replies if r.document and r.document.endswith(".txt")]
    text = export.local_file(ref, exports_dir(services.settings)).read_text(encoding="utf-8")
    [head] = re.findall(r"lưu về bạn, ngày (.+)", text)
    assert head.strip() in expected, (head, expected)
