"""The Zalo Bot Platform channel: a bot made with "Zalo Bot Manager", a Telegram-like HTTP API.

Every call is `POST {api_base_url}/bot{token}/{method}` with a JSON body, answered
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}`
(docs/zalo-bot.md says which names, shapes and limits were verified, and where).

Receiving. Long polling (`getUpdates`, one update per answer) when no webhook URL is configured;
else a webhook route on our own app, refused with 403 before the body is read unless the
`X-Bot-Api-Secret-Token` header equals the secret (compared in constant time). Either way each
update goes to the inbound worker, which records it in the inbox before the webhook answers 200;
the platform documents no offset to confirm polled updates, so a polled update is held here and
handed to the worker again until it is recorded. The worker handles it after, in order per chat.

Sending. The sender core delivers outbox rows through `parts` and `deliver`: text (at most 2000
characters a message), photos by URL (sendPhoto has no upload), buttons as numbered options (the
platform has no buttons). `classify` says what an error means. The token is part of every URL:
it is never logged, and every text that could hold it is passed through `redact`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.channels.base import Limits, Receiver, SendError, split_text
from bot.channels.http import BadBody, read_json
from bot.channels.schemas import ZB_EVENT_RE, Invalid, finite_numbers, zalo_bot_update
from bot.errors import StartupError
from bot.messages import Inbound, IncomingMessage, Media, Reply, render_numbered
from bot.storage.outage import is_outage

if TYPE_CHECKING:
    from bot.config import ZaloBotSettings

CHANNEL = "zalo_bot"
log = logging.getLogger("bot.channels.zalo_bot")

# Platform limits and codes (docs/zalo-bot.md: verified, or our choice where none is published).
TEXT_LIMIT = 2000  # characters of a sendMessage text, and of a sendPhoto caption
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # setWebhook's secret_token comes back in it
MAX_WEBHOOK_BODY = 256 * 1024  # an update is a few hundred bytes
POLL_TIMEOUT = 30.0  # getUpdates' documented default long-poll, in seconds
NO_UPDATES = 408  # getUpdates' error_code when the long poll ended with nothing new
TOKEN_REFUSED = 401
QUOTA_EXCEEDED = 429
TRANSIENT = {403, 408}  # the error table calls 403 an internal server error
DEFAULT_WEBHOOK_PATH = "/zalo-bot/webhook"
TEXT_EVENT, IMAGE_EVENT = "message.text.received", "message.image.received"
STICKER_EVENT, VOICE_EVENT = "message.sticker.received", "message.voice.received"
MESSAGE_EVENTS = {TEXT_EVENT, IMAGE_EVENT, STICKER_EVENT, VOICE_EVENT}
# "message.unsupported.received" (a user whose messages Zalo does not pass on) and any other event
# are answered 200 and not recorded.

EXPORT_NOT_SENT = (
    "Zalo không gửi được tệp JSON qua tin nhắn. "
    "Nội dung của tệp được gửi thành tin nhắn ngay sau đây."
)


def redact(text: str, token: str) -> str:
    """Remove the bot token from a text that is about to be logged, printed or stored."""
    return text.replace(token, "<token>") if token else text


def webhook_path(settings: ZaloBotSettings) -> str:
    """Our route: the path of the public URL (a proxy must forward it unchanged)."""
    path = urlsplit(settings.webhook_url).path
    return path if path not in ("", "/") else DEFAULT_WEBHOOK_PATH


# --------------------------------------------------------------------------- the HTTP API


class ApiError(Exception):
    """A Bot API call that failed: `code` is the error_code (or the HTTP status; 0 for no
    answer at all), `description` is redacted, `retry_after` in seconds when told."""

    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code} {description}")
        self.code, self.description, self.retry_after = code, description, retry_after


class BotApi:
    """The Bot API over one aiohttp session (the channel's, the CLI's, the doctor's)."""

    def __init__(self, settings: ZaloBotSettings, request_timeout: float = 10.0) -> None:
        if not settings.token:
            raise ValueError("zalo_bot.token is empty: set ZALO_BOT_TOKEN")
        self.settings = settings
        self.token = settings.token
        self.base = (settings.api_base_url or "https://bot-api.zaloplatforms.com").rstrip("/")
        self.timeout = request_timeout
        self._http: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def redact(self, text: str) -> str:
        return redact(text, self.token)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """The `result` of one call; raises ApiError (never with the token in it)."""
        url = f"{self.base}/bot{self.token}/{method}"
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout, connect=min(5.0, self.timeout))
        try:
            async with self.session().post(url, json=params or {}, timeout=limit) as resp:
                status, header = resp.status, resp.headers.get("Retry-After")
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ApiError(0, type(exc).__name__) from None
        if isinstance(data, dict) and data.get("ok") is True and status < 400:
            return data.get("result")
        body = data if isinstance(data, dict) else {}
        code = body.get("error_code")
        if type(code) is not int or code in (0, 200):
            code = status if status >= 400 else 500  # not ok, and no code: a server fault
        description = self.redact(str(body.get("description") or f"HTTP {status}"))[:160]
        params_ = body.get("parameters")
        wait = params_.get("retry_after") if isinstance(params_, dict) else header
        raise ApiError(code, description, _seconds(wait))


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, min(float(value), 3600.0)) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify(exc: ApiError, pause: float = 30.0) -> SendError:
    """What a failed send means for the sender core."""
    if exc.code == QUOTA_EXCEEDED:
        return SendError("zalo_bot: quota exceeded (429)", retry_after=exc.retry_after or pause)
    if exc.code == TOKEN_REFUSED:
        return SendError("zalo_bot.token: refused by the Bot API (check ZALO_BOT_TOKEN)")
    if exc.code == 0:
        return SendError(f"zalo_bot: {exc.description}", retryable=True)
    if exc.code >= 500 or exc.code in TRANSIENT:
        return SendError(f"zalo_bot: error {exc.code}", retryable=True)
    return SendError(f"zalo_bot refused the message: {exc.code} {exc.description}"[:160])


