"""A photo field of a form over Telegram (fake Bot API) when the download keeps failing: the
bot says to send it again, asks the same field, and nothing else of the form is lost; the next
photo is taken, stored without its GPS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import build_pipeline
from tests.channels.conftest import TelegramHarness
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.flows.forms.conftest import form_root, form_services, nlu  # noqa: F401
from tests.media.conftest import tune
from tests.media.helpers import assert_clean_jpeg, assert_named_by_hash, jpeg_with_gps

CHAT = 5_550_777
ANSWERS = {"water": "well", "households": 12, "note": "Thôn 2"}


@pytest.fixture
async def form_telegram(app_parts, form_services, settings) -> AsyncIterator[TelegramHarness]:  # noqa: F811
    parts = (form_services, app_parts[1], build_pipeline(form_services))
    async with FakeTelegramAPI() as api:
        harness = TelegramHarness(api, parts, settings, "polling")
        await harness.start()
        try:
            yield harness
        finally:
            await harness.close()


async def said(h: TelegramHarness, update: dict) -> str:
    before = len(h.api.sent(CHAT))
    await h.push(update)
    await h.settle()
    return "\n".join(c.params.get("text") or "" for c in h.api.sent(CHAT)[before:])


async def state(h: TelegramHarness) -> dict[str, Any]:
    from sqlalchemy import select

    from bot.storage.models import User

    async with h.services.sessionmaker() as session:
        return (
            await session.execute(select(User.state).where(User.external_id == str(CHAT)))
        ).scalar_one().get("flow") or {}


async def test_a_failed_photo_is_asked_again_and_the_form_kept(form_telegram):
    h = form_telegram
    tune(h.worker)
    await said(h, h.api.text_update(CHAT, "/lang vi"))
    start = "@form channels " + json.dumps(ANSWERS, ensure_ascii=False)
    assert "Gửi ảnh." in await said(h, h.api.text_update(CHAT, start))
    h.api.fail("download", 502, times=3)
    text = await said(h, h.api.photo_update(CHAT, data=jpeg_with_gps()))
    assert "Chưa nhận được ảnh, xin gửi lại." in text and "Gửi ảnh." in text
    st = await state(h)
    assert st["step"] == "photo" and st["data"]["answers"] == ANSWERS
    assert "Gửi vị trí." in await said(h, h.api.photo_update(CHAT, data=jpeg_with_gps()))
    photo = (await state(h))["data"]["answers"]["photo"]
    settings = h.services.settings
    assert_clean_jpeg(assert_named_by_hash(settings.path(settings.media.dir), photo["ref"]))
    assert photo["mime_type"] == "image/jpeg"
