"""`python -m bot telegram ...` against the fake Bot API, and the fake's own wire behaviour."""

from __future__ import annotations

import argparse
import asyncio
import io
import textwrap
from pathlib import Path

import pytest
from aiohttp import ClientSession
from telegram import Bot
from telegram import error as tg_error

from bot.channels import telegram_cli
from tests.fakes.telegram_api import FakeTelegramAPI

ROOT = Path(__file__).resolve().parent.parent.parent


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot")
    p.add_argument("--config", default="config.yml")
    telegram_cli.register(p.add_subparsers(dest="command", required=True))
    return p


def write_config(tmp_path: Path, **telegram: str) -> Path:
    lines = "\n".join(f"  {k}: {v!r}" for k, v in telegram.items())
    path = tmp_path / "config.yml"
    path.write_text(
        textwrap.dedent("""\
        database:
          url: sqlite+aiosqlite:///var/test.db
        telegram:
        """)
        + lines
        + "\n",
        encoding="utf-8",
    )
    return path


def run_cli(config: Path, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in a thread (it calls asyncio.run itself) and capture what it prints."""
    args = parser().parse_args(["--config", str(config), "telegram", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def cli(config: Path, *argv: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(run_cli, config, *argv)


async def test_set_webhook_info_delete(telegram_api: FakeTelegramAPI, tmp_path: Path) -> None:
    api = telegram_api
    config = write_config(
        tmp_path,
        token=api.token,
        api_base_url=api.base_url,
        webhook_url="https://bot.example.gov.vn/telegram/webhook",
        webhook_secret="s3cret_-value",
    )
    code, out, err = await cli(config, "set-webhook")
    assert code == 0, err
    assert "https://bot.example.gov.vn/telegram/webhook" in out
    assert api.webhook["url"] == "https://bot.example.gov.vn/telegram/webhook"
    assert api.webhook["secret_token"] == "s3cret_-value"
    assert api.webhook["allowed_updates"] == ["message", "callback_query", "my_chat_member"]

    code, out, err = await cli(config, "info")
    assert code == 0, err
    assert (
        "@LangSoTestBot" in out
        and "webhook at Telegram: https://bot.example.gov.vn/telegram/webhook" in out
    )
    assert api.token not in out and "s3cret" not in out

    code, out, err = await cli(config, "delete-webhook", "--drop-pending")
    assert code == 0, err
    assert api.webhook == {} and "polling" in out
    assert api.calls_of("deleteWebhook")[-1].params["drop_pending_updates"] is True


async def test_set_commands(telegram_api: FakeTelegramAPI, tmp_path: Path) -> None:
    config = write_config(tmp_path, token=telegram_api.token, api_base_url=telegram_api.base_url)
    code, out, err = await cli(config, "set-commands")
    assert code == 0, err
    assert [c["command"] for c in telegram_api.commands] == [c for c, _ in telegram_cli.COMMANDS]
    assert "/baocao" in out


@pytest.mark.parametrize(
    ("label", "settings", "argv", "code", "message"),
    [
        ("no token", {}, ["info"], 2, "TELEGRAM_BOT_TOKEN"),
        ("no webhook url", {"token": "{token}"}, ["set-webhook"], 2, "TELEGRAM_WEBHOOK_URL"),
        ("wrong token", {"token": "42:wrong"}, ["info"], 1, "refused the token"),
        (
            "server down",
            {"token": "{token}", "api_base_url": "http://127.0.0.1:9/bot"},
            ["info"],
            1,
            "cannot reach the Bot API",
        ),
    ],
)
async def test_clear_errors(
    telegram_api: FakeTelegramAPI,
    tmp_path: Path,
    label: str,
    settings: dict,
    argv: list[str],
    code: int,
    message: str,
) -> None:
    values = {"api_base_url": telegram_api.base_url}
    values.update({k: v.replace("{token}", telegram_api.token) for k, v in settings.items()})
    got, out, err = await cli(write_config(tmp_path, **values), *argv)
    assert got == code, (out, err)
    assert message in err
    assert telegram_api.token not in err


def test_registered_in_the_bot_cli() -> None:
    from bot.__main__ import build_parser

    args = build_parser().parse_args(["telegram", "info"])
    assert args.telegram_command == "info" and args.func is telegram_cli.run


# --------------------------------------------------------------------------- the fake itself


async def test_fake_get_updates_offset_semantics(telegram_api: FakeTelegramAPI) -> None:
    api = telegram_api
    async with Bot(api.token, base_url=api.base_url) as bot:
        u1, u2, u3 = (api.enqueue(api.text_update(1, t)) for t in ("a", "b", "c"))
        got = await bot.get_updates(timeout=0)
        assert [u.update_id for u in got] == [u1["update_id"], u2["update_id"], u3["update_id"]]
        got = await bot.get_updates(offset=u2["update_id"], timeout=0)  # confirms u1
        assert [u.update_id for u in got] == [u2["update_id"], u3["update_id"]]
        assert [u["update_id"] for u in api.updates] == [u2["update_id"], u3["update_id"]]
        assert await bot.get_updates(offset=u3["update_id"] + 1, timeout=0) == ()
        assert api.updates == []
        # long poll: an update queued while waiting is returned at once
        waiting = asyncio.create_task(bot.get_updates(offset=u3["update_id"] + 1, timeout=5))
        await asyncio.sleep(0.1)
        u4 = api.enqueue(api.text_update(1, "d"))
        assert [u.update_id for u in await asyncio.wait_for(waiting, 2)] == [u4["update_id"]]


async def test_fake_refuses_get_updates_while_a_webhook_is_set(
    telegram_api: FakeTelegramAPI,
) -> None:
    async with Bot(telegram_api.token, base_url=telegram_api.base_url) as bot:
        await bot.set_webhook("https://bot.example.gov.vn/hook", secret_token="abc")
        with pytest.raises(tg_error.Conflict):
            await bot.get_updates(timeout=0)
        with pytest.raises(tg_error.BadRequest):
            await bot.set_webhook("https://bot.example.gov.vn/hook", secret_token="not allowed!")


async def test_fake_wire_format(telegram_api: FakeTelegramAPI) -> None:
    api = telegram_api
    async with ClientSession() as http:
        async with http.post(
            f"{api.base_url}{api.token}/sendMessage", json={"chat_id": 7, "text": "chào"}
        ) as r:
            body = await r.json()
            assert r.status == 200 and body["ok"] is True and body["result"]["text"] == "chào"
            assert body["result"]["chat"]["id"] == 7 and body["result"]["from"]["is_bot"] is True
        async with http.get(
            f"{api.base_url}{api.token}/sendMessage", params={"chat_id": "7", "text": ""}
        ) as r:
            assert r.status == 400 and (await r.json()) == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message text is empty",
            }
        async with http.post(
            f"{api.base_url}{api.token}/sendMessage", data={"chat_id": "7", "text": "x" * 4097}
        ) as r:
            assert (await r.json())["description"] == "Bad Request: message is too long"
        api.fail("sendMessage", 429, retry_after=3)
        async with http.post(
            f"{api.base_url}{api.token}/sendMessage", json={"chat_id": 7, "text": "a"}
        ) as r:
            assert r.status == 429 and (await r.json())["parameters"] == {"retry_after": 3}
        async with http.post(f"{api.base_url}1:bad/getMe") as r:
            assert r.status == 401 and (await r.json())["error_code"] == 401
        async with http.post(f"{api.base_url}{api.token}/noSuchMethod") as r:
            assert r.status == 404


async def test_fake_edit_and_callback_answer(telegram_api: FakeTelegramAPI) -> None:
    api = telegram_api
    async with Bot(api.token, base_url=api.base_url) as bot:
        sent = await bot.send_message(7, "Đang xử lý…")
        edited = await bot.edit_message_text("Xong", chat_id=7, message_id=sent.message_id)
        assert edited.text == "Xong"
        with pytest.raises(tg_error.BadRequest, match="not modified"):
            await bot.edit_message_text("Xong", chat_id=7, message_id=sent.message_id)
        update = api._register(api.callback_update(7, "/help"))
        assert await bot.answer_callback_query(update["callback_query"]["id"]) is True
        with pytest.raises(tg_error.BadRequest, match="(?i)query is too old"):
            await bot.answer_callback_query(update["callback_query"]["id"])
