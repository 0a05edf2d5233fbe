"""Database outages: which errors are one, and one tracker per database shared by every code path.

`is_outage(exc)` says whether an exception means the database is away rather than that the work
was wrong: it cannot be reached (refused, timed out, starting up, too many connections: every
connect failure is raised as `DatabaseUnreachable`, see `bot.storage.db`), a connection broke
mid-statement, the pool had no connection to give within its wait, or SQLite's file is locked,
read-only or full. Work that failed for such a reason is not the message's fault: it is never
counted as an attempt, and never makes a message or a send `failed`.

`Outage.of(engine)` is the tracker of that database. Code that meets an outage error calls
`failed(exc)`: the first call of an outage logs the error once, with its traceback, and starts a
probe that checks the database every `probe_interval` seconds on a connection of its own (not the
pool's); later calls only count. While the tracker is `down`, webhooks and the web chat answer 503
at once (`bot.availability`), and the count of what was refused grows. When a probe, or any
caller's `ok()`, finds the database back, one line says how long it was away and how many
requests were refused, and the recovery callbacks run: the inbound worker resumes what the
outage left at once (`InboundWorker.start`).

The pool running out of connections (`sqlalchemy.exc.TimeoutError`) is not an outage: the
database answers, this process is only too busy. It is counted apart (`exhausted`), logged once
per episode, and `/healthz` reports it while it lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import exc as sa_exc

log = logging.getLogger("bot.storage.outage")

UNREACHABLE = "database unreachable"
EXHAUSTED = "pool exhausted"
LOCKED = "database locked"
READ_ONLY = "database not writable"


class DatabaseUnreachable(ConnectionError):
    """A new database connection could not be made (refused, timed out, the server starting or
    shutting down, too many connections, authentication). The cause is chained."""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what it wraps (`orig`) and what caused it, without loops."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 12:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend([getattr(e, "orig", None), e.__cause__, e.__context__])
    return seen


def _asyncpg_outage(e: BaseException) -> bool:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    x = asyncpg.exceptions
    return isinstance(
        e,
        (
            x.PostgresConnectionError,  # connection lost, does not exist, failure
            x.CannotConnectNowError,  # starting up, shutting down
            x.AdminShutdownError,
            x.CrashShutdownError,
            x.TooManyConnectionsError,
            x.InterfaceError,  # "connection is closed", "another operation is in progress"
        ),
    )


def _sqlite_reason(e: BaseException) -> str | None:
    if not isinstance(e, sqlite3.OperationalError):
        return None
    text = str(e).lower()
    if "locked" in text or "busy" in text:
        return LOCKED
    if "readonly" in text or "read-only" in text or "disk" in text or "full" in text:
        return READ_ONLY
    if "unable to open" in text:
        return UNREACHABLE
    return None


def classify(exc: BaseException) -> str | None:
    """Why `exc` is an outage (`UNREACHABLE`, `EXHAUSTED`, `LOCKED`, `READ_ONLY`), or None when
    it is not one (a bug, a constraint, bad data: the message's own failure)."""
    for e in _chain(exc):
        if isinstance(e, sa_exc.TimeoutError):  # QueuePool limit ... reached
            return EXHAUSTED
        if isinstance(e, DatabaseUnreachable):
            return UNREACHABLE
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return UNREACHABLE
        if isinstance(e, sa_exc.DisconnectionError):
            return UNREACHABLE
        reason = _sqlite_reason(e)
        if reason is not None:
            return reason
        if _asyncpg_outage(e):
            return UNREACHABLE
    return None


def _timed_out(exc: BaseException) -> bool:
    return any(isinstance(e, TimeoutError) for e in _chain(exc))


def busy_not_down(exc: BaseException, tracker: Outage) -> bool:
    """A connection (or the probe's answer) not had in time while statements still complete:
    this process is too busy (its event loop, its pool); the database is not away. A refused
    connection is never that."""
    if classify(exc) != UNREACHABLE or not _timed_out(exc):
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return tracker.alive(2.0)
    return tracker.alive(2.0) and not tracker.silent()


def is_outage(exc: BaseException) -> bool:
    """True when `exc` means the database is away or overloaded, not that the work was wrong."""
    return classify(exc) is not None


class Outage:
    """The state of one database as this process sees it: up, or down since when and why.

    `probe` checks the database (raises when it is away); without one, only `ok()` ends an
    outage. Callbacks given to `on_recovery` run (in the event loop) when an outage ends.
    """

    EXHAUSTED_FOR = 5.0  # seconds `/healthz` keeps saying "pool exhausted" after the last refusal

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]] | None = None,
        *,
        probe_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe = probe
        self.probe_interval = probe_interval
        self.clock = clock
        self.reason: str | None = None
        self.since: float | None = None
        self.refused = 0  # requests refused during the current outage
        self.outages = 0  # outages since start
        self.exhausted = 0  # pool refusals since start
        self.progress = 0.0  # when a statement last completed (`clock()`), set by the engine
        # The event loop's heartbeat (`HEARTBEAT` s) and its count when a statement last
        # completed: a silence is counted in beats, so a loop too busy to beat (a burst) is not
        # taken for a database that does not answer.
        self.beats = 0
        self.progress_beat = 0
        self._heart: asyncio.Task | None = None
        self._exhausted_since: float | None = None
        self._exhausted_at: float | None = None
        self._exhausted_episode = 0
        self._callbacks: list[Callable[[], Any]] = []
        self._prober: asyncio.Task | None = None
        self.check_when_slow = False  # `suspect` probes (a server database; not SQLite's gate)
        self._suspecting: asyncio.Task | None = None
        self._up = asyncio.Event()
        self._up.set()

    # ------------------------------------------------------------------ sharing

    @classmethod
    def of(cls, bind: Any) -> Outage:
        """The tracker of a database: `bind` is an async_sessionmaker, an AsyncEngine or an
        Engine. The engine's own probe is used when `bot.storage.db.create_engine` made it."""
        engine = _engine_of(bind)
        if engine is None:
            return cls()
        tracker = _trackers.get(engine)
        if tracker is None:
            tracker = _trackers[engine] = cls()
        return tracker

    # ------------------------------------------------------------------ state

    @property
    def down(self) -> bool:
        return self.since is not None

    HEARTBEAT = 0.1

    def answered(self) -> None:
        """A statement completed, or a connection was made: the database answers."""
        self.progress = self.clock()
        self.progress_beat = self.beats

    def silent(self, beats: int = 5) -> bool:
        """Whether the event loop beat `beats` times since a statement last completed: the loop
        runs, the database does not answer (it hangs). Starts the heartbeat on first use."""
        if self._heart is None or self._heart.done():
            self._heart = asyncio.get_running_loop().create_task(self._beat(), name="db-heartbeat")
            self.progress_beat = self.beats
            return False
        return self.beats - self.progress_beat >= beats

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.HEARTBEAT)
            self.beats += 1

    def alive(self, within: float) -> bool:
        """Whether a statement completed in the last `within` seconds: the database answers,
        however busy this process is (a slow request is load, not an outage)."""
        return self.clock() - self.progress < within

    @property
    def pool_exhausted(self) -> bool:
        at = self._exhausted_at
        return at is not None and self.clock() - at < self.EXHAUSTED_FOR

    def state(self) -> dict[str, Any]:
        """What `/healthz` shows: no personal data, no error text (it may quote a statement)."""
        out: dict[str, Any] = {"outages": self.outages, "pool_refusals": self.exhausted}
        if self.down:
            assert self.since is not None
            out.update(
                reason=self.reason,
                down_seconds=round(self.clock() - self.since, 1),
                refused=self.refused,
            )
        return out

    # ------------------------------------------------------------------ reports

    def failed(self, exc: BaseException, what: str = "a request") -> bool:
        """`exc` was met doing `what`; True when it is an outage error (then counted, and logged
        if it is the first of the outage), False when it is not one (the caller handles it)."""
        reason = classify(exc)
        if reason is None:
            return False
        if reason == EXHAUSTED or busy_not_down(exc, self):
            # A connection not had in time while statements still complete: this process is
            # too busy (its event loop, its pool), the database is not away.
            self._pool_refused(what)
            return True
        if not self.down:
            self.since, self.reason, self.refused = self.clock(), reason, 0
            self.outages += 1
            self._up.clear()
            # Once per outage, with the traceback; SQL parameters are hidden (hide_parameters).
            log.error(
                "%s (%s, while %s): webhooks and the web chat answer 503 until it is back",
                reason,
                type(exc).__name__,
                what,
                exc_info=exc,
            )
            self._start_probe()
        self.refused += 1
        return True

    def suspect(self) -> None:
        """A request is slow and no statement completed meanwhile: probe the database once, on
        the probe's own connection; if it does not answer, the outage starts now (rather than
        when the pool's or the connect's timeouts fall)."""
        if not self.check_when_slow or self.probe is None or self.down:
            return
        if self._suspecting is not None and not self._suspecting.done():
            return
        self._suspecting = asyncio.get_running_loop().create_task(self._check_once())

    async def _check_once(self) -> None:
        assert self.probe is not None
        try:
            await self.probe()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.alive(1.0):
                self.failed(exc, "checking a slow request")

    def refuse(self) -> None:
        """A request was answered 503 without trying the database (it is known to be down)."""
        self.refused += 1

    def ok(self) -> None:
        """The database answered: ends an outage, if there was one."""
        if self.since is None:
            return
        away, refused = self.clock() - self.since, self.refused
        self.since, self.reason = None, None
        self._up.set()
        log.warning("database back after %.1f s, %d requests refused", away, refused)
        for callback in list(self._callbacks):
            try:
                result = callback()
                if asyncio.iscoroutine(result):
                    asyncio.get_running_loop().create_task(result)
            except Exception:  # a callback's bug must not keep the others from running
                log.exception("outage recovery callback failed")

    def on_recovery(self, callback: Callable[[], Any]) -> None:
        """Call `callback` (a function, or one returning a coroutine to run) when an outage
        ends."""
        self._callbacks.append(callback)

    def remove_callback(self, callback: Callable[[], Any]) -> None:
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    async def wait_up(self, timeout: float | None = None) -> bool:
        """Wait until the database is up (at once when it is); False on timeout."""
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see Dispatcher._run
                await self._up.wait()
        except TimeoutError:
            return False
        return True

    def _pool_refused(self, what: str) -> None:
        now = self.clock()
        self.exhausted += 1
        if self._exhausted_at is None or now - self._exhausted_at >= self.EXHAUSTED_FOR:
            if self._exhausted_episode:
                log.warning(
                    "connection pool was exhausted for %.1f s: %d request(s) refused",
                    (self._exhausted_at or now) - (self._exhausted_since or now),
                    self._exhausted_episode,
                )
            self._exhausted_since, self._exhausted_episode = now, 0
            log.warning(
                "no database connection in time (while %s): requests answer 503; raise "
                "DATABASE_POOL_SIZE / DATABASE_POOL_OVERFLOW / DATABASE_POOL_TIMEOUT or lower "
                "the load",
                what,
            )
        self._exhausted_at = now
        self._exhausted_episode += 1

    # ------------------------------------------------------------------ the probe

    def _start_probe(self) -> None:
        if self.probe is None or (self._prober is not None and not self._prober.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._prober = loop.create_task(self._probe_until_up(), name="database-probe")

    async def _probe_until_up(self) -> None:
        assert self.probe is not None
        while self.down:
            try:
                await self.probe()
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(self.probe_interval)
                continue
            self.ok()

    async def close(self) -> None:
        """Stop the probe (at shutdown)."""
        tasks = [t for t in (self._prober, self._suspecting, self._heart) if t is not None]
        self._prober = self._suspecting = self._heart = None
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


_trackers: weakref.WeakKeyDictionary[Any, Outage] = weakref.WeakKeyDictionary()


def _engine_of(bind: Any) -> Any:
    """The sync Engine behind a sessionmaker, an AsyncEngine or an Engine (None if none)."""
    kw = getattr(bind, "kw", None)
    if isinstance(kw, dict):  # a sessionmaker
        bind = kw.get("bind")
    return getattr(bind, "sync_engine", bind)


def install(engine: Any, probe: Callable[[], Awaitable[None]]) -> Outage:
    """Give `engine` its tracker with `probe` (bot.storage.db.create_engine does)."""
    tracker = Outage.of(engine)
    tracker.probe = probe
    tracker.check_when_slow = _engine_of(engine).dialect.name != "sqlite"
    return tracker
