"""What a follow-up is read against: the item the bot answered last, kept in dialogue state.

After an answer, `user.state["last_answer"]` holds the item's id, when it was given and how many
messages came since. A short follow-up ("bao nhiêu", "vậy giấy tờ gì", "còn nước sạch thì sao")
within `MAX_TURNS` messages and `MAX_AGE_SECONDS` is parsed with that item as `previous`
(`nlu.engine.NluEngine.parse`). It is dialogue state like a flow's, stored with the user, so it
survives a restart and is seen by every process; it holds an item id, nothing the user typed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.context import Context

KEY = "last_answer"
MAX_TURNS = 3  # messages after the answer that may still be read against it
MAX_AGE_SECONDS = 30 * 60


def remember(ctx: Context, item_id: str) -> None:
    """Note the item just answered (a new conversation topic)."""
    if ctx.user is not None:
        ctx.set_state(**{KEY: {"item": item_id, "at": int(time.time()), "turns": 0}})


def recent(ctx: Context) -> str | None:
    """The item a message may follow up on, counting this message as one more turn (the
    state is forgotten once too old or too many messages ago)."""
    if ctx.user is None:
        return None
    raw = ctx.state.get(KEY)
    if not isinstance(raw, dict) or not isinstance(raw.get("item"), str):
        if raw is not None:
            ctx.set_state(**{KEY: None})
        return None
    turns = raw.get("turns", 0)
    at = raw.get("at", 0)
    if (
        not isinstance(turns, int)
        or not isinstance(at, int | float)
        or turns >= MAX_TURNS
        or time.time() - at > MAX_AGE_SECONDS
    ):
        ctx.set_state(**{KEY: None})
        return None
    ctx.set_state(**{KEY: {**raw, "turns": turns + 1}})
    return raw["item"]
