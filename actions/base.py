"""The action registry: one async function per intent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core.context import Context

Action = Callable[[Context], Awaitable[None]]
ACTIONS: dict[str, Action] = {}


def action(*intents: str) -> Callable[[Action], Action]:
    def register(fn: Action) -> Action:
        for intent in intents:
            if intent in ACTIONS:
                raise RuntimeError(f"two actions for intent {intent!r}")
            ACTIONS[intent] = fn
        return fn

    return register


async def run_intent(ctx: Context, intent: str) -> None:
    ctx.turn.intent = ctx.turn.intent or intent
    await ACTIONS[intent](ctx)
