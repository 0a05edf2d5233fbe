"""`python -m bot zalo-bot set-webhook | delete-webhook | info` against the fake Bot API."""

from __future__ import annotations

import argparse
import dataclasses
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.__main__ import build_parser
from bot.channels import zalo_bot_cli
from bot.config import ZaloBotSettings, load_settings
from tests.fakes.zalo_bot_api import FakeZaloBotAPI

SECRET = "cli-Secret_0123456789"
HOOK = "https://bot.example.gov.vn/zalo-bot/webhook"


@pytest.fixture
async def api() -> AsyncIterator[FakeZaloBotAPI]:
    async with FakeZaloBotAPI() as fake:
        yield fake


def settings_for(api: FakeZaloBotAPI, **changes: Any) -> ZaloBotSettings:
    values: dict[str, Any] = dict(
        token=api.token, api_base_url=api.url, webhook_url=HOOK, webhook_secret=SECRET
    )
    values.update(changes)
    return ZaloBotSettings(**values)


async def test_set_webhook_then_info_then_delete(api: FakeZaloBotAPI) -> None:
    s = settings_for(api)
    assert HOOK in await zalo_bot_cli.set_webhook(s)
    assert api.webhook == {
        "url": HOOK,
        "secret_token": SECRET,
        "updated_at": api.webhook["updated_at"],
    }
    shown = await zalo_bot_cli.info(s)
    assert "bot.LangSoTest" in shown and f"webhook at Zalo:   {HOOK}" in shown
    assert "note:" not in shown and api.token not in shown
    polling = dataclasses.replace(s, webhook_url="", webhook_secret="")
    assert "delete-webhook" in await zalo_bot_cli.info(polling)  # a webhook left behind
    assert "polling" in await zalo_bot_cli.delete_webhook(s)
    assert api.webhook == {}
    assert "set-webhook" in await zalo_bot_cli.info(s)  # configured, but not at Zalo


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"token": ""}, "ZALO_BOT_TOKEN"),
        ({"webhook_url": ""}, "ZALO_BOT_WEBHOOK_URL"),
        ({"webhook_secret": "short"}, "ZALO_BOT_WEBHOOK_SECRET"),
    ],
)
async def test_what_to_fix_is_said_before_calling(api, changes: dict, says: str) -> None:
    with pytest.raises(zalo_bot_cli.CliError) as info:
        await zalo_bot_cli.set_webhook(settings_for(api, **changes))
    assert says in str(info.value) and info.value.code == zalo_bot_cli.EXIT_CONFIG
    assert api.calls == []


async def test_api_errors_are_operator_messages_without_the_token(api: FakeZaloBotAPI) -> None:
    wrong = settings_for(api, token="1459232241454765289:NotTheRightOne")
    with pytest.raises(zalo_bot_cli.CliError) as info:
        await zalo_bot_cli.info(wrong)
    assert "ZALO_BOT_TOKEN" in str(info.value) and "NotTheRightOne" not in str(info.value)
    assert info.value.code == zalo_bot_cli.EXIT_API
    away = settings_for(api, api_base_url="http://127.0.0.1:9")
    with pytest.raises(zalo_bot_cli.CliError) as info:
        await zalo_bot_cli.delete_webhook(away)
    assert "ZALO_BOT_API_BASE_URL" in str(info.value) and api.token not in str(info.value)
    api.fail("setWebhook", 400, description="Bad request: url must be a public HTTPS URL")
    with pytest.raises(zalo_bot_cli.CliError) as info:
        await zalo_bot_cli.set_webhook(settings_for(api))
    assert "HTTPS" in str(info.value)


