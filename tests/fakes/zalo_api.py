"""A fake Zalo OA Open API: a real local aiohttp server speaking Zalo's wire format.

Serves what the bot calls:

- `POST /v3.0/oa/message/cs`: checks the `access_token` header against the one valid token
  (`{"error": -216}` otherwise, like Zalo), checks the body, records the message and answers
  `{"error": 0, "message": "Success", "data": {"message_id": ..., "user_id": ...}}` (the message
  id is kept in `Sent.message_id`, for receipts). Users in `unfollowed` get `-213`, like a user
  who left the OA.
- `POST /v2.0/oa/upload/image` and `/v2.0/oa/upload/file`: multipart uploads, answering an
  `attachment_id` or a file `token`.
- `GET /v2.0/oa/getoa`: the OA's profile for a valid `access_token` header (`-216` otherwise),
  the cheap authenticated call `python -m bot doctor` makes.
- `POST /v4/oa/access_token`: checks the `secret_key` header and the form; a refresh token works
  ONCE (a reused one gets `-14014 Invalid refresh token`, as Zalo answers); issues a new pair and
  makes the old access token invalid.

And what the tests need around it: `sign()` and `post_event()` to send webhook events to the bot
signed the way Zalo signs them, event builders from the payloads in `tests/data/zalo/`, `receipt()`
for the delivery and read receipts of messages the OA sent, and fault injection (`fail()`): a JSON
error code, an HTTP status, a slow answer, an expired token; `clock_skew` (seconds) shifts the
`Date` header of every answer, as a server whose clock differs from ours.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

DATA = Path(__file__).resolve().parent.parent / "data" / "zalo"
APP_ID = "1234567890123456789"
OA_ID = "579745863508352884"
OA_SECRET_KEY = "fakeOaSecretKey0123456789"
APP_SECRET = "fakeAppSecret0123456789"

SEND = "/v3.0/oa/message/cs"
UPLOAD_IMAGE = "/v2.0/oa/upload/image"
UPLOAD_FILE = "/v2.0/oa/upload/file"
REFRESH = "/v4/oa/access_token"
GETOA = "/v2.0/oa/getoa"
MEDIA = "/media"  # stands in for Zalo's CDN (photo-stal-*.zadn.vn): what users' attachments are
TEXT_LIMIT = 2000


def sign(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """The `X-ZEvent-Signature` header value:
    `mac=` + sha256(app_id + body + timestamp + secret)."""
    return (
        "mac="
        + hashlib.sha256(
            app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()
        ).hexdigest()
    )


_ids = itertools.count(1)


def now_ms() -> str:
    return str(int(time.time() * 1000))


def event(
    kind: str,
    user: str = "2468458835296197922",
    *,
    app_id: str = APP_ID,
    timestamp: str | None = None,
    msg_id: str | None = None,
    **message: Any,
) -> dict[str, Any]:
    """An event from `tests/data/zalo/<kind>.json` with fresh ids and timestamp.

    `message` keys replace those of the payload's `message` (e.g. `text="..."`).
    """
    raw = json.loads((DATA / f"{kind}.json").read_text(encoding="utf-8"))
    ev = copy.deepcopy(raw)
    ev["app_id"] = app_id
    ev["timestamp"] = timestamp or now_ms()
    for who in ("sender", "follower"):
        if who in ev:
            ev[who]["id"] = user
    if "message" in ev:
        ev["message"]["msg_id"] = msg_id or f"{secrets.token_hex(12)}{next(_ids)}"
        ev["message"].update(message)
    return ev


def receipt(
    kind: str, user: str, msg_ids: list[str], *, app_id: str = APP_ID, timestamp: str | None = None
) -> dict[str, Any]:
    """A `user_received_message` or `user_seen_message` event for messages the OA sent to `user`.

    As Zalo sends them for OA messages: the OA is the sender, the user the recipient, and
    `message.msg_ids` names the message ids the send endpoint answered.
    """
    assert kind in ("user_received_message", "user_seen_message"), kind
    return {
        "app_id": app_id,
        "sender": {"id": OA_ID},
        "user_id_by_app": "552177279717587730",
        "recipient": {"id": user},
        "event_name": kind,
        "message": {"msg_ids": list(msg_ids)},
        "timestamp": timestamp or now_ms(),
    }


@dataclass
class Fault:
    """What the next matching call gets instead of a normal answer."""

    error: int | None = None  # a Zalo error code, with HTTP 200
    message: str = "Injected error"
    status: int | None = None  # an HTTP status (e.g. 502), with a small body
    delay: float = (
        0.0  # seconds to wait before answering (then answer normally unless error/status)
    )
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sent:
    """One message the bot sent through /v3.0/oa/message/cs."""

    user_id: str
    message: dict[str, Any]
    access_token: str
    at: float
    message_id: str = ""  # the id the fake answered (what receipts name)

    @property
    def text(self) -> str:
        return self.message.get("text", "")

    @property
    def attachment(self) -> dict[str, Any] | None:
        return self.message.get("attachment")


class FakeZaloApi:
    """The fake server; `url` is both the API and the OAuth base URL."""

    def __init__(
        self, app_id: str = APP_ID, app_secret: str = APP_SECRET, access_ttl: int = 90000
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.access_ttl = access_ttl
        self.access_token = "AT-" + secrets.token_urlsafe(24)
        self.access_expires = time.time() + access_ttl
        self.refresh_token = "RT-" + secrets.token_urlsafe(24)
        self.spent_refresh_tokens: set[str] = set()
        self.sent: list[Sent] = []
        self.uploads: list[dict[str, Any]] = []
        self.refresh_calls: list[dict[str, Any]] = []
        self.rejected_tokens: list[str] = []
        self.unfollowed: set[str] = set()
        self.faults: dict[str, deque[Fault]] = {}
        self.calls: dict[str, int] = {}
        self.refresh_delay = 0.0
        self.media: dict[str, bytes] = {}  # attachment files users sent, served under MEDIA
        self.clock_skew = 0.0  # seconds added to the Date header of every answer
        # Zalo OA's reply window and monthly proactive quota, enforced once `limit_window` is
        # called: users' last messages (`user_wrote`), messages sent to each since, and the
        # proactive messages sent this month (`proactive`: their user ids).
        self.window: tuple[float, int, int] | None = None  # (hours, messages, monthly quota)
        self.last_message: dict[str, float] = {}  # user -> time.time() of their last message
        self.window_sent: dict[str, int] = {}
        self.proactive: list[str] = []
        # The OA API refuses templates with buttons (-201, as for any invalid attachment): the
        # bot falls back to numbered text.
        self.refuse_buttons = False
        # Called with each accepted send's access token before it is answered (tests look at the
        # database at that moment).
        self.on_send: Callable[[str], Awaitable[None]] | None = None
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- server

    async def start(self) -> FakeZaloApi:
        app = web.Application()
        app.router.add_post(SEND, self._send)
        app.router.add_post(UPLOAD_IMAGE, self._upload)
        app.router.add_post(UPLOAD_FILE, self._upload)
        app.router.add_post(REFRESH, self._refresh)
        app.router.add_get(GETOA, self._getoa)
        app.router.add_get(MEDIA + "/{name}", self._media)
        app.on_response_prepare.append(self._date_header)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- test controls

    def fail(self, path: str, *faults: Fault) -> None:
        """Queue faults for the next calls to `path` (SEND, UPLOAD_IMAGE, UPLOAD_FILE, REFRESH)."""
        self.faults.setdefault(path, deque()).extend(faults)

    def limit_window(
        self, hours: float = 48.0, messages: int = 8, monthly_quota: int = 1000
    ) -> None:
        """Enforce the OA's message rules on /message/cs, as its support centre states them
        (zalooa.freshdesk.com, "Các loại tin của Zalo Official Account"): `messages` free reply
        messages within `hours` of the user's last message to the OA, the count reset by each
        new message; the next one, or one after the window, is a proactive message, of which a
        verified OA has `monthly_quota` a month. A user who wrote nothing in 7 days gets -230
        "User has not interacted with the OA in the past 7 days" (the code Zalo answers, as
        subiz.com's and other integrators' documentation of the OA API record it). A proactive
        message past the quota gets -224: the code one integrator's notes on the OA API give
        for a message outside what the OA may send (not found in Zalo's own pages here; an
        assumption to check against developers.zalo.me's error table before production)."""
        self.window = (hours, messages, monthly_quota)

    def user_wrote(self, user: str, at: float | None = None) -> None:
        """`user` sent the OA a message at `at` (time.time(); now by default): their window
        opens again."""
        self.last_message[user] = time.time() if at is None else at
        self.window_sent[user] = 0

    def _window_refusal(self, user: str) -> dict[str, Any] | None:
        """The OA API's answer when the rules refuse this message, else None (counted)."""
        assert self.window is not None
        hours, messages, quota = self.window
        last = self.last_message.get(user)
        now = time.time()
        if last is None or now - last > 7 * 86400:
            return {
                "error": -230,
                "message": "User has not interacted with the OA in the past 7 days",
            }
        if now - last <= hours * 3600 and self.window_sent.get(user, 0) < messages:
            self.window_sent[user] = self.window_sent.get(user, 0) + 1
            return None
        if len(self.proactive) >= quota:
            return {"error": -224, "message": "The OA has used up its proactive message quota"}
        self.proactive.append(user)
        return None

    def expire_access_token(self) -> None:
        """The current access token stops working (Zalo then answers -216)."""
        self.access_expires = time.time() - 1

    def texts(self, user: str | None = None) -> list[str]:
        return [s.text for s in self.sent if user is None or s.user_id == user]

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[Sent]:
        """Wait until at least `count` messages were sent in total."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.sent) >= count), timeout)
        return self.sent

    # ---- handlers

    async def _fault(self, path: str) -> web.Response | None:
        self.calls[path] = self.calls.get(path, 0) + 1
        queue = self.faults.get(path)
        if not queue:
            return None
        fault = queue.popleft()
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status is not None:
            return web.json_response(
                {"error": -1, "message": "injected HTTP error"},
                status=fault.status,
                headers=fault.headers,
            )
        if fault.error is not None:
            return web.json_response(
                {"error": fault.error, "message": fault.message}, headers=fault.headers
            )
        return None

    def add_media(self, data: bytes, ext: str = "jpg") -> str:
        """Serve `data` as a user's attachment; its URL (`fail(MEDIA, ...)` fails the next
        downloads)."""
        name = f"{secrets.token_hex(8)}.{ext}"
        self.media[name] = data
        return f"{self.url}{MEDIA}/{name}"

    def media_event(
        self, user: str, data: bytes | None = None, kind: str = "user_send_image", ext: str = "jpg"
    ) -> dict[str, Any]:
        """A `user_send_image` (or `user_send_audio`) event whose attachment URL the fake serves
        (default: a small real JPEG)."""
        if data is None:
            from tests.fakes.telegram_api import sample_jpeg

            data = sample_jpeg()
        ev = event(kind, user)
        ev["message"]["attachments"][0]["payload"]["url"] = self.add_media(data, ext)
        return ev

    async def _media(self, request: web.Request) -> web.Response:
        if (injected := await self._fault(MEDIA)) is not None:
            return injected
        data = self.media.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _date_header(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Date"] = formatdate(time.time() + self.clock_skew, usegmt=True)

    async def _getoa(self, request: web.Request) -> web.Response:
        if (injected := await self._fault(GETOA)) is not None:
            return injected
        if not self._token_ok(request):
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        return web.json_response(
            {"error": 0, "message": "Success", "data": {"oa_id": OA_ID, "name": "Làng Số"}}
        )

    def _token_ok(self, request: web.Request) -> bool:
        token = request.headers.get("access_token", "")
        if token == self.access_token and time.time() < self.access_expires:
            return True
        self.rejected_tokens.append(token)
        return False

    async def _send(self, request: web.Request) -> web.Response:
        if (injected := await self._fault(SEND)) is not None:
            return injected
        if not self._token_ok(request):
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": -201, "message": "body is invalid!"})
        user = (body.get("recipient") or {}).get("user_id")
        message = body.get("message") or {}
        if not isinstance(user, str) or not user:
            return web.json_response({"error": -201, "message": "user_id is invalid!"})
        text = message.get("text")
        attachment = message.get("attachment")
        if text is None and attachment is None:
            return web.json_response({"error": -201, "message": "message is invalid!"})
        if text is not None and (not isinstance(text, str) or not text or len(text) > TEXT_LIMIT):
            return web.json_response({"error": -201, "message": "text is invalid!"})
        if attachment is not None and not self._attachment_ok(attachment):
            return web.json_response({"error": -201, "message": "attachment is invalid!"})
        if user in self.unfollowed:
            return web.json_response({"error": -213, "message": "User has not followed OA"})
        if self.window is not None and (refused := self._window_refusal(user)) is not None:
            return web.json_response(refused)
        if self.on_send is not None:
            await self.on_send(request.headers["access_token"])
        message_id = secrets.token_hex(16)
        async with self._arrived:
            self.sent.append(
                Sent(user, message, request.headers["access_token"], time.monotonic(), message_id)
            )
            self._arrived.notify_all()
        return web.json_response(
            {"error": 0, "message": "Success", "data": {"message_id": message_id, "user_id": user}}
        )

    def _attachment_ok(self, att: Any) -> bool:
        if not isinstance(att, dict):
            return False
        payload = att.get("payload") or {}
        if att.get("type") == "file":
            return any(u.get("token") == payload.get("token") for u in self.uploads)
        if att.get("type") == "template" and "buttons" in payload and not self.refuse_buttons:
            return _buttons_ok(payload)
        if att.get("type") != "template" or payload.get("template_type") != "media":
            return False
        elements = payload.get("elements") or []
        if len(elements) != 1 or elements[0].get("media_type") != "image":
            return False
        el = elements[0]
        if "url" in el:
            return str(el["url"]).startswith(("http://", "https://"))
        return any(u.get("attachment_id") == el.get("attachment_id") for u in self.uploads)

    async def _upload(self, request: web.Request) -> web.Response:
        if (injected := await self._fault(request.path)) is not None:
            return injected
        if not self._token_ok(request):
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        reader = await request.multipart()
        part = await reader.next()
        if part is None or part.name != "file":
            return web.json_response({"error": -201, "message": "file is invalid!"})
        data = await part.read()
        record: dict[str, Any] = {
            "path": request.path,
            "filename": part.filename,
            "size": len(data),
        }
        if request.path == UPLOAD_IMAGE:
            record["attachment_id"] = "att-" + secrets.token_hex(8)
            answer = {"attachment_id": record["attachment_id"]}
        else:
            record["token"] = "file-" + secrets.token_hex(8)
            answer = {"token": record["token"]}
        self.uploads.append(record)
        return web.json_response({"error": 0, "message": "Success", "data": answer})

    async def _refresh(self, request: web.Request) -> web.Response:
        if (injected := await self._fault(REFRESH)) is not None:
            return injected
        form = await request.post()
        self.refresh_calls.append(
            {
                "secret_key_ok": request.headers.get("secret_key") == self.app_secret,
                "app_id": form.get("app_id"),
                "grant_type": form.get("grant_type"),
            }
        )
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        if request.headers.get("secret_key") != self.app_secret:
            return web.json_response(
                {
                    "error": -14002,
                    "error_name": "Invalid app secret",
                    "error_reason": "secret_key is invalid",
                }
            )
        if form.get("app_id") != self.app_id or form.get("grant_type") != "refresh_token":
            return web.json_response(
                {
                    "error": -14001,
                    "error_name": "Invalid parameter",
                    "error_reason": "app_id or grant_type is invalid",
                }
            )
        token = form.get("refresh_token")
        if token != self.refresh_token or token in self.spent_refresh_tokens:
            return web.json_response(
                {
                    "error": -14014,
                    "error_name": "Invalid refresh token",
                    "error_reason": "Refresh token is invalid or has been used",
                    "error_description": "Invalid refresh token",
                }
            )
        self.spent_refresh_tokens.add(str(token))
        self.access_token = "AT-" + secrets.token_urlsafe(24)
        self.refresh_token = "RT-" + secrets.token_urlsafe(24)
        self.access_expires = time.time() + self.access_ttl
        # Zalo sends expires_in as a string.
        return web.json_response(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_in": str(self.access_ttl),
            }
        )


BUTTON_TYPES = {"oa.query.hide", "oa.query.show", "oa.open.url", "oa.open.sms", "oa.open.phone"}
MAX_BUTTONS = 5  # bot/channels/zalo.py MAX_BUTTONS (docs/zalo-bot.md: the OA's button limits)


def _buttons_ok(payload: dict[str, Any]) -> bool:
    """A customer-service message's button template: 1-5 buttons, each a title of 1-100
    characters, a known type and, for the query types, a payload of at most 1000 characters."""
    buttons = payload.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        return False
    for b in buttons:
        title, kind, value = b.get("title"), b.get("type"), b.get("payload")
        if not isinstance(title, str) or not 1 <= len(title) <= 100 or kind not in BUTTON_TYPES:
            return False
        if kind.startswith("oa.query.") and (not isinstance(value, str) or len(value) > 1000):
            return False
    return True


def press(sent: Sent, index: int, **kw: Any) -> dict[str, Any]:
    """The event Zalo sends when the user taps button `index` of a sent message: an
    `oa.query.hide` button's payload comes back as a text message from the user."""
    button = sent.message["attachment"]["payload"]["buttons"][index]
    assert button["type"] == "oa.query.hide", button
    return event("user_send_text", sent.user_id, text=button["payload"], **kw)


async def post_event(
    url: str,
    ev: dict[str, Any] | None = None,
    *,
    body: bytes | None = None,
    oa_secret_key: str = OA_SECRET_KEY,
    signature: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> tuple[int, float]:
    """POST a webhook event to the bot as Zalo does; (HTTP status, seconds until the answer).

    `body` sends raw bytes (for bad JSON); `signature` overrides the header ("" leaves it out).
    """
    raw = (
        body
        if body is not None
        else json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode()
    )
    if signature is None:
        assert ev is not None
        signature = sign(str(ev["app_id"]), raw, str(ev["timestamp"]), oa_secret_key)
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["X-ZEvent-Signature"] = signature
    own = session is None
    session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    try:
        started = time.perf_counter()
        async with session.post(url, data=raw, headers=headers) as resp:
            await resp.read()
            return resp.status, time.perf_counter() - started
    finally:
        if own:
            await session.close()
