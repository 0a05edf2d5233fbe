"""Zalo OA tokens: keep a valid access token, refresh it ahead of expiry, store every new pair
first.

Zalo's access token lasts about 25 hours; the refresh token lasts about 3 months and works ONCE:
each refresh returns a new pair and spends the old refresh token. So the new pair is committed to
the `channel_tokens` table before the new access token is used (a crash after the refresh but
before the write would leave only a spent token), and only one refresh runs at a time however
many sends are waiting (an asyncio lock, then a re-check: whoever waited finds the new token).
Across processes the row is locked (`SELECT ... FOR UPDATE` on PostgreSQL) for the same reason.

The first pair comes from the settings (ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN) when the database
has none. Its expiry is unknown, so it is used until Zalo rejects it (or it is refreshed on an
invalid-token error); from the first refresh on, expiry is known and refreshes come early.

The pair is stored encrypted (`bot.crypto`, through `bot.storage.repositories.tokens`). A stored
pair no configured key decrypts (a key removed too early, or another process rotated to a key this
one lacks) makes sends wait and retry (`TokenRefreshUnavailable`) with an error naming what to do;
`python -m bot run` refuses to start in that state (`bot.crypto` TokenKeyError).

Tokens never reach a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import crypto
from bot.config import ZaloSettings
from bot.crypto import TokenCipher, TokenKeyError
from bot.storage.repositories import tokens
from bot.storage.repositories.tokens import StoredTokens

log = logging.getLogger("bot.zalo.tokens")

CHANNEL = "zalo"
REFRESH_PATH = "/v4/oa/access_token"
REFRESH_AHEAD = timedelta(hours=1)  # refresh when less than this is left on the access token
REFRESH_TOKEN_TTL = timedelta(days=90)  # "about 3 months"; Zalo does not return it
DEFAULT_ACCESS_TTL = 25 * 3600  # seconds, when a refresh answer lacks expires_in
REFRESH_TIMEOUT = aiohttp.ClientTimeout(total=15)


class TokenError(Exception):
    """No usable access token: the refresh failed for good. The message names the setting at
    fault."""


class TokenRefreshUnavailable(Exception):
    """The refresh endpoint failed in a way worth retrying later (5xx, timeout, network)."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_at: datetime | None  # None: unknown (the pair came from the settings)
    refresh_expires_at: datetime | None

    def fresh(self, now: datetime, ahead: timedelta) -> bool:
        """Usable without a refresh: known to last more than `ahead`, or of unknown expiry."""
        if not self.access_token:
            return False
        return self.access_expires_at is None or self.access_expires_at - now > ahead


