"""Web chat sessions: the server gives each browser its web user id in an encrypted cookie.

The cookie is aiohttp-session's EncryptedCookieStorage (Fernet: AES-CBC + HMAC-SHA256, with the
time it was issued), so the browser can neither read, forge nor alter it, and an old one expires
after `web.session_days` (each visit to the page renews it). It is HttpOnly (page scripts cannot
read it), `Secure` when the site is served over HTTPS (see bot/web/client.py), and
SameSite=Lax rather than Strict: with Strict a link to the chat from Zalo, Facebook or an SMS
opens the page without the cookie, so the page would hand the person a new id and their
conversation and consents would be lost; Lax sends it on such top-level GET navigations only,
which change nothing, and every request that does change something is a same-origin JSON POST
that Lax never sends cross-site and that bot/web/security.py also checks (Origin,
Sec-Fetch-Site, Content-Type).

One cookie (`web.session_cookie`) for the whole app: other parts (the staff dashboard) keep their
own keys in the same session with `aiohttp_session.get_session(request)`; the web chat's is
`SESSION_USER`. `web_user(request)` is the session's web sender id, or None.

The key: `web.session_key` (env WEB_SESSION_KEY; several comma-separated keys rotate: the first
encrypts, all decrypt). Unset, one is generated once into `web.session_key_file` (mode 0600) so
a restart keeps sessions; several web processes must share one key, so production sets it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from aiohttp import web
from aiohttp_session import Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.config import Settings, WebSettings
from bot.errors import StartupError
from bot.web.client import is_https

log = logging.getLogger("bot.web.sessions")
SESSION_USER = "web_user"
WEB_USER_RE = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")


def new_web_user() -> str:
    """A fresh web sender id: 144 random bits, never chosen by the client."""
    return "w" + secrets.token_urlsafe(18)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise StartupError(
            f"web.session_key_file: {path} does not hold a Fernet key; delete it and a new one is "
            "made at the next start (open web chat sessions end), or set WEB_SESSION_KEY"
        ) from None
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return key


def key_from_file(path: Path) -> bytes:
    """The key in `path`, generated (mode 0600) the first time. Two processes starting at once
    agree: the new key is written to a private temporary file and linked into place, so only
    one link succeeds and the other process reads the winner's key."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key() + b"\n")
    try:
        os.link(tmp, path)
        log.info("web chat: new session key in %s (production: set WEB_SESSION_KEY)", path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read_key(path)


def session_keys(settings: Settings) -> list[bytes]:
    """The configured keys (newest first), or the generated one."""
    keys = [k.strip().encode() for k in settings.web.session_key.split(",") if k.strip()]
    return keys or [key_from_file(settings.path(settings.web.session_key_file))]


class SessionStorage(EncryptedCookieStorage):
    """EncryptedCookieStorage with key rotation, `Secure` decided per request, and a bad cookie
    (forged, altered, expired, not text) treated as no cookie, quietly: the library logs a
    warning for each, which anyone could turn into a log flood."""

    def __init__(self, keys: list[bytes], settings: WebSettings) -> None:
        fernets = [Fernet(k) for k in keys]
        super().__init__(
            fernets[0],
            cookie_name=settings.session_cookie,
            max_age=settings.session_days * 86400,
            httponly=True,
            samesite="Lax",
        )
        self._fernet = MultiFernet(fernets)
        self.settings = settings
        self.refused = 0

    async def load_session(self, request: web.Request) -> Session:
        cookie = self.load_cookie(request)
        if cookie is not None:
            try:
                plain = self._fernet.decrypt(cookie.encode("utf-8"), ttl=self.max_age)
                data = self._decoder(plain.decode("utf-8"))
                if isinstance(data, dict) and isinstance(data.get("session", {}), dict):
                    return Session(None, data=data, new=False, max_age=self.max_age)
            except (InvalidToken, UnicodeError, ValueError, TypeError):
                pass
            self.refused += 1
            log.debug("web chat: a session cookie was refused (forged, altered or expired)")
        return Session(None, data=None, new=True, max_age=self.max_age)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        await super().save_session(request, response, session)
        morsel = response.cookies.get(self.cookie_name)
        if morsel is not None and is_https(request, self.settings):
            morsel["secure"] = True


def install_sessions(app: web.Application, settings: Settings) -> SessionStorage:
    """The session middleware for every route of `app`."""
    storage = SessionStorage(session_keys(settings), settings.web)
    app.middlewares.append(session_middleware(storage))
    return storage


async def web_user(request: web.Request) -> str | None:
    """The web chat sender id of this request's session, or None (no cookie, or a bad one)."""
    session = await get_session(request)
    value = session.get(SESSION_USER)
    return value if isinstance(value, str) and WEB_USER_RE.fullmatch(value) else None


async def ensure_web_user(request: web.Request) -> str:
    """The session's web sender id, a new one if it has none; the cookie is (re)issued, which
    renews its expiry."""
    session = await get_session(request)
    value = await web_user(request)
    if value is None:
        value = new_web_user()
        session[SESSION_USER] = value
    else:
        session.changed()
    return value
