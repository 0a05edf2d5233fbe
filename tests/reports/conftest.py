"""Shared by the report and feedback tests: an officer who joined with an invite code."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot import officers
from tests.conftest import all_text, message


@pytest.fixture
def settings(settings):
    """A test types a whole form in a second; people do not (limits.flood_messages)."""
    limits = dataclasses.replace(settings.limits, flood_messages=10_000)
    return dataclasses.replace(settings, limits=limits)


async def make_officer(pipeline, services, sender: str, area: str = "qng.ba_dong") -> str:
    """The sender joins as an officer of `area` (invite code, consent); what the bot said."""
    async with services.sessionmaker() as s:
        made = await officers.make_invite(s, services.settings, area, timedelta(days=1))
        await s.commit()
    said = all_text(await pipeline.handle(message(f"/macanbo {made.code}", sender=sender)))
    if "Bạn có đồng ý không?" in said:
        said += all_text(await pipeline.handle(message(payload="/consent yes", sender=sender)))
    assert "Chào cán bộ!" in said, said
    return said


async def say(pipeline, sender: str, text: str = "", payload: str | None = None, **kw):
    """(all the bot said, the buttons' payloads)."""
    turn = await pipeline.handle(message(text, sender=sender, payload=payload, **kw))
    payloads = [b.payload for r in turn.replies for b in r.buttons]
    return all_text(turn), payloads
