"""End to end: python-telegram-bot against the fake Bot API, a real pipeline, SQLite and PostgreSQL.

Each case runs in polling mode and in webhook mode (our aiohttp route, as `serve()` builds it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from sqlalchemy import select

from bot.messages import Button, Reply
from bot.storage.models import InboxEntry, Subscription, User
from bot.storage.repositories import inbox
from tests.channels.conftest import WEBHOOK_SECRET, TelegramHarness
from tests.fakes.telegram_api import FakeTelegramAPI

DATA = Path(__file__).resolve().parent.parent / "data" / "telegram"
_chats = itertools.count(5_512_900_001)


def new_chat() -> int:
    return next(_chats)


def from_data(name: str, chat_id: int) -> dict:
    """A captured payload, moved to another chat and without its update id (the fake assigns
    one)."""
    update = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    update.pop("update_id")
    body = next(iter(update.values()))
    for obj in (body, body.get("message") or {}):
        if "chat" in obj:
            obj["chat"]["id"] = chat_id
        if "from" in obj and not obj["from"]["is_bot"]:
            obj["from"]["id"] = chat_id
    return update


def replies_of(api: FakeTelegramAPI, chat_id: int) -> list[str]:
    return api.texts(chat_id)


def buttons_of(api: FakeTelegramAPI, chat_id: int) -> list[str]:
    out = []
    for call in api.sent(chat_id):
        markup = call.params.get("reply_markup") or {}
        out += [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]
    return out


# --------------------------------------------------------------------------- the table

# label, update builder (api, chat) -> update, expected reply substring (None: no reply), expected
# webhook status
CASES: list[tuple[str, Any, str | None, int]] = [
    (
        "/start offers the languages",
        lambda api, c: api.text_update(c, "/start"),
        "Mời bạn chọn ngôn ngữ",
        200,
    ),
    (
        "language button",
        lambda api, c: api.callback_update(c, "/lang vi", "Tiếng Việt"),
        "Đã chọn ngôn ngữ",
        200,
    ),
    ("/help", lambda api, c: api.text_update(c, "/help"), "Tôi có thể giúp bạn", 200),
    (
        "/baocao is for officers",
        lambda api, c: api.text_update(c, "/baocao"),
        "Phần này dành cho cán bộ",
        200,
    ),
    (
        "/phananh@botname",
        lambda api, c: api.text_update(c, "/phananh@LangSoTestBot"),
        "nhận và trả lời phản ánh",
        200,
    ),
    ("unknown command", lambda api, c: api.text_update(c, "/xyz"), "Tôi không biết lệnh này", 200),
    ("typed question", lambda api, c: from_data("message_text", c), "40 triệu", 200),
    ("photo", lambda api, c: api.photo_update(c), "Tôi đã nhận ảnh hoặc vị trí", 200),
    ("captured photo with caption", lambda api, c: from_data("message_photo", c), None, 200),
    ("voice", lambda api, c: api.voice_update(c), "chưa nghe hiểu được tin nhắn thoại", 200),
    ("location", lambda api, c: api.location_update(c), "Tôi đã nhận ảnh hoặc vị trí", 200),
    (
        "contact",
        lambda api, c: from_data("message_contact", c),
        "Tôi chỉ đọc được tin nhắn chữ",
        200,
    ),
    ("edited message is not answered", lambda api, c: from_data("edited_message", c), None, 200),
]


@pytest.mark.parametrize(("label", "make", "expected", "status"), CASES, ids=[c[0] for c in CASES])
async def test_conversation(
    telegram: TelegramHarness, label: str, make: Any, expected: str | None, status: int
) -> None:
    api, chat = telegram.api, new_chat()
    update, got_status = await telegram.push(make(api, chat))
    if telegram.mode == "webhook":
        assert got_status == status
    await telegram.settle()
    texts = replies_of(api, chat)
    entry = await telegram.inbox(update["update_id"])
    if label.startswith("edited"):
        assert texts == [] and entry is None
        return
    assert texts, f"{label}: no reply"
    if expected is not None:
        assert any(expected in t for t in texts), texts
    assert entry is not None and entry.status == "done" and entry.payload is None


async def test_start_shows_language_buttons_and_button_press_is_acknowledged(
    telegram: TelegramHarness,
) -> None:
    api, chat = telegram.api, new_chat()
    await telegram.push(api.text_update(chat, "/start"))
    await telegram.settle()
    assert {"/lang vi", "/lang hre", "/lang cua", "/lang sed"} <= set(buttons_of(api, chat))
    update, _ = await telegram.push(api.callback_update(chat, "/lang vi", "Tiếng Việt"))
    await telegram.settle()
    answered = [c.params["callback_query_id"] for c in api.calls_of("answerCallbackQuery", ok=True)]
    assert update["callback_query"]["id"] in answered
    assert "Đã chọn ngôn ngữ: Tiếng Việt" in replies_of(api, chat)[-1]


async def test_replies_to_one_chat_arrive_in_order(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    for text in ("/help", "/xyz", "/start"):
        await telegram.push(api.text_update(chat, text))
    await telegram.settle()
    texts = replies_of(api, chat)
    first = [
        next(i for i, t in enumerate(texts) if key in t)
        for key in ("Tôi có thể giúp bạn", "Tôi không biết lệnh này", "Mời bạn chọn ngôn ngữ")
    ]
    assert first == sorted(first)


async def test_replayed_update_is_answered_once(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    update, status = await telegram.push(api.text_update(chat, "/help"))
    await telegram.settle()
    again, status2 = await telegram.push(update)  # same update_id: Telegram re-sent it
    await telegram.settle()
    assert again["update_id"] == update["update_id"]
    if telegram.mode == "webhook":
        assert (status, status2) == (200, 200)
    assert len(replies_of(api, chat)) == 1


# --------------------------------------------------------------------------- webhook security


@pytest.mark.parametrize("telegram_mode", ["webhook"])
@pytest.mark.parametrize(
    ("label", "headers", "body", "status"),
    [
        ("forged secret", {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}, None, 403),
        (
            "secret of another length",
            {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET + "x"},
            None,
            403,
        ),
        ("missing secret", {}, None, 403),
        (
            "forged secret with bad JSON",
            {"X-Telegram-Bot-Api-Secret-Token": "nope"},
            b"{not json",
            403,
        ),
        ("bad JSON", {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}, b"{not json", 400),
        (
            "JSON but not an update",
            {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            b"[1, 2]",
            400,
        ),
        (
            "update without an id",
            {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            b'{"message": {}}',
            400,
        ),
    ],
)
async def test_webhook_refuses(
    telegram: TelegramHarness, label: str, headers: dict, body: bytes | None, status: int
) -> None:
    api, chat = telegram.api, new_chat()
    update = api._register(api.text_update(chat, "/help"))
    url = api.webhook["url"]
    async with ClientSession() as http:
        data = body if body is not None else json.dumps(update).encode()
        async with http.post(
            url, data=data, headers={"Content-Type": "application/json", **headers}
        ) as resp:
            assert resp.status == status, label
    await telegram.settle()
    assert await telegram.inbox(update["update_id"]) is None
    assert replies_of(api, chat) == []


# --------------------------------------------------------------------------- durability


async def test_recorded_before_acknowledged_then_resumed_after_a_kill(
    telegram_harness: TelegramHarness,
) -> None:
    """Process A records the update (webhook 200 / offset confirmed) and dies before handling it;
    process B resumes it at start and answers exactly once."""
    h, api, chat = telegram_harness, telegram_harness.api, new_chat()
    first = await h.start()
    # the process is killed right after recording: nothing handles what it records
    h.worker_of(first)._schedule = lambda *_args: False  # type: ignore[method-assign]
    update, status = await h.push(api.text_update(chat, "/help"))
    await h.settle()
    entry = await h.inbox(update["update_id"])
    assert (
        entry is not None
        and entry.status == "received"
        and entry.payload["update_id"] == update["update_id"]
    )
    assert replies_of(api, chat) == []
    if h.mode == "webhook":
        assert status == 200

    await h.stop(first)
    await h.start()  # process B
    await h.settle()
    assert len(replies_of(api, chat)) == 1 and "Tôi có thể giúp bạn" in replies_of(api, chat)[0]
    assert (await h.inbox(update["update_id"])).status == "done"

    await h.push(update)  # Telegram delivers it once more: still answered once
    await h.settle()
    assert len(replies_of(api, chat)) == 1


async def test_killed_in_the_middle_of_the_pipeline_is_resumed_once(
    telegram_harness: TelegramHarness,
) -> None:
    h, api, chat = telegram_harness, telegram_harness.api, new_chat()
    inside, never = asyncio.Event(), asyncio.Event()
    real_parse = h.services.nlu.parse

    async def hanging_parse(text: str, lang: str) -> Any:
        inside.set()
        await never.wait()

    h.services.nlu.parse = hanging_parse
    first = await h.start()
    update, _ = await h.push(from_data("message_text", chat))
    await asyncio.wait_for(inside.wait(), 10)  # claimed, mid-transaction
    for task in list(h.worker_of(first)._tasks):  # kill -9: nothing finishes
        task.cancel()
    await asyncio.sleep(0.1)
    h.services.nlu.parse = real_parse
    assert (await h.inbox(update["update_id"])).status == "received"

    await h.stop(first)
    await h.start()
    await h.settle()
    texts = replies_of(api, chat)
    assert sum("40 triệu" in t for t in texts) == 1
    assert (await h.inbox(update["update_id"])).status == "done"


async def test_an_update_that_keeps_failing_is_given_up_after_max_attempts(
    telegram_harness: TelegramHarness,
) -> None:
    """Handling raises every time: the update is tried a few times, not forever; then it is
    marked failed, its payload dropped and the error's type kept (not the user's text), and the
    chat's next message is answered."""
    h, api, chat = telegram_harness, telegram_harness.api, new_chat()
    calls: list[str] = []
    real_parse = h.services.nlu.parse

    async def broken_parse(text: str, lang: str) -> Any:
        if "làm nhà" not in text:
            return await real_parse(text, lang)
        calls.append(text)
        raise RuntimeError(f"cannot parse {text}")

    h.services.nlu.parse = broken_parse
    await h.start()
    update, _ = await h.push(api.text_update(chat, "hỗ trợ làm nhà cho hộ nghèo"))
    await h.push(api.text_update(chat, "/help"))
    await h.settle()
    assert len(calls) == inbox.MAX_ATTEMPTS
    entry = await h.inbox(update["update_id"])
    assert (entry.status, entry.attempts, entry.payload, entry.error) == (
        "failed",
        inbox.MAX_ATTEMPTS,
        None,
        "RuntimeError",
    )
    texts = replies_of(api, chat)  # the poison message got nothing; the next one its answer
    assert len(texts) == 1 and "Tôi có thể giúp bạn" in texts[0]


