# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""Every fault the fake Zalo API can inject, and what sending does about it.

One table: label, the faults queued on the send endpoint, the expected outcome (delivered, or the
exception `send` raises), how many send calls the fake saw, and the user's state afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.channels.sending import SendFailed, Unreachable
from bot.channels.zalo import OutsideWindow
from bot.messages import Reply
from tests.channels.conftest_zalo import (  # noqa: F401 - fixtures
    ZaloBot,
    make_channel,
    sessionmaker,
    subscribe,
    user_state,
    zalo_api,
    zalo_bot,
)
from tests.fakes.zalo_api import REFRESH, SEND, UPLOAD_IMAGE, FakeZaloApi, Fault, event

USER = "u-fault"


@dataclass
class FaultCase:
    label: str
    faults: list[Fault]
    outcome: type[Exception] | None  # None: delivered
    send_calls: int
    after: tuple[bool, bool] = (True, True)  # (reachable, subscribed)
    refreshes: int = 0
    expire_token: bool = False
    unfollowed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


CASES = [
    FaultCase("rate limited (-32), then sent", [Fault(error=-32, message="Your application reached limit call api")],
              None, 2),
    FaultCase("HTTP 429 with Retry-After, then sent", [Fault(status=429, headers={"Retry-After": "0.05"})], None, 2),
    FaultCase("HTTP 502, then sent", [Fault(status=502)], None, 2),
    FaultCase("HTTP 503 twice, then sent", [Fault(status=503), Fault(status=503)], None, 3),
    FaultCase("slow answer past the timeout, then sent", [Fault(delay=3.0, status=504)], None, 2),
    FaultCase("send failed (-200), then sent", [Fault(error=-200, message="Send message failed")], None, 2),
    FaultCase("invalid token (-216): refreshed, sent once more", [Fault(error=-216)], None, 2, refreshes=1),
    FaultCase("expired token (-220): refreshed, sent once more", [Fault(error=-220)], None, 2, refreshes=1),
    FaultCase("token expired at Zalo: refreshed, sent once more", [], None, 2, refreshes=1, expire_token=True),
    FaultCase("5xx on every attempt: gives up", [Fault(status=502)] * 4, SendFailed, 4),
    FaultCase("bad parameter (-201): not retried", [Fault(error=-201, message="text is invalid!")], SendFailed, 1),
    FaultCase("user not following (-213): unreachable, unsubscribed", [], Unreachable, 1, after=(False, False),
              unfollowed=True),
    FaultCase("user banned or inactive (-227): unreachable, unsubscribed", [Fault(error=-227)], Unreachable, 1,
              after=(False, False)),
    FaultCase("no interaction for 7 days (-230): fails, stays subscribed", [Fault(error=-230)], OutsideWindow, 1),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_send_faults(case: FaultCase, zalo_api: FakeZaloApi, sessionmaker: Any) -> None:
    await subscribe(sessionmaker, "zalo", USER)
    zalo_api.fail(SEND, *case.faults)
    if case.expire_token:
        zalo_api.expire_access_token()
    if case.unfollowed:
        zalo_api.unfollowed.add(USER)
    channel = make_channel(zalo_api, None, sessionmaker, send_timeout=0.5)
    await channel.start()
    try:
        if case.outcome is None:
            await channel.send(USER, Reply(text="Thông báo lớp tập huấn"))
        else:
            with pytest.raises(case.outcome):
                await channel.send(USER, Reply(text="Thông báo lớp tập huấn"))
    finally:
        await channel.stop()
    assert zalo_api.texts(USER) == ([] if case.outcome else ["Thông báo lớp tập huấn"])
    assert zalo_api.calls[SEND] == case.send_calls
    assert len(zalo_api.spent_refresh_tokens) == case.refreshes
    assert await user_state(sessionmaker, "zalo", USER) == case.after


async def test_upload_faults_are_retried(zalo_api: FakeZaloApi, sessionmaker: Any, tmp_path: Any) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    zalo_api.fail(UPLOAD_IMAGE, Fault(status=500), Fault(error=-216))
    channel = make_channel(zalo_api, None, sessionmaker, content_dir=tmp_path)
    await channel.start()
    try:
        await channel.send(USER, Reply(photo="a.png"))
    finally:
        await channel.stop()
    assert len(zalo_api.uploads) == 1 and len(zalo_api.sent) == 1
    assert len(zalo_api.spent_refresh_tokens) == 1


async def test_refresh_refused_is_not_retried_forever(zalo_api: FakeZaloApi, sessionmaker: Any) -> None:
    zalo_api.expire_access_token()
    zalo_api.fail(REFRESH, Fault(error=-14014, message="Invalid refresh token"))
    channel = make_channel(zalo_api, None, sessionmaker)
    await channel.start()
    try:
        with pytest.raises(SendFailed, match="ZALO_REFRESH_TOKEN"):
            await channel.send(USER, Reply(text="một"))
    finally:
        await channel.stop()
    assert zalo_api.calls[SEND] == 1


async def test_a_failed_reply_does_not_break_the_webhook(zalo_bot: ZaloBot) -> None:
    """Replies fail for good (user left): the event is still handled once, and the next one works."""
    zalo_bot.fake.unfollowed.add("u-gone")
    status, _ = await zalo_bot.post(event("user_send_text", "u-gone", text="xin chào"))
    await zalo_bot.settle()
    assert status == 200 and zalo_bot.fake.texts("u-gone") == []
    zalo_bot.fake.unfollowed.discard("u-gone")
    await zalo_bot.post(event("user_send_text", "u-gone", text="xin chào"))
    await zalo_bot.settle()
    assert zalo_bot.fake.texts("u-gone")  # writing again makes them reachable again
