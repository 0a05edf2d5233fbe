"""The event loop long-running processes run on: uvloop where it is installed (Linux and macOS,
a dependency there), asyncio's own loop otherwise or when `LANGSO_EVENT_LOOP=asyncio`.

The bot spends a fifth of its CPU outside the turns, in the loop itself: reading and writing
sockets, waking on the SQLite thread's results, scheduling the many small tasks of HTTP in and
out. uvloop (libuv, in C) does that part in about half the time; measured in
`benchmarks/bench_load.py`, whose in-process baseline runs on the same loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def name() -> str:
    """ "uvloop" or "asyncio": what `run` will use."""
    if os.environ.get("LANGSO_EVENT_LOOP", "").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    if name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