# --------------------------------------------------------------------------- messages


def unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """The update in a webhook body: as is, or inside a `{"ok": true, "result": {...}}`."""
    result = body.get("result")
    return result if body.get("ok") is True and isinstance(result, dict) else body


def to_incoming(payload: dict[str, Any]) -> IncomingMessage | None:
    """A recorded update as a message; None for events and chats the bot does not answer.

    Raises `schemas.Invalid` for a message event that does not fit the schema (the worker
    records it as rejected). `sender_id` is the chat id: replies go there. A sticker is an empty
    message, which the dialogue answers by saying it reads text only."""
    name = payload.get("event_name")
    if isinstance(name, str) and ZB_EVENT_RE.fullmatch(name) and name not in MESSAGE_EVENTS:
        return None  # an event we do not act on: its content is never read
    update = zalo_bot_update(payload)
    if update.event_name not in MESSAGE_EVENTS:
        return None
    if update.message_id is None or update.chat_id is None:
        raise Invalid("message", "missing")
    if update.is_bot or update.chat_type.upper() == "GROUP":
        return None  # the bot answers people in private chats only
    media: tuple[Media, ...] = ()
    if update.event_name == IMAGE_EVENT and update.photo_url:
        media = (Media("photo", update.photo_url),)
    if update.event_name == VOICE_EVENT and update.voice_url:
        media = (Media("voice", update.voice_url),)
    return IncomingMessage(
        channel=CHANNEL,
        sender_id=update.chat_id,
        message_id=update.message_id,
        text=update.text if update.event_name in (TEXT_EVENT, IMAGE_EVENT) else "",
        media=media,
    )


@dataclass(frozen=True)
class Part:
    """One Bot API message: a text, or a photo URL with an optional caption."""

    kind: str  # text | photo
    value: str
    caption: str | None = None


def _is_url(ref: str | None) -> bool:
    return bool(ref) and ref.startswith(("https://", "http://"))  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the channel


