"""The async engine and session factory, the health check, and schema upgrades (Alembic)."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool, StaticPool

from bot.storage import outage

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("bot.storage")


@dataclass(frozen=True)
class PoolSettings:
    """How a server database's connections are pooled and how long anything may wait for one.

    A request waits at most `timeout` for a pooled connection (then `sqlalchemy.exc.TimeoutError`:
    answered 503), `connect_timeout` for a new one (then `outage.DatabaseUnreachable`), and a
    statement at most `statement_timeout` (asyncpg's `command_timeout`). Together they bound how
    long a webhook waits while the database is away. SQLite has no pool (one writer, gated).
    """

    size: int = 10
    overflow: int = 10
    timeout: float = 5.0
    connect_timeout: float = 5.0
    statement_timeout: float = 10.0


def resolve_url(url: str, base_dir: Path | None = None) -> str:
    """Make a relative SQLite path relative to the project directory and create its folder."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        db = Path(u.database)
        if not db.is_absolute() and base_dir is not None:
            db = base_dir / db
        db.parent.mkdir(parents=True, exist_ok=True)
        return u.set(database=str(db)).render_as_string(hide_password=False)
    return url


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    # Checkpoints run beside the writers (`_Checkpoints`), not inside whichever commit happens
    # to cross the WAL's threshold: that commit was the per-message p99.
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def _one_hop(
    conn: Any, operation: Any, parameters: Any, many: bool
) -> tuple[Any, list[Any] | None, int, int | None]:
    """Run in aiosqlite's thread: one statement from cursor to closed cursor, rows included."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _one_hop_module() -> Any | None:
    """The aiosqlite DBAPI adapter with a cursor that takes one thread hop per statement.

    SQLAlchemy's own adapter makes each step its own trip to aiosqlite's thread and back (create
    the cursor, execute, fetch the rows, close: three or four hops a statement, each a wake-up of
    the thread and then of the event loop through its self-pipe); this cursor does the four in
    one function on that thread and keeps what the DBAPI cursor would report (description, rows,
    rowcount, lastrowid). Server-side cursors (streamed results) are SQLAlchemy's, unchanged.
    None when the installed SQLAlchemy's adapter is not the one this was written for (2.1)."""
    try:
        import collections
        import sqlite3

        import aiosqlite
        from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
        from sqlalchemy.util import EMPTY_DICT
        from sqlalchemy.util.concurrency import await_

        base_cursor = sa_aiosqlite.AsyncAdapt_aiosqlite_cursor
        base_connection = sa_aiosqlite.AsyncAdapt_aiosqlite_connection
        base_dbapi = sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi
        if not hasattr(aiosqlite.Connection, "_execute") or not hasattr(base_cursor, "_rows"):
            return None
    except (ImportError, AttributeError):
        return None

    class OneHopCursor(base_cursor):
        __slots__ = ("_description", "_rowcount", "_lastrowid", "_arraysize")

        def __init__(self, adapt_connection: Any) -> None:
            self._adapt_connection = adapt_connection
            self._connection = adapt_connection._connection
            self._cursor = None  # no aiosqlite cursor: `close` has nothing to close
            self._soft_closed_memoized = EMPTY_DICT
            self._rows = collections.deque()
            self._description = None
            self._rowcount = -1
            self._lastrowid = None
            self._arraysize = 1

        @property
        def description(self) -> Any:
            return self._description

        @property
        def rowcount(self) -> int:
            return self._rowcount

        @property
        def lastrowid(self) -> Any:
            return self._lastrowid

        @property
        def arraysize(self) -> int:
            return self._arraysize

        @arraysize.setter
        def arraysize(self, value: int) -> None:
            self._arraysize = value

        async def _async_soft_close(self) -> None:
            return None  # the rows are read and the cursor closed already

        def execute(self, operation: Any, parameters: Any = None) -> Any:
            try:
                return await_(self._run(operation, parameters, False))
            except Exception as error:
                self._adapt_connection._handle_exception(error)

        def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
            try:
                return await_(self._run(operation, seq_of_parameters, True))
            except Exception as error:
                self._adapt_connection._handle_exception(error)

        async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
            connection = self._connection
            async with self._adapt_connection._execute_mutex:
                description, rows, rowcount, lastrowid = await connection._execute(
                    _one_hop, connection._conn, operation, parameters, many
                )
            self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
            self._rows = collections.deque(rows) if rows else collections.deque()

    class OneHopConnection(base_connection):
        __slots__ = ()
        _cursor_cls = OneHopCursor

    class OneHopDbapi(base_dbapi):
        def connect(self, *arg: Any, **kw: Any) -> Any:  # as SQLAlchemy's, with our class
            creator_fn = kw.pop("async_creator_fn", None)
            if creator_fn:
                connection = creator_fn(*arg, **kw)
            else:
                connection = self.aiosqlite.connect(*arg, **kw)
                # Before aiosqlite 0.22 the connection was the thread; since, it has one.
                getattr(connection, "_thread", connection).daemon = True
            return OneHopConnection(self, await_(connection))

    return OneHopDbapi(aiosqlite, sqlite3)


_ONE_HOP = _one_hop_module()


def compact_json(value: object) -> str:
    """JSON as stored: Vietnamese letters as UTF-8, not \\u escapes (a third of the bytes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def create_engine(url: str, pool: PoolSettings | None = None) -> AsyncEngine:
    """The async engine. `hide_parameters`: SQL errors name the statement, never the values
    (user ids, message texts, tokens), so exceptions can be logged safely. `pool`: sizes and
    waits on a server database (`PoolSettings`). Connect failures raise
    `outage.DatabaseUnreachable`; `outage.Outage.of(engine)` tracks the database's outages."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        # One thread hop a statement instead of three or four (`_one_hop_module`).
        module = {"module": m} if u.get_driver_name() == "aiosqlite" and (m := _ONE_HOP) else {}
        if u.database in (None, "", ":memory:"):
            # One shared connection, or each session would see its own empty database.
            engine = create_async_engine(
                url,
                poolclass=StaticPool,
                hide_parameters=True,
                json_serializer=compact_json,
                **module,
            )
        else:
            # No ROLLBACK when a connection goes back to the pool: every Session and Connection
            # here ends its own transaction first, and on SQLite the extra call is a thread hop
            # per message (measured: about 0.2 ms of a 3.5 ms turn).
            engine = create_async_engine(
                url,
                connect_args={"timeout": 5},
                hide_parameters=True,
                pool_reset_on_return=None,
                json_serializer=compact_json,
                **module,
            )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if u.database not in (None, "", ":memory:"):
            event.listen(engine.sync_engine, "commit", _Checkpoints(engine).on_commit)
            _watch(engine, url, poolclass=NullPool, connect_args={"timeout": 0.2})
        return engine
    pool = pool or PoolSettings()
    connect_args = {"timeout": pool.connect_timeout, "command_timeout": pool.statement_timeout}
    engine = create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=pool.timeout,
        connect_args=connect_args,
        hide_parameters=True,
        json_serializer=compact_json,
    )
    _watch(engine, url, poolclass=NullPool, connect_args=connect_args)
    return engine


