"""A fake Zalo Bot Platform API: a real local aiohttp server speaking the Bot API wire format.

Serves `/bot<token>/<method>` (POST or GET; a JSON body, a form or a query string) and answers
in the documented shapes (docs/zalo-bot.md): `{"ok": true, "result": ...}` or `{"ok": false,
"error_code": ..., "description": ...}`, with the HTTP status equal to the error code unless
a fault says otherwise (`http_status=200`: the real server's status is not documented).

Methods: getMe, getUpdates (ONE update per answer, taken off the queue when answered, as the
platform documents no offset; the long poll is honoured up to `max_poll_wait`, then
`error_code` 408 "Request timeout"; refused while a webhook is set), setWebhook (an https URL,
or a loopback http one for tests; secret_token of 8-256 characters), deleteWebhook,
getWebhookInfo, sendMessage (text of 1-2000 characters), sendPhoto (a photo URL, caption up to
2000), sendSticker, sendChatAction. A wrong token gets 401 "Unauthorized".

For tests:
- `enqueue(update)` queues an update for getUpdates; `deliver(update)` POSTs it to the webhook
  with the `X-Bot-Api-Secret-Token` header (`wrapped=True` puts it in `{"ok", "result"}`, the
  shape one documentation page shows).
- `fail(method, code, ...)`: the next answers of a method get an error (5xx, 429 with
  `retry_after`, 401, 403), a slow answer (`delay`), or an answer that is not JSON.
- `calls` records every request; `sent` the messages the bot sent; `wait_for(...)`.
- `add_media(data)` serves a user's photo at a URL (Zalo's CDN in production).
- `text_update`, `image_update`, `sticker_update`, ... build updates as the platform sends them.

`python -m tests.fakes.zalo_bot_api --port 8082` serves it standalone and plays one Zalo user on
the terminal, to try the bot in polling or webhook mode without Zalo (docs/zalo-bot.md).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

DEFAULT_TOKEN = "1459232241454765289:FakeZaloBotTokenForTestsOnly_abcdef"
BOT_ID = "1459232241454765289"
TEXT_LIMIT = 2000
SECRET_RE = re.compile(r".{8,256}", re.DOTALL)
SECRET_HEADER = "X-Bot-Api-Secret-Token"
MEDIA = "/media"
SENDS = ("sendmessage", "sendphoto", "sendsticker")
DESCRIPTIONS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Internal server error",
    404: "Not found",
    408: "Request timeout",
    429: "Quota exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ApiError(Exception):
    def __init__(self, code: int, description: str | None = None) -> None:
        super().__init__(description)
        self.code, self.description = code, description or DESCRIPTIONS.get(code, "Error")


@dataclass
class Call:
    method: str  # as sent, e.g. "sendMessage"
    params: dict[str, Any]
    token: str
    status: int | None = None  # HTTP status answered; None while answering
    ok: bool | None = None
    at: float = field(default_factory=time.monotonic)
    result: Any = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


@dataclass
class Fault:
    method: str  # lower-case method name, or "*"
    code: int  # error_code (0: only the delay)
    description: str | None
    delay: float
    http_status: int | None  # default: the code
    retry_after: int | None
    not_json: bool
    times: int


class FakeZaloBotAPI:
    """`async with FakeZaloBotAPI() as api:` serves on a free loopback port."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, max_poll_wait: float = 1.0) -> None:
        self.token = token
        self.max_poll_wait = max_poll_wait
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self.webhook: dict[str, Any] = {}
        self.deliveries: list[tuple[str, int]] = []  # (message_id, HTTP status) of webhook POSTs
        self.blocked: set[str] = set()  # chats whose sends fail (error `blocked_code`)
        self.blocked_code = 403
        self.media: dict[str, bytes] = {}
        self.listeners: list[Callable[[Call], None]] = []
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """What to set ZALO_BOT_API_BASE_URL to."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> FakeZaloBotAPI:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get(MEDIA + "/{name}", self._media)
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

    async def __aenter__(self) -> FakeZaloBotAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test controls

    def fail(
        self,
        method: str = "*",
        code: int = 500,
        *,
        description: str | None = None,
        delay: float = 0.0,
        http_status: int | None = None,
        retry_after: int | None = None,
        not_json: bool = False,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` get this error (code 0: only the delay)."""
        self._faults.append(
            Fault(
                method.lower(),
                code,
                description,
                delay,
                http_status,
                retry_after,
                not_json,
                times,
            )
        )

    def enqueue(self, update: dict) -> dict:
        self.updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update

    async def deliver(
        self,
        update: dict,
        *,
        secret: str | None = None,
        wrapped: bool = False,
        body: bytes | None = None,
    ) -> int:
        """POST an update to the webhook as Zalo does; the HTTP status."""
        if not self.webhook.get("url"):
            raise RuntimeError("no webhook is set (call setWebhook first)")
        secret = self.webhook["secret_token"] if secret is None else secret
        headers = {"Content-Type": "application/json", SECRET_HEADER: secret}
        if not secret:
            del headers[SECRET_HEADER]
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=30))
        payload = {"ok": True, "result": update} if wrapped else update
        data = body if body is not None else json.dumps(payload, ensure_ascii=False).encode()
        async with self._session.post(self.webhook["url"], data=data, headers=headers) as resp:
            await resp.read()
            status = resp.status
        self.deliveries.append((str((update.get("message") or {}).get("message_id")), status))
        return status

    def add_media(self, data: bytes, ext: str = "jpg") -> str:
        name = f"{secrets.token_hex(8)}.{ext}"
        self.media[name] = data
        return f"{self.url}{MEDIA}/{name}"

    def sent(self, chat_id: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.ok
            and c.method.lower() in SENDS
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def texts(self, chat_id: str | None = None) -> list[str]:
        return [c.params.get("text") or c.params.get("caption") or "" for c in self.sent(chat_id)]

    def calls_of(self, method: str, ok: bool | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method.lower() == method.lower() and (ok is None or c.ok is ok)
        ]

    async def wait_for(
        self, predicate: Callable[[FakeZaloBotAPI], bool], timeout: float = 10.0
    ) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

    # ------------------------------------------------------------------ update builders

    def _message(self, chat_id: str, **fields: Any) -> dict:
        message = {
            "from": {"id": chat_id, "display_name": "Y Blơi", "is_bot": False},
            "chat": {"id": chat_id, "chat_type": "PRIVATE"},
            "message_id": f"{secrets.token_hex(8)}{next(self._ids):04x}",
            "date": int(time.time() * 1000),
        }
        message.update(fields)
        return message

    def text_update(self, chat_id: str, text: str) -> dict:
        return {"event_name": "message.text.received", "message": self._message(chat_id, text=text)}

    def image_update(self, chat_id: str, url: str, caption: str | None = None) -> dict:
        fields: dict[str, Any] = {"photo_url": url}
        if caption is not None:
            fields["caption"] = caption
        return {"event_name": "message.image.received", "message": self._message(chat_id, **fields)}

    def sticker_update(self, chat_id: str) -> dict:
        fields = {"sticker": "0e078a2fb66a5f34067b", "url": "https://example.invalid/sticker.png"}
        return {
            "event_name": "message.sticker.received",
            "message": self._message(chat_id, **fields),
        }

    # ------------------------------------------------------------------ the server

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _media(self, request: web.Request) -> web.Response:
        data = self.media.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=data, content_type="image/jpeg")

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise ApiError(400, "Bad request: body is not JSON") from None
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(dict(await request.post()))
        return params

    def _fault(self, method: str) -> Fault | None:
        for f in self._faults:
            if f.method in ("*", method.lower()):
                f.times -= 1
                if f.times <= 0:
                    self._faults.remove(f)
                return f
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = Call(method, {}, request.match_info["token"])
        self.calls.append(call)
        fault = self._fault(method)
        try:
            call.params = await self._params(request)
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.not_json:
                return self._answer(call, web.Response(status=502, text="<html>Bad Gateway"))
            if fault is not None and fault.code:
                raise ApiError(fault.code, fault.description)
            if call.token != self.token:
                raise ApiError(401)
            handler = getattr(self, "_m_" + method.lower(), None)
            if handler is None or method[0].isupper():  # names are case-sensitive: getMe
                raise ApiError(404, "Not found: unknown method")
            call.result = await handler(call.params)
        except ApiError as exc:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if fault is not None and fault.retry_after is not None:
                body["parameters"] = {"retry_after": fault.retry_after}
            status = exc.code if 400 <= exc.code < 600 else 400
            if fault is not None and fault.http_status is not None and fault.code:
                status = fault.http_status
            return self._answer(call, web.json_response(body, status=status), ok=False)
        return self._answer(call, web.json_response({"ok": True, "result": call.result}), ok=True)

    def _answer(self, call: Call, resp: web.Response, ok: bool = False) -> web.Response:
        call.status, call.ok = resp.status, ok
        for listener in list(self.listeners):
            listener(call)
        asyncio.get_running_loop().create_task(self._notify())
        return resp

    # ------------------------------------------------------------------ methods

    def _chat(self, params: dict) -> str:
        chat = params.get("chat_id")
        if not isinstance(chat, str) or not chat:
            raise ApiError(400, "Bad request: chat_id is required")
        if chat in self.blocked:
            raise ApiError(self.blocked_code)
        return chat

    def _sent(self) -> dict:
        return {"message_id": secrets.token_hex(10), "date": int(time.time() * 1000)}

    async def _m_getme(self, params: dict) -> dict:
        return {
            "id": BOT_ID,
            "account_name": "bot.LangSoTest",
            "account_type": "BASIC",
            "can_join_groups": False,
        }

    async def _m_getupdates(self, params: dict) -> dict:
        if self.webhook.get("url"):
            raise ApiError(400, "Bad request: getUpdates does not work while a webhook is set")
        try:
            timeout = float(params.get("timeout", 30))
        except (TypeError, ValueError):
            raise ApiError(400, "Bad request: timeout") from None
        if not self.updates and timeout > 0 and not self._closing:
            async with self._changed:
                try:
                    async with asyncio.timeout(min(timeout, self.max_poll_wait)):
                        await self._changed.wait_for(lambda: bool(self.updates) or self._closing)
                except TimeoutError:
                    pass
        if not self.updates:
            raise ApiError(408)
        return self.updates.pop(0)

    async def _m_setwebhook(self, params: dict) -> dict:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url.startswith(
            ("https://", "http://127.0.0.1", "http://localhost")
        ):
            raise ApiError(400, "Bad request: url must be a public HTTPS URL")
        if not isinstance(secret, str) or not SECRET_RE.fullmatch(secret):
            raise ApiError(400, "Bad request: secret_token must have 8 to 256 characters")
        self.webhook = {"url": url, "secret_token": secret, "updated_at": int(time.time() * 1000)}
        async with self._changed:
            self._changed.notify_all()
        return {"url": url, "updated_at": self.webhook["updated_at"]}

    async def _m_deletewebhook(self, params: dict) -> dict:
        self.webhook = {}
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _m_getwebhookinfo(self, params: dict) -> dict:
        return {"url": self.webhook.get("url", ""), "updated_at": self.webhook.get("updated_at")}

    async def _m_sendmessage(self, params: dict) -> dict:
        self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= TEXT_LIMIT:
            raise ApiError(400, "Bad request: text must have 1 to 2000 characters")
        return self._sent()

    async def _m_sendphoto(self, params: dict) -> dict:
        self._chat(params)
        photo, caption = params.get("photo"), params.get("caption")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise ApiError(400, "Bad request: photo must be a URL")
        if caption is not None and (not isinstance(caption, str) or len(caption) > TEXT_LIMIT):
            raise ApiError(400, "Bad request: caption must have 1 to 2000 characters")
        return self._sent()

    async def _m_sendsticker(self, params: dict) -> dict:
        self._chat(params)
        if not params.get("sticker"):
            raise ApiError(400, "Bad request: sticker is required")
        return self._sent()

    async def _m_sendchataction(self, params: dict) -> bool:
        self._chat(params)
        if params.get("action") not in ("typing", "upload_photo"):
            raise ApiError(400, "Bad request: action")
        return True