@pytest.mark.parametrize("telegram_mode", ["polling"])
async def test_polling_does_not_confirm_what_it_could_not_record(
    telegram: TelegramHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, chat = telegram.api, new_chat()
    real_record, failures = inbox.record_batch, []

    async def flaky_record(session: Any, batches: list) -> list[list[bool]]:
        if not failures:
            failures.append(str(batches[0][1][0][0]))
            raise ConnectionError("database went away")
        return await real_record(session, batches)

    monkeypatch.setattr(inbox, "record_batch", flaky_record)
    update = api.enqueue(api.text_update(chat, "/help"))
    async with asyncio.timeout(5):
        while not failures:
            await asyncio.sleep(0.01)
    offsets = [c.params.get("offset") for c in api.calls_of("getUpdates")]
    assert all(o is None or o <= update["update_id"] for o in offsets)  # not confirmed yet
    await telegram.settle(timeout=15)
    assert failures == [str(update["update_id"])]
    assert len(replies_of(api, chat)) == 1


@pytest.mark.parametrize("telegram_mode", ["polling"])
async def test_polling_confirms_offsets_and_removes_a_webhook(
    telegram_harness: TelegramHarness,
) -> None:
    h, api = telegram_harness, telegram_harness.api
    api.webhook = {"url": "https://old.example.org/hook"}  # left over from a webhook deployment
    await h.start()
    chat = new_chat()
    u1 = api.enqueue(api.text_update(chat, "/help"))
    u2 = api.enqueue(api.text_update(chat, "/xyz"))
    await h.settle()
    assert api.webhook == {}
    assert any(c.params.get("offset") == u2["update_id"] + 1 for c in api.calls_of("getUpdates"))
    assert {e.status for e in [await h.inbox(u1["update_id"]), await h.inbox(u2["update_id"])]} == {
        "done"
    }


@pytest.mark.parametrize("telegram_mode", ["polling"])
async def test_polling_survives_get_updates_failures(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    api.fail("getUpdates", 502, times=2)
    api.enqueue(api.text_update(chat, "/help"))
    await telegram.settle(timeout=15)
    assert len(replies_of(api, chat)) == 1


# --------------------------------------------------------------------------- injected faults


async def test_429_retry_after_is_honoured(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    api.fail("sendMessage", 429, retry_after=1, chat_id=chat)
    await telegram.push(api.text_update(chat, "/help"))
    await telegram.settle()
    calls = api.calls_of("sendMessage", chat)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.95


async def test_5xx_is_retried(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    api.fail("sendMessage", 502, chat_id=chat, times=2)
    await telegram.push(api.text_update(chat, "/help"))
    await telegram.settle()
    assert [c.status for c in api.calls_of("sendMessage", chat)] == [502, 502, 200]


async def test_bad_request_is_not_retried(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    api.fail("sendMessage", 400, chat_id=chat)
    update, _ = await telegram.push(api.text_update(chat, "/help"))
    await telegram.settle()
    assert [c.status for c in api.calls_of("sendMessage", chat)] == [400]
    assert (
        await telegram.inbox(update["update_id"])
    ).status == "done"  # handled; the send failed for good


async def test_slow_answer_is_waited_for(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    api.slow("sendMessage", delay=0.5)
    started = asyncio.get_running_loop().time()
    await telegram.push(api.text_update(chat, "/help"))
    await telegram.settle()
    assert len(replies_of(api, chat)) == 1
    assert asyncio.get_running_loop().time() - started >= 0.5


async def test_answer_slower_than_the_timeout_is_retried(telegram_harness: TelegramHarness) -> None:
    h, api, chat = telegram_harness, telegram_harness.api, new_chat()
    await h.start(request_timeout=0.3)
    api.fail("sendMessage", 200, delay=1.0, chat_id=chat)  # answers after the client gave up
    await h.push(api.text_update(chat, "/help"))
    await h.settle()
    await asyncio.sleep(1.0)  # let the slow answer land
    assert len(api.calls_of("sendMessage", chat)) >= 2  # at least once: the retry went out
    assert all("Tôi có thể giúp bạn" in t for t in replies_of(api, chat))


async def subscribe(h: TelegramHarness, chat: int) -> None:
    """/subscribe, then the consent button: the user holds an active subscription."""
    await h.push(h.api.text_update(chat, "/subscribe"))
    await h.settle()
    await h.push(h.api.callback_update(chat, "/consent yes", "Đồng ý"))
    await h.settle()
    assert any("Đã đăng ký" in t for t in replies_of(h.api, chat)), replies_of(h.api, chat)


async def user_state(h: TelegramHarness, chat: int) -> tuple[bool, bool]:
    async with h.services.sessionmaker() as session:
        user = (
            await session.execute(
                select(User).where(User.channel == "telegram", User.external_id == str(chat))
            )
        ).scalar_one()
        sub = (
            await session.execute(select(Subscription).where(Subscription.user_id == user.id))
        ).scalar_one()
        return user.reachable, sub.active


async def test_403_marks_the_user_unreachable_and_unsubscribes(telegram: TelegramHarness) -> None:
    h, api, chat = telegram, telegram.api, new_chat()
    await subscribe(h, chat)
    assert await user_state(h, chat) == (True, True)
    api.block(chat)
    status, error = await h.send(chat, Reply("Thông báo: lớp tập huấn trồng quế ngày 12/7"))
    assert status == "failed" and error.startswith("gone:")
    assert [c.status for c in api.calls_of("sendMessage", chat)][-1] == 403
    assert await user_state(h, chat) == (False, False)


async def test_403_while_replying(telegram: TelegramHarness) -> None:
    h, api, chat = telegram, telegram.api, new_chat()
    await subscribe(h, chat)
    api.fail("sendMessage", 403, chat_id=chat)
    await h.push(api.text_update(chat, "/help"))
    await h.settle()
    assert await user_state(h, chat) == (False, False)
    assert len(api.calls_of("sendMessage", chat, ok=False)) == 1  # not retried


async def test_blocking_the_bot_unsubscribes(telegram: TelegramHarness) -> None:
    h, chat = telegram, new_chat()
    await subscribe(h, chat)
    await h.push(from_data("my_chat_member_kicked", chat))
    await h.settle()
    assert await user_state(h, chat) == (False, False)


async def test_retries_give_up_and_record_the_reason(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    api.fail("sendMessage", 500, chat_id=chat, times=10)
    status, error = await telegram.send(chat, Reply("xin chào"))
    assert status == "failed" and error.startswith("retries exhausted")
    assert len(api.calls_of("sendMessage", chat)) == 4  # FAST_RETRIES.max_attempts


async def test_per_chat_rate_limit(telegram_harness: TelegramHarness) -> None:
    h, api, chat = telegram_harness, telegram_harness.api, new_chat()
    await h.start(rate_per_chat_seconds=0.3)
    await h.push(api.text_update(chat, "/start"))  # two replies: welcome, language choice
    await h.settle()
    calls = api.calls_of("sendMessage", chat, ok=True)
    assert len(calls) == 2 and calls[1].at - calls[0].at >= 0.28


# --------------------------------------------------------------------------- sending


@pytest.mark.parametrize("telegram_mode", ["polling"])
async def test_long_message_is_split_cleanly(telegram: TelegramHarness) -> None:
    api, chat = telegram.api, new_chat()
    paragraph = (
        "Hộ nghèo dân tộc thiểu số được hỗ trợ làm nhà ở, nước sinh hoạt, đất sản xuất và "
        "chuyển đổi nghề theo Quyết định 1719/QĐ-TTg của Thủ tướng Chính phủ. "
    ) * 8
    text = "\n\n".join(paragraph.strip() for _ in range(12))
    assert len(text) > 2 * 4096
    buttons = (Button("Gặp cán bộ", "/human"), Button("Đổi ngôn ngữ", "/language"))
    await telegram.send(chat, Reply(text, buttons=buttons))
    calls = api.calls_of("sendMessage", chat, ok=True)
    parts = [c.params["text"] for c in calls]
    assert len(parts) >= 3
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == text.split()  # no broken or lost word
    assert all(p.endswith(".") for p in parts)  # cut at paragraph ends
    assert [bool(c.params.get("reply_markup")) for c in calls] == [False] * (len(parts) - 1) + [
        True
    ]


@pytest.mark.parametrize("telegram_mode", ["polling"])
async def test_media_replies(telegram_harness: TelegramHarness, content_media: Path) -> None:
    h, api, chat = telegram_harness, telegram_harness.api, new_chat()
    await h.start(content_dir=content_media)
    await h.send(
        chat,
        Reply(
            "Quế Trà Bồng",
            photo="media/que-tra-bong.jpg",
            buttons=(Button("Mua ở đâu?", "/answer product.cinnamon"),),
        ),
    )
    await h.send(chat, Reply("", voice="media/huong-dan.ogg"))
    await h.send(chat, Reply("Mẫu đơn", document="content/media/mau-don.pdf"))
    await h.send(chat, Reply("Ảnh lần hai", photo="media/que-tra-bong.jpg"))
    await h.send(chat, Reply("Ảnh từ web", photo="https://example.org/anh.jpg"))
    photo, voice, doc, photo2, photo_url = api.sent(chat)
    assert photo.method == "sendPhoto" and photo.files["photo"].data.startswith(b"\xff\xd8")
    assert (
        photo.params["caption"] == "Quế Trà Bồng"
        and photo.params["reply_markup"]["inline_keyboard"]
    )
    assert voice.method == "sendVoice" and voice.files["voice"].filename == "huong-dan.ogg"
    assert doc.method == "sendDocument" and doc.files["document"].data.startswith(b"%PDF")
    assert (
        photo2.files == {} and photo2.params["photo"] == photo.result["photo"][-1]["file_id"]
    )  # no re-upload
    assert photo_url.params["photo"] == "https://example.org/anh.jpg"


@pytest.mark.parametrize("telegram_mode", ["polling"])
async def test_media_caption_too_long_or_file_missing(
    telegram_harness: TelegramHarness, content_media: Path
) -> None:
    h, api, chat = telegram_harness, telegram_harness.api, new_chat()
    await h.start(content_dir=content_media)
    long = "Giới thiệu sản phẩm. " * 80  # > 1024: caption limit
    await h.send(
        chat, Reply(long, photo="media/que-tra-bong.jpg", buttons=(Button("Tiếp", "/help"),))
    )
    calls = api.sent(chat)
    assert [c.method for c in calls] == ["sendPhoto", "sendMessage"]
    assert "caption" not in calls[0].params and calls[1].params["reply_markup"]
    await h.send(chat, Reply("Ảnh bị thiếu", photo="media/khong-co.jpg"))
    await h.send(chat, Reply("Ra ngoài thư mục", photo="../../etc/passwd"))
    assert [c.method for c in api.sent(chat)][2:] == ["sendMessage", "sendMessage"]


@pytest.mark.parametrize("telegram_mode", ["polling"])
async def test_incoming_file_can_be_downloaded(telegram: TelegramHarness) -> None:
    from bot.channels.telegram import to_incoming

    api, chat = telegram.api, new_chat()
    update = api.photo_update(chat)
    from telegram import Update

    msg = to_incoming(Update.de_json(api._register(update), telegram.channel.bot))
    data = await telegram.channel.fetch_media(msg.media[0])
    assert data == api.files[msg.media[0].ref].data and data.startswith(b"\xff\xd8")
    assert api.calls_of("getFile", ok=True)


async def test_token_and_chat_ids_stay_out_of_the_logs(
    telegram: TelegramHarness, caplog: pytest.LogCaptureFixture
) -> None:
    api, chat = telegram.api, new_chat()
    caplog.set_level("DEBUG")
    api.fail("sendMessage", 502, chat_id=chat)
    api.fail("sendMessage", 400, chat_id=chat)
    await telegram.push(api.text_update(chat, "/help"))
    await telegram.settle()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "bot.outbox" in {r.name for r in caplog.records}  # the failed sends were logged
    assert api.token not in logged and api.token.split(":")[1] not in logged
    assert str(chat) not in "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("bot.")
    )


async def test_inbox_keeps_no_payload_after_processing(telegram: TelegramHarness) -> None:
    chat = new_chat()
    await telegram.push(from_data("message_contact", chat))
    await telegram.settle()
    async with telegram.services.sessionmaker() as session:
        rows = (
            (await session.execute(select(InboxEntry).where(InboxEntry.channel == "telegram")))
            .scalars()
            .all()
        )
    assert rows and all(r.payload is None and r.status == "done" for r in rows)
