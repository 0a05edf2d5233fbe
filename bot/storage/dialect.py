"""The one home of the SQLite/PostgreSQL differences in INSERT statements (ON CONFLICT)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table, bindparam
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


@functools.cache
def counter_upsert(
    dialect: str,
    table: Table,
    counter: str,
    key: tuple[str, ...],
    replace: tuple[str, ...] = (),
    insert_only: tuple[str, ...] = (),
) -> Any:
    """INSERT a counting row, or add its `counter` to the existing row with the same `key`
    (and take the new row's `replace` columns; `insert_only` columns are written only by the
    insert), built once per dialect and table.

    Executed with one parameter per column, named `v_<column>`: counters written at every turn
    (turns, answers, content gaps) then cost no statement building and hit the compiled cache.
    """
    columns = (*key, counter, *replace, *insert_only)
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    stmt = stmt.values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns})
    set_ = {counter: table.c[counter] + stmt.excluded[counter]}
    set_.update({c: stmt.excluded[c] for c in replace})
    return stmt.on_conflict_do_update(index_elements=list(key), set_=set_)


def counter_params(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a `counter_upsert` statement from {column: value}."""
    return {f"v_{c}": v for c, v in values.items()}
