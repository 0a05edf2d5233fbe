"""bot.loop: `bot run` on uvloop where installed, asyncio's loop when asked for."""

from __future__ import annotations

import asyncio

import pytest

from bot import loop


async def _running_loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv("LANGSO_EVENT_LOOP", raising=False)
    assert loop.name() == "uvloop"
    assert loop.run(_running_loop_type()).startswith("uvloop")


@pytest.mark.parametrize("value", ["asyncio", " Asyncio "])
def test_the_environment_can_ask_for_asyncios_loop(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LANGSO_EVENT_LOOP", value)
    assert loop.name() == "asyncio"
    assert loop.run(_running_loop_type()).startswith("asyncio")


def test_without_uvloop_asyncios_loop_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delenv("LANGSO_EVENT_LOOP", raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert loop.name() == "asyncio"
    assert loop.run(_running_loop_type()).startswith("asyncio")
