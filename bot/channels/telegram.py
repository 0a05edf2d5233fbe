"""The Telegram channel: python-telegram-bot 22 for the Bot API; parse, verify and send only.

Receiving. Long polling when no webhook URL is configured, a webhook route on our own aiohttp app
when one is. Either way updates go to the inbound worker (`Receiver.accept`), which records
them in the inbox *before* Telegram is told we have them: the webhook answers 200 only after the
insert committed, and polling only sends the next `offset` (which is what confirms earlier
updates to Telegram) once every update of the batch is recorded. The worker handles them after,
in order per chat, and resumes what a killed process had recorded.

PTB's `Application` is built without its `Updater` (its polling loop confirms offsets itself) and
its handler dispatch is not used: the worker and the pipeline are the dispatcher, and PTB's
per-user context dicts would only hold personal data in memory. We use the Application for the
configured `ExtBot`, its HTTP connection pools and its lifecycle.

Sending. The sender core (`bot.outbox.sender`) delivers outbox rows through `parts` and
`deliver`: rate limits, retries, 429 and blocked users are handled there; `classify` says what a
Bot API error means. Neither the token nor chat ids are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram import error as tg_error
from telegram.ext import Application, ExtBot
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.channels.base import Limits, Receiver, SendError, split_text
from bot.channels.http import BadBody, read_json
from bot.channels.schemas import (
    MAX_ID,
    QUERY_ID_RE,
    TgCallbackQuery,
    TgFile,
    TgUpdate,
    finite_numbers,
    telegram_update,
)
from bot.channels.telegram_request import AiohttpRequest
from bot.errors import StartupError
from bot.messages import (
    Button,
    ContactGone,
    Inbound,
    IncomingMessage,
    Media,
    Reply,
)
from bot.storage.outage import is_outage

if TYPE_CHECKING:
    from bot.config import TelegramSettings

CHANNEL = "telegram"
log = logging.getLogger("bot.channels.telegram")

# Platform limits (https://core.telegram.org/bots/api), honoured below.
TEXT_LIMIT = 4096  # characters of a message text, counted in UTF-16 code units
CAPTION_LIMIT = 1024  # characters of a media caption
CALLBACK_DATA_LIMIT = 64  # bytes of a button's callback data (bot.messages.Button checks it too)
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024  # a bigger photo goes out as a document
FILE_UPLOAD_LIMIT = 50 * 1024 * 1024  # nothing bigger can be uploaded through the Bot API
FILE_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile serves files up to 20 MB
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_WEBHOOK_BODY = 1024 * 1024
# Updates we act on; everything else (edits, reactions, polls, channel posts) is never requested.
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"


# --------------------------------------------------------------------------- settings helpers


def api_base_url(settings: TelegramSettings) -> str:
    """The Bot API URL PTB appends the token to.

    Accepts the official form (`https://api.telegram.org/bot`), a URL with a `{token}` placeholder,
    or just a server's address (`http://localhost:8081`), to which `/bot` is added.
    """
    url = (settings.api_base_url or "https://api.telegram.org/bot").strip()
    if "{token}" in url or url.endswith("/bot"):
        return url
    if urlsplit(url).path in ("", "/"):
        return url.rstrip("/") + "/bot"
    return url


def file_base_url(settings: TelegramSettings) -> str:
    """Where files are downloaded from: the setting, else derived from the API URL."""
    if settings.file_base_url:
        return settings.file_base_url.strip()
    base = api_base_url(settings)
    if base.endswith("/bot"):
        return base[: -len("/bot")] + "/file/bot"
    if "/bot{token}" in base:
        return base.replace("/bot{token}", "/file/bot{token}")
    return "https://api.telegram.org/file/bot"


def webhook_path(settings: TelegramSettings) -> str:
    """Our route for the webhook: the path of the public URL (a proxy must forward it unchanged)."""
    return urlsplit(settings.webhook_url).path or "/"


def build_application(
    settings: TelegramSettings, request_timeout: float = 10.0, poll_timeout: float = 25.0
) -> Application:
    """A PTB Application without an Updater, pointed at the configured Bot API server."""
    if not settings.token:
        raise ValueError("telegram.token is empty: set TELEGRAM_BOT_TOKEN")
    return (
        Application.builder()
        .token(settings.token)
        .base_url(api_base_url(settings))
        .base_file_url(file_base_url(settings))
        .updater(None)
        .get_updates_connect_timeout(request_timeout)
        .get_updates_read_timeout(request_timeout)  # PTB adds the long-poll timeout to this
        .get_updates_pool_timeout(poll_timeout + request_timeout)
        .request(  # every call but getUpdates (after its settings: PTB checks the order)
            AiohttpRequest(  # aiohttp: half httpx's CPU per send
                connection_pool_size=256,
                connect_timeout=request_timeout,
                read_timeout=request_timeout,
                write_timeout=request_timeout,
                media_write_timeout=max(request_timeout, 30.0),
                pool_timeout=request_timeout,
            )
        )
        .build()
    )


def quiet_http_loggers() -> None:
    """httpx logs every request URL at INFO, and Bot API URLs contain the token; PTB's debug
    messages carry chat ids and message texts."""
    for name in ("httpx", "httpcore", "telegram"):
        logger = logging.getLogger(name)
        if (
            logger.level < logging.WARNING
        ):  # NOTSET too: inheriting DEBUG from the root would log them
            logger.setLevel(logging.WARNING)


def redact(text: str, token: str) -> str:
    """Remove the bot token from a message that is about to be logged or printed."""
    return text.replace(token, "<token>") if token else text


# --------------------------------------------------------------------------- incoming


def _largest_photo(sizes: tuple[TgFile, ...]) -> TgFile:
    # width and height are bounded by the schema (at most 100,000 each): the product is small.
    return max(sizes, key=lambda p: (p.width * p.height, p.file_size or 0))


def _button_label(query: TgCallbackQuery) -> str:
    """The label of the inline button that was pressed, when the message still shows it."""
    for button in query.buttons:
        if button.callback_data == query.data:
            return button.text
    return ""


def to_incoming(update: TgUpdate | Update | dict[str, Any]) -> IncomingMessage | None:
    """Normalise one update; None for what the bot does not answer (edits, service messages...).

    Takes the checked update (`schemas.telegram_update`), or a PTB Update or a raw update dict,
    which are checked first (raises `schemas.Invalid`).

    `sender_id` is the chat id (in a private chat, the user's id): replies and notices go there.
    `locale_hint` stays empty: Telegram's `language_code` is the phone's UI language, not a choice
    the user made here, and many villagers run phones set to English.
    """
    if isinstance(update, Update):
        update = update.to_dict()
    if not isinstance(update, TgUpdate):
        update = telegram_update(update)
    message_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        if not query.data or query.from_user.is_bot:
            return None
        sender = str(query.chat.id if query.chat is not None else query.from_user.id)
        return IncomingMessage(
            channel=CHANNEL,
            sender_id=sender,
            message_id=message_id,
            text=_button_label(query),
            payload=query.data,
        )
    message = update.message
    if message is None:  # edited_message, channel_post, my_chat_member...: nothing to answer
        return None
    if message.from_user is None or message.from_user.is_bot:
        return None
    media: list[Media] = []
    if message.photo:
        p = _largest_photo(message.photo)
        media.append(Media("photo", p.file_id, "image/jpeg", p.file_size))
    for f in message.files:
        media.append(Media(f.kind, f.file_id, f.mime_type, f.file_size))  # type: ignore[arg-type]
    msg = IncomingMessage(
        channel=CHANNEL,
        sender_id=str(message.chat.id),
        message_id=message_id,
        text=message.text or message.caption or "",
        media=tuple(media),
        location=message.location,
        contact=message.contact,
    )
    if msg.is_empty and message.chat.type != "private":
        return None  # a group's service message (member joined, title changed...)
    return msg


# --------------------------------------------------------------------------- outgoing


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def keyboard(reply: Reply | tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """One button per row: labels are sentences in Vietnamese or a minority language."""
    buttons = reply.buttons if isinstance(reply, Reply) else reply
    rows = [
        [InlineKeyboardButton(b.label[:64] or b.payload, callback_data=b.payload)]
        for b in buttons
        if b.payload
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def keyboard_json(buttons: tuple[Button, ...]) -> dict[str, Any] | None:
    """`keyboard` as the Bot API's JSON (what InlineKeyboardMarkup.to_dict() gives)."""
    rows = [
        [{"text": b.label[:64] or b.payload, "callback_data": b.payload}]
        for b in buttons
        if b.payload
    ]
    return {"inline_keyboard": rows} if rows else None


def _retry_after_seconds(exc: tg_error.RetryAfter) -> float:
    value = getattr(
        exc, "_retry_after", None
    )  # a timedelta in PTB 22; avoids a deprecation warning
    if not isinstance(value, timedelta):
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: tg_error.TelegramError, token: str = "") -> SendError:
    """What a Bot API error means for the sender core (BadRequest subclasses NetworkError)."""
    if isinstance(exc, tg_error.RetryAfter):
        return SendError("telegram: flood control", retry_after=_retry_after_seconds(exc))
    if isinstance(exc, tg_error.Forbidden):
        return SendError("telegram: the user blocked the bot", gone=True)
    if isinstance(exc, tg_error.BadRequest):
        return SendError(f"telegram refused the request: {redact(str(exc), token)}"[:160])
    if isinstance(exc, (tg_error.TimedOut, tg_error.NetworkError)):
        return SendError(f"telegram: {type(exc).__name__}", retryable=True)
    if isinstance(exc, tg_error.InvalidToken):
        return SendError("telegram.token: the Bot API refused the token (check TELEGRAM_BOT_TOKEN)")
    return SendError(f"telegram error: {type(exc).__name__}")


