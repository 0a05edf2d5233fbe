"""`python -m bot secrets ...` as an operator runs it, and `python -m bot run` refusing to start
when the stored tokens cannot be decrypted (a message saying what to do, no traceback)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot import crypto
from bot.crypto import TokenCipher
from bot.storage.db import upgrade

ROOT = Path(__file__).resolve().parents[2]
ACCESS, REFRESH = "AT-cli-plain-access", "RT-cli-plain-refresh"


def bot(args: list[str], db: Path, keys: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != crypto.ENV}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    if keys is not None:
        env[crypto.ENV] = keys
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def columns(db: Path) -> tuple[str, str]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT access_token, refresh_token FROM channel_tokens WHERE channel = 'zalo'"
        ).fetchone()


def plaintext_row(db: Path) -> None:
    """A pair stored by a version before encryption."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO channel_tokens (channel, access_token, refresh_token, updated_at) "
            "VALUES ('zalo', ?, ?, ?)",
            (ACCESS, REFRESH, datetime.now(UTC).isoformat()),
        )


def test_rotation_procedure_end_to_end(tmp_path: Path, nlu_model: Path) -> None:
    """docs/secrets.md: plaintext -> key A; B first, rotate, drop A; run refuses a wrong key."""
    db = tmp_path / "bot.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    plaintext_row(db)
    a = bot(["secrets", "generate-key"], db, None).stdout.strip()
    b = crypto.generate_key()
    assert len(a) == 44 and TokenCipher([a.encode()])

    status = bot(["secrets", "status"], db, a)
    assert status.returncode == 0 and "zalo: plaintext" in status.stdout
    done = bot(["secrets", "rotate"], db, a)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1" in done.stdout
    assert all(TokenCipher([a.encode()]).is_current(c) for c in columns(db))
    assert ACCESS not in "".join(columns(db))

    # A new key first, the old one after it: rotate, then the old one can go.
    assert "zalo: old key" in bot(["secrets", "status"], db, f"{b},{a}").stdout
    assert bot(["secrets", "rotate"], db, f"{b},{a}").returncode == 0
    assert all(TokenCipher([b.encode()]).is_current(c) for c in columns(db))
    assert "zalo: current" in bot(["secrets", "status"], db, b).stdout
    got = TokenCipher([b.encode()])
    assert [got.decrypt(c) for c in columns(db)] == [ACCESS, REFRESH]

    # Removed too early (only A left): the bot does not start, and says what to do.
    wrong = bot(["run", "--no-console"], db, a)
    assert wrong.returncode == 2
    assert "cannot be decrypted" in wrong.stderr and crypto.ENV in wrong.stderr
    assert "secrets rotate" in wrong.stderr and "Traceback" not in wrong.stderr
    for secret in (a, b, ACCESS, REFRESH):
        assert secret not in wrong.stderr + wrong.stdout
    failed = bot(["secrets", "rotate"], db, a)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "cannot be decrypted" in failed.stderr

    # The key is lost for good: forget the pair (the settings seed a new one).
    forgot = bot(["secrets", "forget", "zalo"], db, a)
    assert forgot.returncode == 0 and "ZALO_REFRESH_TOKEN" in forgot.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM channel_tokens").fetchone() == (0,)


def test_a_malformed_key_stops_the_start_with_its_place(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    proc = bot(["run", "--no-console"], db, f"{crypto.generate_key()},oops-not-a-key")
    assert proc.returncode == 2 and "key 2 of 2" in proc.stderr
    assert "oops-not-a-key" not in proc.stderr and "Traceback" not in proc.stderr
