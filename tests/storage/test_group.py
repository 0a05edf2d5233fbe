"""Group commit (bot.storage.group): concurrent short writes share transactions, each caller
gets its own result or its own error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.gate import WriteGate
from bot.storage.group import GroupCommit
from bot.storage.outage import DatabaseUnreachable


async def test_writes_waiting_for_the_gate_share_one_transaction(services: Any) -> None:
    seen: list[list[int]] = []

    async def write(_session: AsyncSession, items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        return [i * 10 for i in items]

    group = GroupCommit(services.sessionmaker, write)
    gate = WriteGate.of(services.sessionmaker)
    async with gate.transaction():  # a turn holds the writer (on PostgreSQL: nothing is held)
        calls = [asyncio.ensure_future(group.submit(i)) for i in range(20)]
        await asyncio.sleep(0.01)
    assert await asyncio.gather(*calls) == [i * 10 for i in range(20)]
    assert sorted(i for batch in seen for i in batch) == list(range(20))
    assert len(seen) <= 2, seen  # the first may have gone alone; the rest waited together
    assert group.batches == len(seen)


async def test_one_bad_item_fails_only_its_caller(services: Any) -> None:
    async def write(_session: AsyncSession, items: Sequence[int]) -> list[int]:
        if 3 in items:
            raise ValueError("row 3 cannot be stored")
        return list(items)

    group = GroupCommit(services.sessionmaker, write)
    results = await asyncio.gather(*(group.submit(i) for i in range(6)), return_exceptions=True)
    assert [r for r in results if not isinstance(r, Exception)] == [0, 1, 2, 4, 5]
    assert isinstance(results[3], ValueError)


async def test_an_outage_reaches_every_caller_of_the_batch(services: Any) -> None:
    tries: list[int] = []

    async def write(_session: AsyncSession, items: Sequence[int]) -> list[int]:
        tries.append(len(items))
        raise DatabaseUnreachable("cannot connect to the database (OSError)")

    group = GroupCommit(services.sessionmaker, write)
    results = await asyncio.gather(*(group.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, DatabaseUnreachable) for r in results)
    assert sum(tries) == 5  # not retried one by one: the database is away for all of them


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_web_chat_turns_answered_together_mark_their_replies_in_few_transactions(
    pipeline: Any, services: Any
) -> None:
    from sqlalchemy import select

    from bot.app import build_worker
    from bot.storage.models import OutboxEntry
    from tests.conftest import message

    worker = build_worker(pipeline)
    turns = await asyncio.gather(
        *(worker.converse(message("/help", sender=f"web-g{i}")) for i in range(12))
    )
    assert all(t.replies for t in turns)
    async with services.sessionmaker() as session:
        statuses = (await session.execute(select(OutboxEntry.status))).scalars().all()
    assert len(statuses) >= 12 and set(statuses) == {"sent"}
    assert worker._handed_over.batches < 12, worker._handed_over.batches
