"""SQLite statements take one trip to aiosqlite's thread each (bot.storage.db `_one_hop_module`),
and still report what a DBAPI cursor does: rows, rowcount, lastrowid, errors."""

from __future__ import annotations

import aiosqlite
import pytest
from sqlalchemy import Integer, String, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.storage.db import _ONE_HOP, create_engine, create_sessionmaker


class _Base(DeclarativeBase):
    pass


class _Thing(_Base):
    __tablename__ = "thing"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)


@pytest.fixture
def hops(monkeypatch):
    """How many functions were sent to an aiosqlite thread."""
    count = [0]
    original = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        count[0] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return count


@pytest.fixture
async def engine(tmp_path):
    assert _ONE_HOP is not None, "the installed SQLAlchemy's aiosqlite adapter has changed"
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    yield engine
    await engine.dispose()


async def test_a_statement_is_one_hop_with_its_rows(engine, hops):
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the connection's own set-up is not counted
        before = hops[0]
        rows = (await conn.execute(text("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y'"))).all()
        assert hops[0] - before == 1  # the default adapter: cursor, execute, fetchall, close
        assert [tuple(r) for r in rows] == [(1, "x"), (2, "y")]
        before = hops[0]
        await conn.execute(text("INSERT INTO thing (name) VALUES ('a')"))
        await conn.commit()
        assert hops[0] - before == 2  # the insert, the commit


async def test_rowcount_lastrowid_executemany_and_returning(engine):
    async with create_sessionmaker(engine)() as session:
        session.add(_Thing(name="orm"))  # the ORM reads the new id from the cursor
        await session.flush()
        ids = (await session.execute(text("SELECT id FROM thing"))).scalars().all()
        assert len(ids) == 1 and ids[0] >= 1
        await session.execute(
            text("INSERT INTO thing (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}, {"n": "d"}]
        )
        result = await session.execute(text("UPDATE thing SET name = name || '!' WHERE id > 1"))
        assert result.rowcount == 3
        returned = await session.execute(
            text("INSERT INTO thing (name) VALUES ('e') RETURNING id, name")
        )
        assert returned.one().name == "e"
        empty = await session.execute(text("SELECT id FROM thing WHERE name = 'nobody'"))
        assert empty.all() == []
        await session.commit()


async def test_errors_are_sqlalchemy_errors_and_the_connection_goes_on(engine):
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO thing (name) VALUES ('same')"))
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO thing (name) VALUES ('same')"))
        with pytest.raises(OperationalError):
            await conn.execute(text("SELECT * FROM no_such_table"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM thing"))).scalar() == 0


async def test_streamed_results_still_stream(engine):
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO thing (name) VALUES (:n)"), [{"n": f"n{i}"} for i in range(50)]
        )
    async with engine.connect() as conn:
        result = await conn.stream(text("SELECT name FROM thing ORDER BY id"))
        names = [row.name async for row in result]
    assert names == [f"n{i}" for i in range(50)]
