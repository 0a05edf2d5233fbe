"""The PostgreSQL test server from tests/postgres.py really works with the bot's stack
(SQLAlchemy 2 async + asyncpg)."""

import os

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

# The fixtures (postgres_url, pg_database_url) come from the plugin tests/postgres.py, which
# tests/conftest.py registers with `pytest_plugins = ["tests.postgres"]`.


async def _scalar(url: str, sql: str, **params):
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


def test_url_shape(postgres_url):
    url = make_url(postgres_url)
    assert url.drivername == "postgresql+asyncpg"
    if not os.environ.get("LANGSO_TEST_POSTGRES_URL"):
        assert url.host == "127.0.0.1"
        assert url.username == "postgres"
        assert url.database == "langso_test"


async def test_select_version(postgres_url):
    version = await _scalar(postgres_url, "select version()")
    assert version.startswith("PostgreSQL ")
    assert (
        await _scalar(postgres_url, "select current_database()") == make_url(postgres_url).database
    )


async def test_utf8_vietnamese_round_trip(postgres_url):
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create temporary table t (s text)"))
            await conn.execute(text("insert into t values (:s)"), {"s": "Làng Số — Quảng Ngãi"})
            got = (await conn.execute(text("select s from t"))).scalar_one()
            enc = (await conn.execute(text("show server_encoding"))).scalar_one()
    finally:
        await engine.dispose()
    assert got == "Làng Số — Quảng Ngãi"
    assert enc == "UTF8"


async def test_fresh_databases_are_isolated(pg_database_url, postgres_url):
    from tests.postgres import drop_database, fresh_database

    assert make_url(pg_database_url).database != make_url(postgres_url).database
    engine = create_async_engine(pg_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table only_here (id int primary key)"))
            await conn.execute(text("insert into only_here values (1)"))
    finally:
        await engine.dispose()

    other = fresh_database(postgres_url)
    try:
        assert (
            await _scalar(other, "select count(*) from pg_tables where tablename = 'only_here'")
            == 0
        )
        assert await _scalar(pg_database_url, "select count(*) from only_here") == 1
    finally:
        drop_database(other)
    assert (
        await _scalar(
            postgres_url,
            "select count(*) from pg_database where datname = :n",
            n=make_url(other).database,
        )
        == 0
    )


async def test_drop_database_with_open_connection(postgres_url):
    from tests.postgres import drop_database, fresh_database

    url = fresh_database(postgres_url)
    engine = create_async_engine(url)
    conn = await engine.connect()
    await conn.execute(text("select 1"))
    drop_database(url)  # WITH (FORCE): an open connection does not block the drop
    await conn.invalidate()
    await engine.dispose()
    name = make_url(url).database
    assert (
        await _scalar(postgres_url, "select count(*) from pg_database where datname = :n", n=name)
        == 0
    )


def test_drop_database_refuses_system_databases(postgres_url):
    from tests.postgres import drop_database

    with pytest.raises(ValueError):
        drop_database(make_url(postgres_url).set(database="postgres").render_as_string(False))
