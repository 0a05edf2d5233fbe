"""Shared by the privacy tests: scanning every table of the database for a person's traces."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from sqlalchemy import MetaData, Text, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.privacy import erase


async def traces(engine: AsyncEngine, needles: Iterable[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every value of every column of every table (reflected from
    the database, not from the models: a table added later is scanned too) that contains one of
    `needles`."""
    needles = [n for n in needles if n]

    def reflect(sync_conn) -> MetaData:
        md = MetaData()
        md.reflect(sync_conn)
        return md

    found: list[tuple[str, str, str]] = []
    async with engine.connect() as conn:
        md = await conn.run_sync(reflect)
        for table in md.sorted_tables:
            if table.name == "alembic_version":
                continue
            for column in table.columns:
                as_text = cast(column, Text)
                query = select(as_text).where(or_(*(as_text.contains(n) for n in needles)))
                for (value,) in (await conn.execute(query)).all():
                    for n in needles:
                        if n in (value or ""):
                            found.append((table.name, column.name, n))
    return found


@pytest.fixture(autouse=True)
async def no_forget_task_left():
    """The background tasks an erasure starts end with the test that started them."""
    yield
    await erase.cancel_pending()
