"""Pytest plugin: a real, throw-away PostgreSQL server for the test run.

Register it with ``pytest_plugins = ["tests.postgres"]`` (in tests/conftest.py).

Fixtures
--------
``postgres_url`` (session)
    ``postgresql+asyncpg://postgres@127.0.0.1:PORT/langso_test`` on a server that this
    plugin started with initdb + pg_ctl for the session, and stops (and deletes) at the
    end.  If ``LANGSO_TEST_POSTGRES_URL`` is set, that server is used instead and nothing
    is started (``postgresql://`` URLs are turned into ``postgresql+asyncpg://``).
``pg_database_url`` (function)
    URL of a brand-new, uniquely named database on the same server, dropped after the
    test: for tests that need an empty schema or isolation from other tests.

Helpers (usable outside fixtures, e.g. in a module- or class-scoped fixture)
    ``fresh_database(postgres_url) -> url`` creates a new database and returns its URL;
    ``drop_database(url)`` drops it again (``WITH (FORCE)``, so open connections are
    no obstacle).  ``PostgresServer`` starts/stops a server outside pytest too.

If PostgreSQL cannot be found or does not start, the fixture fails the tests with the
initdb / pg_ctl / server log tail: it never skips.  Install it with
``scripts/install-system-deps.sh``.

Binaries are looked up in ``$LANGSO_PG_BINDIR``, then on ``PATH``, then in the newest
``/usr/lib/postgresql/*/bin`` (Debian), ``/usr/pgsql-*/bin`` (RPM), ``/usr/local/pgsql/bin``.
PostgreSQL refuses to run as root: when the tests run as root the server runs as the
``postgres`` OS user (created if missing) through ``runuser``; otherwise as the current user.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV_URL = "LANGSO_TEST_POSTGRES_URL"
ENV_BINDIR = "LANGSO_PG_BINDIR"
TEST_DATABASE = "langso_test"
SUPERUSER = "postgres"
OS_USER = "postgres"

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")

# Settings for a disposable server: durability off, small footprint, quick start.
_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "jit": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_min_error_statement": "error",
    "timezone": "'UTC'",
}


class PostgresError(RuntimeError):
    """PostgreSQL could not be found, initialised or started."""


# --------------------------------------------------------------------------- binaries


def _version_key(bindir: str) -> tuple[int, ...]:
    """Sort key from a path such as /usr/lib/postgresql/15/bin or /usr/pgsql-16/bin."""
    nums = re.findall(r"\d+", bindir)
    return tuple(int(n) for n in nums) if nums else (0,)


def _has_binaries(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(os.path.join(bindir, b), os.X_OK) for b in _REQUIRED_BINARIES)


def find_bindir() -> str:
    """Directory holding initdb, pg_ctl and postgres (see module docstring for the order)."""
    explicit = os.environ.get(ENV_BINDIR)
    if explicit:
        if _has_binaries(explicit):
            return explicit
        raise PostgresError(f"{ENV_BINDIR}={explicit} does not contain {_REQUIRED_BINARIES}")

    on_path = shutil.which("initdb")
    if on_path:
        bindir = os.path.dirname(os.path.realpath(on_path))
        if _has_binaries(bindir):
            return bindir

    candidates = [
        d
        for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")
        for d in glob.glob(pattern)
        if _has_binaries(d)
    ]
    if candidates:
        return max(candidates, key=_version_key)
    raise PostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under "
        "/usr/lib/postgresql/*/bin. Install them with scripts/install-system-deps.sh "
        "(Debian package 'postgresql'), or point LANGSO_TEST_POSTGRES_URL at a server."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------- server


class PostgresServer:
    """A private PostgreSQL cluster in a temp dir, on 127.0.0.1 and a free port."""

    def __init__(self, bindir: str | None = None, tmp_parent: str | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.tmp_parent = tmp_parent
        self.base: Path | None = None
        self.port: int | None = None
        self.timings: dict[str, float] = {}
        self._as_root = os.geteuid() == 0
        self._started = False

    # paths
    @property
    def datadir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    @property
    def sockdir(self) -> Path:
        assert self.base is not None
        return self.base / "sock"

    @property
    def logfile(self) -> Path:
        assert self.base is not None
        return self.base / "server.log"

    @property
    def cmdlog(self) -> Path:
        assert self.base is not None
        return self.base / "commands.log"

    def url(self, database: str = TEST_DATABASE) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # running commands as the right user
    def _ensure_os_user(self) -> None:
        try:
            pwd.getpwnam(OS_USER)
            return
        except KeyError:
            pass
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        cmd = [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            OS_USER,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            try:  # a parallel worker may have created it meanwhile
                pwd.getpwnam(OS_USER)
                return
            except KeyError:
                pass
            raise PostgresError(f"could not create OS user {OS_USER!r}: {proc.stderr.strip()}")

    def _wrap(self, argv: list[str]) -> list[str]:
        if not self._as_root:
            return argv
        runuser = shutil.which("runuser") or (
            "/sbin/runuser" if os.path.exists("/sbin/runuser") else None
        )
        if runuser:
            return [runuser, "-u", OS_USER, "--", *argv]
        import shlex

        return ["su", "-s", "/bin/sh", OS_USER, "-c", shlex.join(argv)]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        if self._as_root:
            env.update(HOME=str(self.base), USER=OS_USER, LOGNAME=OS_USER)
        return env

    def _run(self, argv: list[str], what: str, check: bool = True) -> int:
        """Run a server command; output goes to commands.log (never a pipe: pg_ctl's
        child would inherit it and keep the pipe open for the server's lifetime)."""
        with open(self.cmdlog, "a") as log:
            log.write(f"\n$ {' '.join(argv)}\n")
            log.flush()
            proc = subprocess.run(
                self._wrap(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                env=self._env(),
                timeout=120,
            )
        if check and proc.returncode != 0:
            raise PostgresError(f"{what} failed (exit {proc.returncode})")
        return proc.returncode

    def _bin(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    # lifecycle
    def start(self) -> PostgresServer:
        t0 = time.perf_counter()
        if self._as_root:
            self._ensure_os_user()
        self.base = Path(tempfile.mkdtemp(prefix="langso-pg-", dir=self.tmp_parent))
        self.sockdir.mkdir()
        self.cmdlog.touch()
        if self._as_root:
            pw = pwd.getpwnam(OS_USER)
            for p in (self.base, self.sockdir, self.cmdlog):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            if self._run(["test", "-w", str(self.base)], "access check", check=False) != 0:
                raise PostgresError(
                    f"OS user {OS_USER!r} cannot write {self.base}; set TMPDIR to a directory "
                    "every user can traverse (e.g. /tmp)"
                )

        self._initdb()
        self.timings["initdb"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        last_error: Exception | None = None
        for _attempt in range(5):  # the free port may be taken between probe and bind
            self.port = _free_port()
            try:
                self._pg_ctl_start()
                last_error = None
                break
            except PostgresError as exc:
                last_error = exc
                if "Address already in use" not in _tail(self.logfile, 20):
                    break
        if last_error is not None:
            raise last_error
        self._started = True
        self.timings["start"] = time.perf_counter() - t1
        return self

    def _initdb(self) -> None:
        base = [
            self._bin("initdb"),
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ]
        for locale in ("C.UTF-8", "C"):
            if self._run([*base, f"--locale={locale}"], "initdb", check=False) == 0:
                break
            if self.datadir.exists():  # a half-made cluster blocks the retry
                self._run(["rm", "-rf", str(self.datadir)], "cleanup", check=False)
        else:
            raise PostgresError("initdb failed")
        conf = self.datadir / "postgresql.conf"
        settings = dict(_SERVER_SETTINGS, unix_socket_directories=f"'{self.sockdir}'")
        extra = "".join(f"{k} = {v}\n" for k, v in settings.items())
        with open(conf, "a") as f:  # as root we may write it; ownership is unchanged
            f.write("\n# langso test server\n" + extra)

    def _pg_ctl_start(self) -> None:
        self._run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {self.port}",
                "start",
            ],
            "pg_ctl start",
        )

    def stop(self) -> None:
        if self.base is None:
            return
        try:
            if self._started:
                self._run(
                    [
                        self._bin("pg_ctl"),
                        "-D",
                        str(self.datadir),
                        "-m",
                        "immediate",
                        "-w",
                        "-t",
                        "30",
                        "stop",
                    ],
                    "pg_ctl stop",
                    check=False,
                )
                self._started = False
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def diagnostics(self) -> str:
        if self.base is None:
            return f"bindir: {self.bindir}"
        return (
            f"bindir: {self.bindir}\n"
            f"--- initdb/pg_ctl output ({self.cmdlog}) ---\n{_tail(self.cmdlog)}\n"
            f"--- server log ({self.logfile}) ---\n{_tail(self.logfile)}"
        )


# --------------------------------------------------------------------------- SQL helpers


def _normalise_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def _run_sql(url: str, statements: list[str], database: str | None = None) -> list:
    """Run SQL with asyncpg on a private event loop in a worker thread, so it works the
    same from sync fixtures and from inside async tests (whose loop is running)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    kwargs = dict(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username,
        password=u.password,
        database=database or u.database,
        timeout=30,
    )

    async def go() -> list:
        conn = await asyncpg.connect(**kwargs)
        try:
            return [await conn.fetch(s) for s in statements]
        finally:
            await conn.close()

    box: dict = {}

    def worker() -> None:
        try:
            box["result"] = asyncio.run(go())
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=worker, name="langso-pg-sql")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fresh_database(postgres_url: str, prefix: str = "langso_t") -> str:
    """Create a new, uniquely named, empty database next to ``postgres_url``'s and return
    its URL. Drop it with :func:`drop_database` (the ``pg_database_url`` fixture does)."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _run_sql(
        postgres_url,
        [f"CREATE DATABASE {_quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8'"],
        database="postgres",
    )
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database named in ``url``, closing any connections still open to it."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if not name or name in ("postgres", "template0", "template1"):
        raise ValueError(f"refusing to drop database {name!r}")
    try:
        _run_sql(
            url, [f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)"], database="postgres"
        )
    except Exception as exc:  # PostgreSQL < 13 has no WITH (FORCE)
        if "syntax" not in str(exc).lower():
            raise
        _run_sql(url, [f"DROP DATABASE IF EXISTS {_quote_ident(name)}"], database="postgres")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    external = os.environ.get(ENV_URL)
    if external:
        url = _normalise_url(external)
        try:
            _run_sql(url, ["select 1"])
        except Exception as exc:
            pytest.fail(f"{ENV_URL}={external!r} is not reachable: {exc!r}", pytrace=False)
        yield url
        return

    server: PostgresServer | None = None
    try:
        failure = None
        try:
            server = PostgresServer()
            server.start()
            _run_sql(server.url("postgres"), [f"CREATE DATABASE {TEST_DATABASE}"])
        except Exception as exc:
            failure = (
                f"could not start PostgreSQL for the tests ({exc}).\n"
                f"{server.diagnostics() if server else ''}\n"
                f"Install PostgreSQL with scripts/install-system-deps.sh or set {ENV_URL}."
            )
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        assert server is not None
        yield server.url()
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
def pg_database_url(postgres_url: str) -> Iterator[str]:
    url = fresh_database(postgres_url)
    try:
        yield url
    finally:
        drop_database(url)
