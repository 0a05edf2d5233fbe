"""Hypothesis strategies for platform payloads: well-formed ones, the same with one field made
wrong (an expected outcome attached), arbitrary JSON and raw bodies.

A corruption replaces the value at one path the adapter reads with a value of the wrong type or
out of range, and says what must follow: "reject" (recorded as rejected, answered 200), "drop"
(the field is dropped, the rest handled: a location that is not numbers in range, a URL that is
not http(s)), or "forbid" (an authentication field: 403).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

# --------------------------------------------------------------------------- values

ids = st.integers(1, 2**40)
names = st.one_of(st.sampled_from(["Hùng", "Lan", "Đinh Văn", ""]), st.text(max_size=6))
texts = st.one_of(
    st.text(max_size=24), st.sampled_from(["xin chào", "/start", "1", "a\x00b", "🙂" * 3, ""])
)
token_ids = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
    min_size=1,
    max_size=24,
)
floats = st.floats(allow_nan=True, allow_infinity=False)

WRONG_ANY = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["id", "x"]), st.integers(), min_size=1, max_size=2),
)
# Wrong values for each kind of field (never None: an absent optional field is fine).
WRONG = {
    "int": st.one_of(
        st.booleans(),
        st.text(max_size=6),
        st.floats(allow_nan=False, allow_infinity=False),
        st.just(-1),
        st.integers(2**60, 2**200),
        st.just([]),
        st.just({}),
    ),
    "signed": st.one_of(
        st.booleans(), st.text(max_size=6), st.integers(2**60, 2**200), st.just([1])
    ),
    "bool": st.one_of(st.integers(), st.text(max_size=4), st.just([]), st.just({})),
    "str": st.one_of(
        st.integers(), st.booleans(), st.just([]), st.just({"a": 1}), st.just("x" * 20_000)
    ),
    "label": st.one_of(st.integers(), st.booleans(), st.just([]), st.just({"a": 1})),
    "id": st.one_of(
        st.integers(-5, 5).map(str).map(lambda s: s + "\n"),  # `$` would let this through
        st.sampled_from(["", " ", "a b", "x\n", "ab\r\n", "é", "a" * 600, "../x", "a;b"]),
        st.booleans(),
        st.just([]),
        st.just({}),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    "obj": st.one_of(
        st.integers(), st.booleans(), st.text(min_size=1, max_size=6), st.just([]), st.just([{}])
    ),
    "list": st.one_of(st.integers(), st.booleans(), st.text(min_size=1, max_size=6), st.just({})),
    "number": st.one_of(
        st.text(max_size=6),
        st.booleans(),
        st.just([]),
        st.just({}),
        st.sampled_from([91, -91.5, 181, 1e308, -1e300, "1e999", "nan", "inf", 2**70]),
    ),
}

# --------------------------------------------------------------------------- Telegram


def _tg_user() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"id": ids, "is_bot": st.booleans(), "first_name": names})


tg_chat = st.fixed_dictionaries(
    {
        "id": st.integers(-(2**52), 2**52),
        "type": st.sampled_from(["private", "private", "group", "supergroup", "channel"]),
    }
)
tg_file = st.fixed_dictionaries(
    {"file_id": token_ids, "file_unique_id": token_ids},
    optional={
        "file_size": st.integers(0, 2**31),
        "mime_type": st.sampled_from(["audio/ogg", "application/pdf", "video/mp4"]),
    },
)
tg_photo = st.fixed_dictionaries(
    {
        "file_id": token_ids,
        "file_unique_id": token_ids,
        "width": st.integers(0, 100_000),
        "height": st.integers(0, 100_000),
    },
    optional={"file_size": st.integers(0, 2**31)},
)
tg_location = st.fixed_dictionaries(
    {"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)}
)
tg_button = st.fixed_dictionaries(
    {"text": names},
    optional={"callback_data": st.text(max_size=16)},
)
tg_markup = st.fixed_dictionaries(
    {"inline_keyboard": st.lists(st.lists(tg_button, min_size=1, max_size=2), max_size=3)}
)
tg_message = st.fixed_dictionaries(
    {"message_id": ids, "date": ids, "chat": tg_chat},
    optional={
        "from": _tg_user(),
        "text": texts,
        "caption": texts,
        "photo": st.lists(tg_photo, min_size=1, max_size=3),
        "voice": tg_file,
        "document": tg_file,
        "sticker": tg_file,
        "location": tg_location,
        "venue": st.fixed_dictionaries({"location": tg_location, "title": names, "address": names}),
        "contact": st.fixed_dictionaries(
            {"phone_number": st.integers(10**5, 10**14).map(str), "first_name": names},
            optional={"last_name": names},
        ),
        "reply_markup": tg_markup,
    },
)
tg_query = st.fixed_dictionaries(
    {
        "id": st.integers(0, 10**19).map(str),
        "from": _tg_user(),
        "chat_instance": st.integers(-(10**19), 10**19).map(str),
    },
    optional={
        "data": st.text(max_size=20).filter(lambda d: len(d.encode()) <= 64),
        "message": st.fixed_dictionaries(
            {"message_id": ids, "date": ids, "chat": tg_chat},
            optional={"text": texts, "reply_markup": tg_markup},
        ),
    },
)
tg_member = st.fixed_dictionaries(
    {
        "chat": tg_chat,
        "from": _tg_user(),
        "date": ids,
        "old_chat_member": st.fixed_dictionaries({"status": st.just("member"), "user": _tg_user()}),
        "new_chat_member": st.fixed_dictionaries(
            {
                "status": st.sampled_from(["kicked", "member", "left", "administrator"]),
                "user": _tg_user(),
            }
        ),
    }
)
tg_update = st.one_of(
    st.fixed_dictionaries({"update_id": ids, "message": tg_message}),
    st.fixed_dictionaries({"update_id": ids, "callback_query": tg_query}),
    st.fixed_dictionaries({"update_id": ids, "my_chat_member": tg_member}),
    st.fixed_dictionaries({"update_id": ids, "edited_message": tg_message}),
)

# What the Telegram schema reads: path pattern ("*" is a list index) -> kind of field.
_M = ("message",)
TG_FIELDS: dict[tuple[str, ...], str] = {
    ("update_id",): "int",
    ("message",): "obj",
    ("callback_query",): "obj",
    ("my_chat_member",): "obj",
    **{
        _M + p: k
        for p, k in {
            ("message_id",): "int",
            ("chat",): "obj",
            ("chat", "id"): "signed",
            ("chat", "type"): "id",
            ("from",): "obj",
            ("from", "id"): "int",
            ("from", "is_bot"): "bool",
            ("text",): "str",
            ("caption",): "str",
            ("photo",): "list",
            ("photo", "*"): "obj",
            ("photo", "*", "file_id"): "id",
            ("photo", "*", "width"): "int",
            ("photo", "*", "height"): "int",
            ("photo", "*", "file_size"): "int",
            ("voice",): "obj",
            ("voice", "file_id"): "id",
            ("voice", "file_size"): "int",
            ("voice", "mime_type"): "label",
            ("document",): "obj",
            ("document", "file_id"): "id",
            ("sticker", "file_id"): "id",
            ("contact",): "obj",
            ("contact", "phone_number"): "str",
            ("contact", "first_name"): "str",
            ("contact", "last_name"): "str",
            ("reply_markup",): "obj",
            ("reply_markup", "inline_keyboard"): "list",
            ("reply_markup", "inline_keyboard", "*"): "list",
            ("reply_markup", "inline_keyboard", "*", "*"): "obj",
            ("reply_markup", "inline_keyboard", "*", "*", "text"): "str",
            ("reply_markup", "inline_keyboard", "*", "*", "callback_data"): "str",
        }.items()
    },
    ("callback_query", "id"): "id",
    ("callback_query", "from"): "obj",
    ("callback_query", "from", "id"): "int",
    ("callback_query", "from", "is_bot"): "bool",
    ("callback_query", "data"): "str",
    ("callback_query", "message"): "obj",
    ("callback_query", "message", "chat"): "obj",
    ("callback_query", "message", "chat", "id"): "signed",
    ("callback_query", "message", "reply_markup", "inline_keyboard"): "list",
    ("my_chat_member", "chat"): "obj",
    ("my_chat_member", "chat", "id"): "signed",
    ("my_chat_member", "chat", "type"): "id",
    ("my_chat_member", "new_chat_member"): "obj",
    ("my_chat_member", "new_chat_member", "status"): "id",
}
TG_DROPPED = {
    ("message", "location", "latitude"),
    ("message", "location", "longitude"),
    ("message", "location"),
}


# --------------------------------------------------------------------------- Zalo

zalo_ids = st.one_of(st.integers(10**5, 10**20).map(str), st.integers(0, 10**19))
zalo_msg_ids = st.integers(16**7, 16**32).map(lambda n: f"{n:x}")
zalo_url = st.sampled_from(
    ["https://photo-stal-19.zadn.vn/photo.jpg", "http://f.zdn.vn/a.m4a", "https://x.vn/f.pdf"]
)
zalo_coordinates = st.fixed_dictionaries(
    {
        "latitude": st.one_of(st.floats(-90, 90), st.floats(-90, 90).map(str)),
        "longitude": st.one_of(st.floats(-180, 180), st.floats(-180, 180).map(str)),
    }
)
zalo_attachment = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["image", "audio", "file", "location", "sticker", "link"]),
        "payload": st.one_of(
            st.fixed_dictionaries({"url": zalo_url}, optional={"thumbnail": zalo_url}),
            st.fixed_dictionaries({"coordinates": zalo_coordinates}),
            st.fixed_dictionaries({"id": token_ids}),
        ),
    }
)
ZALO_MESSAGE_EVENTS = [
    "user_send_text",
    "user_send_image",
    "user_send_location",
    "user_send_audio",
    "user_send_file",
    "user_send_sticker",
    "user_send_gif",
    "user_send_video",
]
zalo_message_event = st.fixed_dictionaries(
    {
        "event_name": st.sampled_from(ZALO_MESSAGE_EVENTS),
        "sender": st.fixed_dictionaries({"id": zalo_ids}),
        "recipient": st.fixed_dictionaries({"id": zalo_ids}),
        "message": st.fixed_dictionaries(
            {"msg_id": zalo_msg_ids},
            optional={"text": texts, "attachments": st.lists(zalo_attachment, max_size=3)},
        ),
    },
    optional={"user_id_by_app": zalo_ids},
)
zalo_follow_event = st.fixed_dictionaries(
    {
        "event_name": st.sampled_from(["follow", "unfollow"]),
        "follower": st.fixed_dictionaries({"id": zalo_ids}),
    },
    optional={"oa_id": zalo_ids, "source": st.just("oa_profile")},
)
zalo_receipt_event = st.fixed_dictionaries(
    {
        "event_name": st.sampled_from(["user_received_message", "user_seen_message"]),
        "sender": st.fixed_dictionaries({"id": zalo_ids}),
        "recipient": st.fixed_dictionaries({"id": zalo_ids}),
        "message": st.fixed_dictionaries({"msg_ids": st.lists(zalo_msg_ids, max_size=4)}),
    }
)
zalo_other_event = st.fixed_dictionaries(
    {
        "event_name": st.sampled_from(["oa_send_text", "user_submit_info", "user_reacted"]),
        "sender": st.fixed_dictionaries({"id": zalo_ids}),
    }
)
zalo_event = st.one_of(zalo_message_event, zalo_follow_event, zalo_receipt_event, zalo_other_event)

ZALO_FIELDS: dict[tuple[str, ...], str] = {
    ("event_name",): "id",
    ("sender",): "obj",
    ("sender", "id"): "id",
    ("recipient",): "obj",
    ("recipient", "id"): "id",
    ("follower",): "obj",
    ("follower", "id"): "id",
    ("message",): "obj",
    ("message", "msg_id"): "id",
    ("message", "text"): "str",
    ("message", "attachments"): "list",
    ("message", "attachments", "*"): "obj",
    ("message", "attachments", "*", "type"): "id",
    ("message", "msg_ids"): "list",
    ("message", "msg_ids", "*"): "id",
}
ZALO_DROPPED = {
    ("message", "attachments", "*", "payload"),
    ("message", "attachments", "*", "payload", "url"),
    ("message", "attachments", "*", "payload", "coordinates"),
    ("message", "attachments", "*", "payload", "coordinates", "latitude"),
    ("message", "attachments", "*", "payload", "coordinates", "longitude"),
}
ZALO_AUTH = {("timestamp",): "timestamp", ("app_id",): "app"}

# --------------------------------------------------------------------------- corrupting


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path in a JSON value (list indices as ints)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, prefix + (i,))
    return out


def pattern(path: tuple) -> tuple[str, ...]:
    return tuple("*" if isinstance(p, int) else p for p in path)


def put(value: Any, path: tuple, new: Any) -> Any:
    """A deep copy of `value` with `new` at `path`."""
    value = json.loads(json.dumps(value))
    target = value
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = new
    return value


@st.composite
def corrupted(
    draw: st.DrawFn,
    base: st.SearchStrategy[dict],
    fields: dict[tuple[str, ...], str],
    dropped: set[tuple[str, ...]],
    auth: dict[tuple[str, ...], str] | None = None,
) -> tuple[dict, str, tuple]:
    """(payload, expected, path): a well-formed payload ("ok"), or one with a wrong value at a
    path the schema reads ("reject"), at a dropped field ("drop"), or an auth field ("forbid")."""
    payload = draw(base)
    choice = draw(st.sampled_from(["ok", "field", "field", "field", "drop", "auth"]))
    candidates = [p for p in paths(payload) if pattern(p) in fields]
    if choice == "field" and candidates:
        path = draw(st.sampled_from(candidates))
        bad = draw(WRONG[fields[pattern(path)]])
        return put(payload, path, bad), "reject", path
    drops = [p for p in paths(payload) if pattern(p) in dropped]
    if choice == "drop" and drops:
        path = draw(st.sampled_from(drops))
        bad = draw(WRONG["number"] if path[-1] in ("latitude", "longitude") else WRONG_ANY)
        return put(payload, path, bad), "drop", path
    if choice == "auth" and auth:
        path = draw(st.sampled_from(sorted(auth)))
        return payload, "forbid", path
    return payload, "ok", ()


# --------------------------------------------------------------------------- anything

KEYS = [
    "update_id",
    "message",
    "callback_query",
    "my_chat_member",
    "chat",
    "from",
    "id",
    "text",
    "photo",
    "width",
    "height",
    "location",
    "latitude",
    "longitude",
    "data",
    "event_name",
    "sender",
    "recipient",
    "follower",
    "msg_id",
    "msg_ids",
    "attachments",
    "payload",
    "coordinates",
    "timestamp",
    "app_id",
    "type",
    "status",
    "new_chat_member",
]
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["user_send_text", "follow", "private", "kicked", "\n", "1\n", "x" * 300]),
)
json_keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=4))
# Three levels of lists and objects over any leaf, without st.recursive (several times slower to
# draw): deeper nesting is the raw bodies' part.
json_inner = st.one_of(
    json_leaves,
    st.lists(json_leaves, max_size=3),
    st.dictionaries(json_keys, json_leaves, max_size=3),
)
json_values = st.one_of(
    json_inner,
    st.lists(json_inner, max_size=3),
    st.dictionaries(json_keys, json_inner, max_size=3),
)
json_objects = st.dictionaries(json_keys, json_values, max_size=5)

raw_bodies = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=80).map(lambda t: t.encode("utf-8")),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b"1e999",
            b'{"update_id": NaN}',
            b'{"x": "\\ud800"}',
            b'{"x": "\\udfff\\ud800"}',
            b'{"a": 1' + b"0" * 5000 + b"}",
            b'{"update_id": 1, "message": {"text": "\\u0000"}}',
            b"\xff\xfe{}",
        ]
    ),
)

DATA = Path(__file__).resolve().parents[1] / "data"
# Real-shaped bodies (tests/data/) and a few odd ones: what a forger would send, cheap to draw.
SAMPLE_BODIES = [p.read_bytes() for p in sorted(DATA.glob("*/*.json"))] + [
    b"",
    b"{}",
    b"[]",
    b'{"update_id": 1}',
    b'{"x": "\\ud800"}',
    b"[" * 5000 + b"]" * 5000,
]
sample_bodies = st.one_of(st.sampled_from(SAMPLE_BODIES), st.binary(max_size=64))
