# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""Every fault the fake Zalo API can inject, and what sending does about it.

One table: label, the faults queued on the send endpoint, the expected outcome (the outbox row
sent, or failed with an error starting with a given reason), how many send calls the fake saw,
and the user's state afterwards. Sends go through the sender core (`Sender.send_now`), retries
through the dispatcher, with `FAST_RETRIES` (max_attempts 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bot.messages import Reply
from tests.channels.conftest_zalo import (  # noqa: F401 - fixtures
    FAST_RETRIES,
    ZaloBot,
    final_state,
    outbox_rows,
    send_only,
    sessionmaker,
    subscribe,
    user_state,
    zalo_api,
    zalo_bot,
)
from tests.fakes.zalo_api import REFRESH, SEND, UPLOAD_IMAGE, FakeZaloApi, Fault, event

USER = "u-fault"
SENT = None  # the outcome of a case whose message is delivered


@dataclass
class FaultCase:
    label: str
    faults: list[Fault]
    failed: str | None  # None: sent; else the start of the failed row's error
    send_calls: int
    after: tuple[bool, bool] = (True, True)  # (reachable, subscribed)
    refreshes: int = 0
    expire_token: bool = False
    unfollowed: bool = False


CASES = [
    FaultCase(
        "rate limited (-32), then sent",
        [Fault(error=-32, message="Your application reached limit call api")],
        SENT,
        2,
    ),
    FaultCase(
        "HTTP 429 with Retry-After, then sent",
        [Fault(status=429, headers={"Retry-After": "0.05"})],
        SENT,
        2,
    ),
    FaultCase("HTTP 502, then sent", [Fault(status=502)], SENT, 2),
    FaultCase("HTTP 503 twice, then sent", [Fault(status=503), Fault(status=503)], SENT, 3),
    FaultCase("slow answer past the timeout, then sent", [Fault(delay=3.0, status=504)], SENT, 2),
    FaultCase(
        "send failed (-200), then sent", [Fault(error=-200, message="Send message failed")], SENT, 2
    ),
    FaultCase(
        "invalid token (-216): refreshed, sent once more", [Fault(error=-216)], SENT, 2, refreshes=1
    ),
    FaultCase(
        "expired token (-220): refreshed, sent once more", [Fault(error=-220)], SENT, 2, refreshes=1
    ),
    FaultCase(
        "token expired at Zalo: refreshed, sent once more",
        [],
        SENT,
        2,
        refreshes=1,
        expire_token=True,
    ),
    FaultCase(
        "5xx on every attempt: gives up",
        [Fault(status=502)] * 10,
        "retries exhausted: zalo: HTTP 502",
        FAST_RETRIES.max_attempts,
    ),
    FaultCase(
        "bad parameter (-201): not retried",
        [Fault(error=-201, message="text is invalid!")],
        "zalo: message refused: error -201",
        1,
    ),
    FaultCase(
        "user not following (-213): unreachable, unsubscribed",
        [],
        "gone: zalo: user has not followed the OA (-213)",
        1,
        after=(False, False),
        unfollowed=True,
    ),
    FaultCase(
        "user banned or inactive (-227): unreachable, unsubscribed",
        [Fault(error=-227)],
        "gone: zalo: user is banned",
        1,
        after=(False, False),
    ),
    FaultCase(
        "no interaction for 7 days (-230): fails, stays subscribed",
        [Fault(error=-230)],
        "zalo: outside the reply window",
        1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_send_faults(case: FaultCase, zalo_api: FakeZaloApi, sessionmaker: Any) -> None:
    await subscribe(sessionmaker, "zalo", USER)
    zalo_api.fail(SEND, *case.faults)
    if case.expire_token:
        zalo_api.expire_access_token()
    if case.unfollowed:
        zalo_api.unfollowed.add(USER)
    async with send_only(zalo_api, sessionmaker, send_timeout=0.5) as zs:
        status, error = await zs.send(USER, Reply(text="Thông báo lớp tập huấn"))
    if case.failed is None:
        assert (status, error) == ("sent", None)
    else:
        assert status == "failed" and error is not None and error.startswith(case.failed), error
    assert zalo_api.texts(USER) == ([] if case.failed else ["Thông báo lớp tập huấn"])
    assert zalo_api.calls[SEND] == case.send_calls
    assert len(zalo_api.spent_refresh_tokens) == case.refreshes
    assert await user_state(sessionmaker, "zalo", USER) == case.after
    (row,) = await outbox_rows(sessionmaker, USER)
    assert row.payload is None  # sent or failed, the message's text is not kept


async def test_a_gone_user_has_their_other_unsent_rows_failed(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    """-213 on the first of three queued replies: none of them is tried again, nor the others."""
    await subscribe(sessionmaker, "zalo", USER)
    zalo_api.unfollowed.add(USER)
    async with send_only(zalo_api, sessionmaker) as zs:
        ids = await zs.sender.send_now("zalo", USER, [Reply(text=t) for t in ("1", "2", "3")])
        for row_id in ids:  # send_now's flush, or the dispatcher if it leased them first
            await final_state(sessionmaker, row_id)
        rows = await outbox_rows(sessionmaker, USER)
    assert [r.id for r in rows] == ids
    assert [r.status for r in rows] == ["failed"] * 3
    assert rows[0].error.startswith("gone: zalo: user has not followed the OA")
    assert [r.error for r in rows[1:]] == ["gone", "gone"]
    assert zalo_api.calls[SEND] == 1
    assert await user_state(sessionmaker, "zalo", USER) == (False, False)


async def test_a_refused_reply_does_not_hold_up_the_next_one(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    """A reply refused for good (-230) fails alone: the user's next queued reply still goes."""
    zalo_api.fail(SEND, Fault(error=-230))
    async with send_only(zalo_api, sessionmaker) as zs:
        ids = await zs.sender.send_now("zalo", USER, [Reply(text="một"), Reply(text="hai")])
        # The in-process dispatcher may have leased the first row between the insert and the
        # flush (then send_now leaves it to it): wait for both rows to finish.
        for row_id in ids:
            await final_state(sessionmaker, row_id)
        rows = await outbox_rows(sessionmaker, USER)
    assert [r.status for r in rows] == ["failed", "sent"]
    assert zalo_api.texts(USER) == ["hai"]


async def test_upload_faults_are_retried(
    zalo_api: FakeZaloApi, sessionmaker: Any, tmp_path: Any
) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    zalo_api.fail(UPLOAD_IMAGE, Fault(status=500), Fault(error=-216))
    async with send_only(zalo_api, sessionmaker, content_dir=tmp_path) as zs:
        assert await zs.send(USER, Reply(photo="a.png")) == ("sent", None)
    assert len(zalo_api.uploads) == 1 and len(zalo_api.sent) == 1
    assert len(zalo_api.spent_refresh_tokens) == 1
    assert zalo_api.calls[UPLOAD_IMAGE] == 3  # 500, then -216 (refreshed), then uploaded


async def test_refresh_refused_is_not_retried_forever(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    zalo_api.expire_access_token()
    zalo_api.fail(REFRESH, Fault(error=-14014, message="Invalid refresh token"))
    async with send_only(zalo_api, sessionmaker) as zs:
        status, error = await zs.send(USER, Reply(text="một"))
    assert status == "failed" and "ZALO_REFRESH_TOKEN" in error
    assert zalo_api.calls[SEND] == 1 and zalo_api.calls[REFRESH] == 1
    (row,) = await outbox_rows(sessionmaker, USER)
    assert row.attempts == 1  # an operator error: not retried


async def test_a_failed_reply_does_not_break_the_webhook(zalo_bot: ZaloBot) -> None:
    """Replies fail for good (user left): the event is still handled once; the next one works."""
    zalo_bot.fake.unfollowed.add("u-gone")
    status, _ = await zalo_bot.post(event("user_send_text", "u-gone", text="xin chào"))
    await zalo_bot.settle()
    assert status == 200 and zalo_bot.fake.texts("u-gone") == []
    assert zalo_bot.fake.calls[SEND] == 1  # the second reply was failed with the first, not tried
    zalo_bot.fake.unfollowed.discard("u-gone")
    await zalo_bot.post(event("user_send_text", "u-gone", text="xin chào"))
    await zalo_bot.settle()
    assert zalo_bot.fake.texts("u-gone")  # writing again makes them reachable again
