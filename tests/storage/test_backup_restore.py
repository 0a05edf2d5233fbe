"""deploy/backup.sh and deploy/restore.sh on the test run's real PostgreSQL server.

A database is migrated and filled through the bot's repositories (a user with a consent and a
subscription, inbox rows, outbox rows), backed up with `deploy/backup.sh` (pg_dump -Fc) and
restored with `deploy/restore.sh` into a fresh database: every row, every sequence and the
Alembic revision must come back identical, and the bot's own schema check must accept the
result. pg_dump / pg_restore / psql are clients: they connect over TCP as the server's
superuser (tests/postgres.py), so they run as whoever runs the tests, root included.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.config import load_settings
from bot.messages import Reply
from bot.storage.db import create_engine, create_sessionmaker, upgrade
from bot.storage.repositories import inbox, outbox, subscriptions, users
from tests.postgres import PostgresError, _quote_ident, _run_sql, drop_database, find_bindir
from tests.postgres import fresh_database as _fresh_database

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "deploy" / "backup.sh"
RESTORE = ROOT / "deploy" / "restore.sh"
CLIENTS = ("pg_dump", "pg_restore", "psql")


@pytest.fixture(scope="module")
def pg_bindir() -> str:
    """The client tools next to the server binaries tests/postgres.py uses, else on PATH."""
    try:
        bindir = find_bindir()
        if all(os.access(os.path.join(bindir, c), os.X_OK) for c in CLIENTS):
            return bindir
    except PostgresError:
        pass
    found = shutil.which("pg_dump")
    if found and all(shutil.which(c) for c in CLIENTS):
        return os.path.dirname(found)
    pytest.fail("pg_dump, pg_restore and psql not found (scripts/install-system-deps.sh)")


@pytest.fixture
def new_database(postgres_url):
    """`new_database()` -> URL of a new, empty database, dropped after the test."""
    made: list[str] = []

    def make() -> str:
        made.append(_fresh_database(postgres_url, prefix="langso_bk"))
        return made[-1]

    yield make
    for url in made:
        drop_database(url)


def run(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        ["bash", str(script), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )


def script_env(url: str, bindir: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "PG_BINDIR": bindir,
        "BOT": f"{sys.executable} -m bot",
        "BOT_DIR": str(ROOT),
        **extra,
    }


async def fill(url: str) -> None:
    """What a running bot writes, through its repositories."""
    engine = create_engine(url)
    sm = create_sessionmaker(engine)
    try:
        async with sm() as s:
            user = await users.upsert(s, "telegram", "4242")
            user.locale, user.display_name, user.phone = "hre", "Đinh Văn A", "0912345678"
            user.state = {"flow": "feedback", "step": 2, "options": ["a", "b"]}
            users.add_consent(s, user.id, "notices", "telegram", notice_version=1)
            await subscriptions.subscribe(s, user.id, "telegram")
            other = await users.upsert(s, "zalo", "z-77")
            await outbox.add_replies(
                s,
                channel="telegram",
                recipient="4242",
                replies=[Reply(text="Xin chào"), Reply(text="Chọn một mục")],
                user_id=user.id,
                message_id="1001",
            )
            await outbox.add_replies(
                s, channel="zalo", recipient="z-77", replies=[Reply(text="ừ")], user_id=other.id
            )
            await s.commit()
        async with sm() as s:
            await inbox.record(s, "telegram", "1001", {"update_id": 1001}, sender="4242")
            await inbox.record(s, "zalo", "m-1", {"event_name": "user_send_text"}, sender="z-77")
        async with sm() as s:
            assert await inbox.claim(s, "telegram", "1001")
            await s.commit()
    finally:
        await engine.dispose()


def snapshot(url: str) -> dict[str, list[str]]:
    """Every row of every table (as JSON, sorted), every sequence's position."""
    tables = [
        r["tablename"]
        for r in _run_sql(
            url, ["SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"]
        )[0]
    ]
    sequences = [
        r["sequencename"]
        for r in _run_sql(
            url, ["SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"]
        )[0]
    ]
    statements = [f"SELECT row_to_json(t)::text AS j FROM {_quote_ident(n)} t" for n in tables]
    statements += [
        f"SELECT last_value::text || '/' || is_called::text AS j FROM {_quote_ident(n)}"
        for n in sequences
    ]
    results = _run_sql(url, statements)
    names = [f"table {n}" for n in tables] + [f"sequence {n}" for n in sequences]
    return {name: sorted(r["j"] for r in rows) for name, rows in zip(names, results, strict=True)}


def relation_count(url: str) -> int:
    return _run_sql(url, ["SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'"])[0][0][
        "n"
    ]


def bot_schema_check(url: str) -> None:
    """The check `python -m bot run` makes before it starts (raises ConfigError when behind)."""
    from bot.__main__ import _check_schema

    _check_schema(load_settings(ROOT / "config.yml", env={"DATABASE_URL": url}))


def only_backup(directory: Path) -> Path:
    files = sorted(directory.glob("langso-*.dump"))
    assert len(files) == 1, files
    return files[0]


# --------------------------------------------------------------------------- tests


