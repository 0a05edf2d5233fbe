"""What every sending channel shares: rate limits, retries with backoff, unreachable users.

A channel wraps each platform call in `Sender.call(chat_key, fn)`: it waits for the overall and the
per-chat rate, retries what can be retried (429 after its retry_after, 5xx and timeouts with
exponential backoff and jitter), and raises `Unreachable` when the user blocked the bot or
unfollowed, after marking them unreachable and unsubscribing them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.gate import writing
from bot.storage.models import Subscription, User

log = logging.getLogger("bot.sending")
T = TypeVar("T")


class RetryAfter(Exception):
    """The platform asked us to wait (HTTP 429 / flood control)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class Transient(Exception):
    """A failure worth retrying: 5xx, timeout, connection reset."""


class Unreachable(Exception):
    """The user cannot be reached any more (blocked the bot, unfollowed the OA)."""


class SendFailed(Exception):
    """Retries are exhausted, or the platform refused the request for good."""


class RateLimiter:
    """An overall rate (messages/s) and a minimum interval per chat, both as settings."""

    def __init__(self, per_second: float, per_chat_interval: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.per_chat_interval = per_chat_interval
        self.clock = clock
        self._next_global = 0.0
        self._next_chat: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, chat_key: str) -> None:
        async with self._lock:
            now = self.clock()
            at = max(now, self._next_global, self._next_chat.get(chat_key, 0.0))
            self._next_global = at + self.interval
            if self.per_chat_interval:
                self._next_chat[chat_key] = at + self.per_chat_interval
                if len(self._next_chat) > 10_000:  # forget chats whose slot has passed
                    self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
        delay = at - now
        if delay > 0:
            await asyncio.sleep(delay)

    def push_back(self, seconds: float) -> None:
        """After a 429, hold every send for `seconds`."""
        self._next_global = max(self._next_global, self.clock() + seconds)


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        delay = min(self.max_delay, self.base_delay * (2 ** attempt))
        return delay * (0.5 + random.random() / 2)


class Sender:
    """Runs platform calls within the rate limits, retrying and classifying failures."""

    def __init__(self, channel: str, limiter: RateLimiter, sessionmaker: async_sessionmaker[AsyncSession] | None,
                 policy: RetryPolicy | None = None) -> None:
        self.channel = channel
        self.limiter = limiter
        self.sessionmaker = sessionmaker
        self.policy = policy or RetryPolicy()

    async def call(self, chat_key: str, fn: Callable[[], Awaitable[T]]) -> T:
        last: Exception | None = None
        for attempt in range(self.policy.attempts):
            await self.limiter.wait(chat_key)
            try:
                return await fn()
            except RetryAfter as exc:
                last = exc
                wait = min(exc.seconds, self.policy.max_retry_after)
                log.warning("%s: rate limited, retrying after %.1fs", self.channel, wait)
                self.limiter.push_back(wait)
            except Transient as exc:
                last = exc
                wait = self.policy.backoff(attempt)
                log.warning("%s: transient failure (%s), retry %d in %.1fs", self.channel, exc, attempt + 1, wait)
                await asyncio.sleep(wait)
            except Unreachable:
                await self.mark_unreachable(chat_key)
                raise
        raise SendFailed(f"{self.channel}: giving up after {self.policy.attempts} attempts: {last}")

    async def mark_unreachable(self, external_id: str) -> None:
        if self.sessionmaker is None:
            return
        await mark_unreachable(self.sessionmaker, self.channel, external_id)


async def mark_unreachable(sessionmaker: async_sessionmaker[AsyncSession], channel: str, external_id: str) -> None:
    """The user blocked us or unfollowed: stop sending, and stop their subscription."""
    async with writing(sessionmaker) as session:
        user = (await session.execute(
            select(User).where(User.channel == channel, User.external_id == external_id)
        )).scalar_one_or_none()
        if user is None:
            return
        user.reachable = False
        await session.execute(
            update(Subscription).where(Subscription.user_id == user.id, Subscription.active.is_(True))
            .values(active=False, updated_at=datetime.now(UTC))
        )
        await session.commit()
