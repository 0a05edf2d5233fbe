"""Personal data never reaches the logs: user ids, message texts, SQL parameters."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import User
from tests.conftest import message

SECRET_ID = "sender-0987654321"
SECRET_TEXT = "nhà tôi ở thôn Làng Teng số điện thoại 0905111222 hỗ trợ làm nhà"


async def test_a_conversation_logs_no_ids_or_texts(pipeline, caplog):
    from bot.__main__ import setup_logging

    setup_logging("DEBUG")  # the bot's own logging setup, at its most verbose
    caplog.set_level(logging.DEBUG)
    for text in (SECRET_TEXT, "/subscribe", "đồng ý", "/dulieu"):
        await pipeline.handle(message(text, sender=SECRET_ID, lang="vi"))
    logged = caplog.text
    assert "handled channel=web" in logged  # the pipeline does log each message...
    assert SECRET_ID not in logged  # ...with a keyed hash instead of the id
    assert "0905111222" not in logged and "Làng Teng" not in logged


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
async def test_database_errors_do_not_carry_values(db_url):
    engine = create_engine(db_url)
    sm = create_sessionmaker(engine)
    try:
        async with sm() as s:
            s.add(User(channel="web", external_id=SECRET_ID, state={}))
            await s.commit()
        async with sm() as s:
            s.add(User(channel="web", external_id=SECRET_ID, state={}))
            with pytest.raises(IntegrityError) as err:
                await s.commit()
        assert SECRET_ID not in str(err.value)
    finally:
        await engine.dispose()


# ------------------------------------------------------------- the log scan of the whole run

LEAKY = """
import logging

WEBHOOK_SECRET = "hook_Secret-value-42"
log = logging.getLogger("leaky.module")


def test_quiet():
    log.debug("at DEBUG a phone 0905111222 is allowed")
    log.info("handled user=0a1b2c3d4e5f ms=12.5 conf=0.9123")


def test_leak():
    log.{level}({what!r})
"""


def run_scanned(tmp_path, level: str, what: str, *args: str):
    """pytest with the log scan (tests/logscan.py) on a module that logs `what` at `level`."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_leaky.py").write_text(LEAKY.format(level=level, what=what))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.logscan",
            "-p",
            "no:cacheprovider",
            "-c",
            str(tmp_path / "pytest.ini"),
            str(tmp_path / "test_leaky.py"),
            *args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("level", "what", "value", "found"),
    [
        ("info", "sending to 0905 111 222", "0905 111 222", "phone number"),
        ("warning", "user +84912345678 blocked", "+84912345678", "phone number"),
        (
            "error",
            "token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ refused",
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ",
            "Telegram bot token",
        ),
        (
            "info",
            "refreshed AT-0123456789abcdefghijklmnopqrstuv",
            "AT-0123456789abcdefghijklmnopqrstuv",
            "Zalo token",
        ),
        ("info", "got hook_Secret-value-42", "hook_Secret-value-42", "a test's secret"),
    ],
)
def test_the_run_fails_when_something_is_logged_at_info_or_above(
    tmp_path, level, what, value, found
):
    done = run_scanned(tmp_path, level, what)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed" in done.stdout  # the tests pass: the session fails
    assert "log scan" in done.stdout and f"leaky.module {level.upper()}: {found}" in done.stdout
    assert value not in done.stdout  # the report masks what it found


def test_debug_records_and_pseudonyms_pass(tmp_path):
    done = run_scanned(tmp_path, "debug", "sending to 0905111222")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "log scan" not in done.stdout


def test_each_xdist_worker_scans_its_own_records(tmp_path):
    done = run_scanned(tmp_path, "info", "call 0905111222", "-n", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "leaky.module INFO: phone number" in done.stdout
