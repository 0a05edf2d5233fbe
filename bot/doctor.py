"""`python -m bot doctor`: check a deployment before (or while) it runs.

One line per check, OK / WARN / FAIL, and under each failure how to fix it; exit code 1 when any
check FAILs (`--json` prints the same as one JSON object). The checks:

- config: config.yml and the environment load and validate (`bot.config.load_settings`).
- database: reachable and migrated to the code's head (the check `python -m bot run` makes).
- token encryption: keys set in production (PostgreSQL), and every stored channel token
  decrypts with them and is encrypted with the first one (`bot.crypto`).
- web session key: set in production, so several web processes share sessions.
- public URLs: the Telegram webhook URL on HTTPS, the platforms' API URLs on HTTPS (a token
  would otherwise cross the network in clear), the web chat marked as served over HTTPS in
  production.
- webhook secrets: the Telegram secret_token at least 32 characters of A-Z a-z 0-9 _ -; the Zalo
  OA secret key (webhook signatures) and app secret (token refresh) set.
- tokens accepted by the platforms: Telegram `getMe` through python-telegram-bot, Zalo OA
  `GET /v2.0/oa/getoa` with the stored (or configured) access token.
- clock: the local clock against the `Date` header of Zalo's answer (Zalo's webhook timestamps
  are checked against it): WARN beyond a few seconds, FAIL beyond
  `zalo.timestamp_window_seconds`.
- directories: `media.dir` (what users send), `privacy.export_dir` (the /dulieu files) and
  `voice.dir` (translators' recordings) are directories the bot can write.
- ffmpeg and ffprobe (`voice.ffmpeg`, `voice.ffprobe`) run: without them translators' recordings
  cannot be converted (WARN: the rest of the bot works).

A channel that is not configured is not checked and no network call is made for it. Nothing
is written (the database is only read; the development token key is not generated); neither
tokens nor secrets are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import ConfigError, Settings, load_settings

OK, WARN, FAIL = "OK", "WARN", "FAIL"
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{32,256}")
MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
CLOCK_WARN_SECONDS = 5.0
GETOA_PATH = "/v2.0/oa/getoa"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def _production(settings: Settings) -> bool:
    return settings.database_url.startswith("postgresql")


def _url_check(name: str, url: str, purpose: str) -> Check:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return Check(name, OK, f"{parts.scheme}://{parts.hostname}")
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return Check(
            name, WARN, f"http://{parts.hostname}: a local server, not the platform", f"{purpose}"
        )
    return Check(
        name,
        FAIL,
        f"{parts.scheme or 'no scheme'}://{parts.hostname or ''}: not HTTPS, "
        "the token would cross the network in clear",
        purpose,
    )


class Doctor:
    def __init__(
        self,
        config: str | Path = "config.yml",
        env: Mapping[str, str] | None = None,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = Path(config)
        self.env = dict(os.environ if env is None else env)
        self.timeout = timeout
        self.clock = clock
        self.checks: list[Check] = []
        self.database_ok = False

    def add(self, name: str, status: str, detail: str, fix: str = "") -> Check:
        check = Check(name, status, detail, fix)
        self.checks.append(check)
        return check

    async def run(self) -> list[Check]:
        try:
            settings = load_settings(self.config, self.env)
        except ConfigError as exc:
            self.add(
                "config",
                FAIL,
                str(exc),
                "fix each key listed (in config.yml or the environment variable it names)",
            )
            return self.checks
        self.add("config", OK, f"{self.config} is valid")
        await self.database(settings)
        await self.token_encryption(settings)
        self.web_session_key(settings)
        self.web_https(settings)
        if settings.telegram.token:
            await self.telegram(settings)
        if settings.zalo.app_id:
            await self.zalo(settings)
        if settings.zalo_bot.token:
            await self.zalo_bot(settings)
        self.media_directory(settings)
        await self.voice(settings)
        return self.checks

    # ---- database and keys

    async def database(self, settings: Settings) -> None:
        from bot.__main__ import _check_schema

        try:
            await asyncio.wait_for(asyncio.to_thread(_check_schema, settings), self.timeout + 5)
        except ConfigError as exc:
            message = str(exc)
            if "cannot connect" in message:
                fix = (
                    "check database.url (DATABASE_URL): host, port, database name, user and "
                    "password, and that the database server is running and reachable from here"
                )
            else:
                fix = "run `python -m bot db upgrade` (back up the database first)"
            self.add("database", FAIL, message, fix)
            return
        except TimeoutError:
            self.add(
                "database",
                FAIL,
                f"no answer from the database within {self.timeout + 5:.0f} s",
                "check database.url (DATABASE_URL) and the network path to the server",
            )
            return
        self.database_ok = True
        self.add("database", OK, "reachable, schema at the code's head")

    async def token_encryption(self, settings: Settings) -> None:
        from bot import crypto
        from bot.storage.repositories import tokens

        keys = settings.privacy.token_encryption_keys
        fix_set = (
            f"generate a key with `{crypto.GENERATE}` and set {crypto.ENV} to it, the same "
            "value in every bot process (docs/secrets.md)"
        )
        if keys.strip():
            self.add(
                "token encryption", OK, f"{len(crypto.parse_keys(keys))} key(s) from {crypto.ENV}"
            )
        elif _production(settings):
            self.add(
                "token encryption",
                FAIL,
                f"{crypto.ENV} is not set on PostgreSQL (production): each process would use "
                f"its own development key in {crypto.DEV_KEY_FILE}, beside the data",
                fix_set + f"; if tokens were stored with the development key, set {crypto.ENV}="
                f"<new key>,<the key in {crypto.DEV_KEY_FILE}> and run "
                "`python -m bot secrets rotate`",
            )
        else:
            self.add(
                "token encryption",
                WARN,
                f"{crypto.ENV} is not set: the development key in {crypto.DEV_KEY_FILE} is used",
                "fine for development; production must set it: " + fix_set,
            )
        if not self.database_ok:
            return
        try:
            cipher = crypto.load_cipher(keys, settings.base_dir, create=False)
        except crypto.TokenKeyError as exc:
            self.add("stored tokens", FAIL, str(exc), fix_set)
            return

        async def states(session) -> list[tuple[str, str]] | str:
            from sqlalchemy import select

            from bot.storage.models import ChannelToken

            if cipher is None:  # no development key yet: readable only if nothing is encrypted
                rows = (await session.execute(select(ChannelToken))).scalars().all()
                if any(map(crypto.is_encrypted, (r.access_token for r in rows))):
                    return f"no key: {crypto.ENV} is not set and {crypto.DEV_KEY_FILE} is missing"
                return [(r.channel, "plaintext") for r in rows]
            return await tokens.check(session, cipher)

        from bot.secrets_cli import _with_session

        try:
            found = await _with_session(settings, states)
        except crypto.TokenKeyError as exc:
            self.add("stored tokens", FAIL, str(exc))
            return
        if isinstance(found, str):
            self.add(
                "stored tokens",
                FAIL,
                f"stored tokens are encrypted but there is {found}",
                f"set {crypto.ENV} to the key they were encrypted with (docs/secrets.md)",
            )
            return
        if not found:
            self.add("stored tokens", OK, "none stored yet")
            return
        plain = [c for c, state in found if state == "plaintext"]
        old = [c for c, state in found if state == "old key"]
        if plain:
            self.add(
                "stored tokens",
                WARN,
                f"stored in plaintext (from before encryption): {', '.join(plain)}",
                "run `python -m bot secrets rotate` (the bot also encrypts them on first use)",
            )
        elif old:
            self.add(
                "stored tokens",
                WARN,
                f"encrypted with an older key of {crypto.ENV}: {', '.join(old)}",
                "run `python -m bot secrets rotate`, then remove the old key (docs/secrets.md)",
            )
        else:
            self.add("stored tokens", OK, f"{len(found)} pair(s), encrypted with the first key")

    def web_session_key(self, settings: Settings) -> None:
        web = getattr(settings, "web", None)
        if web is None:
            return
        fix = (
            "generate a key with `python -m bot secrets generate-key` and set WEB_SESSION_KEY "
            "to it, the same value in every web process"
        )
        if getattr(web, "session_key", ""):
            self.add("web session key", OK, "set (WEB_SESSION_KEY)")
        elif _production(settings):
            self.add(
                "web session key",
                FAIL,
                "WEB_SESSION_KEY is not set on PostgreSQL (production): each web process would "
                "make its own key, and a session from one is refused by the other",
                fix,
            )
        else:
            self.add(
                "web session key",
                WARN,
                "WEB_SESSION_KEY is not set: the development key file is used",
                "fine for development; production must set it: " + fix,
            )

    def web_https(self, settings: Settings) -> None:
        web = getattr(settings, "web", None)
        if web is None or not hasattr(web, "https"):
            return
        if web.https:
            self.add("web.https", OK, "served over HTTPS: Secure cookie and HSTS")
        elif _production(settings):
            self.add(
                "web.https",
                WARN,
                "web.https is false on PostgreSQL (production): the session cookie is not Secure "
                "and no HSTS is sent",
                "serve the web chat through an HTTPS reverse proxy and set WEB_HTTPS=true "
                "(docs/deploy.md)",
            )

    # ---- Telegram

    async def telegram(self, settings: Settings) -> None:
        from bot.channels.telegram import api_base_url, file_base_url

        s = settings.telegram
        if s.webhook_url:
            self.checks.append(
                _url_check(
                    "telegram.webhook_url",
                    s.webhook_url,
                    "Telegram only calls https:// URLs: put the bot behind an HTTPS reverse "
                    "proxy and set TELEGRAM_WEBHOOK_URL=https://<your domain>/telegram/webhook",
                )
            )
        if s.webhook_url or s.webhook_secret:
            if SECRET_RE.fullmatch(s.webhook_secret):
                self.add("telegram.webhook_secret", OK, f"{len(s.webhook_secret)} characters")
            else:
                self.add(
                    "telegram.webhook_secret",
                    FAIL,
                    f"{len(s.webhook_secret)} characters"
                    + ("" if re.fullmatch(r"[A-Za-z0-9_-]*", s.webhook_secret) else ", some not")
                    + " of A-Z a-z 0-9 _ -; at least 32 are needed",
                    f"set TELEGRAM_WEBHOOK_SECRET to a new random value: {MAKE_SECRET}",
                )
        else:
            self.add("telegram.webhook_secret", OK, "polling (no webhook): no secret needed")
        fix = "set TELEGRAM_API_BASE_URL to https://api.telegram.org/bot (or leave it unset)"
        api = _url_check("telegram.api_base_url", api_base_url(s), fix)
        files = _url_check("telegram.file_base_url", file_base_url(s), fix.replace("API", "FILE"))
        self.checks += [api, files]
        if api.status == FAIL:
            self.add("telegram token", FAIL, "not checked: the API URL is not HTTPS", fix)
            return
        await self.telegram_token(settings)

    async def telegram_token(self, settings: Settings) -> None:
        from telegram import Bot
        from telegram.error import InvalidToken, TelegramError
        from telegram.request import HTTPXRequest

        from bot.channels.telegram import api_base_url, file_base_url, quiet_http_loggers

        quiet_http_loggers()  # httpx logs request URLs at INFO, and they carry the token
        s = settings.telegram
        request = HTTPXRequest(connect_timeout=self.timeout, read_timeout=self.timeout)
        bot = Bot(
            s.token,
            base_url=api_base_url(s),
            base_file_url=file_base_url(s),
            request=request,
            get_updates_request=HTTPXRequest(),
        )
        # Exception messages are never printed: PTB puts the token in some of them.
        try:
            await bot.initialize()
            self.add("telegram token", OK, f"accepted by Telegram (@{bot.username})")
        except InvalidToken:
            self.add(
                "telegram token",
                FAIL,
                "Telegram refused TELEGRAM_BOT_TOKEN (401/404)",
                "copy the token again from @BotFather (/mybots, API Token) into TELEGRAM_BOT_TOKEN",
            )
        except TelegramError as exc:
            self.add(
                "telegram token",
                FAIL,
                f"getMe failed: {type(exc).__name__}",
                "check that this host reaches the Bot API (firewall, proxy, DNS) and "
                "TELEGRAM_API_BASE_URL",
            )
        finally:
            try:
                await bot.shutdown()
            except Exception:  # closing a client that never opened
                pass

    # ---- Zalo Bot Platform

    async def zalo_bot(self, settings: Settings) -> None:
        """The webhook URL and secret, the API URL, and the token (getMe)."""
        from bot.channels.zalo_bot import ApiError, BotApi

        s = settings.zalo_bot
        if s.webhook_url:
            self.checks.append(
                _url_check(
                    "zalo_bot.webhook_url",
                    s.webhook_url,
                    "Zalo only calls https:// URLs: put the bot behind an HTTPS reverse proxy and "
                    "set ZALO_BOT_WEBHOOK_URL=https://<your domain>/zalo-bot/webhook",
                )
            )
            strong = len(s.webhook_secret) >= 32
            self.add(
                "zalo_bot.webhook_secret",
                OK if strong else WARN,
                f"{len(s.webhook_secret)} characters",
                "" if strong else f"a longer random ZALO_BOT_WEBHOOK_SECRET: {MAKE_SECRET}",
            )
        fix = "set ZALO_BOT_API_BASE_URL to https://bot-api.zaloplatforms.com (or leave it unset)"
        api_check = _url_check("zalo_bot.api_base_url", s.api_base_url, fix)
        self.checks.append(api_check)
        if api_check.status == FAIL:
            self.add("zalo_bot token", FAIL, "not checked: the API URL is not HTTPS", fix)
            return
        api = BotApi(s, request_timeout=self.timeout)
        try:
            me = await api.call("getMe")
            name = me.get("account_name") if isinstance(me, dict) else None
            self.add("zalo_bot token", OK, f"accepted by Zalo ({str(name or '?')[:64]})")
        except ApiError as exc:  # its description has the token cut out
            if exc.code == 401:
                self.add(
                    "zalo_bot token",
                    FAIL,
                    "Zalo refused ZALO_BOT_TOKEN (401)",
                    "copy the Bot Token again from Zalo Bot Manager into ZALO_BOT_TOKEN",
                )
            else:
                self.add(
                    "zalo_bot token",
                    FAIL,
                    f"getMe failed: {exc.code} {exc.description}",
                    "check that this host reaches the Bot API (firewall, proxy, DNS) and "
                    "ZALO_BOT_API_BASE_URL",
                )
        finally:
            await api.close()

    # ---- Zalo

    async def zalo(self, settings: Settings) -> None:
        s = settings.zalo
        if s.oa_secret_key:
            self.add("zalo.oa_secret_key", OK, "set: webhook signatures are checked")
        else:
            self.add(
                "zalo.oa_secret_key",
                FAIL,
                "empty: webhook events cannot be verified",
                "set ZALO_OA_SECRET_KEY to the OA secret key (Zalo developer console, "
                "Official Account > Webhook)",
            )
        if s.app_secret:
            self.add("zalo.app_secret", OK, "set: access tokens can be refreshed")
        else:
            self.add(
                "zalo.app_secret",
                FAIL,
                "empty: the access token (about 25 hours) cannot be refreshed",
                "set ZALO_APP_SECRET to the app's secret key (Zalo developer console, "
                "app settings)",
            )
        fix = "set ZALO_API_BASE_URL to https://openapi.zalo.me (or leave it unset)"
        api = _url_check("zalo.api_base_url", s.api_base_url, fix)
        oauth = _url_check(
            "zalo.oauth_base_url",
            s.oauth_base_url,
            "set ZALO_OAUTH_BASE_URL to https://oauth.zaloapp.com (or leave it unset)",
        )
        self.checks += [api, oauth]
        if api.status == FAIL:
            self.add("zalo token", FAIL, "not checked: the API URL is not HTTPS", fix)
            return
        await self.zalo_token(settings)

    async def _zalo_pair(self, settings: Settings):
        """(access token, expiry or None, where it came from)."""
        from bot import crypto
        from bot.secrets_cli import _with_session
        from bot.storage.repositories import tokens

        if self.database_ok:
            try:
                cipher = crypto.load_cipher(
                    settings.privacy.token_encryption_keys, settings.base_dir, create=False
                )
                if cipher is not None:
                    stored = await _with_session(settings, lambda s: _peek(s, tokens, cipher))
                    if stored is not None:
                        return stored.access_token, stored.access_expires_at, "stored"
            except crypto.TokenKeyError:
                pass  # reported by "stored tokens"; try the configured token
        return settings.zalo.access_token, None, "ZALO_ACCESS_TOKEN"

    async def zalo_token(self, settings: Settings) -> None:
        import aiohttp

        from bot.channels.zalo import TOKEN_ERRORS

        s = settings.zalo
        token, expires, source = await self._zalo_pair(settings)
        reauthorise = (
            "authorise the app again (docs/zalo.md, 'Tokens') and set ZALO_ACCESS_TOKEN and "
            "ZALO_REFRESH_TOKEN; then `python -m bot secrets forget zalo` so they replace the "
            "stored pair"
        )
        if not token:
            self.add(
                "zalo token",
                WARN if s.refresh_token else FAIL,
                "no access token yet" + (" (the bot refreshes one)" if s.refresh_token else ""),
                "" if s.refresh_token else reauthorise,
            )
            return
        url = s.api_base_url.rstrip("/") + GETOA_PATH
        started = self.clock()
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http,
                http.get(url, headers={"access_token": token}) as resp,
            ):
                status, date = resp.status, resp.headers.get("Date")
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.add(
                "zalo token",
                FAIL,
                f"cannot reach the Zalo OA API: {type(exc).__name__}",
                "check that this host reaches openapi.zalo.me (firewall, proxy, DNS) and "
                "ZALO_API_BASE_URL",
            )
            return
        answered = self.clock()
        self.zalo_clock(settings, date, (started + answered) / 2)
        code = body.get("error") if isinstance(body, dict) else None
        if status == 200 and code == 0:
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            name = str(data.get("name") or data.get("oa_id") or "")[:80]
            self.add("zalo token", OK, f"accepted by Zalo ({source}; OA {name})")
        elif code in TOKEN_ERRORS:
            expired = expires is not None and expires.timestamp() < self.clock()
            if source == "stored" and expired and s.app_secret:
                self.add(
                    "zalo token",
                    WARN,
                    f"the stored access token expired ({code}); the bot refreshes it with the "
                    "stored refresh token when it next sends",
                    "start the bot (or let it send) and run the doctor again",
                )
            else:
                self.add(
                    "zalo token",
                    FAIL,
                    f"Zalo refused the {source} access token: {TOKEN_ERRORS[code]} ({code})",
                    reauthorise,
                )
        else:
            self.add(
                "zalo token",
                FAIL,
                f"getoa answered HTTP {status}, error {code!r}",
                "check ZALO_APP_ID and that the app is linked to the OA; try again later if "
                "Zalo is down",
            )

    def zalo_clock(self, settings: Settings, date: str | None, local: float) -> None:
        window = settings.zalo.timestamp_window_seconds
        fix = (
            "synchronise the clock with NTP (`timedatectl set-ntp true`, or chrony); Zalo's "
            f"webhook events are refused when their timestamp is over {window} s off"
        )
        try:
            remote = parsedate_to_datetime(date).timestamp() + 0.5 if date else None
        except (TypeError, ValueError):
            remote = None
        if remote is None:
            self.add("clock", WARN, "Zalo's answer had no usable Date header", fix)
            return
        skew = local - remote  # the Date header has whole seconds: its middle is +0.5
        where = f"{abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} Zalo's"
        if abs(skew) <= CLOCK_WARN_SECONDS:
            self.add("clock", OK, f"within {CLOCK_WARN_SECONDS:.0f} s of Zalo's")
        elif abs(skew) <= window:
            self.add("clock", WARN, f"the local clock is {where}", fix)
        else:
            self.add(
                "clock",
                FAIL,
                f"the local clock is {where}, beyond zalo.timestamp_window_seconds ({window})",
                fix,
            )

    # ---- files

    def media_directory(self, settings: Settings) -> None:
        # What users send (bot/media) is written; the content's own pictures (content/media)
        # are only read, and a container keeps the application files read-only.
        self.directory(
            "media directory",
            settings.path(settings.media.dir),
            OK,
            "the bot makes it for the first photo or recording a user sends",
        )
        privacy = settings.privacy
        if getattr(privacy, "export_dir", ""):
            self.directory(
                "exports directory",
                settings.path(privacy.export_dir),
                OK,
                "the bot makes it for the first /dulieu",
            )

    async def voice(self, settings: Settings) -> None:
        """Translators' recordings: ffmpeg and ffprobe run, and their folder can be written."""
        v = settings.voice
        self.directory(
            "voice directory",
            settings.path(v.dir),
            OK,
            "the bot makes it for the first recording a translator sends",
        )
        fix = (
            "install Debian's ffmpeg (`scripts/install-system-deps.sh` does), or set voice.ffmpeg "
            "and voice.ffprobe in config.yml to where they are"
        )
        for name, path in (("ffmpeg", v.ffmpeg), ("ffprobe", v.ffprobe)):
            try:
                proc = await asyncio.create_subprocess_exec(
                    path,
                    "-version",
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                out, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
            except (OSError, TimeoutError) as exc:
                why = "did not answer" if isinstance(exc, TimeoutError) else "cannot be run"
                self.add(
                    name, WARN, f"{path} {why}: translators' recordings cannot be converted", fix
                )
                continue
            first = out.decode(errors="replace").splitlines()[:1]
            if proc.returncode != 0 or not first:
                self.add(name, WARN, f"{path} -version failed (exit {proc.returncode})", fix)
            else:
                self.add(name, OK, " ".join(first[0].split()[:3]))

    def directory(self, name: str, path: Path, missing: str, why: str) -> None:
        """`path` is a directory the bot can write (or, missing, one it can make)."""
        fix = (
            f"make {path} a directory the bot's user can write: "
            f"`mkdir -p {path} && chown <bot user> {path}`"
        )
        if path.exists() and not path.is_dir():
            self.add(name, FAIL, f"{path} is not a directory", fix)
            return
        if not path.exists():
            parent = path.parent
            while not parent.exists():
                parent = parent.parent
            if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
                self.add(name, missing, f"{path} does not exist ({why})", f"`mkdir -p {path}`")
            else:
                self.add(name, FAIL, f"{path} does not exist and cannot be made", fix)
            return
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
                pass
        except OSError as exc:
            self.add(name, FAIL, f"{path} is not writable ({exc.strerror})", fix)
            return
        self.add(name, OK, f"{path} is writable")


async def _peek(session, tokens, cipher):
    """The stored Zalo pair, read only (no re-encryption write: the doctor writes nothing)."""
    from bot.storage.models import ChannelToken

    row = await session.get(ChannelToken, "zalo")
    return None if row is None else tokens.read(row, cipher)


def render(checks: list[Check]) -> str:
    lines = []
    width = max((len(c.name) for c in checks), default=0)
    for c in checks:
        detail = c.detail.replace("\n", "\n" + " " * (width + 8))
        lines.append(f"{c.status:<4}  {c.name:<{width}}  {detail}")
        if c.fix and c.status != OK:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == WARN for c in checks)
    lines.append(f"{failed} failed, {warned} warning(s), {len(checks) - failed - warned} ok")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    import logging

    # Alembic's INFO lines and bot.crypto's development-key warning say what the checks say.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("bot.crypto").setLevel(logging.ERROR)
    checks = asyncio.run(Doctor(args.config, timeout=args.timeout).run())
    failed = any(c.status == FAIL for c in checks)
    if args.json:
        out = {"ok": not failed, "checks": [asdict(c) for c in checks]}
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    else:
        print(render(checks))
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", help="check a deployment: config, database, secrets, URLs, tokens, clock, files"
    )
    p.add_argument("--json", action="store_true", help="one JSON object, for machines")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per network call")
    p.set_defaults(func=cmd_doctor)