# --------------------------------------------------------------------------- try the bot by hand


async def _chat_on_terminal(port: int, chat_id: str) -> None:
    """Serve the fake on `port` and play one Zalo user on this terminal."""
    import sys

    api = await FakeZaloBotAPI(max_poll_wait=25.0).start(port)

    def show(call: Call) -> None:
        if call.ok and call.method.lower() in SENDS:
            text = call.params.get("text") or call.params.get("caption") or f"[{call.method}]"
            if call.method.lower() == "sendphoto":
                text = f"[ảnh {call.params.get('photo')}] {call.params.get('caption') or ''}"
            print("bot> " + text.replace("\n", "\n     "), flush=True)

    api.listeners.append(show)
    print(
        f"Fake Zalo Bot API on {api.url}. Start the bot in another terminal with\n"
        f"  ZALO_BOT_TOKEN='{api.token}' ZALO_BOT_API_BASE_URL={api.url} make run\n"
        "(polling), or add ZALO_BOT_WEBHOOK_URL=http://127.0.0.1:8080/zalo-bot/webhook\n"
        "ZALO_BOT_WEBHOOK_SECRET=<8+ characters> and run `python -m bot zalo-bot set-webhook`\n"
        "(webhook). Then type messages here; Ctrl+D quits.",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if not line.strip():
                continue
            update = api.text_update(chat_id, line.strip())
            if api.webhook.get("url"):
                try:
                    await api.deliver(update)
                except OSError as exc:
                    print(f"(the webhook did not answer: {exc})", flush=True)
            else:
                api.enqueue(update)
    finally:
        await api.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="A fake Zalo Bot API to try the bot")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--chat", default="e4ea2cd5189df1c3a88c", help="the user's chat id")
    args = parser.parse_args()
    try:
        asyncio.run(_chat_on_terminal(args.port, args.chat))
    except KeyboardInterrupt:
        pass
