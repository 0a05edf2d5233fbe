"""Protections every response of the app gets, and the checks in front of the web chat API.

`install(app, settings)` (called by `bot.app.build_web_app`) adds, for every route (the page,
static files, the API, /healthz, the Telegram and Zalo webhooks, 404s and errors):

- security headers, set in `on_response_prepare`, so no handler can forget them:
  a Content-Security-Policy that allows only this origin's own files and no inline script or
  style, no framing (`frame-ancestors 'none'` and X-Frame-Options DENY), nosniff, a referrer
  policy, a Permissions-Policy, HSTS when served over HTTPS, and a `Server` header without the
  aiohttp and Python versions;
- the session middleware (bot/web/sessions.py).

Referrer-Policy is strict-origin-when-cross-origin, not no-referrer: under no-referrer the
browser sends `Origin: null` on the page's own POSTs, and the API checks that Origin.
Permissions-Policy allows the microphone for this origin only (`microphone=(self)`): the web
chat is to record voice messages; every other powerful feature is off for everyone.

`ApiGuard.refuse(request)` is what the web chat API checks before it reads a body: a
cross-site or other-origin request (403: a page elsewhere must not post in a visitor's name), a
body that is not `Content-Type: application/json` (415: a cross-site form or `text/plain` fetch
needs no CORS preflight, JSON does), then the per-address rate limit (429 with Retry-After).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Container

from aiohttp import web

from bot.config import Settings, WebSettings
from bot.web.client import client_address, is_https, normalise_origin, own_origin
from bot.web.sessions import SessionStorage, install_sessions

log = logging.getLogger("bot.web.security")

SERVER = "Lang-So"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ]
)
PERMISSIONS = ", ".join(
    [
        "microphone=(self)",
        "camera=()",
        "geolocation=()",
        "payment=()",
        "usb=()",
        "serial=()",
        "hid=()",
        "midi=()",
        "magnetometer=()",
        "gyroscope=()",
        "accelerometer=()",
        "display-capture=()",
        "browsing-topics=()",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": PERMISSIONS,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=31536000"


def security_headers(settings: WebSettings) -> Callable:
    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        for name, value in HEADERS.items():
            headers.setdefault(name, value)
        if is_https(request, settings):
            headers.setdefault("Strict-Transport-Security", HSTS)
        headers["Server"] = SERVER

    return add_headers


class RateLimit:
    """`count` requests per `window` seconds for each key (a token bucket: a burst of `count`,
    then `count / window` per second). At most `max_keys` keys are kept; the least recently seen
    is forgotten first (it was, at worst, a full bucket again)."""

    def __init__(
        self,
        count: int,
        window: float,
        max_keys: int = 65_536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.count = count
        self.rate = count / window
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def hit(self, key: str) -> float:
        """Spend one request for `key`: 0 if allowed, else the seconds until one is."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.count), now))
        tokens = min(float(self.count), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


def refusal(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": message}, status=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


CROSS_SITE = (
    "Yêu cầu từ trang khác bị từ chối. Requests from another site are refused: "
    "open the chat page itself."
)
NOT_JSON = "Gửi JSON. Send JSON with Content-Type: application/json."
TOO_FAST = (
    "Có quá nhiều tin nhắn từ mạng của bạn, xin chờ {s} giây rồi gửi lại. "
    "Too many messages from your network: wait {s} s and send again."
)


class ApiGuard:
    """The checks in front of the web chat API (see the module docstring)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.web = settings.web
        self.limit = RateLimit(
            settings.limits.address_messages, settings.limits.address_window_seconds, clock=clock
        )
        self._told_scheme = False

    def refuse(
        self,
        request: web.Request,
        content_types: Container[str] = ("application/json",),
        wrong_type: str = NOT_JSON,
    ) -> web.Response | None:
        """A refusal for `request`, or None when it may go on. `content_types`: what the route
        takes (the uploads route, bot/media/web.py: image and audio types, which like JSON are
        not CORS-safelisted, so a cross-site fetch needs a preflight that is never granted)."""
        if request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site"):
            return refusal(403, CROSS_SITE)
        origin = request.headers.get("Origin")
        if origin is not None:
            ours = own_origin(request, self.web)
            theirs = normalise_origin(origin)
            if theirs is None or theirs != ours:
                self._hint_scheme(theirs, ours)
                return refusal(403, CROSS_SITE)
        if request.content_type not in content_types:
            return refusal(415, wrong_type)
        # Counted after the cross-site checks: a page elsewhere making its visitors' browsers
        # post here must not spend their address's allowance.
        wait = self.limit.hit(client_address(request, self.web))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            return refusal(429, TOO_FAST.format(s=seconds), {"Retry-After": str(seconds)})
        return None

    def _hint_scheme(self, theirs: str | None, ours: str | None) -> None:
        """Once: an Origin that differs from ours by the scheme only means an HTTPS proxy in
        front that the settings do not know about."""
        if self._told_scheme or not theirs or not ours:
            return
        if theirs.startswith("https://") and theirs[len("https://") :] == ours.split("://", 1)[-1]:
            self._told_scheme = True
            log.warning(
                "web chat: the browser reached us over HTTPS but we see HTTP; behind an HTTPS "
                "proxy set WEB_HTTPS=true (or WEB_TRUST_PROXY=true if it sends X-Forwarded-Proto)"
            )


def hide_server_version() -> None:
    """What aiohttp answers before any app sees a request (a malformed request is a 400 from
    the protocol, with no `on_response_prepare`) carries aiohttp's default `Server` header,
    "Python/3.x aiohttp/3.x": make that default ours too."""
    import aiohttp.web_response

    if hasattr(aiohttp.web_response, "SERVER_SOFTWARE"):
        aiohttp.web_response.SERVER_SOFTWARE = SERVER


def install(app: web.Application, settings: Settings) -> SessionStorage:
    """Security headers on every response and the session middleware on every route."""
    app.on_response_prepare.append(security_headers(settings.web))
    hide_server_version()
    return install_sessions(app, settings)
