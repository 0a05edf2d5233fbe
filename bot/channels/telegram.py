"""The Telegram channel: python-telegram-bot 22 for the Bot API, our inbox for durability.

Receiving. Long polling when no webhook URL is configured, a webhook route on our own aiohttp app
when one is. Either way an update is written to the inbox (channel "telegram", message id = the
update id, payload = the update's JSON) *before* Telegram is told we have it: the webhook answers
200 only after the insert committed, and polling only sends the next `offset` (which is what
confirms earlier updates to Telegram) once every update of the batch is recorded. Processing comes
after, through the pipeline, whose inbox claim answers each update once. `start()` resumes the
updates a killed process had recorded but not processed.

PTB's `Application` is built without its `Updater` (its polling loop confirms offsets itself) and
its handler dispatch is not used: the pipeline is the dispatcher, and PTB's per-user context dicts
would only hold personal data in memory. We use the Application for the configured `ExtBot`, its
HTTP connection pools and its lifecycle.

Sending. Every Bot API call that delivers a message goes through `Sender` (overall and per-chat
rate, 429 honoured, 5xx and timeouts retried, 403 -> the user is marked unreachable and
unsubscribed). Neither the token nor chat ids are logged; chat ids appear as keyed hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram import error as tg_error
from telegram.ext import Application, ExtBot

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
from bot.messages import Contact, IncomingMessage, Location, Media, Reply
from bot.storage import inbox
from bot.storage.gate import writing

if TYPE_CHECKING:
    from bot.config import TelegramSettings
    from bot.pipeline import Pipeline

CHANNEL = "telegram"
log = logging.getLogger("bot.channels.telegram")
T = TypeVar("T")

# Platform limits (https://core.telegram.org/bots/api), honoured below.
TEXT_LIMIT = 4096  # characters of a message text, counted in UTF-16 code units
CAPTION_LIMIT = 1024  # characters of a media caption
CALLBACK_DATA_LIMIT = 64  # bytes of a button's callback data (bot.messages.Button checks it too)
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024  # a bigger photo goes out as a document
FILE_UPLOAD_LIMIT = 50 * 1024 * 1024  # nothing bigger can be uploaded through the Bot API
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


def build_application(settings: TelegramSettings, request_timeout: float = 10.0,
                      poll_timeout: float = 25.0) -> Application:
    """A PTB Application without an Updater, pointed at the configured Bot API server."""
    if not settings.token:
        raise ValueError("telegram.token is empty: set TELEGRAM_BOT_TOKEN")
    return (
        Application.builder()
        .token(settings.token)
        .base_url(api_base_url(settings))
        .base_file_url(file_base_url(settings))
        .updater(None)
        .connect_timeout(request_timeout)
        .read_timeout(request_timeout)
        .write_timeout(request_timeout)
        .media_write_timeout(max(request_timeout, 30.0))
        .pool_timeout(request_timeout)
        .get_updates_connect_timeout(request_timeout)
        .get_updates_read_timeout(request_timeout)  # PTB adds the long-poll timeout to this
        .get_updates_pool_timeout(poll_timeout + request_timeout)
        .build()
    )


def quiet_http_loggers() -> None:
    """httpx logs every request URL at INFO, and Bot API URLs contain the token; PTB's debug
    messages carry chat ids and message texts."""
    for name in ("httpx", "httpcore", "telegram"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET too: inheriting DEBUG from the root would log them
            logger.setLevel(logging.WARNING)


def redact(text: str, token: str) -> str:
    """Remove the bot token from a message that is about to be logged or printed."""
    return text.replace(token, "<token>") if token else text


# --------------------------------------------------------------------------- incoming


def _largest_photo(sizes: tuple[Any, ...]) -> Any:
    return max(sizes, key=lambda p: (p.width * p.height, p.file_size or 0))


def _button_label(query: Any) -> str:
    """The label of the inline button that was pressed, when the message still shows it."""
    markup = getattr(query.message, "reply_markup", None) if query.message else None
    for row in getattr(markup, "inline_keyboard", ()) or ():
        for button in row:
            if button.callback_data == query.data:
                return button.text or ""
    return ""


def to_incoming(update: Update) -> IncomingMessage | None:
    """Normalise one update; None for what the bot does not answer (edits, service messages...).

    `sender_id` is the chat id (in a private chat, the user's id): replies and notices go there.
    `locale_hint` stays empty: Telegram's `language_code` is the phone's UI language, not a choice
    the user made here, and many villagers run phones set to English.
    """
    message_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        if not query.data or query.from_user is None or query.from_user.is_bot:
            return None
        chat = query.message.chat if query.message is not None else None
        sender = str(chat.id if chat is not None else query.from_user.id)
        return IncomingMessage(channel=CHANNEL, sender_id=sender, message_id=message_id,
                               text=_button_label(query), payload=query.data)
    message = update.message
    if message is None:  # edited_message, channel_post, my_chat_member...: nothing to answer
        return None
    if message.from_user is None or message.from_user.is_bot:
        return None
    media: list[Media] = []
    if message.photo:
        p = _largest_photo(message.photo)
        media.append(Media("photo", p.file_id, "image/jpeg", p.file_size))
    for kind in ("voice", "audio", "document", "video", "sticker"):
        obj = getattr(message, kind)
        if obj is not None:
            media.append(Media(kind, obj.file_id, getattr(obj, "mime_type", None), obj.file_size))
    location = None
    loc = message.location or (message.venue.location if message.venue else None)
    if loc is not None:
        try:
            location = Location(loc.latitude, loc.longitude)
        except ValueError:
            location = None
    contact = None
    if message.contact is not None:
        c = message.contact
        name = " ".join(x for x in (c.first_name, c.last_name) if x) or None
        contact = Contact(phone=c.phone_number, name=name)
    msg = IncomingMessage(
        channel=CHANNEL,
        sender_id=str(message.chat.id),
        message_id=message_id,
        text=message.text or message.caption or "",
        media=tuple(media),
        location=location,
        contact=contact,
    )
    if msg.is_empty and message.chat.type != "private":
        return None  # a group's service message (member joined, title changed...)
    return msg


# --------------------------------------------------------------------------- outgoing


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """The largest n such that text[:n] is at most `limit` UTF-16 units."""
    if utf16_len(text) <= limit:
        return len(text)
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into messages of at most `limit`, at paragraph, line or word boundaries.

    A cut is made at the last blank line in the allowed window, else the last line break, else
    the last space, so no word is broken; a run without any space longer than `limit` is the only
    thing cut mid-word. Whitespace at the cuts is dropped.
    """
    text = text.strip()
    parts: list[str] = []
    while text:
        n = _prefix_within(text, limit)
        if n >= len(text):
            parts.append(text)
            break
        window = text[: n + 1]  # a separator right after the limit is a clean cut too
        cut = -1
        for sep in ("\n\n", "\n", " "):
            pos = window.rfind(sep)
            if pos >= n // 2:  # not so early that the part is a stub
                cut = pos
                break
        if cut < 0:
            for sep in ("\n\n", "\n", " "):
                pos = window.rfind(sep)
                if pos > 0:
                    cut = pos
                    break
        if cut <= 0:
            cut = n
            while cut > 1 and unicodedata.combining(text[cut]):
                cut -= 1  # keep a letter and its combining marks together
        head = text[:cut].rstrip()
        if head:
            parts.append(head)
        text = text[cut:].strip()
    return parts


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """One button per row: labels are sentences in Vietnamese or a minority language."""
    rows = [[InlineKeyboardButton(b.label[:64] or b.payload, callback_data=b.payload)]
            for b in reply.buttons if b.payload]
    return InlineKeyboardMarkup(rows) if rows else None


def _retry_after_seconds(exc: tg_error.RetryAfter) -> float:
    value = getattr(exc, "_retry_after", None)  # a timedelta in PTB 22; avoids a deprecation warning
    if not isinstance(value, timedelta):
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: tg_error.TelegramError) -> Exception:
    """Map a PTB error to what `Sender` understands (BadRequest subclasses NetworkError: order matters)."""
    if isinstance(exc, tg_error.RetryAfter):
        return RetryAfter(_retry_after_seconds(exc))
    if isinstance(exc, tg_error.Forbidden):
        return Unreachable(str(exc))
    if isinstance(exc, tg_error.BadRequest):
        return SendFailed(f"telegram refused the request: {exc}")
    if isinstance(exc, (tg_error.TimedOut, tg_error.NetworkError)):
        return Transient(str(exc))
    if isinstance(exc, tg_error.InvalidToken):
        return SendFailed("telegram.token: the Bot API refused the token (check TELEGRAM_BOT_TOKEN)")
    return SendFailed(f"telegram error: {exc}")