def test_backup_and_restore_bring_back_every_row(new_database, pg_bindir, tmp_path):
    src, dst = new_database(), new_database()
    upgrade(src)
    asyncio.run(fill(src))
    before = snapshot(src)
    assert before["table users"] and before["table consents"] and before["table inbox"]
    assert len(before["table outbox"]) == 3 and before["table alembic_version"]

    backups = tmp_path / "backups"
    done = run(BACKUP, str(backups), env=script_env(src, pg_bindir))
    assert done.returncode == 0, done.stderr
    dump = only_backup(backups)
    assert done.stdout.strip() == str(dump)
    # A dump holds personal data: private file in a private directory.
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    assert not list(backups.glob("*.partial"))

    done = run(RESTORE, str(dump), env=script_env(dst, pg_bindir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(dst) == before  # rows, alembic revision, sequence positions
    bot_schema_check(dst)

    # The restored database is usable: the next row gets a new id (sequences came back too).
    async def add_user() -> int:
        engine = create_engine(dst)
        try:
            async with create_sessionmaker(engine)() as s:
                user = await users.upsert(s, "web", "after-restore")
                await s.commit()
                return user.id
        finally:
            await engine.dispose()

    new_id = asyncio.run(add_user())
    assert new_id > max(int(r.split('"id":')[1].split(",")[0]) for r in before["table users"])


def test_restore_migrates_a_backup_of_an_older_release(new_database, pg_bindir, tmp_path):
    src, dst = new_database(), new_database()
    upgrade(src, "base")
    upgrade(src, "+1")  # the first migration only
    with pytest.raises(Exception, match="python -m bot db upgrade"):
        bot_schema_check(src)  # what the bot says about an old schema...
    done = run(BACKUP, str(tmp_path), env=script_env(src, pg_bindir))
    assert done.returncode == 0, done.stderr
    done = run(RESTORE, str(only_backup(tmp_path)), env=script_env(dst, pg_bindir))
    assert done.returncode == 0, done.stdout + done.stderr
    bot_schema_check(dst)  # ...and restore.sh brought it to the code's head


def test_restore_refuses_a_database_that_is_not_empty(new_database, pg_bindir, tmp_path):
    src = new_database()
    upgrade(src)
    asyncio.run(fill(src))
    done = run(BACKUP, str(tmp_path), env=script_env(src, pg_bindir))
    assert done.returncode == 0, done.stderr
    before = snapshot(src)
    done = run(RESTORE, str(only_backup(tmp_path)), env=script_env(src, pg_bindir))
    assert done.returncode != 0
    assert "not empty" in done.stderr
    assert snapshot(src) == before


def test_a_broken_dump_restores_nothing(new_database, pg_bindir, tmp_path):
    """A dump cut short (a full disk, a copy interrupted): the tables before the cut would be
    restored and the rest missing; in one transaction nothing is."""
    src, dst = new_database(), new_database()
    upgrade(src)
    asyncio.run(fill(src))

    async def bulk() -> None:  # enough data that the cut falls in the data, after the schema
        engine = create_engine(src)
        try:
            async with create_sessionmaker(engine)() as s:
                items = [(f"b{i}", f"s{i}", {"noise": os.urandom(48).hex()}) for i in range(3000)]
                await inbox.record_many(s, "zalo", items)
        finally:
            await engine.dispose()

    asyncio.run(bulk())
    done = run(BACKUP, str(tmp_path), env=script_env(src, pg_bindir))
    assert done.returncode == 0, done.stderr
    dump = only_backup(tmp_path)
    data = dump.read_bytes()
    broken = tmp_path / "broken.dump"
    broken.write_bytes(data[: len(data) * 9 // 10])
    done = run(RESTORE, str(broken), env=script_env(dst, pg_bindir))
    assert done.returncode != 0
    assert relation_count(dst) == 0  # one transaction: all or nothing


def test_backup_keeps_the_newest_backups_only(new_database, pg_bindir, tmp_path):
    src = new_database()
    upgrade(src)
    old = ["langso-20250101T000000Z.dump", "langso-20250102T000000Z.dump"]
    for name in [*old, "langso-20240101T000000Z.dump"]:
        (tmp_path / name).write_bytes(b"old")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("kept")
    done = run(BACKUP, str(tmp_path), env=script_env(src, pg_bindir, BACKUP_KEEP="2"))
    assert done.returncode == 0, done.stderr
    kept = sorted(p.name for p in tmp_path.glob("langso-*.dump"))
    assert kept == [old[1], Path(done.stdout.strip()).name]
    assert unrelated.read_text() == "kept"


def test_the_password_never_goes_on_a_command_line(new_database, pg_bindir, tmp_path):
    """Other local users can read any process's arguments; the password goes in PGPASSWORD."""
    src = new_database()
    upgrade(src)
    u = make_url(src)
    password = "S3cr3t/pa@ss"
    url = u.set(password=password).render_as_string(hide_password=False)
    assert "S3cr3t" in url  # percent-encoded: S3cr3t%2Fpa%40ss
    spy = tmp_path / "pg_dump"
    seen = tmp_path / "seen"
    spy.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{seen}.args"\n'
        f'printf "%s" "$PGPASSWORD" > "{seen}.password"\n'
        f'exec "{pg_bindir}/pg_dump" "$@"\n'
    )
    spy.chmod(0o700)
    out = tmp_path / "out"
    done = run(BACKUP, str(out), env=script_env(url, pg_bindir, PG_DUMP=str(spy)))
    assert done.returncode == 0, done.stderr  # the test server trusts local connections
    args = Path(f"{seen}.args").read_text()
    assert "S3cr3t" not in args and "pa%40ss" not in args
    assert f"postgresql://{u.username}@127.0.0.1:{u.port}/{u.database}" in args
    assert Path(f"{seen}.password").read_text() == password
    assert "S3cr3t" not in done.stdout + done.stderr
