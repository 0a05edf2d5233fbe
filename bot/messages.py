"""The platform-neutral message types every channel adapter converts to and from.

Nothing past a channel adapter knows which platform a message came from: adapters build one frozen
`IncomingMessage` and render the `Reply` objects the dialogue produces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

MediaKind = Literal["photo", "voice", "audio", "document", "video", "sticker"]


@dataclass(frozen=True, slots=True)
class Media:
    """A file attached to a message: a platform file reference or a URL, never the bytes."""

    kind: MediaKind
    # A platform file id or URL as received; once stored by the media step (bot.media), the
    # stored reference `media/<2 hex>/<sha256>.<ext>` (bot.media.store.is_stored_ref).
    ref: str
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.latitude <= 90.0 and -180.0 <= self.longitude <= 180.0):
            raise ValueError("latitude must be in [-90, 90] and longitude in [-180, 180]")


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message from a user, normalised at the channel edge.

    `message_id` is the platform's id for this message (Telegram update id, Zalo msg_id, a web
    client uuid); together with `channel` it de-duplicates retries. `payload` is set when the user
    pressed a button (it carries the button's payload, and `text` carries its label when known).
    """

    channel: str
    sender_id: str
    message_id: str
    text: str = ""
    payload: str | None = None
    media: tuple[Media, ...] = ()
    location: Location | None = None
    contact: Contact | None = None
    locale_hint: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Set by the media step (bot.media) when an attached photo or audio could not be stored:
    # a short Vietnamese message (a catalog msgid, bot.media.PROBLEMS) saying to send it again.
    media_problem: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.text.strip()
            or self.payload
            or self.media
            or self.location
            or self.contact
            or self.media_problem
        )


@dataclass(frozen=True, slots=True)
class Button:
    """A choice offered to the user. `payload` is what comes back when it is chosen (<= 64
    bytes)."""

    label: str
    payload: str

    def __post_init__(self) -> None:
        if len(self.payload.encode("utf-8")) > 64:
            raise ValueError(f"button payload over 64 bytes: {self.payload!r}")


@dataclass(frozen=True, slots=True)
class Reply:
    """One outgoing message. A channel that cannot show buttons renders them as numbered options."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    photo: str | None = None  # path under content/ or URL
    voice: str | None = None
    document: str | None = None

    def as_dict(self) -> dict:
        out: dict = {"text": self.text}
        if self.buttons:
            out["buttons"] = [{"label": b.label, "payload": b.payload} for b in self.buttons]
        for key in ("photo", "voice", "document"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Reply:
        """The reply `as_dict` wrote (an outbox row's payload)."""
        buttons = tuple(
            Button(str(b.get("label", "")), str(b.get("payload", "")))
            for b in data.get("buttons") or ()
            if isinstance(b, dict)
        )
        return cls(
            text=str(data.get("text") or ""),
            buttons=buttons,
            photo=data.get("photo"),
            voice=data.get("voice"),
            document=data.get("document"),
        )


@dataclass(frozen=True, slots=True)
class ContactGone:
    """A platform says the user blocked the bot or unfollowed: stop sending to them."""

    channel: str
    sender_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """A platform's delivery or read receipt for messages we sent (`platform_refs`)."""

    channel: str
    sender_id: str
    message_id: str
    platform_refs: tuple[str, ...]
    state: Literal["delivered", "read"]


# What a channel's `parse` turns a recorded payload into.
Inbound = IncomingMessage | ContactGone | Receipt


def render_numbered(reply: Reply) -> str:
    """Text of a reply with its buttons as numbered options, for channels without buttons."""
    if not reply.buttons:
        return reply.text
    lines = [reply.text] if reply.text else []
    lines += [f"{i}. {b.label}" for i, b in enumerate(reply.buttons, 1)]
    return "\n".join(lines)
