"""The sent marks' group commit: marks queued while the first waits for the write gate (behind a
turn, on SQLite) go in its statement, not one statement each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.outbox.sender import Sender
from bot.storage.gate import WriteGate
from bot.storage.repositories import outbox


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_marks_queued_behind_a_turn_share_one_statement(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, statements = outbox.mark_sent_many, []

    async def counted(session: Any, sent: Any) -> None:
        statements.append(sorted(i for i, _ref in sent))
        await real(session, sent)

    monkeypatch.setattr(outbox, "mark_sent_many", counted)
    marks = Sender(services.sessionmaker)._marks
    async with WriteGate.of(services.sessionmaker).transaction():  # a turn holds the writer
        first = marks.mark(1, None)
        await asyncio.sleep(marks.LINGER * 4)  # its writer now waits for the gate
        later = [marks.mark(i, None) for i in (2, 3)]
    await asyncio.wait_for(asyncio.gather(first, *later), 5)
    assert statements == [[1, 2, 3]], statements
