"""Property tests on the Zalo Bot Platform webhook, like tests/channels/test_fuzz_webhooks.py does
for Telegram and the Zalo OA (its harness and value strategies): whatever arrives, no 5xx and no
traceback; with the secret, a malformed update is answered 200 and recorded as rejected (so Zalo
stops sending it), never handled, and a well-formed one is recorded under its message id; without
the secret, 403 and nothing recorded.

The signed target runs the "ci" hypothesis profile's 10,000 examples (tests/conftest.py);
`HYPOTHESIS_PROFILE=dev` runs 200.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.channels.schemas import ZB_EVENT_RE, Invalid, zalo_bot_update
from bot.channels.zalo_bot import (
    MESSAGE_EVENTS,
    SECRET_HEADER,
    ZaloBotChannel,
    to_incoming,
    webhook_path,
)
from bot.config import ZaloBotSettings
from bot.storage.repositories.inbox import rejected_key
from tests.channels.fuzz_harness import Route, assert_clean, fuzz_services, sqlite_url
from tests.channels.fuzz_payloads import (
    corrupted,
    json_objects,
    put,
    raw_bodies,
    sample_bodies,
    texts,
)
from tests.channels.test_fuzz_webhooks import quiet_logs, timing  # noqa: F401

SECRET = "fuzz-Secret_0123456789"
CONTENT = Path(__file__).resolve().parents[2] / "content"
_ids = iter(range(10**9, 2 * 10**9))

zb_ids = st.one_of(
    st.integers(16**7, 16**20).map(lambda n: f"{n:x}"), st.sampled_from(["abc.xyz", "u-1_2"])
)
zb_url = st.sampled_from(["https://photo-stal-9.zadn.vn/a.jpg", "http://f.zdn.vn/v.aac"])
zb_message = st.fixed_dictionaries(
    {
        "from": st.fixed_dictionaries(
            {"id": zb_ids}, optional={"display_name": texts, "is_bot": st.booleans()}
        ),
        "chat": st.fixed_dictionaries(
            {"id": zb_ids, "chat_type": st.sampled_from(["PRIVATE", "PRIVATE", "GROUP"])}
        ),
        "message_id": zb_ids,
        "date": st.integers(0, 2**45),
    },
    optional={
        "text": texts,
        "caption": texts,
        "photo_url": zb_url,
        "photo": zb_url,
        "voice_url": zb_url,
        "sticker": st.just("0e078a2fb66a5f34067b"),
    },
)
zb_update = st.fixed_dictionaries(
    {
        "event_name": st.sampled_from(
            [*sorted(MESSAGE_EVENTS), "message.unsupported.received", "bot.other"]
        ),
        "message": zb_message,
    }
)
ZB_FIELDS: dict[tuple[str, ...], str] = {
    ("event_name",): "id",
    ("message",): "obj",
    ("message", "from"): "obj",
    ("message", "from", "id"): "id",
    ("message", "from", "is_bot"): "bool",
    ("message", "chat"): "obj",
    ("message", "chat", "id"): "id",
    ("message", "chat", "chat_type"): "id",
    ("message", "message_id"): "id",
    ("message", "text"): "str",
    ("message", "caption"): "str",
    ("message", "photo_url"): "label",
    ("message", "voice_url"): "label",
}
ZB_DROPPED = {("message", "photo")}

payloads = st.one_of(
    corrupted(zb_update, ZB_FIELDS, ZB_DROPPED).map(lambda c: ("update", *c)),
    json_objects.map(lambda o: ("object", o, "", ())),
    raw_bodies.map(lambda b: ("raw", b, "", ())),
)


@pytest.fixture
def route(settings: Any, tmp_path: Path, quiet_logs: None) -> Iterator[Route]:  # noqa: F811
    services, engine = fuzz_services(settings, sqlite_url(tmp_path))
    zs = ZaloBotSettings(
        token="1459232241454765289:fuzz",
        api_base_url="http://127.0.0.1:9",
        webhook_url="https://bot.example.gov.vn/zalo-bot/webhook",
        webhook_secret=SECRET,
    )
    with Route(services, ZaloBotChannel(zs, content_dir=CONTENT), engine) as r:
        yield r
    timing(r)


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def test_the_webhook_with_the_secret(route: Route) -> None:
    path = webhook_path(route.channel.settings)

    @given(payloads, st.booleans())
    def check(case: tuple, wrapped: bool) -> None:
        form, payload, expected, where = case
        if form == "update" and where[:2] != ("message", "message_id"):
            if isinstance(payload.get("message"), dict):  # every example is a new message
                payload = put(payload, ("message", "message_id"), f"m{next(_ids)}")
        body = (
            payload
            if form == "raw"
            else encode(
                {"ok": True, "result": payload} if wrapped and form == "update" else payload
            )
        )
        status, text = route.post(path, body, {SECRET_HEADER: SECRET})
        assert_clean(status, text)
        if form == "raw":
            assert status in (200, 400, 413), status
            return
        assert status in (200, 400), (status, text)
        if status == 400:  # numbers out of range: only from arbitrary objects
            assert form == "object", text
            return
        name = payload.get("event_name")
        try:
            zalo_bot_update(payload)
            valid = True
        except Invalid:
            valid = False
        handled = isinstance(name, str) and name in MESSAGE_EVENTS
        ignored = isinstance(name, str) and bool(ZB_EVENT_RE.fullmatch(name)) and not handled
        if expected == "reject" and handled:
            assert not valid, where
        if expected in ("ok", "drop"):
            assert valid, where
        message = payload.get("message")
        key = message.get("message_id") if valid and isinstance(message, dict) else None
        states = route.statuses("zalo_bot", rejected_key(payload), str(key))
        state = states.get(rejected_key(payload))
        if ignored or (valid and to_incoming(payload) is None):
            assert states == {}, (where, states)  # an event or chat the bot does not answer
            return
        if valid:
            assert state is None and states.get(str(key)) in ("received", "processing", "done")
            msg = route.channel.parse(payload)
            assert msg is not None and isinstance(msg.text, str) and "\x00" not in msg.text
            assert all(m.ref.startswith(("https://", "http://")) for m in msg.media)
        else:
            assert state == "rejected", (where, state)

    started = time.perf_counter()
    check()
    print(f"\nzalo_bot with the secret: {time.perf_counter() - started:.1f} s")


@hypothesis_settings(max_examples=2_000)
@given(
    secret=st.one_of(
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
        st.sampled_from([SECRET + "x", SECRET[:-1], SECRET.upper(), "x" + SECRET, SECRET[1:]]),
    ).filter(lambda s: s.strip() != SECRET),  # HTTP drops the spaces around a header value
    body=sample_bodies,
)
def forged(route: Route, secret: str, body: bytes) -> None:
    headers = {SECRET_HEADER: secret} if secret else {}
    status, text = route.post(webhook_path(route.channel.settings), body, headers)
    assert_clean(status, text)
    assert status == 403, (status, text)


def test_the_webhook_without_the_secret(route: Route) -> None:
    """A wrong or missing secret is 403 before the body is read, whatever the body."""
    forged(route)
    assert route.rows("zalo_bot") == 0
    assert route.recorder.messages == []
