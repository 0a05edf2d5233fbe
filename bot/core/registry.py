"""The one registry of what the bot can do: actions by intent, and the flows a user can be in.

An action is an async function of the `Context`, registered under one or more intent names: an
NLU intent ("subscribe") or what a command runs ("start", "delete_data"). The `actions` package
registers its actions with `@action("intent")` when it is imported (bot/app.py imports it once),
so the dialogue in bot/core reaches them here without importing the layer above it.

A flow is a conversation over several messages: a privacy notice then "đồng ý", a question then
its confirmation. Its place is a `FlowState` stored in the user's dialogue state
(`user.state["flow"]`), so it survives restarts and is seen by every process. The dialogue hands
a command a flow owns to that flow, and typed text to the active flow first; a flow that does not
take the text ends, and the text is handled as a new message.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from bot.core import followup

if TYPE_CHECKING:
    from bot.core.context import Context
    from nlu.engine import NluResult

log = logging.getLogger("bot.flows")

Action = Callable[["Context"], Awaitable[None]]
F = TypeVar("F", bound="type[Flow]")


@dataclass(frozen=True)
class FlowState:
    """Where a user is in a flow: its name, its step, and what it collected (JSON values)."""

    name: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return {"name": self.name, "step": self.step, "data": dict(self.data)}

    @classmethod
    def load(cls, raw: object) -> FlowState | None:
        """The stored state, or None when there is none or it is not shaped like a flow state.

        Stored state outlives code: a row written by an older version must not crash a turn.
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            return None
        step, data = raw.get("step", ""), raw.get("data", {})
        if not isinstance(step, str) or not isinstance(data, dict):
            return None
        return cls(raw["name"], step, data)


def end_flow(ctx: Context) -> None:
    """Leave whatever flow the user is in (a new command, an answer, they moved on)."""
    ctx.set_state(flow=None)


async def understand(ctx: Context, text: str) -> NluResult:
    """The NLU's reading of the message's text, parsed once and noted on the turn.

    A flow checking whether typed text is a question it lets through, and the dialogue handling
    the same text as a new message once the flow let go of it, share this one parse.
    """
    if ctx.nlu is None:
        previous = followup.recent(ctx)  # the item answered just before, for a follow-up
        if previous is None:
            ctx.nlu = await ctx.services.nlu.parse(text, ctx.lang)
        else:
            ctx.nlu = await ctx.services.nlu.parse(text, ctx.lang, previous=previous)
        ctx.turn.intent, ctx.turn.confidence = ctx.nlu.intent, ctx.nlu.confidence
    return ctx.nlu


class Flow(ABC):
    """A named conversation over several messages, with its state in `user.state["flow"]`.

    Subclasses set `name` and the slash commands (button payloads) they own, and implement
    `start`, `take_text` and `take_command`. They keep their place with `save` and leave with
    `end_flow`; `self.registry.run_intent` runs an intent in the middle (its state stays).
    """

    name: ClassVar[str]
    commands: ClassVar[tuple[str, ...]] = ()  # e.g. ("/consent",) for "/consent yes|no"
    # Commands another flow owns that this one answers while it is the active flow ("/huy", the
    # forms' cancel, ends a handoff too).
    also_takes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def save(self, ctx: Context, step: str, **data: Any) -> None:
        ctx.set_state(flow=FlowState(self.name, step, data).dump())

    @abstractmethod
    async def start(self, ctx: Context, **data: Any) -> None:
        """Enter the flow: store its first state and ask its first question."""

    @abstractmethod
    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        """Typed text while the flow is active; False: not for the flow, the user moved on."""

    @abstractmethod
    async def take_command(
        self, ctx: Context, state: FlowState | None, command: str, arg: str
    ) -> bool:
        """One of `commands`, with `state` None when this flow is not the active one (an old
        button pressed again); False when the argument is not one the flow knows."""


class Registry:
    """Actions by intent name and flows by name, each registered once."""

    def __init__(self) -> None:
        self.actions: dict[str, Action] = {}
        self.flows: dict[str, Flow] = {}
        self._commands: dict[str, Flow] = {}

    def action(self, *intents: str) -> Callable[[Action], Action]:
        """Decorator: `fn` handles `intents`. Two actions for one intent is a wiring bug."""

        def register(fn: Action) -> Action:
            for intent in intents:
                if intent in self.actions:
                    raise RuntimeError(f"two actions for intent {intent!r}")
                self.actions[intent] = fn
            return fn

        return register

    def flow(self, cls: F) -> F:
        """Class decorator: register one instance of the flow, with the commands it owns."""
        flow = cls(self)
        if flow.name in self.flows:
            raise RuntimeError(f"two flows named {flow.name!r}")
        for command in flow.commands:
            if command in self._commands:
                raise RuntimeError(f"two flows own the command {command!r}")
        self.flows[flow.name] = flow
        self._commands.update(dict.fromkeys(flow.commands, flow))
        return cls

    def has_action(self, intent: str) -> bool:
        return intent in self.actions

    async def run_intent(self, ctx: Context, intent: str) -> None:
        """Run the intent's action; the turn keeps the first intent it was given."""
        ctx.turn.intent = ctx.turn.intent or intent
        ctx.turn.actions.append(intent)
        await self.actions[intent](ctx)

    async def start_flow(self, ctx: Context, name: str, **data: Any) -> None:
        await self.flows[name].start(ctx, **data)

    def active(self, ctx: Context) -> tuple[Flow, FlowState] | None:
        """The user's active flow and its state; a state naming no known flow is forgotten."""
        raw = ctx.state.get("flow")
        state = FlowState.load(raw)
        flow = self.flows.get(state.name) if state is not None else None
        if flow is None or state is None:
            if raw is not None:
                log.warning("dropping a stored flow state that names no known flow")
                end_flow(ctx)
            return None
        return flow, state

    def owns(self, command: str) -> bool:
        return command in self._commands

    async def take_command(self, ctx: Context, command: str, arg: str) -> bool:
        """A command a flow owns (`owns`); False when the flow does not know the argument."""
        flow = self._commands[command]
        active = self.active(ctx)
        if active is not None and command in active[0].also_takes:
            flow = active[0]
        state = active[1] if active is not None and active[0] is flow else None
        return await flow.take_command(ctx, state, command, arg)

    async def take_text(self, ctx: Context, text: str) -> bool:
        """Give typed text to the active flow; False (and the flow ended) when it is not taken."""
        active = self.active(ctx)
        if active is None:
            return False
        flow, state = active
        if not text and not getattr(flow, "accepts_media", False):
            return False  # a photo or a location the flow does not ask for: it keeps waiting
        if await flow.take_text(ctx, state, text):
            return True
        end_flow(ctx)
        return False


REGISTRY = Registry()
action = REGISTRY.action

# Shortcuts: typed text that means a command without one (a feedback tracking code, a one-line
# officer's report), read before the NLU. A shortcut returns (intent, argument) or None.
Shortcut = Callable[["Context", str], "tuple[str, str] | None"]
SHORTCUTS: list[Shortcut] = []


def shortcut(fn: Shortcut) -> Shortcut:
    if fn not in SHORTCUTS:
        SHORTCUTS.append(fn)
    return fn


def shortcut_for(ctx: Context, text: str) -> tuple[str, str] | None:
    for fn in SHORTCUTS:
        found = fn(ctx, text)
        if found is not None:
            return found
    return None
