"""The registry: one action per intent, one flow per command, and stored state it cannot read."""

from __future__ import annotations

import pytest

from bot.core.registry import REGISTRY, Flow, FlowState, Registry
from tests.conftest import all_text, message


def test_the_registry_refuses_two_actions_for_one_intent():
    registry = Registry()

    @registry.action("greet", "thank")
    async def first(ctx):
        return None

    with pytest.raises(RuntimeError, match="two actions for intent 'thank'"):

        @registry.action("thank")
        async def second(ctx):
            return None

    assert registry.actions["thank"] is first


class _Quiet(Flow):
    async def start(self, ctx, **data):
        return None

    async def take_text(self, ctx, state, text):
        return False

    async def take_command(self, ctx, state, command, arg):
        return False


def test_the_registry_refuses_two_flows_for_one_name_or_command():
    registry = Registry()

    @registry.flow
    class Survey(_Quiet):
        name = "survey"
        commands = ("/survey",)

    with pytest.raises(RuntimeError, match="two flows named 'survey'"):

        @registry.flow
        class SurveyAgain(_Quiet):
            name = "survey"

    with pytest.raises(RuntimeError, match="two flows own the command '/survey'"):

        @registry.flow
        class Poll(_Quiet):
            name = "poll"
            commands = ("/survey",)

    assert list(registry.flows) == ["survey"] and registry.owns("/survey")


def test_the_bot_registers_its_flows_and_actions_once():
    assert {"consent", "delete"} <= set(REGISTRY.flows)
    assert REGISTRY.owns("/consent") and REGISTRY.owns("/delete")
    assert {"subscribe", "my_data", "delete_data", "start", "fallback"} <= set(REGISTRY.actions)


def test_flow_state_round_trips_and_rejects_what_is_not_a_flow_state():
    state = FlowState("consent", "notice", {"purpose": "notices", "resume": "subscribe"})
    assert FlowState.load(state.dump()) == state
    for raw in (
        None,
        "consent",
        {"step": "x"},
        {"name": 3},
        {"name": "x", "data": []},
        {"name": "x", "step": 2},
    ):
        assert FlowState.load(raw) is None


@pytest.mark.parametrize(
    "stored",
    [
        {"name": "survey", "step": "q1", "data": {}},  # a flow this version does not have
        {"name": "consent", "step": "notice", "data": []},  # not shaped like a flow state
        "consent",
    ],
)
async def test_unknown_stored_flow_is_forgotten_without_a_crash(
    pipeline, services, user_row, stored
):
    await pipeline.handle(message("/help", sender="z1"))
    async with services.sessionmaker() as s:
        user = await s.merge(await user_row("z1"))
        user.state = {"flow": stored}
        await s.commit()
    turn = await pipeline.handle(message("đồng ý", sender="z1"))
    assert "chưa hiểu" in all_text(turn)  # handled as a new message: the scripted NLU's fallback
    assert "flow" not in (await user_row("z1")).state


async def test_a_flow_button_naming_an_unknown_flow_state_says_nothing_is_pending(
    pipeline, services, user_row
):
    await pipeline.handle(message("/help", sender="z2"))
    async with services.sessionmaker() as s:
        user = await s.merge(await user_row("z2"))
        user.state = {"flow": {"name": "survey", "step": "q1", "data": {}}}
        await s.commit()
    turn = await pipeline.handle(message(payload="/consent yes", sender="z2"))
    assert all_text(turn) == "Hiện không có gì cần bạn đồng ý."
    assert "flow" not in (await user_row("z2")).state