# --------------------------------------------------------------------------- the channel


class MediaMissing(SendFailed):
    """A reply names a content file that is not there: the operator's error, not the user's."""


class TelegramChannel:
    """Telegram through python-telegram-bot: polling or webhook in, `Sender`-wrapped calls out."""

    name = CHANNEL

    def __init__(
        self,
        settings: TelegramSettings,
        pipeline: Pipeline,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        content_dir: Path | None = None,
        retry_policy: RetryPolicy | None = None,
        poll_timeout: float = 25.0,
        request_timeout: float = 10.0,
        max_in_flight: int = 256,
    ) -> None:
        if not settings.token:
            raise ValueError("telegram.token is empty: set TELEGRAM_BOT_TOKEN")
        if settings.webhook_url and not settings.webhook_secret:
            raise ValueError("telegram.webhook_secret: required when telegram.webhook_url is set")
        quiet_http_loggers()
        self.settings = settings
        self.pipeline = pipeline
        self.sessionmaker = sessionmaker
        if content_dir is None:
            s = pipeline.services.settings
            content_dir = s.path(s.content_dir)
        self.content_dir = Path(content_dir).resolve()
        self.application = build_application(settings, request_timeout, poll_timeout)
        self.bot: ExtBot = self.application.bot
        self.sender = Sender(CHANNEL, RateLimiter(settings.rate_per_second, settings.rate_per_chat_seconds),
                             sessionmaker, retry_policy)
        self.poll_timeout = poll_timeout
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task] = set()
        self._poller: asyncio.Task | None = None
        self._init_lock = asyncio.Lock()
        self._initialized = False
        self._stopping = False
        self._uploaded: dict[tuple[str, str, float], str] = {}  # (kind, path, mtime) -> file_id
        memory = getattr(pipeline.services, "memory", None)
        self._pseudonym: Callable[[str], str] = (
            (lambda chat: memory.pseudonym(CHANNEL, chat)) if memory is not None
            else (lambda chat: hashlib.sha256(f"{CHANNEL}:{chat}".encode()).hexdigest()[:12])
        )

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_url else "polling"

    # ------------------------------------------------------------------ lifecycle

    def register_routes(self, app: web.Application) -> None:
        if self.settings.webhook_url:
            app.router.add_post(webhook_path(self.settings), self.webhook)

    async def _ensure_initialized(self) -> None:
        async with self._init_lock:
            if self._initialized:
                return
            try:
                await self.application.initialize()  # getMe: checks the token and the server
            except tg_error.InvalidToken:
                from bot.app import StartupError

                raise StartupError("telegram.token: the Bot API refused the token; "
                                   "check TELEGRAM_BOT_TOKEN (from @BotFather)") from None
            except tg_error.NetworkError as exc:
                from bot.app import StartupError

                raise StartupError(f"telegram.api_base_url: cannot reach the Bot API at "
                                   f"{redact(api_base_url(self.settings), self.settings.token)} "
                                   f"({redact(str(exc), self.settings.token)}); check TELEGRAM_API_BASE_URL "
                                   "and the network") from None
            self._initialized = True

    async def start(self) -> None:
        """Check the token, resume recorded updates, then poll (or wait for the webhook)."""
        self._stopping = False
        await self._ensure_initialized()
        log.info("telegram: bot @%s, %s mode", self.bot.username, self.mode)
        await self.resume()
        if self.settings.webhook_url:
            await self._check_webhook()
        else:
            self._poller = asyncio.create_task(self._poll_forever(), name="telegram-polling")

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop polling, let in-flight messages finish (up to `drain_timeout`), close the client."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=drain_timeout)
            for task in pending:  # left in the inbox: resumed at the next start
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        if self._initialized:
            with contextlib.suppress(Exception):
                await self.application.shutdown()
            self._initialized = False

    async def _check_webhook(self) -> None:
        try:
            info = await self.bot.get_webhook_info()
        except tg_error.TelegramError as exc:
            log.warning("telegram: cannot read the webhook info (%s)", redact(str(exc), self.settings.token))
            return
        if info.url != self.settings.webhook_url:
            log.warning("telegram: Telegram sends updates to %s but telegram.webhook_url is %s; "
                        "run `python -m bot telegram set-webhook`", info.url or "nowhere (polling)",
                        self.settings.webhook_url)

    # ------------------------------------------------------------------ receiving

    async def _record_batch(self, items: list[tuple[int, dict[str, Any]]]) -> list[bool]:
        """Record (update id, payload) rows in one transaction; True for each row that is new."""
        return await self.pipeline.services.record_many(CHANNEL, [(str(uid), payload) for uid, payload in items])

    async def accept(self, updates: list[Update], payloads: list[dict[str, Any]] | None = None) -> int:
        """Record updates, then schedule their processing; how many were new.

        Raises when the inbox cannot be written, so the caller does not acknowledge them (the
        webhook answers 503, polling keeps its offset and Telegram sends them again).
        """
        keep: list[tuple[Update, dict[str, Any]]] = []
        for i, update in enumerate(updates):
            if update.my_chat_member is not None:
                self._spawn(self._chat_member(update))
            elif to_incoming(update) is not None:  # the rest: nothing to answer, nothing to keep
                keep.append((update, payloads[i] if payloads is not None else update.to_dict()))
        if not keep:
            return 0
        new = await self._record_batch([(u.update_id, p) for u, p in keep])
        for (update, _payload), is_new in zip(keep, new, strict=True):
            if is_new:
                self._spawn(self.process(update))
            else:
                log.info("telegram: update %s already recorded, ignored", update.update_id)
        return sum(new)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_for_room(self) -> None:
        while len(self._tasks) >= self.max_in_flight:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    async def process(self, update: Update) -> None:
        """Run one recorded update through the pipeline and send the replies, in chat order."""
        msg = to_incoming(update)
        if msg is None:
            return
        # The chat's turn is held through the sending too, so replies go out in order; the pipeline
        # limits the transactions, so sends to different chats run side by side.
        async with self.pipeline.services.in_order(msg.channel, msg.sender_id):
            if update.callback_query is not None:
                await self._answer_callback(update.callback_query.id)
            try:
                turn = await self.pipeline.handle(msg)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the inbox keeps it (counted): resumed at the next start
                log.exception("telegram: update %s failed, left in the inbox", update.update_id)
                return
            if turn.duplicate:
                return
            for reply in turn.replies:
                try:
                    await self.send(msg.sender_id, reply)
                except Unreachable:
                    log.info("telegram: chat %s blocked the bot; marked unreachable", self._pseudonym(msg.sender_id))
                    return
                except SendFailed as exc:
                    log.error("telegram: reply to chat %s not delivered: %s", self._pseudonym(msg.sender_id),
                              redact(str(exc), self.settings.token))

    async def _answer_callback(self, query_id: str) -> None:
        """Stop the button's spinner. Not rate limited (it is not a message); a stale query is fine."""
        try:
            await self.bot.answer_callback_query(query_id)
        except tg_error.TelegramError as exc:
            log.debug("telegram: answerCallbackQuery failed: %s", exc)

    async def _chat_member(self, update: Update) -> None:
        """A user who blocks the bot in a private chat: stop writing to them, end their subscription."""
        member = update.my_chat_member
        if member is None or member.chat.type != "private":
            return
        if member.new_chat_member.status == "kicked":
            try:
                await mark_unreachable(self.sessionmaker, CHANNEL, str(member.chat.id))
            except Exception:  # noqa: BLE001
                log.exception("telegram: cannot mark a chat unreachable")
            else:
                log.info("telegram: chat %s blocked the bot", self._pseudonym(str(member.chat.id)))

    async def resume(self) -> int:
        """Process the updates recorded by an earlier run but never processed; returns how many."""
        count, after = 0, 0
        while True:
            async with writing(self.sessionmaker) as session:  # taking them counts an attempt
                entries = await inbox.pending(session, CHANNEL, limit=100, after_id=after)
            if not entries:
                break
            for entry in entries:
                after, count = entry.id, count + 1
                if not entry.payload:
                    log.warning("telegram: inbox entry %s has no payload; cannot resume it", entry.id)
                    continue
                try:
                    update = Update.de_json(entry.payload, self.bot)
                except Exception:  # noqa: BLE001
                    log.exception("telegram: inbox entry %s is not an update", entry.id)
                    continue
                self._spawn(self.process(update))
            if self._tasks:
                await asyncio.wait(set(self._tasks))
        if count:
            log.info("telegram: resumed %d recorded update(s)", count)
        return count

    async def webhook(self, request: web.Request) -> web.Response:
        """POST from Telegram: check the secret, record, answer 200, process after."""
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.settings.webhook_secret.encode("utf-8")):
            return web.Response(status=403, text="forbidden")
        if request.content_length is not None and request.content_length > MAX_WEBHOOK_BODY:
            return web.Response(status=413, text="too large")
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return web.Response(status=400, text="not a Telegram update")
        try:
            update = Update.de_json(data, self.bot)
        except Exception:  # noqa: BLE001
            return web.Response(status=400, text="not a Telegram update")
        try:
            await self.accept([update], [data])
        except Exception:  # noqa: BLE001 - not recorded: Telegram will deliver it again
            log.exception("telegram: cannot record update %s", update.update_id)
            return web.Response(status=503, text="try again")
        return web.Response(text="ok")

    async def _poll_forever(self) -> None:
        offset: int | None = None
        backoff = 1.0
        try:
            await self.bot.delete_webhook(drop_pending_updates=False)  # getUpdates refuses while one is set
        except tg_error.TelegramError as exc:
            log.warning("telegram: deleteWebhook failed (%s)", redact(str(exc), self.settings.token))
        while not self._stopping:
            await self._wait_for_room()
            try:
                updates = await self.bot.get_updates(offset=offset, timeout=int(self.poll_timeout),
                                                     allowed_updates=list(ALLOWED_UPDATES))
            except asyncio.CancelledError:
                raise
            except tg_error.RetryAfter as exc:
                await asyncio.sleep(_retry_after_seconds(exc))
                continue
            except tg_error.InvalidToken:
                log.error("telegram: the Bot API refused the token; polling stopped (check TELEGRAM_BOT_TOKEN)")
                return
            except tg_error.Conflict as exc:
                log.error("telegram: %s; another process polls with this token, or a webhook is set",
                          redact(str(exc), self.settings.token))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except tg_error.TelegramError as exc:
                log.warning("telegram: getUpdates failed (%s), retrying in %.0fs",
                            redact(str(exc), self.settings.token), backoff)
                await asyncio.sleep(backoff * (0.5 + random.random() / 2))
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if not updates:
                continue
            try:
                await self.accept(list(updates))
            except Exception:  # noqa: BLE001
                # Not recorded: keep the offset so Telegram sends them again.
                log.exception("telegram: cannot record %d update(s); retrying", len(updates))
                await asyncio.sleep(1.0)
                continue
            offset = updates[-1].update_id + 1

    # ------------------------------------------------------------------ sending

    async def _call(self, chat_id: str, fn: Callable[[], Awaitable[T]]) -> T:
        async def attempt() -> T:
            try:
                return await fn()
            except tg_error.TelegramError as exc:
                raise classify(exc) from exc

        return await self.sender.call(chat_id, attempt)

    def _media_input(self, kind: str, ref: str) -> tuple[Any, Path | None]:
        """What to pass to sendPhoto/sendVoice/sendDocument, and the local file if uploading."""
        if ref.startswith(("http://", "https://")):
            return ref, None
        rel = ref[len("content/"):] if ref.startswith("content/") else ref
        path = (self.content_dir / rel).resolve()
        if path.is_relative_to(self.content_dir) and path.is_file():
            cached = self._uploaded.get((kind, str(path), path.stat().st_mtime))
            return (cached, None) if cached else (path, path)
        if "/" not in ref and "." not in ref:
            return ref, None  # a Telegram file_id
        raise MediaMissing(f"content media {ref!r} not found under {self.content_dir}")

    async def _send_media(self, chat: int | str, chat_key: str, kind: str, ref: str, caption: str | None,
                          markup: InlineKeyboardMarkup | None) -> Message:
        media, path = self._media_input(kind, ref)
        if path is not None:
            size = path.stat().st_size
            if size > FILE_UPLOAD_LIMIT:
                raise MediaMissing(f"content media {ref!r} is {size} bytes; Telegram takes at most {FILE_UPLOAD_LIMIT}")
            if kind == "photo" and size > PHOTO_UPLOAD_LIMIT:
                kind = "document"
            media = await asyncio.to_thread(path.read_bytes)
        method = {"photo": self.bot.send_photo, "voice": self.bot.send_voice, "document": self.bot.send_document}[kind]
        kwargs: dict[str, Any] = {"caption": caption or None, "reply_markup": markup}
        if path is not None:
            kwargs["filename"] = path.name
        sent: Message = await self._call(chat_key, lambda: method(chat, media, **kwargs))
        if path is not None:
            obj = sent.photo[-1] if kind == "photo" and sent.photo else getattr(sent, kind, None)
            if obj is not None:
                self._uploaded[(kind, str(path), path.stat().st_mtime)] = obj.file_id
        return sent

    async def send(self, recipient: str, reply: Reply) -> None:
        """Deliver one reply; raises Unreachable (user blocked us) or SendFailed."""
        await self._ensure_initialized()
        chat: int | str = int(recipient) if recipient.lstrip("-").isdigit() else recipient
        markup = keyboard(reply)
        text = reply.text.strip()
        media = [(k, getattr(reply, k)) for k in ("photo", "voice", "document") if getattr(reply, k)]
        if media:
            kind, ref = media[0]
            fits = bool(text) and utf16_len(text) <= CAPTION_LIMIT
            try:
                await self._send_media(chat, recipient, kind, ref, text if fits else None,
                                       markup if fits or not text else None)
            except MediaMissing as exc:
                log.error("telegram: %s; sending the text alone", exc)
                fits = False
            if fits or not text:
                return
        parts = split_text(text) or (["…"] if markup else [])
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            await self._call(recipient, lambda part=part, last=last: self.bot.send_message(
                chat, part, reply_markup=markup if last else None))

    async def fetch_media(self, media: Media) -> bytes:
        """Download an incoming file (getFile, then the file URL) for forms that keep attachments."""
        await self._ensure_initialized()
        file = await self.bot.get_file(media.ref)
        return bytes(await file.download_as_bytearray())

