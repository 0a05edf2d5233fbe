"""Flows that ask one yes/no question: typed "đồng ý" / "không", or "/<command> yes|no" buttons."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING

from bot.core.registry import Flow, FlowState, end_flow
from bot.messages import Button
from nlu.normalize import fold

if TYPE_CHECKING:
    from bot.core.context import Context

# Folded, lower-cased answers; "1" and "2" are the numbered buttons typed where buttons degrade.
YES = {"dong y", "co", "ok", "oke", "yes", "u", "uh", "dc", "duoc", "dong y a", "co a", "1"}
YES |= {"vang", "vang a", "da", "da dong y", "dong y nhe", "ok nhe", "duoc a", "duoc roi", "co nhe"}
NO = {"khong", "ko", "k", "no", "thoi", "khong dong y", "2", "khong a", "khong can", "thoi khong"}
BUTTON_ANSWERS = {"yes": True, "no": False}  # the argument of "/<command> yes|no"


def yes_or_no(text: str) -> bool | None:
    """True or False for a typed yes or no, with or without diacritics; None for anything else."""
    answer = " ".join(fold(text).lower().strip(" .!").split())
    if answer in YES:
        return True
    if answer in NO:
        return False
    return None


class YesNoFlow(Flow):
    """One question, answered by typing or by the two buttons of its one command, `commands[0]`.

    Typed text that is neither yes nor no is not taken: the flow ends and the text is handled as
    a new message, unless a subclass lets some of it through first.
    """

    numbers_are_choices = True  # "3" to a yes/no question: say 1 or 2 (bot.core.dialogue)

    def buttons(self, yes: str, no: str) -> list[Button]:
        command = self.commands[0]
        return [Button(yes, f"{command} yes"), Button(no, f"{command} no")]

    @abstractmethod
    async def answer(self, ctx: Context, state: FlowState | None, yes: bool) -> None:
        """The user answered; `state` is None when the question was no longer pending."""

    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        yes = yes_or_no(text)
        if yes is not None:
            end_flow(ctx)
            await self.answer(ctx, state, yes)
            return True
        return False

    async def take_command(
        self, ctx: Context, state: FlowState | None, command: str, arg: str
    ) -> bool:
        if arg not in BUTTON_ANSWERS:
            return False
        end_flow(ctx)
        await self.answer(ctx, state, BUTTON_ANSWERS[arg])
        return True
