"""Zalo Official Account channel (Open API v3): a signed webhook in, `/v3.0/oa/message/cs` out.

Receiving. Zalo POSTs each event to `WEBHOOK_PATH` with `X-ZEvent-Signature: mac=<hex>`, where hex
is the plain SHA-256 (not an HMAC) of `app_id + raw body + timestamp + OA secret key`, app_id and
the millisecond timestamp being the ones in the body. A request without a valid signature, for
another app or outside the timestamp window is refused with 403 before anything else is done with
it. A valid event is recorded in the inbox (unique on channel + `message.msg_id`) and answered 200
at once; it is processed afterwards by a task, one user's events in the order they came. A killed
process leaves recorded, unprocessed events, which `start()` resumes.

Sending. Text (split at 2000 characters), photos (a URL, or a content file uploaded once and sent
by attachment id), documents (PDF/DOC/DOCX uploaded as files). The customer-service endpoint has no
buttons, so buttons go out as numbered options (`render_numbered`); the dialogue keeps the options
it offered in the user's state, so a typed "1" or "2" picks one. Zalo answers HTTP 200 with an
`error` code in the JSON: an invalid or expired token is refreshed once and the call repeated,
rate limits and 5xx/timeouts are retried by `Sender`, a user who unfollowed is marked unreachable
and unsubscribed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import mimetypes
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.sending import (
    RateLimiter,
    RetryAfter,
    RetryPolicy,
    Sender,
    SendFailed,
    Transient,
    Unreachable,
    mark_unreachable,
)
from bot.channels.zalo_tokens import TokenError, TokenRefreshUnavailable, ZaloTokens
from bot.config import ZaloSettings
from bot.messages import IncomingMessage, Location, Media, Reply, render_numbered
from bot.pipeline import Pipeline
from bot.storage import inbox
from bot.storage.gate import writing
from bot.storage.models import InboxEntry

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
MAX_KEY = 128  # inbox.message_id column

# Zalo's `error` codes (developers.zalo.me/docs/official-account/phu-luc/ma-loi).
TOKEN_ERRORS = {-216: "access token is invalid", -220: "access token is expired or removed",
                -124: "access token is expired"}
RATE_LIMIT_ERRORS = {-32: "app or OA reached its API call limit"}
UNREACHABLE_ERRORS = {-213: "user has not followed the OA",
                      -227: "user is banned or inactive for more than 45 days"}
# Customer-service messages only reach users who wrote within the last 7 days. These users did not
# block or unfollow us, so they are not unsubscribed: the message fails, the subscription stays.
OUTSIDE_WINDOW_ERRORS = {-230: "user has not interacted with the OA in the past 7 days",
                         -232: "user has not interacted with the OA, or the interaction expired",
                         -244: "user has restricted this message type from the OA"}
TRANSIENT_ERRORS = {-200: "send message failed"}
ATTACHMENT_EXPIRED = -100

# Events: what each becomes. Anything else (oa_send_*, user_seen_message, ...) is answered 200
# and ignored.
MESSAGE_EVENTS = {"user_send_text", "user_send_image", "user_send_location", "user_send_audio",
                  "user_send_sticker", "user_send_gif", "user_send_file", "user_send_video"}
FOLLOW_EVENTS = {"follow", "unfollow"}
HANDLED_EVENTS = MESSAGE_EVENTS | FOLLOW_EVENTS
EVENT_NAME_RE = re.compile(r"^[a-z_]{1,40}$")

UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)
PROCESS_ATTEMPTS = 3
RESUME_LIMIT = 10_000


class OutsideWindow(SendFailed):
    """Zalo refused a customer-service message because the user has not written recently."""


# --------------------------------------------------------------------------- signatures


def signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """The hex SHA-256 Zalo puts after `mac=`: sha256(app_id + body + timestamp + OA secret key)."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()).hexdigest()


