"""Property tests on the Telegram and Zalo webhook routes: whatever arrives, no 5xx and no
traceback; a signed but malformed update is answered 200 and recorded as rejected (so the
platform stops sending it), never handled; a forged one is refused and leaves nothing.

Each target runs the "ci" hypothesis profile's 10,000 examples (tests/conftest.py) against the
real route (`fuzz_harness.Route`: the channel's handler on an in-process aiohttp server, the real
inbound worker, a migrated SQLite inbox). `HYPOTHESIS_PROFILE=dev` runs 200.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.schemas import Invalid, telegram_update, zalo_event
from bot.channels.telegram import SECRET_HEADER, TelegramChannel, webhook_path
from bot.channels.zalo import HANDLED_EVENTS, WEBHOOK_PATH, ZaloChannel, event_key
from bot.config import ZaloSettings
from bot.storage.repositories.inbox import rejected_key
from tests.channels.fuzz_harness import Route, assert_clean, fuzz_services, sqlite_url
from tests.channels.fuzz_payloads import (
    TG_DROPPED,
    TG_FIELDS,
    WRONG,
    ZALO_AUTH,
    ZALO_DROPPED,
    ZALO_FIELDS,
    corrupted,
    json_objects,
    put,
    raw_bodies,
    sample_bodies,
    tg_update,
)
from tests.channels.fuzz_payloads import zalo_event as zalo_events
from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, sign

SECRET = "test_Secret-0123456789"
ZALO_DATA = Path(__file__).resolve().parents[1] / "data" / "zalo"
ZALO_SAMPLES = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(ZALO_DATA.glob("*.json"))]
CONTENT = Path(__file__).resolve().parents[2] / "content"
_ids = iter(range(10**9, 2 * 10**9))


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """One warning per rejected payload, 10,000 times over, is not worth capturing."""
    logger = logging.getLogger("bot.inbound")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@pytest.fixture
def telegram_route(settings: Any, tmp_path: Path, quiet_logs: None) -> Iterator[Route]:
    services, engine = fuzz_services(settings, sqlite_url(tmp_path))
    tg = dataclasses.replace(
        settings.telegram,
        token="123456:fuzz",
        api_base_url="http://127.0.0.1:9/bot",
        webhook_url="http://127.0.0.1:9/telegram/webhook",
        webhook_secret=SECRET,
    )
    with Route(services, TelegramChannel(tg, content_dir=CONTENT), engine) as route:
        yield route
    timing(route)


@pytest.fixture
def zalo_route(settings: Any, tmp_path: Path, quiet_logs: None) -> Iterator[Route]:
    services, engine = fuzz_services(settings, sqlite_url(tmp_path))
    zs = ZaloSettings(app_id=APP_ID, oa_secret_key=OA_SECRET_KEY, timestamp_window_seconds=300)
    channel = ZaloChannel(zs, services.sessionmaker, content_dir=CONTENT)
    with Route(services, channel, engine) as route:
        yield route
    timing(route)


def timing(route: Route) -> None:
    if route.requests:
        per = route.seconds / route.requests * 1000
        print(f"\n{route.channel.name}: {route.requests} requests, {per:.2f} ms each")


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------- Telegram

tg_payloads = st.one_of(
    corrupted(tg_update, TG_FIELDS, TG_DROPPED).map(lambda c: ("update", *c)),
    json_objects.map(lambda o: ("object", o, "", ())),
    raw_bodies.map(lambda b: ("raw", b, "", ())),
)


def test_telegram_webhook_with_the_secret(telegram_route: Route) -> None:
    route = telegram_route
    path = webhook_path(route.channel.settings)

    @given(tg_payloads)
    def check(case: tuple) -> None:
        form, payload, expected, where = case
        if form == "update" and where != ("update_id",):
            payload = dict(payload, update_id=next(_ids))  # every example is a new update
        body = payload if form == "raw" else encode(payload)
        status, text = route.post(path, body, {SECRET_HEADER: SECRET})
        assert_clean(status, text)
        if form == "raw":
            assert status in (200, 400, 413), status
            return
        assert status in (200, 400), (status, text)
        update_id = payload.get("update_id")
        whole_id = type(update_id) is int and 0 <= update_id <= 2**53
        if status == 400:  # not an object with a whole update_id, or numbers out of range
            assert form == "object" or not whole_id, text
            assert route.statuses("telegram", rejected_key(payload)) == {}
            return
        assert whole_id, (where, status)
        try:
            telegram_update(payload)
            valid = True
        except Invalid:
            valid = False
        if expected == "reject":
            assert not valid, where
        if expected in ("ok", "drop"):
            assert valid, where
        key = str(update_id)
        states = route.statuses("telegram", rejected_key(payload), key)
        state = states.get(rejected_key(payload))
        assert (state == "rejected") == (not valid), (where, state)
        if valid:
            assert states.get(key) in (None, "received", "processing", "done")
            event = route.channel.parse(payload)  # what the worker handles: well typed
            if event is not None and hasattr(event, "text"):
                assert isinstance(event.text, str) and "\x00" not in event.text
                if event.location is not None:
                    assert -90 <= event.location.latitude <= 90
                if expected == "drop" and where[-1] in ("latitude", "longitude"):
                    venue = payload["message"].get("venue")
                    assert event.location is None or venue is not None

    started = time.perf_counter()
    check()
    print(f"\ntelegram with the secret: {time.perf_counter() - started:.1f} s")


def test_telegram_webhook_forged(telegram_route: Route) -> None:
    """A wrong or missing secret is 403 before the body is read, whatever the body."""
    route = telegram_route

    @given(
        secret=st.one_of(
            st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
            st.sampled_from(
                [SECRET + "x", SECRET[:-1], SECRET.upper(), SECRET.lower(), "x" + SECRET]
            ),
        ),
        body=sample_bodies,
    )
    def check(secret: str, body: bytes) -> None:
        headers = {SECRET_HEADER: secret} if secret else {}
        status, text = route.post(webhook_path(route.channel.settings), body, headers)
        assert_clean(status, text)
        assert status == 403, (status, text)

    check()
    assert route.rows("telegram") == 0
    assert route.recorder.messages == []


# --------------------------------------------------------------------------- Zalo


def signed(event: dict[str, Any], *, now: bool = True) -> tuple[bytes, dict[str, str]]:
    """The body and headers Zalo would send for `event` (its app id and timestamp set)."""
    body = encode(event)
    ts = event.get("timestamp")
    ts_text = str(ts) if isinstance(ts, (str, int)) and not isinstance(ts, bool) else ""
    header = sign(APP_ID, body, ts_text, OA_SECRET_KEY)
    return body, {"X-ZEvent-Signature": header}


zalo_payloads = st.one_of(
    corrupted(zalo_events, ZALO_FIELDS, ZALO_DROPPED, ZALO_AUTH).map(lambda c: ("event", *c)),
    json_objects.map(lambda o: ("object", o, "", ())),
    raw_bodies.map(lambda b: ("raw", b, "", ())),
)


def test_zalo_webhook_signed(zalo_route: Route) -> None:
    route = zalo_route

    @given(zalo_payloads, st.booleans(), st.data())
    def check(case: tuple, int_timestamp: bool, data: st.DataObject) -> None:
        form, payload, expected, where = case
        if form == "raw":
            headers = {"X-ZEvent-Signature": "mac=" + "0" * 64}
            status, text = route.post(WEBHOOK_PATH, payload, headers)
            assert_clean(status, text)
            assert status in (400, 403, 413), status
            return
        ms = int(time.time() * 1000)
        payload = dict(payload, app_id=APP_ID, timestamp=ms if int_timestamp else str(ms))
        message = payload.get("message")
        if form == "event" and isinstance(message, dict) and where[:2] != ("message", "msg_id"):
            if "msg_id" in message:  # every example is a new event
                payload = put(payload, ("message", "msg_id"), f"m{next(_ids)}")
        if expected == "forbid":
            payload = dict(payload, **{where[0]: data.draw(WRONG["id"] | st.just(ms - 10**7))})
        body, headers = signed(payload)
        status, text = route.post(WEBHOOK_PATH, body, headers)
        assert_clean(status, text)
        if expected == "forbid":
            assert status == 403, (where, status, text)
            return
        assert status in (200, 400), (status, text)
        if status == 400:
            assert form == "object", text  # numbers out of range only come from `object`
            return
        name = payload.get("event_name")
        ignored = isinstance(name, str) and name not in HANDLED_EVENTS and valid_name(name)
        try:
            zalo_event(payload)
            valid = True
        except Invalid:
            valid = False
        if expected == "reject" and not ignored:
            assert not valid, where
        if expected in ("ok", "drop"):
            assert valid, where
        key = event_key(payload) if valid else None
        states = route.statuses("zalo", rejected_key(payload), key or "-")
        state = states.get(rejected_key(payload))
        if ignored:
            assert states == {}
            return
        if valid:
            if key is None:  # a handled event without its user: rejected
                assert state == "rejected"
                return
            assert state is None
            assert states.get(key) in ("received", "processing", "done"), where
        else:
            assert state == "rejected", (where, state)

    started = time.perf_counter()
    check()
    print(f"\nzalo signed: {time.perf_counter() - started:.1f} s")


def valid_name(name: str) -> bool:
    from bot.channels.zalo import EVENT_NAME_RE

    return EVENT_NAME_RE.fullmatch(name) is not None


def test_zalo_webhook_forged(zalo_route: Route) -> None:
    """A signature that does not match (another key, another body, none, garbage), whatever the
    body: never 200, never recorded."""
    route = zalo_route

    @given(
        st.one_of(st.sampled_from(ZALO_SAMPLES), zalo_events),
        st.one_of(
            st.just("other-key"),
            st.just("tampered"),
            st.just("none"),
            st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
            st.sampled_from(["mac=", "mac=" + "0" * 64, "mac=" + "g" * 64, "MAC=" + "a" * 63]),
        ),
    )
    def check(event: dict[str, Any], how: str) -> None:
        payload = dict(event, app_id=APP_ID, timestamp=str(int(time.time() * 1000)))
        body = encode(payload)
        if how == "other-key":
            header = sign(APP_ID, body, payload["timestamp"], OA_SECRET_KEY + "x")
        elif how == "tampered":
            header = sign(APP_ID, body, payload["timestamp"], OA_SECRET_KEY)
            body = body[:-1] + b" }"
        elif how == "none":
            header = ""
        else:
            header = how
        headers = {"X-ZEvent-Signature": header} if header else {}
        status, text = route.post(WEBHOOK_PATH, body, headers)
        assert_clean(status, text)
        assert status == 403, (status, text)

    check()
    assert route.rows("zalo") == 0
    assert route.recorder.messages == []