def test_the_command_line(tmp_path, monkeypatch) -> None:
    """Parsed by `python -m bot`, settings from config.yml and the environment; exit codes."""
    args = build_parser().parse_args(["zalo-bot", "set-webhook"])
    assert args.func is zalo_bot_cli.run and args.zalo_bot_command == "set-webhook"
    settings = load_settings("config.yml", env={})
    out, err = io.StringIO(), io.StringIO()
    code = zalo_bot_cli.run(argparse.Namespace(zalo_bot_command="info"), settings, out, err)
    assert code == zalo_bot_cli.EXIT_CONFIG and "ZALO_BOT_TOKEN" in err.getvalue()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["zalo-bot", "nonsense"])


async def test_run_prints_the_result(api: FakeZaloBotAPI) -> None:
    import asyncio

    settings = load_settings(
        "config.yml",
        env={"ZALO_BOT_TOKEN": api.token, "ZALO_BOT_API_BASE_URL": api.url},
    )
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(zalo_bot_command="info")
    code = await asyncio.to_thread(zalo_bot_cli.run, args, settings, out, err)
    assert code == 0 and "bot.LangSoTest" in out.getvalue() and err.getvalue() == ""


async def test_the_doctor_checks_the_bot(api: FakeZaloBotAPI) -> None:
    """`python -m bot doctor`: the token accepted (getMe), a refused one named without its
    value, the webhook URL and secret."""
    from bot.doctor import FAIL, OK, WARN, Doctor

    def checks(**changes: Any) -> dict[str, tuple[str, str]]:
        doctor = Doctor("config.yml", {}, timeout=2)
        settings = load_settings("config.yml", env={})
        settings = dataclasses.replace(settings, zalo_bot=settings_for(api, **changes))
        asyncio.run(doctor.zalo_bot(settings))
        return {c.name: (c.status, c.detail) for c in doctor.checks}

    import asyncio

    good = await asyncio.to_thread(checks, webhook_secret="x" * 40)
    assert good["zalo_bot token"] == (OK, "accepted by Zalo (bot.LangSoTest)")
    assert good["zalo_bot.webhook_url"][0] == OK and good["zalo_bot.webhook_secret"][0] == OK
    assert good["zalo_bot.api_base_url"][0] == WARN  # the fake: a local server
    wrong = await asyncio.to_thread(checks, token="1:Wrong", webhook_url="http://x.vn/h")
    assert wrong["zalo_bot token"][0] == FAIL and "Wrong" not in str(wrong)
    assert wrong["zalo_bot.webhook_url"][0] == FAIL
    assert wrong["zalo_bot.webhook_secret"][0] == WARN  # 21 characters: a longer one advised


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"ZALO_BOT_TOKEN": "no colon"}, "zalo_bot.token"),
        ({"ZALO_BOT_TOKEN": "1:a/b"}, "zalo_bot.token"),  # it goes in the URL path
        ({"ZALO_BOT_WEBHOOK_URL": "http://bot.example.gov.vn/h"}, "https://"),
        ({"ZALO_BOT_WEBHOOK_URL": "https://bot.example.gov.vn/h"}, "webhook_secret: required"),
        ({"ZALO_BOT_WEBHOOK_SECRET": "short"}, "8-256"),
        ({"ZALO_BOT_WEBHOOK_SECRET": "has spaces in it"}, "8-256"),
        ({"ZALO_BOT_RATE_PER_SECOND": "0"}, "rate_per_second"),
    ],
)
def test_bad_settings_are_refused_at_load(env: dict[str, str], says: str) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load_settings("config.yml", env=env)
    assert says in str(info.value)


def test_good_settings_load() -> None:
    s = load_settings(
        "config.yml",
        env={
            "ZALO_BOT_TOKEN": "1459232241454765289:abcDEF_-123",
            "ZALO_BOT_WEBHOOK_URL": "http://127.0.0.1:8080/zalo-bot/webhook",  # the local fake
            "ZALO_BOT_WEBHOOK_SECRET": SECRET,
        },
    ).zalo_bot
    assert s.api_base_url == "https://bot-api.zaloplatforms.com" and s.rate_per_second == 10
