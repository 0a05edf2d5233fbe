"""Helpers for the notice tests: subscribers and officers written straight to the database."""

from __future__ import annotations

import itertools

from bot.storage.models import Subscription, User
from bot.storage.repositories.notices import encode_topics

_ids = itertools.count(7_700_000_001)


async def person(
    s,
    *,
    channel: str = "telegram",
    lang: str | None = "vi",
    area: str | None = None,
    topics: list[str] | None = None,
    role: str = "villager",
    officer_area: str | None = None,
    subscribed: bool | None = True,
    reachable: bool = True,
    external_id: str | None = None,
) -> User:
    """A user (and, unless `subscribed` is None, their subscription); flushed, not committed."""
    user = User(
        channel=channel,
        external_id=external_id or str(next(_ids)),
        locale=lang,
        role=role,
        area_code=officer_area,
        reachable=reachable,
        state={},
    )
    s.add(user)
    await s.flush()
    if subscribed is not None:
        s.add(
            Subscription(
                user_id=user.id,
                channel=channel,
                active=subscribed,
                area_code=area,
                topics=encode_topics(topics),
            )
        )
        await s.flush()
    return user
