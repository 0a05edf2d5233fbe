"""Zalo Official Account channel (Open API v3): a signed webhook in, `/v3.0/oa/message/cs` out.

Receiving. Zalo POSTs each event to `WEBHOOK_PATH` with `X-ZEvent-Signature: mac=<hex>`, where hex
is the plain SHA-256 (not an HMAC) of `app_id + raw body + timestamp + OA secret key`, app_id and
the millisecond timestamp being the ones in the body. A request without a valid signature, for
another app or outside the timestamp window is refused with 403 before anything else is done with
it. A valid event goes to the inbound worker, which records it in the inbox (unique on channel +
`message.msg_id`) before we answer 200, and handles it after, one user's events in order.

Sending. Text (split at 2000 characters), photos (a URL, or a content file uploaded once and sent
by attachment id), documents (PDF/DOC/DOCX uploaded as files). Choices go out as numbered options
in the text (`render_numbered`: the dialogue keeps the options it offered in the user's state, so
a typed "1" or "2" picks one) and, up to MAX_BUTTONS of them, as real buttons under it: a button
template whose `oa.query.hide` buttons send their payload back as a hidden user message, which
`to_message` reads as the button press (QUERY_PREFIX). When the API refuses the template, the
same text goes out without it, and later replies skip the template. Zalo answers HTTP 200 with an
`error` code in the JSON: an invalid or expired token is refreshed once and the call repeated;
every other failure becomes a `SendError` for the sender core (rate limits and 5xx/timeouts
retryable, a user who unfollowed gone). Delivery and read receipts (`user_received_message`,
`user_seen_message`) mark the outbox rows they name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import Limits, Receiver, SendError, split_text
from bot.channels.http import BadBody, parse_json, read_capped
from bot.channels.schemas import (
    ZALO_EVENT_RE,
    Invalid,
    ZaloEvent,
    finite_numbers,
    zalo_event,
    zalo_timestamp,
)
from bot.channels.zalo_tokens import TokenError, TokenRefreshUnavailable, ZaloTokens
from bot.config import ZaloSettings
from bot.messages import (
    Button,
    ContactGone,
    Inbound,
    IncomingMessage,
    Media,
    Receipt,
    Reply,
    render_numbered,
)
from bot.storage.outage import is_outage

log = logging.getLogger("bot.zalo")

CHANNEL = "zalo"
WEBHOOK_PATH = "/zalo/webhook"
SIGNATURE_HEADER = "X-ZEvent-Signature"
SEND_PATH = "/v3.0/oa/message/cs"
UPLOAD_IMAGE_PATH = "/v2.0/oa/upload/image"
UPLOAD_FILE_PATH = "/v2.0/oa/upload/file"

# Platform limits, honoured below.
MAX_BODY = 64 * 1024  # webhook events are a few hundred bytes
TEXT_LIMIT = 2000  # characters per customer-service text message
IMAGE_MAX_BYTES = 1024 * 1024  # upload/image: jpg or png, at most 1 MB
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
FILE_MAX_BYTES = 5 * 1024 * 1024  # upload/file: PDF, DOC or DOCX, at most 5 MB
FILE_TYPES = {".pdf", ".doc", ".docx"}
ATTACHMENT_TTL = 6 * 24 * 3600.0  # uploaded attachment ids expire after 7 days (error -100)
# Buttons of a customer-service message (docs/zalo-bot.md, "Zalo OA buttons").
MAX_BUTTONS = 5  # more options than this: numbered text only
BUTTON_TITLE_LIMIT = 100  # characters of a button's title
QUERY_PAYLOAD_LIMIT = 1000  # characters of an oa.query.hide payload
QUERY_PREFIX = "#ls:"  # marks the hidden message a button sends: "#ls:" + Button.payload
MAX_KEY = 128  # inbox.message_id column

# Zalo's `error` codes (developers.zalo.me/docs/official-account/phu-luc/ma-loi).
TOKEN_ERRORS = {
    -216: "access token is invalid",
    -220: "access token is expired or removed",
    -124: "access token is expired",
}
RATE_LIMIT_ERRORS = {-32: "app or OA reached its API call limit"}
UNREACHABLE_ERRORS = {
    -213: "user has not followed the OA",
    -227: "user is banned or inactive for more than 45 days",
}
# Customer-service messages only reach users who wrote within the last 7 days. These users did not
# block or unfollow us, so they are not unsubscribed: the message fails, the subscription stays.
OUTSIDE_WINDOW_ERRORS = {
    -230: "user has not interacted with the OA in the past 7 days",
    -232: "user has not interacted with the OA, or the interaction expired",
    -244: "user has restricted this message type from the OA",
}
# The OA's monthly proactive quota is spent (see tests/fakes/zalo_api.py `limit_window` for how
# sure the code is): the message fails with reason "quota_spent", the subscription stays.
QUOTA_ERRORS = {-224: "the OA's proactive message quota is spent"}
TRANSIENT_ERRORS = {-200: "send message failed"}
ATTACHMENT_EXPIRED = -100

# Events: what each becomes. Anything else (oa_send_*, user_seen_message, ...) is answered 200
# and ignored.
MESSAGE_EVENTS = {
    "user_send_text",
    "user_send_image",
    "user_send_location",
    "user_send_audio",
    "user_send_sticker",
    "user_send_gif",
    "user_send_file",
    "user_send_video",
}
FOLLOW_EVENTS = {"follow", "unfollow"}
RECEIPT_EVENTS = {"user_received_message": "delivered", "user_seen_message": "read"}
HANDLED_EVENTS = MESSAGE_EVENTS | FOLLOW_EVENTS | set(RECEIPT_EVENTS)
EVENT_NAME_RE = ZALO_EVENT_RE
SIGNATURE_RE = re.compile(r"(?:mac=)?([0-9A-Fa-f]{64})", re.IGNORECASE)

UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)

# /dulieu exports (bot.privacy.export) are JSON and text files, which the OA API cannot send.
EXPORT_NOT_SENT = (
    "Zalo chỉ gửi được tệp PDF, DOC, DOCX nên tệp JSON không gửi qua Zalo được. "
    "Nội dung của tệp được gửi thành tin nhắn ngay sau đây."
)
EXPORT_GONE = "Tệp dữ liệu đã hết hạn. Gõ /dulieu để nhận lại."
EXPORT_CUT = "… (còn nữa: phần còn lại quá dài để gửi thành tin nhắn Zalo)"
EXPORT_MAX_MESSAGES = 10


# --------------------------------------------------------------------------- signatures


def signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """The hex SHA-256 Zalo puts after `mac=`: sha256(app_id + body + timestamp + OA secret key).

    Text is encoded with "surrogatepass": a string from outside never makes this raise."""
    return hashlib.sha256(
        app_id.encode("utf-8", "surrogatepass")
        + body
        + timestamp.encode("utf-8", "surrogatepass")
        + oa_secret_key.encode("utf-8", "surrogatepass")
    ).hexdigest()


def signature_ok(header: str, app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> bool:
    """Whether `header` (`mac=<64 hex digits>`) signs this body; False for anything else."""
    match = SIGNATURE_RE.fullmatch(header.strip())
    if match is None:
        return False
    expected = signature(app_id, body, timestamp, oa_secret_key)
    return hmac.compare_digest(match.group(1).lower().encode("ascii"), expected.encode("ascii"))


# --------------------------------------------------------------------------- events -> messages


def _checked(event: ZaloEvent | dict[str, Any]) -> ZaloEvent:
    return event if isinstance(event, ZaloEvent) else zalo_event(event)


def event_user(event: ZaloEvent | dict[str, Any]) -> str | None:
    """The user id by OA: `sender.id` for messages, `follower.id` for follow and unfollow,
    `recipient.id` for receipts of messages the OA sent."""
    ev = _checked(event)
    if ev.event_name in FOLLOW_EVENTS:
        return ev.follower or ev.sender
    if ev.event_name in RECEIPT_EVENTS:
        return ev.recipient or ev.sender
    return ev.sender


def event_key(event: ZaloEvent | dict[str, Any]) -> str | None:
    """The inbox key: `message.msg_id`, or for events without one a key stable across retries."""
    ev = _checked(event)
    if ev.msg_id:
        key = ev.msg_id
        return key if len(key) <= MAX_KEY else "h:" + hashlib.sha256(key.encode()).hexdigest()
    user = event_user(ev)
    if user is None:
        return None
    key = f"{ev.event_name}:{user}:{ev.timestamp}"
    return key if len(key) <= MAX_KEY else "h:" + hashlib.sha256(key.encode()).hexdigest()


def parse_event(event: ZaloEvent | dict[str, Any]) -> Inbound | None:
    """A recorded event as what the worker handles; None for events that need nothing.

    Raises `schemas.Invalid` for an event that does not fit the schema, or a handled event
    without a user or a key (the worker records it as rejected)."""
    if isinstance(event, dict):
        name = event.get("event_name")
        if isinstance(name, str) and EVENT_NAME_RE.fullmatch(name) and name not in HANDLED_EVENTS:
            return None  # an event we do not act on: its content is never read
    ev = _checked(event)
    if ev.event_name not in HANDLED_EVENTS:
        return None
    key, user = event_key(ev), event_user(ev)
    if user is None:
        raise Invalid("sender.id", "missing")
    if key is None:  # pragma: no cover - a user gives a key
        raise Invalid("message.msg_id", "missing")
    if ev.event_name == "unfollow":
        return ContactGone(CHANNEL, user, key)
    if ev.event_name in RECEIPT_EVENTS:
        state = RECEIPT_EVENTS[ev.event_name]
        return Receipt(CHANNEL, user, key, ev.msg_ids[:100], state)  # type: ignore[arg-type]
    return to_message(ev, key)


def to_message(event: ZaloEvent | dict[str, Any], key: str) -> IncomingMessage | None:
    """The platform-neutral message for a user event; None for unfollow and unknown events."""
    ev = _checked(event)
    name, user = ev.event_name, event_user(ev)
    if user is None:
        return None
    if name == "follow":
        # A new follower gets the same welcome as /start: greeting and the language choice.
        return IncomingMessage(channel=CHANNEL, sender_id=user, message_id=key, payload="/start")
    if name not in MESSAGE_EVENTS:
        return None
    text = ev.text
    media: tuple[Media, ...] = ()
    location = None
    kinds = {
        "user_send_image": "photo",
        "user_send_audio": "voice",
        "user_send_file": "document",
        "user_send_video": "video",
    }
    if name in kinds:
        media = tuple(Media(kinds[name], a.url) for a in ev.attachments if a.url)  # type: ignore[arg-type]
    elif name == "user_send_location":
        # The first attachment with coordinates; dropped when they are not numbers in range.
        location = next((a.location for a in ev.attachments if a.has_coordinates), None)
        text = ""  # Zalo may put the address here; the coordinates are what counts
    elif name == "user_send_text" and (payload := button_press(text)) is not None:
        # An oa.query.hide button: its payload came back as a (hidden) message from the user.
        return IncomingMessage(channel=CHANNEL, sender_id=user, message_id=key, payload=payload)
    elif name in ("user_send_sticker", "user_send_gif"):
        # Stickers carry no words: an empty message, which the dialogue answers by saying it
        # reads text only.
        text = ""
    return IncomingMessage(
        channel=CHANNEL, sender_id=user, message_id=key, text=text, media=media, location=location
    )


def button_press(text: str) -> str | None:
    """The button payload a hidden query carries (`QUERY_PREFIX` + payload), else None."""
    if not text.startswith(QUERY_PREFIX):
        return None
    payload = text[len(QUERY_PREFIX) :].strip()
    return payload if 0 < len(payload.encode("utf-8")) <= 64 else None


# -------------------------------------------------------------------------- replies -> API messages


def _is_url(ref: str) -> bool:
    return ref.startswith(("https://", "http://"))


@dataclass(frozen=True)
class Outgoing:
    """One API message: text (with buttons under it), a photo (URL or content file) or a
    document (content file)."""

    kind: str  # text | photo | document
    value: str
    buttons: tuple[Button, ...] = ()


def outgoing(reply: Reply) -> list[Outgoing]:
    """The API messages a reply becomes, in order: the text with its choices numbered, and,
    when there are few enough, the same choices as buttons under its last piece."""
    out = [Outgoing("text", piece) for piece in split_text(render_numbered(reply), TEXT_LIMIT)]
    buttons = tuple(b for b in reply.buttons if b.payload)
    if out and 0 < len(buttons) <= MAX_BUTTONS:
        out[-1] = Outgoing("text", out[-1].value, buttons)
    if reply.photo:
        out.append(Outgoing("photo", reply.photo))
    if reply.document:
        out.append(
            Outgoing("document", reply.document)
            if not _is_url(reply.document)
            else Outgoing("text", reply.document)
        )
    if reply.voice:
        # The customer-service API has no voice messages: a link when there is one, else nothing.
        if _is_url(reply.voice):
            out.append(Outgoing("text", reply.voice))
        else:
            log.info(
                "zalo: voice replies are not supported by the OA API; a voice file was skipped"
            )
    return out


def export_texts(document: str, folder: Path, not_sent: str, limit: int = TEXT_LIMIT) -> list[str]:
    """The messages a /dulieu export file (bot.privacy.export) becomes on a Zalo channel, which
    cannot send it as a file: its readable text (at most EXPORT_MAX_MESSAGES messages), or, for
    the JSON file, `not_sent` saying why it is not sent."""
    from bot.privacy import export

    if export.ref_kind(document) == "json":
        return [not_sent]
    path = export.local_file(document, folder)
    text = path.read_text(encoding="utf-8") if path is not None else EXPORT_GONE
    pieces = split_text(text, limit)
    if len(pieces) > EXPORT_MAX_MESSAGES:
        pieces = [*pieces[: EXPORT_MAX_MESSAGES - 1], EXPORT_CUT]
    return pieces


# --------------------------------------------------------------------------- the channel


class ZaloChannel:
    """Receives Zalo OA webhook events and sends replies through the OA customer-service API."""

    name = CHANNEL
    exports_dir: Path | None = None  # where /dulieu files are (bot.privacy.export); set by the app
    voice_public_url: str = ""  # where /voice/ recordings are linked from (voice.public_url)
    voice_format: str = "m4a"  # voice.web_format

    def __init__(
        self,
        settings: ZaloSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        content_dir: Path,
        rate_limit_pause: float = 60.0,
        send_timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.limits = Limits(settings.rate_per_second)
        self.content_dir = Path(content_dir).resolve()
        self.clock = clock
        self.rate_limit_pause = rate_limit_pause
        self.send_timeout = aiohttp.ClientTimeout(
            total=send_timeout, connect=min(5.0, send_timeout)
        )
        self.tokens = ZaloTokens(settings, sessionmaker, self._client)
        self.worker: Receiver | None = None
        self._http: aiohttp.ClientSession | None = None
        self._attachments: dict[tuple[str, str], tuple[str, float]] = {}
        self.buttons_refused = False  # the API refused a button template: numbered text only

    # ---- lifecycle

    def register_routes(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self.webhook)

    async def start(self, worker: Receiver) -> None:
        self.worker = worker
        self._client()

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self.send_timeout)
        return self._http

    # ---- receiving

    def parse(self, payload: dict[str, Any]) -> Inbound | None:
        return parse_event(payload)

    async def fetch_media(self, media: Media, max_bytes: int) -> bytes:
        """The bytes of an attachment (the URL in the signed event: Zalo's CDN), streamed and
        cut off past `max_bytes`, for the media step (bot.media). Raises bot.media
        DownloadFailed or MediaRefused; the URL is never logged."""
        from bot.media.download import DownloadFailed, fetch_url

        if not _is_url(media.ref):
            raise DownloadFailed("not an http(s) attachment URL", retryable=False)
        if not self.settings.media_host_allowed(media.ref):
            # Signed by Zalo or not, a URL off Zalo's file hosts is not fetched (zalo.media_hosts).
            raise DownloadFailed("attachment URL not on Zalo's file hosts", retryable=False)
        return await fetch_url(self._client(), media.ref, max_bytes)

    async def webhook(self, request: web.Request) -> web.Response:
        """POST from Zalo: verify, record, answer 200; handled after.

        Refused with 403 before anything is recorded: no signature, another app, a timestamp
        that is not milliseconds or is outside the window, a signature that does not match. A
        body that is not a JSON object, too deep or too big is 400/413. A signed event that
        does not fit the schema is recorded as rejected by the worker and answered 200, so
        Zalo stops sending it; only a failure to record is 503 (Zalo sends it again).
        """
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header:
            return web.Response(status=403, text="missing signature")
        try:
            body = await read_capped(request, MAX_BODY)
            event = parse_json(body)
        except BadBody as exc:
            return web.Response(status=exc.status, text=exc.message)
        if not isinstance(event, dict):
            return web.Response(status=400, text="not a JSON object")
        app_id, timestamp = event.get("app_id"), zalo_timestamp(event.get("timestamp"))
        if type(app_id) not in (str, int) or str(app_id) != self.settings.app_id:
            return web.Response(status=403, text="wrong app")
        if timestamp is None:
            return web.Response(status=403, text="bad timestamp")
        if not signature_ok(
            header, self.settings.app_id, body, timestamp, self.settings.oa_secret_key
        ):
            return web.Response(status=403, text="bad signature")
        window_ms = self.settings.timestamp_window_seconds * 1000
        if abs(self.clock() * 1000 - int(timestamp)) > window_ms:
            return web.Response(status=403, text="stale timestamp")
        if not finite_numbers(event):
            return web.Response(status=400, text="body has a number out of range")

        name = event.get("event_name")
        if isinstance(name, str) and EVENT_NAME_RE.fullmatch(name) and name not in HANDLED_EVENTS:
            log.info("zalo: ignored event %s", name)
            return web.Response(text="ok")
        if self.worker is None:
            return web.Response(status=503, text="starting")
        try:  # a malformed event is recorded as rejected there, and answered 200
            await self.worker.accept(CHANNEL, [event])
        except Exception as exc:  # not recorded: Zalo sends it again
            if is_outage(exc):
                raise  # bot.availability: 503 with Retry-After, counted with the outage
            log.error("zalo: cannot record an event (%s)", type(exc).__name__)
            return web.Response(status=503, text="try again")
        return web.Response(text="ok")

    # ---- sending

    def parts(self, reply: Reply) -> list[Outgoing]:
        from bot.privacy import export

        reply = self._voice_link(reply)
        if not export.is_ref(reply.document):
            return outgoing(reply)
        # A /dulieu file: the OA API uploads only PDF/DOC/DOCX, so the readable text goes as
        # messages, and the JSON file is not sent (the messages say so).
        assert reply.document is not None
        out = outgoing(Reply(text=reply.text, buttons=reply.buttons))
        folder = self.exports_dir or self.content_dir.parent / "var" / "exports"
        pieces = export_texts(reply.document, folder, EXPORT_NOT_SENT)
        return [*out, *(Outgoing("text", piece) for piece in pieces)]

    def _voice_link(self, reply: Reply) -> Reply:
        """A translator's recording (bot.voice.store ref): the OA API sends no audio (its
        message/cs takes text, images, PDF/DOC/DOCX files), so the reply carries a link to the
        recording served at /voice/ (`voice.public_url`); without a public URL, the text alone."""
        import dataclasses

        from bot.voice import store as voice_store

        digest = voice_store.digest_of(reply.voice)
        if digest is None:
            return reply
        base = (self.voice_public_url or "").rstrip("/")
        url = f"{base}/voice/{digest}.{self.voice_format}" if base else None
        return dataclasses.replace(reply, voice=url)

    async def deliver(self, recipient: str, part: Outgoing) -> str | None:
        """One API message; Zalo's message id. Raises SendError."""

        async def attempt(token: str) -> dict[str, Any]:
            try:
                message = await self._message(part, token)
            except _TokenRejected as exc:
                return {"error": exc.code}
            return await self._post_json(
                SEND_PATH, {"recipient": {"user_id": recipient}, "message": message}, token
            )

        try:
            token = await self.tokens.access_token()
            result = await attempt(token)
            if result.get("error") in TOKEN_ERRORS:
                # Invalid or expired before its time (revoked, or refreshed elsewhere): refresh
                # once.
                token = await self.tokens.refresh(token)
                result = await attempt(token)
                if result.get("error") in TOKEN_ERRORS:
                    raise SendError(
                        f"zalo: a freshly refreshed access token was refused "
                        f"({result.get('error')}); check ZALO_APP_ID and that the app "
                        "is linked to the OA"
                    )
        except TokenError as exc:
            raise SendError(str(exc)) from None
        except TokenRefreshUnavailable as exc:
            raise SendError(str(exc), retryable=True) from None
        if part.buttons and not self.buttons_refused and _refused(result):
            # The template was refused (not the user, the token or a limit): the numbered text
            # alone, now and for later replies.
            log.warning("zalo: buttons refused (error %s); numbered text only", result["error"])
            self.buttons_refused = True
            return await self.deliver(recipient, Outgoing("text", part.value))
        self._classify(result, part)
        data = result.get("data")
        ref = data.get("message_id") if isinstance(data, dict) else None
        return str(ref) if isinstance(ref, (str, int)) else None

    def _classify(self, result: dict[str, Any], item: Outgoing) -> None:
        """Raise the SendError an answer's `error` code means; nothing for success."""
        code = result.get("error")
        if code == 0:
            return
        if code in RATE_LIMIT_ERRORS:
            raise SendError(
                f"zalo: {RATE_LIMIT_ERRORS[code]} ({code})", retry_after=self.rate_limit_pause
            )
        if code in UNREACHABLE_ERRORS:  # unfollowed: reason "blocked", the user unsubscribed
            raise SendError(f"zalo: {UNREACHABLE_ERRORS[code]} ({code})", gone=True)
        if code in OUTSIDE_WINDOW_ERRORS:
            raise SendError(
                f"zalo: outside the reply window: {OUTSIDE_WINDOW_ERRORS[code]} ({code})",
                kind="outside_window",
            )
        if code in QUOTA_ERRORS:
            raise SendError(f"zalo: {QUOTA_ERRORS[code]} ({code})", kind="quota_spent")
        if code in TRANSIENT_ERRORS:
            raise SendError(f"zalo: {TRANSIENT_ERRORS[code]} ({code})", retryable=True)
        if code == ATTACHMENT_EXPIRED:
            self._attachments.pop((item.kind, item.value), None)
            raise SendError("zalo: attachment id expired; uploading again", retryable=True)
        message = str(result.get("message") or "")[:120]
        raise SendError(f"zalo: message refused: error {code} {message}")

    async def _post_json(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        url = self.settings.api_base_url.rstrip("/") + path
        try:
            async with self._client().post(
                url, json=body, headers={"access_token": token}, timeout=self.send_timeout
            ) as resp:
                return await self._result(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(f"zalo: {type(exc).__name__}", retryable=True) from None

    async def _result(self, resp: aiohttp.ClientResponse) -> dict[str, Any]:
        if resp.status == 429:
            raise SendError(
                "zalo: HTTP 429",
                retry_after=_retry_after(resp.headers.get("Retry-After"), self.rate_limit_pause),
            )
        if resp.status >= 500:
            raise SendError(f"zalo: HTTP {resp.status}", retryable=True)
        if resp.status != 200:
            raise SendError(f"zalo: HTTP {resp.status} from the OA API")
        try:
            data = await resp.json(content_type=None)
        except ValueError:
            raise SendError(
                "zalo: the OA API answered something other than JSON", retryable=True
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("error", 0), int):
            raise SendError("zalo: unexpected answer from the OA API", retryable=True)
        data.setdefault("error", 0)
        return data

    async def _message(self, item: Outgoing, token: str) -> dict[str, Any]:
        if item.kind == "text" and item.buttons and not self.buttons_refused:
            return {"text": item.value, "attachment": button_template(item.buttons)}
        if item.kind == "text":
            return {"text": item.value}
        if item.kind == "photo":
            if _is_url(item.value):
                element = {"media_type": "image", "url": item.value}
            else:
                element = {"media_type": "image", "attachment_id": await self._upload(item, token)}
            return {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "media", "elements": [element]},
                }
            }
        if item.kind == "document":
            return {
                "attachment": {
                    "type": "file",
                    "payload": {"token": await self._upload(item, token)},
                }
            }
        raise SendError(f"zalo: cannot send a {item.kind}")

    def _content_file(self, ref: str, allowed: set[str] | dict[str, str], max_bytes: int) -> Path:
        path = (self.content_dir / ref).resolve()
        if not path.is_relative_to(self.content_dir) or not path.is_file():
            raise SendError(f"zalo: media file {ref} not found under {self.content_dir}")
        if path.suffix.lower() not in allowed:
            raise SendError(f"zalo: {ref}: Zalo accepts only {', '.join(sorted(allowed))} here")
        if path.stat().st_size > max_bytes:
            raise SendError(f"zalo: {ref} is over Zalo's {max_bytes // 1024} KB limit")
        return path

    async def _upload(self, item: Outgoing, token: str) -> str:
        """Upload a content file once (per 6 days) and return its attachment id / file token."""
        cached = self._attachments.get((item.kind, item.value))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        if item.kind == "photo":
            path = self._content_file(item.value, IMAGE_TYPES, IMAGE_MAX_BYTES)
            route, field = UPLOAD_IMAGE_PATH, "attachment_id"
        else:
            path = self._content_file(item.value, FILE_TYPES, FILE_MAX_BYTES)
            route, field = UPLOAD_FILE_PATH, "token"
        form = aiohttp.FormData()
        mime = (
            IMAGE_TYPES.get(path.suffix.lower())
            or mimetypes.guess_type(path.name)[0]
            or "application/octet-stream"
        )
        form.add_field("file", path.read_bytes(), filename=path.name, content_type=mime)
        url = self.settings.api_base_url.rstrip("/") + route
        try:
            async with self._client().post(
                url, data=form, headers={"access_token": token}, timeout=UPLOAD_TIMEOUT
            ) as resp:
                result = await self._result(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(f"zalo: upload failed: {type(exc).__name__}", retryable=True) from None
        if result.get("error") in TOKEN_ERRORS:
            raise _TokenRejected(result["error"])  # the send path refreshes and tries again
        if result.get("error") != 0:
            self._classify(result, item)
        value = (result.get("data") or {}).get(field)
        if not isinstance(value, str) or not value:
            raise SendError(f"zalo: upload of {item.value} answered no {field}")
        self._attachments[(item.kind, item.value)] = (value, time.monotonic() + ATTACHMENT_TTL)
        return value


def button_template(buttons: tuple[Button, ...]) -> dict[str, Any]:
    """The attachment of a customer-service message with buttons: each an `oa.query.hide`
    button whose payload comes back as a hidden message from the user."""
    return {
        "type": "template",
        "payload": {
            "buttons": [
                {
                    "title": (b.label or b.payload)[:BUTTON_TITLE_LIMIT],
                    "type": "oa.query.hide",
                    "payload": (QUERY_PREFIX + b.payload)[:QUERY_PAYLOAD_LIMIT],
                }
                for b in buttons
            ]
        },
    }


def _refused(result: dict[str, Any]) -> bool:
    """An error that refuses the message itself: none of the token, limit, user or transient
    codes the channel knows."""
    code = result.get("error")
    known = (
        (TOKEN_ERRORS | RATE_LIMIT_ERRORS | UNREACHABLE_ERRORS | OUTSIDE_WINDOW_ERRORS).keys()
        | TRANSIENT_ERRORS.keys()
        | {0, ATTACHMENT_EXPIRED}
    )
    return code not in known


class _TokenRejected(Exception):
    """An upload was refused for its access token."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _retry_after(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
