"""Submit handlers: what a confirmed form's answers become (a report row, a feedback with its
tracking code). A form file names its handler (`submit: report`); the handler is registered here:

    @submit_handler("report")
    async def submit_report(ctx: Context, form: Form, answers: dict[str, Any]) -> str:
        ...write rows with ctx.session (the turn's transaction: committed with the turn)...
        return ctx._("Đã nhận báo cáo.")   # the reply text

`answers` holds only the fields that were relevant, by field name; a skipped optional field is
absent. Values: text -> str; number -> int | float; choice -> the option's value (str, or int for
projects); multi_choice -> list of values; date -> "YYYY-MM-DD"; period -> "2026-11" | "2026-Q3"
| "2026"; yes_no -> bool; photo / audio -> {"kind", "ref", "mime_type", "size"}; location ->
{"latitude", "longitude"}; phone-format text -> "0905123456".

A handler raising `SubmitRefused(message)` keeps the form at its summary and says `message`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.core.context import Context
    from bot.flows.forms.schema import Form

SubmitHandler = Callable[["Context", "Form", dict[str, Any]], Awaitable[str]]
HANDLERS: dict[str, SubmitHandler] = {}


class SubmitRefused(Exception):
    """The handler will not take these answers now; `message` tells the user why (translated)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def submit_handler(name: str) -> Callable[[SubmitHandler], SubmitHandler]:
    def register(fn: SubmitHandler) -> SubmitHandler:
        if name in HANDLERS and HANDLERS[name] is not fn:
            raise RuntimeError(f"two submit handlers named {name!r}")
        HANDLERS[name] = fn
        return fn

    return register


def handler(name: str) -> SubmitHandler | None:
    return HANDLERS.get(name)


# Values a field's `default:` may name, filled per user: e.g. "officer_area" -> the officer's
# area code. Registered by the part of the bot that knows them (officers); None: no default.
DefaultProvider = Callable[["Context"], Awaitable[Any]]
DEFAULTS: dict[str, DefaultProvider] = {}


def default_provider(name: str) -> Callable[[DefaultProvider], DefaultProvider]:
    def register(fn: DefaultProvider) -> DefaultProvider:
        DEFAULTS[name] = fn
        return fn

    return register


@default_provider("officer_area")
async def officer_area(ctx: Context) -> Any:
    """The officer's area (bot/officers.py): the reports of an officer default to it."""
    return ctx.area_code  # None for a villager: no default
