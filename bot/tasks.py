"""Stopping background tasks the same way everywhere: finish within a grace period, then cancel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


async def stop_task(task: asyncio.Task | None) -> None:
    """Cancel a loop that runs until cancelled, and wait for it to end."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def finish(tasks: Iterable[asyncio.Task], grace: float, unwind: float = 2.0) -> None:
    """Let `tasks` finish for `grace` seconds; cancel the rest and give them `unwind` s to
    unwind (a cancelled send hands its row back)."""
    running = set(tasks)
    if not running:
        return
    _done, pending = await asyncio.wait(running, timeout=max(0.0, grace))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=unwind)