def _aware(dt: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back; every stored time is UTC.
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def _pair(stored: StoredTokens) -> TokenPair:
    return TokenPair(
        stored.access_token,
        stored.refresh_token,
        _aware(stored.access_expires_at),
        _aware(stored.refresh_expires_at),
    )


class ZaloTokens:
    """The Zalo OA access token the sender uses, refreshed and stored as described above."""

    def __init__(
        self,
        settings: ZaloSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        http: Callable[[], aiohttp.ClientSession],
        *,
        ahead: timedelta = REFRESH_AHEAD,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cipher: TokenCipher | None = None,
    ) -> None:
        self.settings = settings
        self._cipher = cipher
        self.sessionmaker = sessionmaker
        self.http = http
        self.ahead = ahead
        self.clock = clock
        self._pair: TokenPair | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0  # successful refreshes by this process (for tests and benchmarks)

    @property
    def cipher(self) -> TokenCipher:
        if self._cipher is None:
            self._cipher = crypto.current()
        return self._cipher

    async def access_token(self) -> str:
        """A valid access token, refreshing first when it is about to expire."""
        pair = self._pair
        if pair is not None and pair.fresh(self.clock(), self.ahead):
            return pair.access_token
        return await self._ensure(stale=None)

    async def refresh(self, stale: str) -> str:
        """Zalo rejected `stale` as invalid or expired: get a new token (once, however many ask)."""
        return await self._ensure(stale=stale)

    async def current(self) -> TokenPair | None:
        """The stored pair (loading it, or seeding it from the settings, on first use)."""
        async with self._lock:
            if self._pair is None:
                self._pair = await self._load_or_seed()
            return self._pair

    async def _ensure(self, stale: str | None) -> str:
        try:
            return await self._ensure_locked(stale)
        except TokenKeyError as exc:
            log.error("zalo: %s", exc)
            raise TokenRefreshUnavailable(f"zalo: {exc}") from None

    async def _ensure_locked(self, stale: str | None) -> str:
        async with self._lock:
            # Re-check after the wait: another send (or process) may have refreshed meanwhile.
            pair = self._pair = await self._load_or_seed()
            if pair is not None:
                rejected = stale is not None and pair.access_token == stale
                if not rejected and pair.fresh(self.clock(), self.ahead):
                    return pair.access_token
            try:
                return await self._refresh_locked(bad=pair.access_token if pair else None)
            except TokenRefreshUnavailable:
                # Refreshing early and Zalo's OAuth server is down: the current token still works.
                if (
                    stale is None
                    and pair is not None
                    and pair.access_token
                    and pair.access_expires_at is not None
                    and pair.access_expires_at > self.clock()
                ):
                    log.warning(
                        "zalo: early token refresh failed; using the current token, retrying later"
                    )
                    return pair.access_token
                raise

    async def _load_or_seed(self) -> TokenPair | None:
        async with self.sessionmaker() as session:
            stored = await tokens.get(session, CHANNEL, self.cipher)
            if stored is not None:
                return _pair(stored)
            s = self.settings
            if not (s.access_token or s.refresh_token):
                return None
            row = await tokens.seed(
                session, CHANNEL, s.access_token, s.refresh_token, self.clock(), self.cipher
            )
            log.info(
                "zalo: token pair seeded from the settings (ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN)"
            )
            return _pair(row)

    async def _refresh_locked(self, bad: str | None) -> str:
        """Refresh under the row lock and commit the new pair before returning its access token."""
        async with self.sessionmaker() as session:
            row = await tokens.lock(session, CHANNEL)
            if row is None:
                raise TokenError(
                    "zalo: no access token: set ZALO_ACCESS_TOKEN and ZALO_REFRESH_TOKEN "
                    "(see docs/zalo.md, 'Tokens')"
                )
            pair = _pair(tokens.read(row, self.cipher))
            # Another process may have refreshed between our read and this lock.
            if pair.access_token != bad and pair.fresh(self.clock(), self.ahead):
                await session.rollback()
                self._pair = pair
                return pair.access_token
            candidates = [pair.refresh_token]
            # The operator may have put a newly authorised refresh token in the settings after the
            # stored one was spent or expired; it is tried once when the stored one is refused.
            if self.settings.refresh_token and self.settings.refresh_token != pair.refresh_token:
                candidates.append(self.settings.refresh_token)
            last_reason = ""
            for refresh_token in candidates:
                if not refresh_token:
                    continue
                got = await self._call_refresh(refresh_token)
                if isinstance(got, str):
                    last_reason = got
                    continue
                now = self.clock()
                new = _pair(
                    tokens.store(
                        row,
                        self.cipher,
                        got["access_token"],
                        got["refresh_token"],
                        now + timedelta(seconds=got["expires_in"]),
                        now + REFRESH_TOKEN_TTL,
                        now,
                    )
                )
                try:
                    await session.commit()
                except Exception:
                    log.critical(
                        "zalo: refreshed the token pair but could not store it; "
                        "the old refresh token is spent. "
                        "Authorise the app again and set ZALO_REFRESH_TOKEN (docs/zalo.md)"
                    )
                    raise
                self._pair = new
                self.refreshes += 1
                log.info(
                    "zalo: access token refreshed; valid until %s",
                    new.access_expires_at.isoformat(),
                )
                return new.access_token
            await session.rollback()
        # Refused: if another process refreshed meanwhile (it spent the token we read), use its
        # pair.
        async with self.sessionmaker() as session:
            stored = await tokens.get(session, CHANNEL, self.cipher)
            if (
                stored is not None
                and stored.access_token != bad
                and _pair(stored).fresh(self.clock(), self.ahead)
            ):
                self._pair = _pair(stored)
                return stored.access_token
        raise TokenError(
            f"zalo: the refresh token was refused ({last_reason or 'no refresh token'}); "
            "authorise the app again in the Zalo developer console "
            "and set ZALO_REFRESH_TOKEN (and ZALO_ACCESS_TOKEN) "
            "(docs/zalo.md, 'Tokens')"
        )

    async def _call_refresh(self, refresh_token: str) -> dict | str:
        """POST the refresh; the new pair as a dict, or why Zalo refused it (a str, no secrets)."""
        url = self.settings.oauth_base_url.rstrip("/") + REFRESH_PATH
        form = {
            "refresh_token": refresh_token,
            "app_id": self.settings.app_id,
            "grant_type": "refresh_token",
        }
        try:
            async with self.http().post(
                url,
                data=form,
                headers={"secret_key": self.settings.app_secret},
                timeout=REFRESH_TIMEOUT,
            ) as resp:
                if resp.status >= 500 or resp.status == 429:
                    raise TokenRefreshUnavailable(
                        f"zalo: token refresh answered HTTP {resp.status}"
                    )
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TokenRefreshUnavailable(
                f"zalo: token refresh failed: {type(exc).__name__}"
            ) from None
        if not isinstance(body, dict):
            raise TokenRefreshUnavailable("zalo: token refresh answered something other than JSON")
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if isinstance(access, str) and access and isinstance(refresh, str) and refresh:
            try:
                expires_in = int(
                    body.get("expires_in") or DEFAULT_ACCESS_TTL
                )  # Zalo sends it as a string
            except (TypeError, ValueError):
                expires_in = DEFAULT_ACCESS_TTL
            return {"access_token": access, "refresh_token": refresh, "expires_in": expires_in}
        code = body.get("error")
        name = (
            body.get("error_name")
            or body.get("error_description")
            or body.get("message")
            or "refused"
        )
        if not self.settings.app_secret:
            name = f"{name}; ZALO_APP_SECRET is empty"
        log.error("zalo: token refresh refused: error=%s %s", code, str(name)[:120])
        return f"error {code}: {str(name)[:120]}"
