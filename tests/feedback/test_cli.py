"""`python -m bot feedback set-status | show` and `reports list` as real processes, against the
database a running bot (Telegram through the fake Bot API, its worker and outbox dispatcher)
uses: the status change written by the CLI process reaches the citizen in the chat."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from bot.app import build_pipeline
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.flows.forms.test_channels import TelegramDriver

ROOT = Path(__file__).resolve().parents[2]
CODE_RE = re.compile(r"Mã theo dõi: ([A-Z0-9]{4}-[A-Z0-9]{4})")


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_cli_status_change_reaches_the_citizen_on_telegram(app_parts, settings, db_url):
    services, engine, _ = app_parts
    async with FakeTelegramAPI() as api:
        d = TelegramDriver((services, engine, build_pipeline(services)), settings, api)
        await d.start()
        try:
            await d.text("/lang vi")
            await d.text("/phananh")
            await d.text("đồng ý")
            await d.press(1)
            await d.text("Chưa nhận được hỗ trợ làm nhà")
            await d.text("bỏ qua")
            await d.text("bỏ qua")
            await d.text("bỏ qua")
            said = "\n".join(await d.text("gửi"))
            code = CODE_RE.search(said).group(1)  # type: ignore[union-attr]
            bad = await asyncio.to_thread(cli, db_url, "feedback", "set-status", code, "rejected")
            assert bad.returncode == 1 and "reason" in bad.stderr and "Traceback" not in bad.stderr
            done = await asyncio.to_thread(
                cli,
                db_url,
                "feedback",
                "set-status",
                code,
                "resolved",
                "--reply",
                "Đã chuyển danh sách lên xã",
            )
            assert done.returncode == 0, done.stderr
            assert f"{code}: resolved; the citizen is told" in done.stdout
            notice = f"Phản ánh {code} của bạn: đã giải quyết."
            async with asyncio.timeout(15):
                while not any(notice in t for t in api.texts(d.chat)):
                    await asyncio.sleep(0.05)
            [text] = [t for t in api.texts(d.chat) if notice in t]
            assert "Cán bộ trả lời: Đã chuyển danh sách lên xã" in text
            shown = await asyncio.to_thread(cli, db_url, "feedback", "show", code)
            assert shown.returncode == 0 and "resolved by cli; reply: Đã chuyển" in shown.stdout
            assert str(d.chat) not in shown.stdout  # no chat id in the output
        finally:
            await d.close()
    listed = await asyncio.to_thread(cli, db_url, "reports", "list")
    assert listed.returncode == 0 and listed.stdout == ""