def _connect_or_unreachable(dialect: Any, _rec: Any, cargs: Any, cparams: Any) -> Any:
    """Make a DBAPI connection; a failure (refused, timed out, the server starting or full) is
    raised as `outage.DatabaseUnreachable`: raw, the driver's OSError or TimeoutError could not
    be told from any other."""
    try:
        return dialect.connect(*cargs, **cparams)
    except Exception as exc:
        raise outage.DatabaseUnreachable(
            f"cannot connect to the database ({type(exc).__name__})"
        ) from exc


class _Probe:
    """A check of the database on a connection of its own (outside the pool, which may be what
    is exhausted): `__call__` raises when the database is away; `revision` also reads the
    schema's migration, for `/healthz`."""

    def __init__(self, engine: AsyncEngine, url: str, **kw: Any) -> None:
        self.sqlite = engine.dialect.name == "sqlite"
        self._engine = weakref.ref(engine.sync_engine)  # the tracker keyed on it holds this
        self.url = url
        self.kw = kw
        self._probe_engine: AsyncEngine | None = None

    def _connect(self) -> Any:
        if self._probe_engine is None:
            self._probe_engine = create_async_engine(self.url, hide_parameters=True, **self.kw)
            event.listen(self._probe_engine.sync_engine, "do_connect", _connect_or_unreachable)
        return self._probe_engine.connect()

    async def __call__(self, timeout: float = 2.0) -> None:
        try:
            await self._check(timeout)
        except TimeoutError as exc:
            raise outage.DatabaseUnreachable("the database did not answer in time") from exc

    async def _check(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            if self.sqlite:
                # A read succeeds on a locked file: take the write lock, through the gate.
                from bot.storage.gate import WriteGate

                async with WriteGate.of(self._engine()).write(), self._connect() as conn:
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    await conn.exec_driver_sql("ROLLBACK")
            else:
                async with self._connect() as conn:
                    await conn.exec_driver_sql("SELECT 1")

    async def revision(self, timeout: float = 1.0) -> str | None:
        """The schema's Alembic revision (None: not migrated at all); raises when away."""
        try:
            async with asyncio.timeout(timeout), self._connect() as conn:
                return await schema_revision(conn)
        except TimeoutError as exc:
            raise outage.DatabaseUnreachable("the database did not answer in time") from exc

    async def close(self) -> None:
        if self._probe_engine is not None:
            await self._probe_engine.dispose()
            self._probe_engine = None


_probes: weakref.WeakKeyDictionary[Any, _Probe] = weakref.WeakKeyDictionary()


def _watch(engine: AsyncEngine, url: str, **probe_kw: Any) -> None:
    """Connect errors as `DatabaseUnreachable`, and the engine's outage tracker with its probe;
    every completed statement notes that the database answers (`Outage.progress`)."""
    event.listen(engine.sync_engine, "do_connect", _connect_or_unreachable)
    probe = _probes[engine.sync_engine] = _Probe(engine, url, **probe_kw)
    tracker = outage.install(engine, probe)
    reads_count = engine.dialect.name != "sqlite"  # SQLite reads go on while writes are locked

    def answered(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if reads_count or not statement.startswith("SELECT"):
            tracker.answered()

    def connected(*_args: Any) -> None:  # a new connection: the database answers too
        tracker.answered()

    event.listen(engine.sync_engine, "after_cursor_execute", answered)
    event.listen(engine.sync_engine, "connect", connected)


async def schema_revision(conn: AsyncConnection) -> str | None:
    """The database's Alembic revision (None: not migrated at all); raises when it is away."""
    try:
        result = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
    except Exception as exc:
        if outage.is_outage(exc):
            raise
        return None  # no alembic_version table: an empty database
    return result.scalar()


def head_revision(versions: Path | None = None) -> str | None:
    """The newest migration of the code (what a migrated database is at): the one revision no
    other migration names as its `down_revision`.

    Read from the migration files' module-level assignments, without importing Alembic: the
    serving process needs only this (at start and in `/healthz`), and Alembic with Mako and
    Pygments would be 11 MB of its memory. Raises, as Alembic does, when the history has more
    than one head. tests/storage/test_migrations.py checks it against Alembic's own answer.
    """
    revisions: dict[str, tuple[str, ...]] = {}
    for path in sorted((versions or MIGRATIONS / "versions").glob("*.py")):
        found: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                found[target.id] = ast.literal_eval(node.value)  # type: ignore[arg-type]
        if "revision" in found:
            down = found.get("down_revision")
            downs = tuple(down) if isinstance(down, list | tuple) else (down,)
            revisions[found["revision"]] = downs
    named = {d for downs in revisions.values() for d in downs if d is not None}
    heads = sorted(set(revisions) - named)
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have more than one head: {', '.join(heads)}")
    return heads[0] if heads else None


async def health(engine: AsyncEngine, timeout: float = 1.0) -> tuple[bool, dict[str, Any]]:
    """Whether the database serves this process, and why not, for `/healthz`: reachable (on the
    probe's own connection, so a busy pool cannot make it fail), migrated to the code's head,
    and the pool not refusing requests. Never waits more than about `timeout` seconds."""
    tracker = outage.Outage.of(engine)
    probe = _probes.get(engine.sync_engine)
    body: dict[str, Any] = {}
    pool = engine.pool
    if hasattr(pool, "checkedout"):
        body["pool"] = {
            "size": pool.size(),
            "in_use": pool.checkedout(),
            "overflow": max(0, pool.overflow()),
        }
    if probe is None:  # an in-memory database: nothing can be away
        return True, {"status": "ok", **body}
    try:
        revision = await probe.revision(timeout)
    except Exception as exc:
        if outage.busy_not_down(exc, tracker):
            # No answer in time, but statements complete: this process is busy, not down.
            return True, {"status": "ok", "degraded": "busy", **tracker.state(), **body}
        tracker.failed(exc, "the health check")
        reason = outage.classify(exc) or outage.UNREACHABLE
        return False, {"status": reason, **tracker.state(), **body}
    tracker.ok()
    head = await asyncio.to_thread(_cached_head)
    if revision != head:
        return False, {
            "status": "migrating",
            "detail": f"the schema is at {revision or 'nothing'}, the code needs {head}; "
            "run `python -m bot db upgrade`",
            **body,
        }
    if tracker.pool_exhausted:  # the database answers: busy, not down (a 503 here would take a
        # loaded process out of a balancer for what the platforms' resends already absorb)
        return True, {"status": "ok", "degraded": outage.EXHAUSTED, **tracker.state(), **body}
    return True, {"status": "ok", **tracker.state(), **body}


_head: list[str | None] = []


def _cached_head() -> str | None:
    if not _head:
        _head.append(head_revision())
    return _head[0]


async def close_probe(engine: AsyncEngine) -> None:
    """Close the probe's connection and stop the tracker's probing (at shutdown)."""
    probe = _probes.get(engine.sync_engine)
    if probe is not None:
        await probe.close()
    await outage.Outage.of(engine).close()


class _Checkpoints:
    """Copies the SQLite WAL back into the database every `EVERY` commits, off the commits' path.

    First `PRAGMA wal_checkpoint(PASSIVE)` in a task of its own (it waits for no reader or
    writer); then `RESTART` as a short write through the write gate, which finds nothing left to
    copy and lets the next writer start the WAL from its beginning, so the file stays small.
    SQLite's automatic checkpoint did the copying inside whichever message's commit crossed its
    threshold: that commit was the per-message p99. The last connection to close checkpoints
    the rest."""

    EVERY = 200

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.commits = 0
        self.task: asyncio.Task | None = None

    def on_commit(self, _conn: object) -> None:
        self.commits += 1
        if self.commits % self.EVERY or (self.task is not None and not self.task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous use of the engine (migrations): SQLite's own
            return
        self.task = loop.create_task(self.run())

    async def run(self) -> None:
        from bot.storage.gate import WriteGate

        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            async with WriteGate.of(self.engine).write(), self.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")
        except Exception as exc:  # best effort: the next one tries again
            log.debug("wal checkpoint skipped (%s)", type(exc).__name__)


async def with_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """For a command-line tool: `work(session)` on an engine of its own, then commit (a no-op
    when the work wrote nothing or committed itself); the engine is disposed either way."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def is_healthy(engine: AsyncEngine, timeout: float = 2.0) -> bool:
    """True when the database answers a trivial query within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (synchronous: call from a thread or before the loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


async def create_schema(engine: AsyncEngine) -> None:
    """Create every table directly: for throw-away in-memory databases (`ask`, benchmarks)."""
    from bot.storage.models import Base

    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
