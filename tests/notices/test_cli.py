"""`python -m bot notices send | list | status | cancel | attendees` (in process, through
bot.__main__.main): what it prints, what it stores, and a short message with exit code 2 for bad
input. The progress bar of `status` while a notice goes out."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.__main__ import main
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import Notice, OutboxEntry
from tests.notices.conftest import person

ROOT = Path(__file__).resolve().parents[2]
COMMUNE = "qng.ba_dong"


@pytest.fixture
def db(db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(ROOT)
    return db_url


def run(db_url, work):
    async def go():
        engine = create_engine(db_url)
        try:
            async with create_sessionmaker(engine)() as s:
                got = await work(s)
                await s.commit()
                return got
        finally:
            await engine.dispose()

    return asyncio.run(go())


def people(db_url):
    async def work(s):
        await person(s, lang="hre", area=COMMUNE, topics=["tap_huan"])
        await person(s, lang="vi", area=COMMUNE + ".lang_teng", channel="zalo")
        await person(s, lang="vi", area="qng.ba_vinh")

    run(db_url, work)


SEND = ["notices", "send", "--title-vi", "Tập huấn", "--body-vi", "Mời bà con"]

BAD = [
    (["--topic", "nope"], "Chủ đề không có: nope"),
    (["--area", "qng.nowhere"], "Địa bàn không có: qng.nowhere"),
    (["--lang", "fr"], "Ngôn ngữ không có: fr"),
    (["--role", "boss"], "Vai trò không có: boss"),
    (["--at", "2020-01-01 08:00"], "đã qua"),
    (["--at", "next tuesday"], "--at 'next tuesday'"),
    (["--link", "javascript:alert(1)"], "https://"),
]


@pytest.mark.parametrize(("extra", "said"), BAD, ids=[b[0][0] + b[0][1][:6] for b in BAD])
def test_bad_input_is_a_short_message_and_exit_2(db, capsys, extra, said):
    assert main([*SEND, "--yes", *extra]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and len(err) < 400
    assert run(db, lambda s: s.scalar(select(Notice.id))) is None


def test_missing_vietnamese_body(db, capsys):
    code = main(["notices", "send", "--title-vi", "T", "--body-hre", "x", "--yes"])
    assert code == 2 and "Thiếu nội dung tiếng Việt (--body-vi)." in capsys.readouterr().err


def test_without_yes_and_no_terminal_nothing_is_sent(db, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(SEND) == 2 and "--yes" in capsys.readouterr().err


def test_dry_run_send_list_status_cancel(db, capsys):
    people(db)
    assert main([*SEND, "--body-hre", "HRE-BODY", "--area", COMMUNE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "telegram  hre  1" in out and "zalo      vi   1" in out and "total          2" in out
    assert "--- hre (Hrê)" in out and "HRE-BODY" in out and "dry run: nothing stored" in out
    assert run(db, lambda s: s.scalar(select(Notice.id))) is None
    later = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M+00:00")
    assert main([*SEND, "--area", COMMUNE, "--at", later, "--rsvp", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "notice 1: scheduled, 2 recipients" in out
    assert main(["notices", "list"]) == 0
    assert "scheduled" in (listed := capsys.readouterr().out) and "2 recipients rsvp" in listed
    assert main(["notices", "status", "1", "--no-follow"]) == 0
    assert "queued     2" in capsys.readouterr().out
    assert main(["notices", "cancel", "1"]) == 0
    assert "cancelled; 2 not yet sent will not be sent" in capsys.readouterr().out
    assert main(["notices", "status", "1"]) == 0
    out = capsys.readouterr().out
    assert "notice 1: cancelled" in out and "failed: cancelled" in out and "queued" not in out
    assert main(["notices", "cancel", "1"]) == 0
    assert "nothing left to cancel" in capsys.readouterr().out
    assert main(["notices", "status", "99"]) == 1
    assert main(["notices", "attendees", "1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("\ufeffTrả lời lúc,Kênh")
    assert main(["notices", "attendees", "1", "--format", "xlsx"]) == 2
    assert main(["notices", "attendees", "1", "--format", "pdf"]) == 2


async def test_status_progress_bar_while_it_goes_out(services, monkeypatch):
    from rich.console import Console

    from bot.notices import compose as composing
    from bot.notices.cli import watch
    from bot.notices.model import Draft

    async with services.sessionmaker() as s:
        for _ in range(4):
            await person(s, area=COMMUNE)
        made = await composing.compose(
            s, Draft(title={"vi": "T"}, body={"vi": "B"}), settings=services.settings
        )
        await s.commit()
    monkeypatch.setattr(
        "bot.notices.cli._with_session",
        lambda _settings, work: _session(services, work),
    )

    async def sending():
        for _ in range(4):
            await asyncio.sleep(0.15)
            async with services.sessionmaker() as s:
                row = await s.scalar(
                    select(OutboxEntry.id).where(OutboxEntry.status == "queued").limit(1)
                )
                await s.execute(
                    update(OutboxEntry).where(OutboxEntry.id == row).values(status="sent")
                )
                await s.commit()

    out = io.StringIO()
    task = asyncio.create_task(sending())
    got = await watch(None, made.notice.id, Console(file=out, width=140), interval=0.05, timeout=20)
    await task
    text = out.getvalue()
    assert got.sent == 4 and got.remaining == 0
    assert "sent 4" in text and "remaining 0" in text and "/s" in text


async def _session(services, work):
    async with services.sessionmaker() as s:
        got = await work(s)
        await s.commit()
        return got


def test_record_attendance_from_the_cli(db, capsys):
    people(db)
    assert main([*SEND, "--area", COMMUNE, "--yes"]) == 0  # no training date
    capsys.readouterr()
    assert main(["notices", "record-attendance", "1"]) == 2
    assert "không có ngày tập huấn" in capsys.readouterr().err
    assert main(["notices", "record-attendance", "9"]) == 1

    def held_yesterday(s):
        return s.execute(
            update(Notice)
            .where(Notice.id == 1)
            .values(event_at=datetime.now(UTC) - timedelta(days=1))
        )

    run(db, held_yesterday)
    assert main(["notices", "record-attendance", "1", "--attended", "12"]) == 0
    out = capsys.readouterr().out
    assert f"recorded for {COMMUNE}" in out and "p10_luot 12" in out
    assert main(["notices", "record-attendance", "1"]) == 2
    assert "đã được ghi" in capsys.readouterr().err