def signature_ok(header: str, app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> bool:
    given = header.strip()
    if given[:4].lower() == "mac=":
        given = given[4:]
    expected = signature(app_id, body, timestamp, oa_secret_key)
    return hmac.compare_digest(given.strip().lower().encode("ascii", "replace"), expected.encode())


# --------------------------------------------------------------------------- events -> messages


def event_user(event: dict[str, Any]) -> str | None:
    """The user id by OA: `sender.id` for messages, `follower.id` for follow and unfollow."""
    for field in ("follower", "sender") if event.get("event_name") in FOLLOW_EVENTS else ("sender",):
        who = event.get(field)
        if isinstance(who, dict) and isinstance(who.get("id"), (str, int)) and str(who["id"]):
            return str(who["id"])
    return None


def event_key(event: dict[str, Any]) -> str | None:
    """The inbox key: `message.msg_id`, or for events without one a key stable across retries."""
    message = event.get("message")
    if isinstance(message, dict):
        msg_id = message.get("msg_id")
        if isinstance(msg_id, (str, int)) and str(msg_id):
            key = str(msg_id)
            return key if len(key) <= MAX_KEY else "h:" + hashlib.sha256(key.encode()).hexdigest()
    user = event_user(event)
    if user is None:
        return None
    key = f"{event.get('event_name')}:{user}:{event.get('timestamp')}"
    return key if len(key) <= MAX_KEY else "h:" + hashlib.sha256(key.encode()).hexdigest()


def _attachments(message: dict[str, Any]) -> list[dict[str, Any]]:
    atts = message.get("attachments")
    return [a for a in atts if isinstance(a, dict)] if isinstance(atts, list) else []


def _payload(att: dict[str, Any]) -> dict[str, Any]:
    p = att.get("payload")
    return p if isinstance(p, dict) else {}


def _url(att: dict[str, Any]) -> str | None:
    url = _payload(att).get("url")
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _location(message: dict[str, Any]) -> Location | None:
    for att in _attachments(message):
        coords = _payload(att).get("coordinates")
        if isinstance(coords, dict):
            lat = coords.get("latitude", coords.get("lat"))
            lon = coords.get("longitude", coords.get("long", coords.get("lng")))
            try:
                return Location(float(lat), float(lon))
            except (TypeError, ValueError):
                return None
    return None


def to_message(event: dict[str, Any], key: str) -> IncomingMessage | None:
    """The platform-neutral message for a user event; None for unfollow and unknown events."""
    name, user = event.get("event_name"), event_user(event)
    if user is None:
        return None
    if name == "follow":
        # A new follower gets the same welcome as /start: greeting and the language choice.
        return IncomingMessage(channel=CHANNEL, sender_id=user, message_id=key, payload="/start")
    if name not in MESSAGE_EVENTS:
        return None
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    text = message.get("text") if isinstance(message.get("text"), str) else ""
    media: tuple[Media, ...] = ()
    location = None
    kinds = {"user_send_image": "photo", "user_send_audio": "voice", "user_send_file": "document",
             "user_send_video": "video"}
    if name in kinds:
        media = tuple(Media(kinds[name], url) for url in map(_url, _attachments(message)) if url)  # type: ignore[arg-type]
    elif name == "user_send_location":
        location = _location(message)
        text = ""  # Zalo may put the address here; the coordinates are what counts
    elif name in ("user_send_sticker", "user_send_gif"):
        # Stickers carry no words: an empty message, which the dialogue answers by saying it
        # reads text only.
        text = ""
    return IncomingMessage(channel=CHANNEL, sender_id=user, message_id=key, text=text, media=media,
                           location=location)


# --------------------------------------------------------------------------- replies -> API messages


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut text into pieces of at most `limit` characters, at a paragraph, line, sentence or word."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit + 1]
        cut = -1
        for sep in ("\n\n", "\n", ". ", "? ", "! ", " "):
            at = window.rfind(sep, 0, limit)
            if at > limit // 3:
                cut = at + (len(sep) if sep.strip() else 0)
                break
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _is_url(ref: str) -> bool:
    return ref.startswith(("https://", "http://"))


@dataclass(frozen=True)
class Outgoing:
    """One API message: text, a photo (URL or content file) or a document (content file)."""

    kind: str  # text | photo | document
    value: str


def outgoing(reply: Reply) -> list[Outgoing]:
    """The API messages a reply becomes, in order; buttons become numbered options in the text."""
    out = [Outgoing("text", piece) for piece in split_text(render_numbered(reply))]
    if reply.photo:
        out.append(Outgoing("photo", reply.photo))
    if reply.document:
        out.append(Outgoing("document", reply.document) if not _is_url(reply.document)
                   else Outgoing("text", reply.document))
    if reply.voice:
        # The customer-service API has no voice messages: a link when there is one, else nothing.
        if _is_url(reply.voice):
            out.append(Outgoing("text", reply.voice))
        else:
            log.info("zalo: voice replies are not supported by the OA API; a voice file was skipped")
    return out


# --------------------------------------------------------------------------- the channel


class ZaloChannel:
    """Receives Zalo OA webhook events and sends replies through the OA customer-service API."""

    name = CHANNEL

    def __init__(self, settings: ZaloSettings, pipeline: Pipeline, sessionmaker: async_sessionmaker[AsyncSession],
                 *, content_dir: Path | None = None, policy: RetryPolicy | None = None,
                 rate_limit_pause: float = 60.0, send_timeout: float = 15.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.sessionmaker = sessionmaker
        if content_dir is None:
            app_settings = getattr(getattr(pipeline, "services", None), "settings", None)
            content_dir = app_settings.path(app_settings.content_dir) if app_settings is not None else Path("content")
        self.content_dir = content_dir.resolve()
        self.clock = clock
        self.rate_limit_pause = rate_limit_pause
        self.send_timeout = aiohttp.ClientTimeout(total=send_timeout, connect=min(5.0, send_timeout))
        self.sender = Sender(CHANNEL, RateLimiter(settings.rate_per_second), sessionmaker, policy)
        self.tokens = ZaloTokens(settings, sessionmaker, self._client)
        self._http: aiohttp.ClientSession | None = None
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._attachments: dict[tuple[str, str], tuple[str, float]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    # ---- lifecycle

    def register_routes(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self.webhook)

    async def start(self) -> None:
        self._client()
        resumed = await self.resume()
        if resumed:
            log.info("zalo: resuming %d recorded, unprocessed events", resumed)

    async def stop(self, grace: float = 5.0) -> None:
        """Let running events finish for `grace` seconds; the rest stay recorded for the next start."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until no event is being processed (tests, benchmarks, shutdown)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self.send_timeout)
        return self._http

    # ---- receiving

    async def webhook(self, request: web.Request) -> web.Response:
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header:
            return web.Response(status=403, text="missing signature")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large")
        if len(body) > MAX_BODY:
            return web.Response(status=413, text="too large")
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON")
        if not isinstance(event, dict):
            return web.Response(status=400, text="not a JSON object")
        app_id, timestamp = event.get("app_id"), event.get("timestamp")
        if not isinstance(app_id, (str, int)) or str(app_id) != self.settings.app_id:
            return web.Response(status=403, text="wrong app")
        if not isinstance(timestamp, (str, int)) or not signature_ok(
                header, str(app_id), body, str(timestamp), self.settings.oa_secret_key):
            return web.Response(status=403, text="bad signature")
        try:
            ms = int(str(timestamp))
        except ValueError:
            return web.Response(status=403, text="bad timestamp")
        if abs(self.clock() * 1000 - ms) > self.settings.timestamp_window_seconds * 1000:
            return web.Response(status=403, text="stale timestamp")

        name = event.get("event_name")
        if name not in HANDLED_EVENTS:
            shown = name if isinstance(name, str) and EVENT_NAME_RE.match(name) else "(unrecognised)"
            log.info("zalo: ignored event %s", shown)
            return web.Response(text="ok")
        key = event_key(event)
        if key is None:
            log.warning("zalo: %s event without a user id ignored", name)
            return web.Response(text="ok")
        if await self.pipeline.services.record(CHANNEL, key, event):
            self._schedule(key, event)
        return web.Response(text="ok")

    async def resume(self) -> int:
        """Schedule recorded, unprocessed events (after a crash or a kill); how many there were."""
        async with writing(self.sessionmaker) as session:  # taking them counts an attempt
            rows = await inbox.pending(session, CHANNEL, limit=RESUME_LIMIT)
            entries = [(r.message_id, r.payload) for r in rows]
        count = 0
        for key, payload in entries:
            if isinstance(payload, dict):
                count += self._schedule(key, payload)
            else:
                await self._mark(key, "failed", "nothing recorded to resume")
        return count

    def _schedule(self, key: str, event: dict[str, Any]) -> bool:
        if key in self._inflight:
            return False
        self._inflight.add(key)
        self._idle.clear()
        task = asyncio.get_running_loop().create_task(self._process(key, event))
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            self._inflight.discard(key)
            if not self._tasks:
                self._idle.set()

        task.add_done_callback(done)
        return True

    async def _process(self, key: str, event: dict[str, Any]) -> None:
        user = event_user(event) or key
        try:
            # One user's events one at a time, in arrival order, through the retries and the sending.
            async with self.pipeline.services.in_order(CHANNEL, user):
                await self._handle(key, event, user)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: the next start resumes it
            log.error("zalo: a %s event was left for the next start (%s)", event.get("event_name"), type(exc).__name__)

    async def _handle(self, key: str, event: dict[str, Any], user: str) -> None:
        name = event.get("event_name")
        turn = None
        for attempt in range(PROCESS_ATTEMPTS):
            try:
                msg = to_message(event, key)
                if name == "unfollow":
                    await self._unfollow(key, user)
                    return
                if msg is None:
                    await self._mark(key, "done")
                    return
                # The pipeline gates the transaction only: replies are sent after it (only the
                # user's turn is held then), so a rate-limited send does not hold up other users.
                turn = await self.pipeline.handle(msg)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried, then recorded as failed
                log.warning("zalo: processing %s failed (%s), attempt %d of %d", name, type(exc).__name__,
                            attempt + 1, PROCESS_ATTEMPTS)
                if attempt + 1 == PROCESS_ATTEMPTS:
                    # Only the type: messages of database errors can carry the user's text.
                    await self._mark(key, "failed", type(exc).__name__)
                    return
                await asyncio.sleep(0.2 * 4 ** attempt)
        if turn is None or turn.duplicate:
            return
        # The turn is committed (inbox row done): replies are sent once, after it.
        for reply in turn.replies:
            try:
                await self.send(user, reply)
            except Unreachable:
                log.info("zalo: user unreachable; remaining replies dropped")
                return
            except SendFailed as exc:
                log.warning("zalo: reply not delivered: %s", exc)
                return

    async def _unfollow(self, key: str, user: str) -> None:
        """Unfollowed: stop sending and end their subscription. No reply (Zalo would refuse it)."""
        async with self.sessionmaker() as session:
            status = (await session.execute(
                select(InboxEntry.status).where(InboxEntry.channel == CHANNEL, InboxEntry.message_id == key)
            )).scalar_one_or_none()
        if status == "done":
            return
        await mark_unreachable(self.sessionmaker, CHANNEL, user)
        async with writing(self.sessionmaker) as session:
            if await inbox.claim(session, CHANNEL, key):
                await inbox.finish(session, CHANNEL, key)
            await session.commit()
        log.info("zalo: a user unfollowed; marked unreachable and unsubscribed")

    async def _mark(self, key: str, status: str, error: str | None = None) -> None:
        async with writing(self.sessionmaker) as session:
            await session.execute(
                update(InboxEntry).where(InboxEntry.channel == CHANNEL, InboxEntry.message_id == key)
                .values(status=status, error=error, payload=None, processed_at=datetime.now(UTC))
            )
            await session.commit()

    # ---- sending

    async def send(self, recipient: str, reply: Reply) -> None:
        """Send one reply as one or more API messages; raises Unreachable or SendFailed."""
        for item in outgoing(reply):
            await self.sender.call(recipient, lambda item=item: self._send_one(recipient, item))

    async def _send_one(self, recipient: str, item: Outgoing) -> dict[str, Any]:
        async def attempt(token: str) -> dict[str, Any]:
            try:
                message = await self._message(item, token)
            except _TokenRejected as exc:
                return {"error": exc.code}
            return await self._post_json(SEND_PATH, {"recipient": {"user_id": recipient}, "message": message}, token)

        try:
            token = await self.tokens.access_token()
            result = await attempt(token)
            if result.get("error") in TOKEN_ERRORS:
                # Invalid or expired before its time (revoked, or refreshed elsewhere): refresh once.
                token = await self.tokens.refresh(token)
                result = await attempt(token)
                if result.get("error") in TOKEN_ERRORS:
                    raise SendFailed(f"zalo: a freshly refreshed access token was refused ({result.get('error')}); "
                                     "check ZALO_APP_ID and that the app is linked to the OA")
        except TokenError as exc:
            raise SendFailed(str(exc)) from None
        except TokenRefreshUnavailable as exc:
            raise Transient(str(exc)) from None
        return self._classify(result, item)

    def _classify(self, result: dict[str, Any], item: Outgoing) -> dict[str, Any]:
        code = result.get("error")
        if code == 0:
            return result
        if code in RATE_LIMIT_ERRORS:
            raise RetryAfter(self.rate_limit_pause)
        if code in UNREACHABLE_ERRORS:
            raise Unreachable(f"zalo: {UNREACHABLE_ERRORS[code]} ({code})")
        if code in OUTSIDE_WINDOW_ERRORS:
            raise OutsideWindow(f"zalo: {OUTSIDE_WINDOW_ERRORS[code]} ({code})")
        if code in TRANSIENT_ERRORS:
            raise Transient(f"zalo: {TRANSIENT_ERRORS[code]} ({code})")
        if code == ATTACHMENT_EXPIRED:
            self._attachments.pop((item.kind, item.value), None)
            raise Transient("zalo: attachment id expired; uploading again")
        message = str(result.get("message") or "")[:120]
        raise SendFailed(f"zalo: message refused: error {code} {message}")

    async def _post_json(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        url = self.settings.api_base_url.rstrip("/") + path
        try:
            async with self._client().post(url, json=body, headers={"access_token": token},
                                           timeout=self.send_timeout) as resp:
                return await self._result(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(f"zalo: {type(exc).__name__}") from None

    async def _result(self, resp: aiohttp.ClientResponse) -> dict[str, Any]:
        if resp.status == 429:
            raise RetryAfter(_retry_after(resp.headers.get("Retry-After"), self.rate_limit_pause))
        if resp.status >= 500:
            raise Transient(f"zalo: HTTP {resp.status}")
        if resp.status != 200:
            raise SendFailed(f"zalo: HTTP {resp.status} from the OA API")
        try:
            data = await resp.json(content_type=None)
        except ValueError:
            raise Transient("zalo: the OA API answered something other than JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("error", 0), int):
            raise Transient("zalo: unexpected answer from the OA API")
        data.setdefault("error", 0)
        return data

    async def _message(self, item: Outgoing, token: str) -> dict[str, Any]:
        if item.kind == "text":
            return {"text": item.value}
        if item.kind == "photo":
            if _is_url(item.value):
                element = {"media_type": "image", "url": item.value}
            else:
                element = {"media_type": "image", "attachment_id": await self._upload(item, token)}
            return {"attachment": {"type": "template", "payload": {"template_type": "media", "elements": [element]}}}
        if item.kind == "document":
            return {"attachment": {"type": "file", "payload": {"token": await self._upload(item, token)}}}
        raise SendFailed(f"zalo: cannot send a {item.kind}")

    def _content_file(self, ref: str, allowed: set[str] | dict[str, str], max_bytes: int) -> Path:
        path = (self.content_dir / ref).resolve()
        if not path.is_relative_to(self.content_dir) or not path.is_file():
            raise SendFailed(f"zalo: media file {ref} not found under {self.content_dir}")
        if path.suffix.lower() not in allowed:
            raise SendFailed(f"zalo: {ref}: Zalo accepts only {', '.join(sorted(allowed))} here")
        if path.stat().st_size > max_bytes:
            raise SendFailed(f"zalo: {ref} is over Zalo's {max_bytes // 1024} KB limit")
        return path

    async def _upload(self, item: Outgoing, token: str) -> str:
        """Upload a content file once (per 6 days) and return its attachment id / file token."""
        cached = self._attachments.get((item.kind, item.value))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        if item.kind == "photo":
            path, route, field = self._content_file(item.value, IMAGE_TYPES, IMAGE_MAX_BYTES), UPLOAD_IMAGE_PATH, "attachment_id"
        else:
            path, route, field = self._content_file(item.value, FILE_TYPES, FILE_MAX_BYTES), UPLOAD_FILE_PATH, "token"
        form = aiohttp.FormData()
        mime = IMAGE_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        form.add_field("file", path.read_bytes(), filename=path.name, content_type=mime)
        url = self.settings.api_base_url.rstrip("/") + route
        try:
            async with self._client().post(url, data=form, headers={"access_token": token},
                                           timeout=UPLOAD_TIMEOUT) as resp:
                result = await self._result(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(f"zalo: upload failed: {type(exc).__name__}") from None
        if result.get("error") in TOKEN_ERRORS:
            raise _TokenRejected(result["error"])  # the send path refreshes and tries again
        if result.get("error") != 0:
            self._classify(result, item)
        value = (result.get("data") or {}).get(field)
        if not isinstance(value, str) or not value:
            raise SendFailed(f"zalo: upload of {item.value} answered no {field}")
        self._attachments[(item.kind, item.value)] = (value, time.monotonic() + ATTACHMENT_TTL)
        return value


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
