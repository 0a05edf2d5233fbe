"""What a platform payload must look like before anything uses it: one small schema per payload.

Every field the adapters read from a Telegram update or a Zalo OA event is checked here by type
and range, and the payload becomes a frozen dataclass holding only those fields; nothing else in
the payload is ever touched. A payload that does not fit raises `Invalid` naming the field (its
path, never its value: the value may be personal data), and the inbound worker records it as
rejected and acknowledges it, so the platform stops sending it again.

The rules, for both platforms:

- integers are `int` and not `bool` (JSON `false` is not an update id), inside a range the
  platform documents (ids within 2**53, photo sizes within 100,000 pixels, file sizes within
  2**42 bytes), so no arithmetic runs on an unbounded number;
- floats are finite and in range (a latitude in [-90, 90]); a location that is not is *dropped*,
  the rest of the message stays;
- strings have a length limit, and ids match their pattern whole (`fullmatch`, never `$`, which
  lets a trailing newline through); NUL characters are removed from texts (PostgreSQL text
  columns cannot hold them);
- lists have a length limit, so no payload makes us loop for long.

Why plain functions and not pydantic or msgspec: the schemas cover about thirty fields of three
Telegram objects and one Zalo event, and each rule is a line here; a library would save little
code, add a dependency with its own coercions to audit (pydantic turns `"5"` into 5 and `1.0`
into `True` unless told otherwise, so `strict` mode and custom validators would be needed for the
same rules anyway) and put the rules one step further from the code that relies on them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bot.messages import Contact, Location

MAX_ID = 2**53  # Telegram: chat and user ids have at most 52 significant bits
MAX_PIXELS = 100_000  # a photo side
MAX_FILE_SIZE = 2**42  # bytes; a local Bot API server takes files up to 2 GB
MAX_TEXT = 16_384  # characters; Telegram's limit is 4096 UTF-16 units, Zalo's 2000 characters
MAX_NAME = 256
MAX_LIST = 1_000  # photo sizes, keyboard rows and buttons, attachments, receipt ids

FILE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,512}")
QUERY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
CHAT_TYPE_RE = re.compile(r"[a-z_]{1,32}")
STATUS_RE = re.compile(r"[a-z_]{1,32}")
MIME_RE = re.compile(r"[A-Za-z0-9][\w.+-]{0,126}/[\w.+-]{1,127}", re.ASCII)
CALLBACK_DATA_BYTES = 64

ZALO_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
ZALO_MSG_ID_RE = re.compile(r"[\w.:-]{1,256}", re.ASCII)
ZALO_EVENT_RE = re.compile(r"[a-z_]{1,40}")
ZALO_TIMESTAMP_RE = re.compile(r"[0-9]{1,16}")  # milliseconds since 1970: 13 digits today
MAX_TIMESTAMP = 10**16
MAX_URL = 4096
URL_RE = re.compile(r"https?://[\x21-\x7e]{1,4088}")  # no spaces, no control characters


class Invalid(ValueError):
    """A payload that does not fit its schema; `field` is where (a path, never a value)."""

    def __init__(self, field: str, problem: str = "invalid") -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.reason = f"{field}: {problem}"


# --------------------------------------------------------------------------- primitives


def finite_numbers(value: Any, depth: int = 0) -> bool:
    """True when no float in a parsed JSON value is infinite or NaN (`1e999`, `NaN`, which
    Python's json reads and PostgreSQL's json refuses)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if depth > 64:
        return False
    if isinstance(value, dict):
        return all(finite_numbers(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(finite_numbers(v, depth + 1) for v in value)
    return True


def obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(field, "not an object")
    return value


def opt_obj(value: Any, field: str) -> dict[str, Any] | None:
    return None if value is None else obj(value, field)


def array(value: Any, field: str, limit: int = MAX_LIST) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid(field, "not a list")
    if len(value) > limit:
        raise Invalid(field, f"more than {limit} items")
    return value


def integer(value: Any, field: str, lo: int, hi: int) -> int:
    if type(value) is not int:  # bool is an int subclass; JSON `true` is not a number
        raise Invalid(field, "not an integer")
    if not lo <= value <= hi:
        raise Invalid(field, "out of range")
    return value


def opt_integer(value: Any, field: str, lo: int, hi: int) -> int | None:
    return None if value is None else integer(value, field, lo, hi)


def boolean(value: Any, field: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise Invalid(field, "not a boolean")
    return value


def text(value: Any, field: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise Invalid(field, "not a string")
    if len(value) > limit:
        raise Invalid(field, f"longer than {limit} characters")
    return value.replace("\x00", "")


def opt_text(value: Any, field: str, limit: int = MAX_TEXT) -> str | None:
    return None if value is None else text(value, field, limit)


def ident(value: Any, field: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str):
        raise Invalid(field, "not a string")
    if not pattern.fullmatch(value):
        raise Invalid(field, "not a valid id")
    return value


def opt_ident(value: Any, field: str, pattern: re.Pattern[str]) -> str | None:
    return None if value is None else ident(value, field, pattern)


def number(value: Any, lo: float, hi: float) -> float | None:
    """A finite number in [lo, hi] (a JSON number, or a string holding one), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > 32:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int):
        if not lo <= value <= hi:  # compared as ints: float() of a huge int overflows
            return None
        value = float(value)
    if not isinstance(value, float) or not math.isfinite(value) or not lo <= value <= hi:
        return None
    return value


def location(lat: Any, lon: Any) -> Location | None:
    """A Location, or None when either coordinate is not a number in range (dropped)."""
    latitude, longitude = number(lat, -90.0, 90.0), number(lon, -180.0, 180.0)
    if latitude is None or longitude is None:
        return None
    return Location(latitude, longitude)


# --------------------------------------------------------------------------- Telegram


@dataclass(frozen=True, slots=True)
class TgChat:
    id: int
    type: str


@dataclass(frozen=True, slots=True)
class TgUser:
    id: int
    is_bot: bool


@dataclass(frozen=True, slots=True)
class TgFile:
    """A photo size, voice note, audio, document, video or sticker."""

    kind: str
    file_id: str
    mime_type: str | None = None
    file_size: int | None = None
    width: int = 0
    height: int = 0


@dataclass(frozen=True, slots=True)
class TgButton:
    text: str
    callback_data: str | None


@dataclass(frozen=True, slots=True)
class TgMessage:
    message_id: int
    chat: TgChat
    from_user: TgUser | None
    text: str | None = None
    caption: str | None = None
    photo: tuple[TgFile, ...] = ()
    files: tuple[TgFile, ...] = ()  # voice, audio, document, video, sticker, in that order
    location: Location | None = None
    contact: Contact | None = None
    buttons: tuple[TgButton, ...] = ()  # the inline keyboard, row by row


@dataclass(frozen=True, slots=True)
class TgCallbackQuery:
    id: str
    from_user: TgUser
    chat: TgChat | None
    buttons: tuple[TgButton, ...]
    data: str | None


@dataclass(frozen=True, slots=True)
class TgChatMember:
    chat: TgChat
    status: str


@dataclass(frozen=True, slots=True)
class TgUpdate:
    """The fields of an update we act on; an update of another kind has only its id."""

    update_id: int
    message: TgMessage | None = None
    callback_query: TgCallbackQuery | None = None
    my_chat_member: TgChatMember | None = None


TG_FILE_KINDS = ("voice", "audio", "document", "video", "sticker")


def _tg_chat(value: Any, field: str) -> TgChat:
    chat = obj(value, field)
    return TgChat(
        integer(chat.get("id"), f"{field}.id", -MAX_ID, MAX_ID),
        ident(chat.get("type"), f"{field}.type", CHAT_TYPE_RE),
    )


def _tg_user(value: Any, field: str) -> TgUser:
    user = obj(value, field)
    return TgUser(
        integer(user.get("id"), f"{field}.id", 0, MAX_ID),
        boolean(user.get("is_bot"), f"{field}.is_bot"),
    )


def _tg_file(value: Any, field: str, kind: str) -> TgFile:
    f = obj(value, field)
    return TgFile(
        kind,
        ident(f.get("file_id"), f"{field}.file_id", FILE_ID_RE),
        _mime(f.get("mime_type"), f"{field}.mime_type"),
        opt_integer(f.get("file_size"), f"{field}.file_size", 0, MAX_FILE_SIZE),
        opt_integer(f.get("width"), f"{field}.width", 0, MAX_PIXELS) or 0,
        opt_integer(f.get("height"), f"{field}.height", 0, MAX_PIXELS) or 0,
    )


def _mime(value: Any, field: str) -> str | None:
    """A media type as `type/subtype`; one with parameters or odd characters is dropped (it only
    labels the file), a value that is not text at all is a malformed update."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(field, "not a string")
    return value if MIME_RE.fullmatch(value) else None


def _tg_location(value: Any) -> Location | None:
    """A message's location; dropped (None) when it is not an object of coordinates in range."""
    if not isinstance(value, dict):
        return None
    return location(value.get("latitude"), value.get("longitude"))


def _tg_buttons(value: Any, field: str) -> tuple[TgButton, ...]:
    markup = opt_obj(value, field)
    if markup is None or markup.get("inline_keyboard") is None:
        return ()
    rows = array(markup["inline_keyboard"], f"{field}.inline_keyboard", 100)
    out: list[TgButton] = []
    for row in rows:
        for b in array(row, f"{field}.inline_keyboard[]", 100):
            button = obj(b, f"{field}.inline_keyboard[][]")
            out.append(
                TgButton(
                    text(button.get("text"), f"{field}.inline_keyboard[][].text", MAX_NAME),
                    opt_text(
                        button.get("callback_data"),
                        f"{field}.inline_keyboard[][].callback_data",
                        CALLBACK_DATA_BYTES,
                    ),
                )
            )
            if len(out) > 100:  # Telegram allows at most 100 buttons
                raise Invalid(f"{field}.inline_keyboard", "more than 100 buttons")
    return tuple(out)


def _tg_contact(value: Any, field: str) -> Contact | None:
    c = opt_obj(value, field)
    if c is None:
        return None
    phone = text(c.get("phone_number"), f"{field}.phone_number", 64)
    names = (
        opt_text(c.get("first_name"), f"{field}.first_name", MAX_NAME),
        opt_text(c.get("last_name"), f"{field}.last_name", MAX_NAME),
    )
    return Contact(phone=phone, name=" ".join(x for x in names if x) or None)


def _tg_message(value: Any, field: str) -> TgMessage:
    m = obj(value, field)
    photo: tuple[TgFile, ...] = ()
    if m.get("photo") is not None:
        sizes = array(m["photo"], f"{field}.photo", 100)
        photo = tuple(_tg_file(p, f"{field}.photo[]", "photo") for p in sizes)
    files = tuple(
        _tg_file(m[kind], f"{field}.{kind}", kind)
        for kind in TG_FILE_KINDS
        if m.get(kind) is not None
    )
    loc = _tg_location(m.get("location"))
    venue = m.get("venue")
    if loc is None and isinstance(venue, dict):
        loc = _tg_location(venue.get("location"))
    return TgMessage(
        message_id=integer(m.get("message_id"), f"{field}.message_id", 0, MAX_ID),
        chat=_tg_chat(m.get("chat"), f"{field}.chat"),
        from_user=None if m.get("from") is None else _tg_user(m["from"], f"{field}.from"),
        text=opt_text(m.get("text"), f"{field}.text"),
        caption=opt_text(m.get("caption"), f"{field}.caption"),
        photo=photo,
        files=files,
        location=loc,
        contact=_tg_contact(m.get("contact"), f"{field}.contact"),
        buttons=_tg_buttons(m.get("reply_markup"), f"{field}.reply_markup"),
    )


def _tg_callback_query(value: Any, field: str) -> TgCallbackQuery:
    q = obj(value, field)
    data = opt_text(q.get("data"), f"{field}.data", CALLBACK_DATA_BYTES)
    if data is not None and len(data.encode("utf-8")) > CALLBACK_DATA_BYTES:
        raise Invalid(f"{field}.data", f"longer than {CALLBACK_DATA_BYTES} bytes")
    message = opt_obj(q.get("message"), f"{field}.message")
    chat, buttons = None, ()
    if message is not None:  # possibly an "inaccessible message": chat and ids only
        chat = _tg_chat(message.get("chat"), f"{field}.message.chat")
        buttons = _tg_buttons(message.get("reply_markup"), f"{field}.message.reply_markup")
    return TgCallbackQuery(
        id=ident(q.get("id"), f"{field}.id", QUERY_ID_RE),
        from_user=_tg_user(q.get("from"), f"{field}.from"),
        chat=chat,
        buttons=buttons,
        data=data,
    )


def _tg_chat_member(value: Any, field: str) -> TgChatMember:
    m = obj(value, field)
    new = obj(m.get("new_chat_member"), f"{field}.new_chat_member")
    return TgChatMember(
        _tg_chat(m.get("chat"), f"{field}.chat"),
        ident(new.get("status"), f"{field}.new_chat_member.status", STATUS_RE),
    )


def telegram_update(payload: Any) -> TgUpdate:
    """A Bot API update (the webhook's body, or `Update.to_dict()` from polling), checked.

    Raises Invalid. Only `message`, `callback_query` and `my_chat_member` are read (the
    updates we ask for); an update of any other kind keeps just its id.
    """
    u = obj(payload, "update")
    update_id = integer(u.get("update_id"), "update_id", 0, MAX_ID)
    if u.get("callback_query") is not None:
        return TgUpdate(update_id, callback_query=_tg_callback_query(u["callback_query"], "query"))
    if u.get("message") is not None:
        return TgUpdate(update_id, message=_tg_message(u["message"], "message"))
    if u.get("my_chat_member") is not None:
        return TgUpdate(update_id, my_chat_member=_tg_chat_member(u["my_chat_member"], "member"))
    return TgUpdate(update_id)


# --------------------------------------------------------------------------- Zalo OA


@dataclass(frozen=True, slots=True)
class ZaloAttachment:
    type: str | None
    url: str | None  # http(s) only; anything else is dropped
    location: Location | None  # dropped when the coordinates are not numbers in range
    has_coordinates: bool = False


@dataclass(frozen=True, slots=True)
class ZaloEvent:
    """The fields of a Zalo OA webhook event we act on."""

    event_name: str
    app_id: str | None = None
    timestamp: str | None = None  # as sent: digits (a string or an integer in the JSON)
    sender: str | None = None
    recipient: str | None = None
    follower: str | None = None
    msg_id: str | None = None
    text: str = ""
    attachments: tuple[ZaloAttachment, ...] = ()
    msg_ids: tuple[str, ...] = ()


def zalo_timestamp(value: Any) -> str | None:
    """The event's millisecond timestamp as digits, or None when it is not one."""
    if type(value) is int and 0 <= value < MAX_TIMESTAMP:
        return str(value)
    if isinstance(value, str) and ZALO_TIMESTAMP_RE.fullmatch(value):
        return value
    return None


def _zalo_id(value: Any, field: str, pattern: re.Pattern[str] = ZALO_ID_RE) -> str:
    """Zalo ids are digit strings; an integer (0 to 10**32) is accepted as its digits."""
    if type(value) is int:
        return str(integer(value, field, 0, 10**32))
    return ident(value, field, pattern)


def _zalo_who(event: dict[str, Any], field: str) -> str | None:
    who = opt_obj(event.get(field), field)
    if who is None or who.get("id") is None:
        return None
    return _zalo_id(who["id"], f"{field}.id")


def _zalo_attachment(value: Any) -> ZaloAttachment:
    a = obj(value, "message.attachments[]")
    kind = opt_ident(a.get("type"), "message.attachments[].type", ZALO_EVENT_RE)
    payload = a.get("payload")
    if not isinstance(payload, dict):  # Zalo sends an object; anything else carries nothing
        return ZaloAttachment(kind, None, None)
    url = payload.get("url")
    url = url if isinstance(url, str) and URL_RE.fullmatch(url) else None
    coords = payload.get("coordinates")
    loc = None
    if isinstance(coords, dict):
        lat = coords.get("latitude", coords.get("lat"))
        lon = coords.get("longitude", coords.get("long", coords.get("lng")))
        loc = location(lat, lon)
    return ZaloAttachment(kind, url, loc, isinstance(coords, dict))


def zalo_event(payload: Any) -> ZaloEvent:
    """A Zalo OA webhook event, checked. Raises Invalid."""
    ev = obj(payload, "event")
    name = ident(ev.get("event_name"), "event_name", ZALO_EVENT_RE)
    timestamp = None
    if ev.get("timestamp") is not None:
        timestamp = zalo_timestamp(ev["timestamp"])
        if timestamp is None:
            raise Invalid("timestamp", "not a millisecond timestamp")
    app_id = None if ev.get("app_id") is None else _zalo_id(ev["app_id"], "app_id")
    message = opt_obj(ev.get("message"), "message") or {}
    msg_id = None
    if message.get("msg_id") is not None:
        msg_id = _zalo_id(message["msg_id"], "message.msg_id", ZALO_MSG_ID_RE)
    attachments: tuple[ZaloAttachment, ...] = ()
    if message.get("attachments") is not None:
        raw = array(message["attachments"], "message.attachments", 100)
        attachments = tuple(_zalo_attachment(a) for a in raw)
    msg_ids: tuple[str, ...] = ()
    if message.get("msg_ids") is not None:
        ids = array(message["msg_ids"], "message.msg_ids")
        msg_ids = tuple(_zalo_id(i, "message.msg_ids[]", ZALO_MSG_ID_RE) for i in ids)
    return ZaloEvent(
        event_name=name,
        app_id=app_id,
        timestamp=timestamp,
        sender=_zalo_who(ev, "sender"),
        recipient=_zalo_who(ev, "recipient"),
        follower=_zalo_who(ev, "follower"),
        msg_id=msg_id,
        text=opt_text(message.get("text"), "message.text") or "",
        attachments=attachments,
        msg_ids=msg_ids,
    )


# --------------------------------------------------------------------------- Zalo Bot Platform

ZB_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # chat and user ids: "e4ea2cd5189df1c3a88c"
ZB_MSG_ID_RE = re.compile(r"[\w.:-]{1,128}", re.ASCII)
ZB_EVENT_RE = re.compile(r"[a-z_.]{1,64}")  # "message.text.received"
ZB_CHAT_TYPE_RE = re.compile(r"[A-Za-z_]{1,32}")  # "PRIVATE", "GROUP"


@dataclass(frozen=True, slots=True)
class ZbUpdate:
    """The fields of a Zalo Bot Platform update we act on (docs/zalo-bot.md)."""

    event_name: str
    message_id: str | None = None
    chat_id: str | None = None
    chat_type: str = ""
    from_id: str | None = None
    is_bot: bool = False
    text: str = ""
    photo_url: str | None = None  # http(s) only; anything else is dropped
    voice_url: str | None = None


def _zb_url(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(field, "not a string")
    return value if URL_RE.fullmatch(value) else None


def zalo_bot_update(payload: Any) -> ZbUpdate:
    """A Zalo Bot Platform update (a getUpdates result, or the webhook's body without its
    `{"ok", "result"}` envelope), checked. Raises Invalid. An update without a message keeps
    only its event name."""
    u = obj(payload, "update")
    name = ident(u.get("event_name"), "event_name", ZB_EVENT_RE)
    m = opt_obj(u.get("message"), "message")
    if m is None:
        return ZbUpdate(name)
    chat = obj(m.get("chat"), "message.chat")
    sender = opt_obj(m.get("from"), "message.from") or {}
    caption = opt_text(m.get("caption"), "message.caption")  # both checked, whichever is used
    text = opt_text(m.get("text"), "message.text") or caption
    photo = _zb_url(m.get("photo_url"), "message.photo_url")
    if photo is None and isinstance(m.get("photo"), str):
        photo = _zb_url(m["photo"], "message.photo")
    return ZbUpdate(
        event_name=name,
        message_id=ident(m.get("message_id"), "message.message_id", ZB_MSG_ID_RE),
        chat_id=ident(chat.get("id"), "message.chat.id", ZB_ID_RE),
        chat_type=opt_ident(chat.get("chat_type"), "message.chat.chat_type", ZB_CHAT_TYPE_RE) or "",
        from_id=opt_ident(sender.get("id"), "message.from.id", ZB_ID_RE),
        is_bot=boolean(sender.get("is_bot"), "message.from.is_bot"),
        text=text or "",
        photo_url=photo,
        voice_url=_zb_url(m.get("voice_url"), "message.voice_url"),
    )