class ZaloBotChannel:
    """A Zalo Bot Platform bot: polling or webhook in, one Bot API call per part out."""

    name = CHANNEL
    exports_dir: Path | None = None  # where /dulieu files are (bot.privacy.export); set by the app

    def __init__(
        self,
        settings: ZaloBotSettings,
        *,
        content_dir: Path,
        poll_timeout: float = POLL_TIMEOUT,
        request_timeout: float = 10.0,
        rate_limit_pause: float = 30.0,
    ) -> None:
        if settings.webhook_url and not settings.webhook_secret:
            raise ValueError("zalo_bot.webhook_secret: required when zalo_bot.webhook_url is set")
        self.settings = settings
        self.api = BotApi(settings, request_timeout)
        self.limits = Limits(settings.rate_per_second, settings.rate_per_chat_seconds)
        self.content_dir = Path(content_dir).resolve()
        self.poll_timeout = poll_timeout
        self.rate_limit_pause = rate_limit_pause
        self.worker: Receiver | None = None
        self._poller: asyncio.Task | None = None
        self._stopping = False

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_url else "polling"

    # ------------------------------------------------------------------ lifecycle

    def register_routes(self, app: web.Application) -> None:
        if self.settings.webhook_url:
            app.router.add_post(webhook_path(self.settings), self.webhook)

    async def start(self, worker: Receiver) -> None:
        """Check the token (getMe), then poll, or check that Zalo has our webhook."""
        self.worker = worker
        self._stopping = False
        try:
            me = await self.api.call("getMe")
        except ApiError as exc:
            if exc.code == TOKEN_REFUSED:
                raise StartupError(
                    "zalo_bot.token: the Bot API refused the token; check ZALO_BOT_TOKEN "
                    "(the Bot Token from Zalo Bot Manager)"
                ) from None
            raise StartupError(
                f"zalo_bot.api_base_url: the Bot API at {self.api.base} did not answer getMe "
                f"({exc.description}); check ZALO_BOT_API_BASE_URL and the network"
            ) from None
        bot = me.get("account_name") if isinstance(me, dict) else None
        log.info("zalo_bot: bot %s, %s mode", str(bot or "?")[:64], self.mode)
        if self.settings.webhook_url:
            await self._check_webhook()
        else:
            self._poller = asyncio.create_task(self._poll_forever(), name="zalo-bot-polling")

    async def stop(self) -> None:
        """Stop polling and close the client (the worker drains what was received)."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        await self.api.close()

    async def _check_webhook(self) -> None:
        try:
            info = await self.api.call("getWebhookInfo")
        except ApiError as exc:
            log.warning("zalo_bot: cannot read the webhook info (%s)", exc.description)
            return
        url = info.get("url") if isinstance(info, dict) else None
        if url != self.settings.webhook_url:
            log.warning(
                "zalo_bot: Zalo sends updates to %s but zalo_bot.webhook_url is %s; "
                "run `python -m bot zalo-bot set-webhook`",
                url or "nowhere (polling)",
                self.settings.webhook_url,
            )

    # ------------------------------------------------------------------ receiving

    def parse(self, payload: dict[str, Any]) -> Inbound | None:
        return to_incoming(payload)

    async def webhook(self, request: web.Request) -> web.Response:
        """POST from Zalo: check the secret, record, answer 200; handled after.

        A wrong or missing secret is 403 before the body is read. A body that is not a JSON
        object, too deep or too big is 400/413 (not an update at all). An update that does not
        fit the schema is recorded as rejected by the worker and answered 200, so Zalo stops
        sending it; only a failure to record is 503 (Zalo may send it again).
        """
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.settings.webhook_secret.encode("utf-8")):
            return web.Response(status=403, text="forbidden")
        try:
            body = await read_json(request, MAX_WEBHOOK_BODY)
        except BadBody as exc:
            return web.Response(status=exc.status, text=exc.message)
        if not isinstance(body, dict):
            return web.Response(status=400, text="not a Zalo Bot update: a JSON object expected")
        update = unwrap(body)
        if not finite_numbers(update):
            return web.Response(status=400, text="body has a number out of range")
        if self.worker is None:
            return web.Response(status=503, text="starting")
        try:
            await self.worker.accept(CHANNEL, [update])
        except Exception as exc:  # not recorded: answered 503
            if is_outage(exc):
                raise  # bot.availability: 503 with Retry-After, counted with the outage
            log.error("zalo_bot: cannot record an update (%s)", type(exc).__name__)
            return web.Response(status=503, text="try again")
        return web.Response(text="ok")

    async def _poll_forever(self) -> None:
        assert self.worker is not None
        try:
            await self.api.call("deleteWebhook")  # getUpdates does not work while one is set
        except ApiError as exc:
            log.warning("zalo_bot: deleteWebhook failed (%s)", exc.description)
        backoff = 1.0
        while not self._stopping:
            await self.worker.wait_for_room()
            try:
                result = await self.api.call(
                    "getUpdates",
                    {"timeout": str(int(self.poll_timeout))},
                    timeout=self.poll_timeout + self.api.timeout,
                )
            except ApiError as exc:
                if exc.code == NO_UPDATES:
                    backoff = 1.0
                    continue
                if exc.code == TOKEN_REFUSED:
                    log.error("zalo_bot: the token was refused; polling stopped (ZALO_BOT_TOKEN)")
                    return
                delay = exc.retry_after or backoff * (0.5 + random.random() / 2)
                log.warning("zalo_bot: getUpdates failed (%s), retry in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            batch = result if isinstance(result, list) else [result]
            await self._record([u for u in batch if isinstance(u, dict)])

    async def _record(self, updates: list[dict[str, Any]]) -> None:
        """Hand polled updates to the worker until they are recorded: Zalo will not send them
        again (only a stop meanwhile loses them, which is logged)."""
        assert self.worker is not None
        delay = 0.5
        while updates:
            try:
                await self.worker.accept(CHANNEL, updates)
                return
            except Exception as exc:
                if self._stopping:
                    log.error("zalo_bot: %d polled update(s) not recorded at stop", len(updates))
                    return
                log.error(
                    "zalo_bot: cannot record %d update(s) (%s); retrying in %.1fs",
                    len(updates),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def fetch_media(self, media: Media, max_bytes: int) -> bytes:
        """The bytes of a photo or voice note (the URL in the update: Zalo's CDN, no token in
        it), streamed and cut off past `max_bytes`, for the media step (bot.media). Raises bot.media
        DownloadFailed or MediaRefused; the URL is never logged."""
        from bot.media.download import DownloadFailed, fetch_url

        if not _is_url(media.ref):
            raise DownloadFailed("not an http(s) URL", retryable=False)
        return await fetch_url(self.api.session(), media.ref, max_bytes)

    # ------------------------------------------------------------------ sending

    def photo_url(self, ref: str) -> str | None:
        """What sendPhoto can take for a reply's photo: a URL as is; a file under content/media
        at its public address (the web app serves /media/ from there) when the webhook URL says
        where the bot is public; else None (sent without the photo)."""
        if _is_url(ref):
            return ref
        public = urlsplit(self.settings.webhook_url)
        rel = ref[len("content/") :] if ref.startswith("content/") else ref
        path = (self.content_dir / rel).resolve()
        media = self.content_dir / "media"
        if not (public.scheme and path.is_relative_to(media) and path.is_file()):
            return None
        return f"{public.scheme}://{public.netloc}/media/{path.relative_to(media).as_posix()}"

    def parts(self, reply: Reply) -> list[Part]:
        """Photo first (captioned when the text fits), then the text in pieces of 2000
        characters, buttons as numbered options; links for documents and voice, which the
        platform cannot send; a /dulieu export as its text."""
        from bot.channels.zalo import export_texts
        from bot.privacy import export

        text = render_numbered(reply).strip()
        out: list[Part] = []
        url = self.photo_url(reply.photo) if reply.photo else None
        if reply.photo and url is None:
            log.info("zalo_bot: a content photo was skipped (no public URL for it)")
        if url is not None:
            fits = len(text) <= TEXT_LIMIT
            out.append(Part("photo", url, (text or None) if fits else None))
            text = "" if fits else text
        out += [Part("text", piece) for piece in split_text(text, TEXT_LIMIT)]
        if export.is_ref(reply.document):
            folder = self.exports_dir or self.content_dir.parent / "var" / "exports"
            pieces = export_texts(reply.document or "", folder, EXPORT_NOT_SENT, TEXT_LIMIT)
            out += [Part("text", piece) for piece in pieces]
        out += [Part("text", ref) for ref in (reply.document, reply.voice) if _is_url(ref)]
        return out

    async def deliver(self, recipient: str, part: Part) -> str | None:
        """One Bot API call for one part; the message id. Raises SendError."""
        params: dict[str, Any] = {"chat_id": recipient}
        if part.kind == "photo":
            params["photo"] = part.value
            if part.caption:
                params["caption"] = part.caption
        else:
            params["text"] = part.value
        try:
            sent = await self.api.call(
                "sendPhoto" if part.kind == "photo" else "sendMessage", params
            )
        except ApiError as exc:
            raise classify(exc, self.rate_limit_pause) from None
        ref = sent.get("message_id") if isinstance(sent, dict) else None
        return str(ref)[:128] if isinstance(ref, (str, int)) else None
