"""A fake Telegram Bot API: a real local aiohttp server speaking the Bot API wire format.

Serves `/bot<token>/<method>` (GET or POST; query string, urlencoded form, JSON body or multipart,
as the real API accepts) and `/file/bot<token>/<path>`, and answers in the real shapes:
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...,
"parameters": {...}}`. Point python-telegram-bot at `base_url` / `file_base_url` and the real client
library is exercised end to end.

Methods: getMe, getUpdates (offset semantics: updates below the offset are confirmed and dropped;
the long-poll timeout is honoured up to `max_poll_wait`; 409 while a webhook is set or when a newer
getUpdates takes over), setWebhook, deleteWebhook, getWebhookInfo, sendMessage, sendPhoto,
sendVoice, sendDocument (multipart uploads, file_id or URL), answerCallbackQuery, editMessageText,
getFile, setMyCommands, getMyCommands, and file download. The checks the real API makes and a
client can trip over are made too: empty or over-long text (4096 UTF-16 units), over-long
captions (1024), callback data over 64 bytes, unknown file ids, stale callback queries.

For tests:
- `enqueue(update)` queues an update for getUpdates; `deliver(update)` POSTs it to the webhook
  set with setWebhook, with its secret header, like Telegram does.
- `fail(method, status, ...)` injects the next answers of a method: 429 with
  `parameters.retry_after`, 403 "Forbidden: bot was blocked by the user", 5xx, or a slow answer
  (`delay`, with status 200 to answer normally after it). `block(chat_id)` makes every send to a
  chat answer 403 until `unblock`. `limit_rate(30, 1.0)` enforces Telegram's sending limits
  (messages per second overall, seconds between two to one chat) with 429 and `retry_after`.
- `calls` records every request (method, decoded parameters, uploaded files, status, arrival
  time); `wait_for(...)` waits until enough matching requests were answered; `listeners` are
  called with each answered request (benchmarks match replies to messages with them).
- `text_update`, `callback_update`, ... build updates shaped like the ones Telegram sends.

`python -m tests.fakes.telegram_api --port 8081` serves it standalone and plays one Telegram user
on the terminal, to try the bot without Telegram (docs/telegram.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

DEFAULT_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_ID = 123456789
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
INT_FIELDS = {
    "chat_id",
    "offset",
    "limit",
    "timeout",
    "message_id",
    "max_connections",
    "cache_time",
    "reply_to_message_id",
    "duration",
}
BOOL_FIELDS = {"drop_pending_updates", "show_alert", "disable_notification", "protect_content"}
MEDIA_FIELDS = {"sendphoto": "photo", "sendvoice": "voice", "senddocument": "document"}
ERRORS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


@dataclass
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One request the fake received."""

    method: str  # as sent, e.g. "sendMessage"
    params: dict[str, Any]
    files: dict[str, Upload]
    status: int | None = None  # None while the fake is still answering (a long poll, a slow answer)
    at: float = field(default_factory=time.monotonic)
    result: Any = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


@dataclass
class Fault:
    method: str  # lower-case method name, or "*" for any
    status: int
    description: str
    retry_after: int | None
    delay: float
    chat_id: int | None
    times: int


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    path: str
    data: bytes | None
    url: str | None = None


# The first page of an OGG Opus voice note, as Telegram's voice messages start.
SAMPLE_OGG_OPUS = (
    b"OggS\x00\x02"
    + b"\x00" * 8
    + b"\x01\x00\x00\x00"
    + b"\x00" * 8
    + b"\x01\x13"
    + b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    + b"\x00" * 40
)


