"""config.yml: env expansion, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_listen_on_loopback_8080_with_sqlite():
    s = load_settings(ROOT / "config.yml", env={})
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8080)
    assert s.database_url.startswith("sqlite+aiosqlite:///")


def test_env_overrides_host_port_and_database():
    s = load_settings(
        ROOT / "config.yml",
        env={
            "BOT_HOST": "0.0.0.0",
            "BOT_PORT": "9001",
            "DATABASE_URL": "postgresql+asyncpg://u:p@db/langso",
        },
    )
    assert (s.server.host, s.server.port) == ("0.0.0.0", 9001)
    assert s.database_url == "postgresql+asyncpg://u:p@db/langso"


def test_max_transactions_comes_from_the_database_unless_set():
    assert load_settings(ROOT / "config.yml", env={}).database_max_transactions is None
    s = load_settings(ROOT / "config.yml", env={"DATABASE_MAX_TRANSACTIONS": "8"})
    assert s.database_max_transactions == 8


@pytest.mark.parametrize(
    ("yaml_text", "env", "expected"),
    [
        ("database: {url: '${DB}'}", {}, "environment variable DB is not set"),
        ("database: {url: 'mysql://x'}", {}, "database.url: expected sqlite+aiosqlite"),
        (
            "database: {url: 'sqlite+aiosqlite:///x.db'}\nserver: {port: '${P}'}",
            {"P": "eighty"},
            "server.port: expected a whole number",
        ),
        (
            "database: {url: 'sqlite+aiosqlite:///x.db'}\nserver: {port: 70000}",
            {},
            "server.port: expected a port 1-65535",
        ),
        (
            "database: {url: 'sqlite+aiosqlite:///x.db'}\nserver: {prot: 1}",
            {},
            "server.prot: unknown setting",
        ),
        (
            "database: {url: 'sqlite+aiosqlite:///x.db'}\nnlu: {engine: spacy}",
            {},
            "nlu.engine: expected builtin or rasa",
        ),
        (
            "database: {url: 'sqlite+aiosqlite:///x.db'}\ntelegram: {webhook_url: 'http://x'}",
            {},
            "telegram.webhook_url",
        ),
        (
            "database: {url: 'sqlite+aiosqlite:///x.db'}\nzalo: {app_id: '1'}",
            {},
            "zalo.oa_secret_key",
        ),
        ("database: [", {}, "not valid YAML"),
        ("databse: {url: x}", {}, "databse: unknown section"),
        (
            "database: {url: 'sqlite+aiosqlite:///x.db', max_transactions: 0}",
            {},
            "database.max_transactions: expected at least 1",
        ),
        (
            "database: {url: 'sqlite+aiosqlite:///x.db', max_transactions: many}",
            {},
            "database.max_transactions: expected a whole number",
        ),
    ],
)
def test_bad_values_stop_the_start_naming_the_key(tmp_path, yaml_text, env, expected):
    path = tmp_path / "config.yml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env=env)
    assert expected in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yml", env={})
