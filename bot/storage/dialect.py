"""The one home of the SQLite/PostgreSQL differences in INSERT statements (ON CONFLICT)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_name(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def dialect_insert(session: AsyncSession, model: type) -> Any:
    """The INSERT construct with ON CONFLICT support for the session's database."""
    return (postgresql if dialect_name(session) == "postgresql" else sqlite).insert(model)


def insert_ignore(
    session: AsyncSession, model: type, values: dict[str, Any], index_elements: list[str]
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for SQLite and PostgreSQL."""
    return (
        dialect_insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=index_elements)
    )