def sample_jpeg(
    size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (30, 120, 60)
) -> bytes:
    """A small real JPEG (what Telegram serves for a photo: re-encoded, no EXIF)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=85)
    return out.getvalue()


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _user(
    uid: int,
    first_name: str = "Y Blơi",
    language_code: str | None = "vi",
    is_bot: bool = False,
    username: str | None = None,
) -> dict:
    out: dict[str, Any] = {"id": uid, "is_bot": is_bot, "first_name": first_name}
    if username:
        out["username"] = username
    if language_code:
        out["language_code"] = language_code
    return out


def _private_chat(chat_id: int, first_name: str = "Y Blơi") -> dict:
    return {"id": chat_id, "first_name": first_name, "type": "private"}


class FakeTelegramAPI:
    """The fake server. `async with FakeTelegramAPI() as api:` starts it on a free loopback port."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "LangSoTestBot",
        max_poll_wait: float = 1.0,
    ) -> None:
        self.token = token
        self.username = username
        self.max_poll_wait = max_poll_wait
        self.calls: list[Call] = []
        self.updates: list[dict] = []  # not yet confirmed
        self.webhook: dict[str, Any] = {}
        self.deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status) of webhook POSTs
        self.messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> bot's message
        self.files: dict[str, StoredFile] = {}
        self.commands: list[dict] = []
        self.blocked: set[int] = set()
        self.listeners: list[Callable[[Call], None]] = []  # called with each answered request
        self._faults: list[Fault] = []
        # Telegram's sending limits, enforced when set (`limit_rate`): 429 with retry_after.
        self.rate_limit: tuple[float, float] | None = None  # (messages/s overall, s per chat)
        self._bucket = (0.0, 0.0)  # (tokens, when last filled)
        self._chat_sent: dict[Any, float] = {}
        self.too_many = 0  # sends answered 429 by the rate limit
        self._callbacks: dict[str, bool] = {}  # callback query id -> answered
        self._update_ids = itertools.count(700_000_001)
        self._message_ids = itertools.count(1001)
        self._file_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.port = 0

    # ------------------------------------------------------------------ server lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give python-telegram-bot as base_url (it appends the token)."""
        return f"{self.url}/bot"

    @property
    def file_base_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self, port: int = 0) -> FakeTelegramAPI:
        """Serve on 127.0.0.1:`port` (0: a free port)."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegramAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test controls

    def fail(
        self,
        method: str = "*",
        status: int = 500,
        *,
        description: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with this error (status 200 = only the
        delay)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = ERRORS.get(status, "Error")
            if status == 400:
                description = "Bad Request: chat not found"
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
        self._faults.append(
            Fault(method.lower(), status, description, retry_after, delay, chat_id, times)
        )

    def limit_rate(self, per_second: float = 30.0, per_chat_seconds: float = 1.0) -> None:
        """Enforce Telegram's limits on the send methods: a token bucket of `per_second`
        tokens a second holding one second's worth (a burst that size passes, as when this
        server's own event loop was held up and answers queued requests together; a sender
        over the rate empties it within seconds), and two sends to one chat within
        `per_chat_seconds`: answered 429 "Too Many Requests: retry after N" with
        `parameters.retry_after` (counted in `too_many`), as the Bot API does."""
        self.rate_limit = (per_second, per_chat_seconds)
        self._bucket = (float(per_second), time.monotonic())

    def _over_limit(self, chat_id: Any) -> int | None:
        """The retry_after to answer when this send breaks the limits, else None (and the send
        is counted)."""
        assert self.rate_limit is not None
        per_second, per_chat = self.rate_limit
        now = time.monotonic()
        tokens, filled = self._bucket
        tokens = min(per_second, tokens + (now - filled) * per_second)
        last = self._chat_sent.get(chat_id)
        if tokens < 1 or (last is not None and now - last < per_chat):
            self._bucket = (tokens, now)
            self.too_many += 1
            return 1
        self._bucket = (tokens - 1, now)
        self._chat_sent[chat_id] = now
        return None

    def slow(self, method: str = "*", delay: float = 1.0, times: int = 1) -> None:
        self.fail(method, 200, delay=delay, times=times)

    def block(self, chat_id: int) -> None:
        self.blocked.add(int(chat_id))

    def unblock(self, chat_id: int) -> None:
        self.blocked.discard(int(chat_id))

    def enqueue(self, update: dict) -> dict:
        """Queue an update for getUpdates (an `update_id` is assigned when missing)."""
        update = self._register(update)
        self.updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update

    async def deliver(
        self,
        update: dict,
        *,
        secret: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        """POST an update to the webhook like Telegram does; returns the HTTP status."""
        if not self.webhook.get("url"):
            raise RuntimeError("no webhook is set (call setWebhook first)")
        update = self._register(update)
        hdrs = {"Content-Type": "application/json"}
        secret = self.webhook.get("secret_token") if secret is None else secret
        if secret:
            hdrs["X-Telegram-Bot-Api-Secret-Token"] = secret
        hdrs.update(headers or {})
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=30))
        data = body if body is not None else json.dumps(update, ensure_ascii=False).encode()
        async with self._session.post(self.webhook["url"], data=data, headers=hdrs) as resp:
            await resp.read()
            status = resp.status
        self.deliveries.append((update["update_id"], status))
        if status >= 300:
            self.webhook["last_error_date"] = int(time.time())
            self.webhook["last_error_message"] = f"Wrong response from the webhook: {status}"
        return status

    def add_file(self, data: bytes, folder: str = "photos", ext: str = "jpg") -> str:
        """Store a file as if a user had sent it; returns its file_id."""
        return self._store(data, folder, ext).file_id

    def calls_of(
        self, method: str | None = None, chat_id: int | None = None, ok: bool | None = None
    ) -> list[Call]:
        out = []
        for c in self.calls:
            if method is not None and c.method.lower() != method.lower():
                continue
            if chat_id is not None and c.params.get("chat_id") != chat_id:
                continue
            if ok is True and c.status != 200 or ok is False and c.status in (None, 200):
                continue
            out.append(c)
        return out

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful message sends (sendMessage, sendPhoto, sendVoice, sendDocument), in order."""
        return [
            c
            for c in self.calls
            if c.status == 200
            and c.method.lower() in ("sendmessage", "sendphoto", "sendvoice", "senddocument")
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [c.params.get("text") or c.params.get("caption") or "" for c in self.sent(chat_id)]

    async def wait_for(
        self,
        predicate: Callable[[FakeTelegramAPI], bool] | str,
        count: int = 1,
        timeout: float = 10.0,
        chat_id: int | None = None,
    ) -> list[Call]:
        """Wait until `predicate(api)` holds, or until `count` successful calls of a method."""
        if isinstance(predicate, str):
            method = predicate

            def predicate(api: FakeTelegramAPI) -> bool:
                return len(api.calls_of(method, chat_id, ok=True)) >= count

        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))
        return self.calls

    # ------------------------------------------------------------------ update builders

    def _register(self, update: dict) -> dict:
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        query = update.get("callback_query")
        if query:
            self._callbacks.setdefault(str(query["id"]), False)
        return update

    @staticmethod
    def message(chat_id: int, **fields: Any) -> dict:
        msg = {
            "message_id": int(time.monotonic_ns() % 1_000_000),
            "from": _user(chat_id),
            "chat": _private_chat(chat_id),
            "date": int(time.time()),
        }
        msg.update(fields)
        return {"message": msg}

    @classmethod
    def text_update(cls, chat_id: int, text: str) -> dict:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            fields["entities"] = [
                {"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}
            ]
        return cls.message(chat_id, **fields)

    def callback_update(
        self, chat_id: int, data: str, label: str = "", message_id: int = 1
    ) -> dict:
        qid = str(next(self._file_ids) * 7919 + 4_000_000_000_000_000)
        keyboard = {"inline_keyboard": [[{"text": label or data, "callback_data": data}]]}
        return {
            "callback_query": {
                "id": qid,
                "from": _user(chat_id),
                "chat_instance": "-4617293846302750721",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "from": _user(BOT_ID, "Làng Số", None, True, self.username),
                    "chat": _private_chat(chat_id),
                    "date": int(time.time()),
                    "text": "…",
                    "reply_markup": keyboard,
                },
            }
        }

    def photo_update(
        self,
        chat_id: int,
        caption: str | None = None,
        data: bytes | None = None,
        file_size: int | None = None,
    ) -> dict:
        """A photo message; the largest size holds `data` (default: a small real JPEG, as
        Telegram serves them), its `file_size` as given (default: the data's length)."""
        data = sample_jpeg() if data is None else data
        small = self._store(b"\xff\xd8small", "photos", "jpg")
        big = self._store(data, "photos", "jpg")
        sizes = [
            {
                "file_id": small.file_id,
                "file_unique_id": small.file_unique_id,
                "file_size": 8,
                "width": 90,
                "height": 67,
            },
            {
                "file_id": big.file_id,
                "file_unique_id": big.file_unique_id,
                "file_size": len(data) if file_size is None else file_size,
                "width": 1280,
                "height": 960,
            },
        ]
        fields: dict[str, Any] = {"photo": sizes}
        if caption:
            fields["caption"] = caption
        return self.message(chat_id, **fields)

    def document_update(
        self, chat_id: int, data: bytes, file_name: str, mime_type: str | None = None
    ) -> dict:
        """A file sent as a document (Telegram takes the type from the name, like the app)."""
        f = self._store(data, "documents", file_name.rsplit(".", 1)[-1])
        doc = {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_name": file_name}
        doc["file_size"] = len(data)
        if mime_type:
            doc["mime_type"] = mime_type
        return self.message(chat_id, document=doc)

    def voice_update(self, chat_id: int) -> dict:
        f = self._store(SAMPLE_OGG_OPUS, "voice", "oga")
        return self.message(
            chat_id,
            voice={
                "file_id": f.file_id,
                "file_unique_id": f.file_unique_id,
                "duration": 3,
                "mime_type": "audio/ogg",
                "file_size": len(SAMPLE_OGG_OPUS),
            },
        )

    @classmethod
    def location_update(
        cls, chat_id: int, latitude: float = 15.0921, longitude: float = 108.4682
    ) -> dict:
        return cls.message(chat_id, location={"latitude": latitude, "longitude": longitude})

    @classmethod
    def contact_update(
        cls, chat_id: int, phone: str = "+84912345678", first_name: str = "Y Blơi"
    ) -> dict:
        return cls.message(
            chat_id, contact={"phone_number": phone, "first_name": first_name, "user_id": chat_id}
        )

    @staticmethod
    def blocked_update(chat_id: int) -> dict:
        return {
            "my_chat_member": {
                "chat": _private_chat(chat_id),
                "from": _user(chat_id),
                "date": int(time.time()),
                "old_chat_member": {
                    "user": _user(BOT_ID, "Làng Số", None, True),
                    "status": "member",
                },
                "new_chat_member": {
                    "user": _user(BOT_ID, "Làng Số", None, True),
                    "status": "kicked",
                    "until_date": 0,
                },
            }
        }

    # ------------------------------------------------------------------ HTTP

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, Upload] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: JSON object expected")
                params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = Upload(value.filename, value.content_type, value.file.read())
                    else:
                        params[key] = value
        return {k: self._decode(k, v) for k, v in params.items()}, files

    @staticmethod
    def _decode(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if key in INT_FIELDS:
            try:
                return int(value)
            except ValueError:
                return value
        if key in BOOL_FIELDS:
            return value.lower() in ("true", "1")
        if value[:1] in ("{", "["):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def _take_fault(self, method: str, chat_id: Any) -> Fault | None:
        for fault in self._faults:
            if fault.method in (method, "*") and (
                fault.chat_id is None or fault.chat_id == chat_id
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _error(status: int, description: str, parameters: dict | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _record(self, call: Call, status: int) -> None:
        call.status = status
        for listener in self.listeners:
            listener(call)
        await self._notify()

    async def _handle(self, request: web.Request) -> web.Response:
        method_name = request.match_info["method"]
        method = method_name.lower()
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        try:
            params, files = await self._read_params(request)
        except (ApiError, ValueError) as exc:
            return self._error(400, getattr(exc, "description", "Bad Request: can't parse JSON"))
        call = Call(method_name, params, files)
        self.calls.append(call)  # recorded on arrival: a long poll shows its offset at once
        await self._notify()
        fault = self._take_fault(method, params.get("chat_id"))
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status != 200:
                await self._record(call, fault.status)
                extra = (
                    {"retry_after": fault.retry_after} if fault.retry_after is not None else None
                )
                return self._error(fault.status, fault.description, extra)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            await self._record(call, 404)
            return self._error(404, "Not Found")
        if self.rate_limit is not None and method.startswith("send"):
            wait = self._over_limit(params.get("chat_id"))
            if wait is not None:
                await self._record(call, 429)
                return self._error(
                    429, f"Too Many Requests: retry after {wait}", {"retry_after": wait}
                )
        try:
            result = await handler(params, files)
        except ApiError as exc:
            await self._record(call, exc.status)
            return self._error(exc.status, exc.description, exc.parameters)
        call.result = result
        await self._record(call, 200)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        path = request.match_info["path"]
        call = Call("download", {"path": path}, {})  # `fail("download", 500)` fails the next
        self.calls.append(call)
        fault = next((f for f in self._faults if f.method == "download"), None)
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status != 200:
                await self._record(call, fault.status)
                return self._error(fault.status, fault.description)
        await self._record(call, 200)
        for f in self.files.values():
            if f.path == path and f.data is not None:
                return web.Response(body=f.data, content_type="application/octet-stream")
        return self._error(404, "Not Found")

    # ------------------------------------------------------------------ helpers for methods

    def _me(self) -> dict:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Làng Số",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _chat(self, params: dict) -> int:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            raise ApiError(400, "Bad Request: chat not found")
        if not isinstance(chat_id, int):
            raise ApiError(
                400,
                "Bad Request: chat_id is empty"
                if chat_id in (None, "")
                else "Bad Request: chat not found",
            )
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    @staticmethod
    def _check_markup(params: dict) -> dict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
        return markup

    def _new_message(self, chat_id: int, **fields: Any) -> dict:
        mid = next(self._message_ids)
        msg = {
            "message_id": mid,
            "from": _user(BOT_ID, "Làng Số", None, True, self.username),
            "chat": _private_chat(chat_id),
            "date": int(time.time()),
        }
        msg.update({k: v for k, v in fields.items() if v is not None})
        self.messages[(chat_id, mid)] = msg
        return msg

    def _store(
        self, data: bytes | None, folder: str, ext: str, url: str | None = None
    ) -> StoredFile:
        n = next(self._file_ids)
        seed = data if data is not None else (url or "").encode()
        digest = hashlib.sha256(seed + str(n).encode()).hexdigest()
        f = StoredFile(
            file_id=f"AgACAgIAAxkBAAI{digest[:40]}",
            file_unique_id=f"AQAD{digest[40:52]}",
            path=f"{folder}/file_{n}.{ext}",
            data=data,
            url=url,
        )
        self.files[f.file_id] = f
        return f

    def _media(
        self, field_name: str, params: dict, files: dict[str, Upload], folder: str, ext: str
    ) -> StoredFile:
        value = params.get(field_name)
        upload = files.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://") :])
        if upload is not None:
            if not upload.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            name = upload.filename or f"file.{ext}"
            return self._store(upload.data, folder, name.rsplit(".", 1)[-1] if "." in name else ext)
        if not isinstance(value, str) or not value:
            raise ApiError(400, f"Bad Request: there is no {field_name} in the request")
        if value.startswith(("http://", "https://")):
            return self._store(None, folder, ext, url=value)
        if value in self.files:
            return self.files[value]
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _caption(self, params: dict) -> str | None:
        caption = params.get("caption")
        if caption is not None and utf16_len(caption) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        return caption

    # ------------------------------------------------------------------ Bot API methods

    async def _m_getme(self, params: dict, files: dict) -> dict:
        return self._me()

    async def _m_logout(self, params: dict, files: dict) -> bool:
        return True

    async def _m_getupdates(self, params: dict, files: dict) -> list[dict]:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = max(1, min(100, params.get("limit") or 100))
        timeout = max(0, params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if isinstance(offset, int):
            if offset < 0:
                self.updates = self.updates[offset:]
            else:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]

        if (
            allowed
        ):  # the rest would never be delivered: drop them (as if Telegram never queued them)
            self.updates = [u for u in self.updates if any(k in u for k in allowed)]

        def ready() -> list[dict]:
            return [u for u in self.updates if not allowed or any(k in u for k in allowed)][:limit]

        async with self._changed:  # a newer getUpdates ends a waiting one, as on the real server
            self._poll_generation += 1
            generation = self._poll_generation
            self._changed.notify_all()
        if not ready() and timeout and not self._closing:
            async with self._changed:
                try:
                    async with asyncio.timeout(min(timeout, self.max_poll_wait)):
                        await self._changed.wait_for(
                            lambda: (
                                bool(ready())
                                or self._poll_generation != generation
                                or self._closing
                            )
                        )
                except TimeoutError:
                    pass
            if self._poll_generation != generation and not self._closing:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
        return ready()

    async def _m_setwebhook(self, params: dict, files: dict) -> bool:
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret is not None and not SECRET_RE.fullmatch(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if not url:
            self.webhook = {}
            return True
        if params.get("drop_pending_updates"):
            self.updates.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections") or 40,
        }
        if params.get("allowed_updates") is not None:
            self.webhook["allowed_updates"] = params["allowed_updates"]
        async with self._changed:  # a waiting getUpdates ends with a conflict
            self._poll_generation += 1
            self._changed.notify_all()
        return True

    async def _m_deletewebhook(self, params: dict, files: dict) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: dict, files: dict) -> dict:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        for key in ("max_connections", "allowed_updates", "last_error_date", "last_error_message"):
            if self.webhook.get(key) is not None:
                info[key] = self.webhook[key]
        return info

    async def _m_sendmessage(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._check_markup(params)
        return self._new_message(chat_id, text=text, reply_markup=markup)

    async def _m_sendphoto(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        caption, markup = self._caption(params), self._check_markup(params)
        f = self._media("photo", params, files, "photos", "jpg")
        size = len(f.data or b"")
        sizes = [
            {
                "file_id": f.file_id,
                "file_unique_id": f.file_unique_id,
                "file_size": size,
                "width": 320,
                "height": 240,
            },
            {
                "file_id": f.file_id,
                "file_unique_id": f.file_unique_id,
                "file_size": size,
                "width": 1280,
                "height": 960,
            },
        ]
        return self._new_message(chat_id, photo=sizes, caption=caption, reply_markup=markup)

    async def _m_sendvoice(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        caption, markup = self._caption(params), self._check_markup(params)
        f = self._media("voice", params, files, "voice", "oga")
        voice = {
            "file_id": f.file_id,
            "file_unique_id": f.file_unique_id,
            "duration": params.get("duration") or 1,
            "mime_type": "audio/ogg",
            "file_size": len(f.data or b""),
        }
        return self._new_message(chat_id, voice=voice, caption=caption, reply_markup=markup)

    async def _m_senddocument(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        caption, markup = self._caption(params), self._check_markup(params)
        upload = files.get("document")
        f = self._media("document", params, files, "documents", "bin")
        doc = {
            "file_id": f.file_id,
            "file_unique_id": f.file_unique_id,
            "file_name": (upload.filename if upload else None) or f.path.rsplit("/", 1)[-1],
            "mime_type": (upload.content_type if upload else None) or "application/octet-stream",
            "file_size": len(f.data or b""),
        }
        return self._new_message(chat_id, document=doc, caption=caption, reply_markup=markup)

    async def _m_answercallbackquery(self, params: dict, files: dict) -> bool:
        qid = str(params.get("callback_query_id") or "")
        if self._callbacks.get(qid, True):
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._callbacks[qid] = True
        return True

    async def _m_editmessagetext(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        msg = self.messages.get((chat_id, params.get("message_id")))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = self._check_markup(params)
        if msg.get("text") == text and msg.get("reply_markup") == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        msg["text"] = text
        msg["edit_date"] = int(time.time())
        if markup is not None:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        return msg

    async def _m_getfile(self, params: dict, files: dict) -> dict:
        f = self.files.get(str(params.get("file_id") or ""))
        if f is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        out: dict[str, Any] = {"file_id": f.file_id, "file_unique_id": f.file_unique_id}
        if f.data is not None:
            out["file_size"] = len(f.data)
            out["file_path"] = f.path
        return out

    async def _m_setmycommands(self, params: dict, files: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))) or not c.get(
                "description"
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands = commands
        return True

    async def _m_getmycommands(self, params: dict, files: dict) -> list[dict]:
        return self.commands


# --------------------------------------------------------------------------- try the bot by hand


async def _chat_on_terminal(port: int, chat_id: int) -> None:
    """Serve the fake on `port` and play one Telegram user on this terminal."""
    import sys

    api = await FakeTelegramAPI(max_poll_wait=25.0).start(port)
    buttons: list[str] = []

    def show(call: Call) -> None:
        if call.status != 200 or call.method.lower() not in (
            "sendmessage",
            "sendphoto",
            "sendvoice",
            "senddocument",
        ):
            return
        text = (
            call.params.get("text") or call.params.get("caption") or f"[{call.method[4:].lower()}]"
        )
        print("bot> " + text.replace("\n", "\n     "))
        rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
        if rows:
            buttons.clear()
            for row in rows:
                for b in row:
                    buttons.append(b["callback_data"])
                    print(f"     [{len(buttons)}] {b['text']}")
        sys.stdout.flush()

    api.listeners.append(show)
    print(
        f"Fake Telegram Bot API on {api.url}. Start the bot in another terminal with\n"
        f"  TELEGRAM_BOT_TOKEN='{api.token}' TELEGRAM_API_BASE_URL={api.base_url} make run\n"
        "then type messages here (/start to begin); [n] presses button n; Ctrl+D quits.",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            text = line.strip()
            if not text:
                continue
            press = text.strip("[]")
            if press.isdigit() and 1 <= int(press) <= len(buttons):
                api.enqueue(api.callback_update(chat_id, buttons[int(press) - 1]))
            else:
                api.enqueue(api.text_update(chat_id, text))
    finally:
        await api.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="A fake Telegram Bot API to try the bot without Telegram"
    )
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--chat", type=int, default=5512873401, help="the user's chat id")
    args = parser.parse_args()
    try:
        asyncio.run(_chat_on_terminal(args.port, args.chat))
    except KeyboardInterrupt:
        pass
