"""Reports from commune officers and feedback from villagers.

Both need consent first, then run their form (content/forms/quick_report.yml and feedback.yml)
through the form engine (bot/flows/forms): the answers go to the form's submit handler.
"""

from __future__ import annotations

from bot.core.context import Context
from bot.core.registry import action
from bot.flows.consent import require_consent
from bot.flows.forms import start_form

REPORT_FORM = "quick_report"
FEEDBACK_FORM = "feedback"


@action("report")
async def report(ctx: Context) -> None:
    if not await require_consent(ctx, "report", resume="report"):
        return
    await start_form(ctx, REPORT_FORM)


@action("feedback")
async def feedback(ctx: Context) -> None:
    if not await require_consent(ctx, "feedback", resume="feedback"):
        return
    await start_form(ctx, FEEDBACK_FORM)