@dataclass(frozen=True)
class Part:
    """One Bot API message: a text, or a photo / voice / document with an optional caption."""

    kind: str  # text | photo | voice | document
    value: str  # the text, or the media reference
    caption: str | None = None
    buttons: tuple[Button, ...] = ()


def reply_parts(reply: Reply) -> list[Part]:
    """The messages a reply becomes: its media (captioned when the text fits), then the text."""
    text = reply.text.strip()
    out: list[Part] = []
    media = [(k, getattr(reply, k)) for k in ("photo", "voice", "document") if getattr(reply, k)]
    if media:
        kind, ref = media[0]
        fits = bool(text) and utf16_len(text) <= CAPTION_LIMIT
        out.append(
            Part(kind, ref, text if fits else None, reply.buttons if fits or not text else ())
        )
        if fits or not text:
            return out
    pieces = split_text(text, TEXT_LIMIT, utf16_len) or (["…"] if reply.buttons else [])
    for i, piece in enumerate(pieces):
        out.append(Part("text", piece, None, reply.buttons if i == len(pieces) - 1 else ()))
    return out


# --------------------------------------------------------------------------- the channel


class MediaMissing(Exception):
    """A reply names a content file that is not there: the operator's error, not the user's."""


class TelegramChannel:
    """Telegram through python-telegram-bot: polling or webhook in, one Bot API call per part
    out."""

    name = CHANNEL
    exports_dir: Path | None = None  # where /dulieu files are (bot.privacy.export); set by the app
    voice_dir: Path | None = None  # translators' recordings (bot.voice.store); set by the app

    def __init__(
        self,
        settings: TelegramSettings,
        *,
        content_dir: Path,
        poll_timeout: float = 25.0,
        request_timeout: float = 10.0,
    ) -> None:
        if not settings.token:
            raise ValueError("telegram.token is empty: set TELEGRAM_BOT_TOKEN")
        if settings.webhook_url and not settings.webhook_secret:
            raise ValueError("telegram.webhook_secret: required when telegram.webhook_url is set")
        quiet_http_loggers()
        self.settings = settings
        self.limits = Limits(settings.rate_per_second, settings.rate_per_chat_seconds)
        self.content_dir = Path(content_dir).resolve()
        self.application = build_application(settings, request_timeout, poll_timeout)
        self.bot: ExtBot = self.application.bot
        self._send_message_url = f"{self.bot.base_url}/sendMessage"
        self.poll_timeout = poll_timeout
        self.worker: Receiver | None = None
        self._poller: asyncio.Task | None = None
        self._callbacks: set[asyncio.Task] = set()
        self._init_lock = asyncio.Lock()
        self._initialized = False
        self._stopping = False
        self._uploaded: dict[tuple[str, str, float], str] = {}  # (kind, path, mtime) -> file_id
        self._http: aiohttp.ClientSession | None = None  # incoming file downloads (fetch_media)

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_url else "polling"

    # ------------------------------------------------------------------ lifecycle

    def register_routes(self, app: web.Application) -> None:
        if self.settings.webhook_url:
            app.router.add_post(webhook_path(self.settings), self.webhook)

    async def _ensure_initialized(self) -> None:
        if self._initialized:  # every send asks: no lock once it is
            return
        async with self._init_lock:
            if self._initialized:
                return
            try:
                await self.application.initialize()  # getMe: checks the token and the server
            except tg_error.InvalidToken:
                raise StartupError(
                    "telegram.token: the Bot API refused the token; "
                    "check TELEGRAM_BOT_TOKEN (from @BotFather)"
                ) from None
            except tg_error.NetworkError as exc:
                raise StartupError(
                    f"telegram.api_base_url: cannot reach the Bot API at "
                    f"{redact(api_base_url(self.settings), self.settings.token)} "
                    f"({redact(str(exc), self.settings.token)}); check "
                    "TELEGRAM_API_BASE_URL and the network"
                ) from None
            self._initialized = True

    async def start(self, worker: Receiver) -> None:
        """Check the token, then poll (or check that Telegram has our webhook)."""
        self.worker = worker
        self._stopping = False
        await self._ensure_initialized()
        log.info("telegram: bot @%s, %s mode", self.bot.username, self.mode)
        if self.settings.webhook_url:
            await self._check_webhook()
        else:
            self._poller = asyncio.create_task(self._poll_forever(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop polling and close the client (the worker drains what was received)."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        if self._callbacks:
            await asyncio.wait(set(self._callbacks), timeout=2)
        if self._initialized:
            with contextlib.suppress(Exception):
                await self.application.shutdown()
            self._initialized = False
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _check_webhook(self) -> None:
        try:
            info = await self.bot.get_webhook_info()
        except tg_error.TelegramError as exc:
            log.warning(
                "telegram: cannot read the webhook info (%s)", redact(str(exc), self.settings.token)
            )
            return
        if info.url != self.settings.webhook_url:
            log.warning(
                "telegram: Telegram sends updates to %s but telegram.webhook_url is %s; "
                "run `python -m bot telegram set-webhook`",
                info.url or "nowhere (polling)",
                self.settings.webhook_url,
            )

    # ------------------------------------------------------------------ receiving

    def parse(self, payload: dict[str, Any]) -> Inbound | None:
        """A recorded update as an event: a message, a button press, or a user who blocked us.

        Raises `schemas.Invalid` for an update that does not fit the schema (the worker records
        it as rejected)."""
        update = telegram_update(payload)
        member = update.my_chat_member
        if member is not None:
            if member.chat.type == "private" and member.status == "kicked":
                return ContactGone(CHANNEL, str(member.chat.id), str(update.update_id))
            return None
        return to_incoming(update)

    async def accept(self, payloads: list[dict[str, Any]]) -> int:
        """Hand updates to the worker (recorded before this returns); how many were new."""
        assert self.worker is not None, "start() the channel first"
        new = await self.worker.accept(CHANNEL, payloads)
        for payload in payloads:
            query = payload.get("callback_query")
            if isinstance(query, dict) and isinstance(query.get("id"), str):
                if not QUERY_ID_RE.fullmatch(query["id"]):
                    continue  # a rejected update: nothing to answer
                task = asyncio.ensure_future(self._answer_callback(query["id"]))
                self._callbacks.add(task)
                task.add_done_callback(self._callbacks.discard)
        return new

    async def _answer_callback(self, query_id: str) -> None:
        """Stop the button's spinner. Not a message (not rate limited); a stale query is fine."""
        try:
            await self.bot.answer_callback_query(query_id)
        except tg_error.TelegramError as exc:
            log.debug("telegram: answerCallbackQuery failed: %s", type(exc).__name__)

    async def webhook(self, request: web.Request) -> web.Response:
        """POST from Telegram: check the secret, record, answer 200; handled after.

        A forged request is 403 before the body is read. A body that is not JSON, too deep or
        too big, or not an object with a whole `update_id`, is 400/413 (not an update at all;
        a 5xx would be resent for a day). An update that does not fit the schema is recorded
        as rejected by the worker and answered 200, so Telegram stops sending it; only a
        failure to record is 503 (sent again).
        """
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.settings.webhook_secret.encode("utf-8")):
            return web.Response(status=403, text="forbidden")
        try:
            data = await read_json(request, MAX_WEBHOOK_BODY)
        except BadBody as exc:
            return web.Response(status=exc.status, text=exc.message)
        if not isinstance(data, dict):
            return web.Response(status=400, text="not a Telegram update: a JSON object expected")
        update_id = data.get("update_id")
        if type(update_id) is not int or not 0 <= update_id <= MAX_ID:  # no bools
            return web.Response(status=400, text="not a Telegram update: no whole update_id")
        if not finite_numbers(data):
            return web.Response(status=400, text="body has a number out of range")
        try:
            await self.accept([data])
        except Exception as exc:  # not recorded: Telegram will deliver it again
            if is_outage(exc):
                raise  # bot.availability: 503 with Retry-After, counted with the outage
            log.error("telegram: cannot record an update (%s)", type(exc).__name__)
            return web.Response(status=503, text="try again")
        return web.Response(text="ok")

    async def _poll_forever(self) -> None:
        assert self.worker is not None
        offset: int | None = None
        backoff = 1.0
        try:
            await self.bot.delete_webhook(drop_pending_updates=False)  # getUpdates needs none
        except tg_error.TelegramError as exc:
            log.warning(
                "telegram: deleteWebhook failed (%s)", redact(str(exc), self.settings.token)
            )
        while not self._stopping:
            await self.worker.wait_for_room()
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=int(self.poll_timeout),
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            except asyncio.CancelledError:
                raise
            except tg_error.RetryAfter as exc:
                await asyncio.sleep(_retry_after_seconds(exc))
                continue
            except tg_error.InvalidToken:
                log.error(
                    "telegram: the Bot API refused the token; polling stopped "
                    "(check TELEGRAM_BOT_TOKEN)"
                )
                return
            except tg_error.Conflict as exc:
                log.error(
                    "telegram: %s; another process polls with this token, or a webhook is set",
                    redact(str(exc), self.settings.token),
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except tg_error.TelegramError as exc:
                log.warning(
                    "telegram: getUpdates failed (%s), retrying in %.0fs",
                    redact(str(exc), self.settings.token),
                    backoff,
                )
                await asyncio.sleep(backoff * (0.5 + random.random() / 2))
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if not updates:
                continue
            try:
                await self.accept([u.to_dict() for u in updates])
            except Exception as exc:  # not recorded: keep the offset so Telegram sends them again
                log.error(
                    "telegram: cannot record %d update(s) (%s); retrying",
                    len(updates),
                    type(exc).__name__,
                )
                await asyncio.sleep(1.0)
                continue
            offset = updates[-1].update_id + 1

    # ------------------------------------------------------------------ sending

    def parts(self, reply: Reply) -> list[Part]:
        return reply_parts(reply)

    async def deliver(self, recipient: str, part: Part) -> str | None:
        """One Bot API call for one part; the message id. Raises SendError."""
        await self._ensure_initialized()
        chat: int | str = int(recipient) if recipient.lstrip("-").isdigit() else recipient
        if part.kind == "text":
            try:
                return await self._send_text(chat, part.value, part.buttons)
            except tg_error.TelegramError as exc:
                raise classify(exc, self.settings.token) from None
        try:
            try:
                sent = await self._send_media(chat, part, keyboard(part.buttons))
            except MediaMissing as exc:
                log.error("telegram: %s; sending the text alone", exc)
                if not part.caption:
                    return None
                return await self._send_text(chat, part.caption, part.buttons)
        except tg_error.TelegramError as exc:
            raise classify(exc, self.settings.token) from None
        return str(sent.message_id) if sent is not None else None

    async def _send_text(
        self, chat: int | str, text: str, buttons: tuple[Button, ...]
    ) -> str | None:
        """sendMessage through PTB's request layer (its errors: RetryAfter, Forbidden, ...),
        without `Bot.send_message`'s objects: the keyboard as the JSON the Bot API reads, and the
        answer's message id read from its JSON instead of a `telegram.Message` built from it
        (measured: 144 against 19 us CPU a send, the HTTP call aside)."""
        params = [RequestParameter("chat_id", chat, None), RequestParameter("text", text, None)]
        markup = keyboard_json(buttons)
        if markup is not None:
            params.append(RequestParameter("reply_markup", markup, None))
        result = await self.bot.request.post(
            url=self._send_message_url, request_data=RequestData(parameters=params)
        )
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return str(message_id) if message_id is not None else None

    def _media_input(self, kind: str, ref: str) -> tuple[Any, Path | None]:
        """What to pass to sendPhoto/sendVoice/sendDocument, and the local file if uploading."""
        if ref.startswith(("http://", "https://")):
            return ref, None
        from bot.privacy import export
        from bot.voice import store as voice_store

        digest = voice_store.digest_of(ref)
        if digest is not None:  # a translator's recording: its OGG/Opus, as a voice message
            folder = self.voice_dir or self.content_dir.parent / "var" / "voice"
            found = voice_store.VoiceStore(folder).path(digest, "ogg")
            if found is None or not found.is_file():
                raise MediaMissing("a recording's file is gone from the voice folder")
            cached = self._uploaded.get((kind, str(found), found.stat().st_mtime))
            return (cached, None) if cached else (found, found)
        if export.is_ref(ref):  # a /dulieu file: uploaded from the private exports folder
            folder = self.exports_dir or self.content_dir.parent / "var" / "exports"
            found = export.local_file(ref, folder)
            if found is None:
                raise MediaMissing("a /dulieu export file is gone (past its time to live)")
            return found, found
        rel = ref[len("content/") :] if ref.startswith("content/") else ref
        path = (self.content_dir / rel).resolve()
        if path.is_relative_to(self.content_dir) and path.is_file():
            cached = self._uploaded.get((kind, str(path), path.stat().st_mtime))
            return (cached, None) if cached else (path, path)
        if "/" not in ref and "." not in ref:
            return ref, None  # a Telegram file_id
        raise MediaMissing(f"content media {ref!r} not found under {self.content_dir}")

    async def _send_media(
        self, chat: int | str, part: Part, markup: InlineKeyboardMarkup | None
    ) -> Message:
        kind = part.kind
        media, path = self._media_input(kind, part.value)
        if path is not None:
            size = path.stat().st_size
            if size > FILE_UPLOAD_LIMIT:
                raise MediaMissing(
                    f"content media {part.value!r} is {size} bytes; "
                    f"Telegram takes at most {FILE_UPLOAD_LIMIT}"
                )
            if kind == "photo" and size > PHOTO_UPLOAD_LIMIT:
                kind = "document"
            media = await asyncio.to_thread(path.read_bytes)
        method = {
            "photo": self.bot.send_photo,
            "voice": self.bot.send_voice,
            "document": self.bot.send_document,
        }[kind]
        kwargs: dict[str, Any] = {"caption": part.caption or None, "reply_markup": markup}
        if path is not None:
            kwargs["filename"] = path.name
        sent: Message = await method(chat, media, **kwargs)
        if path is not None and not part.value.startswith("/exports/"):  # an export goes once
            obj = sent.photo[-1] if kind == "photo" and sent.photo else getattr(sent, kind, None)
            if obj is not None:
                self._uploaded[(kind, str(path), path.stat().st_mtime)] = obj.file_id
        return sent

    async def fetch_media(self, media: Media, max_bytes: int = FILE_DOWNLOAD_LIMIT) -> bytes:
        """Download an incoming file for the media step (bot.media): getFile, then the file URL
        (`telegram.file_base_url`), streamed and cut off past `max_bytes`.

        Raises bot.media DownloadFailed (retryable: a timeout, a network error, flood control,
        a 5xx) or MediaRefused("too_large") when getFile or the download says it is bigger.
        The file URL holds the bot token: it is never logged nor put in an exception."""
        from bot.media.checks import MediaRefused
        from bot.media.download import DownloadFailed, fetch_url

        try:
            await self._ensure_initialized()
            file = await self.bot.get_file(media.ref)
        except StartupError:
            raise DownloadFailed("the Bot API is unreachable") from None
        except tg_error.BadRequest as exc:
            if "too big" in str(exc).lower():
                raise MediaRefused("too_large", "over the Bot API's download limit") from None
            raise DownloadFailed("getFile refused the file id", retryable=False) from None
        except tg_error.TelegramError as exc:  # RetryAfter, TimedOut, NetworkError, 5xx
            raise DownloadFailed(f"getFile: {type(exc).__name__}") from None
        if file.file_size is not None and file.file_size > max_bytes:
            raise MediaRefused("too_large", "getFile size")
        if not file.file_path:
            raise DownloadFailed("getFile gave no file path", retryable=False)
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return await fetch_url(self._http, file.file_path, max_bytes)
