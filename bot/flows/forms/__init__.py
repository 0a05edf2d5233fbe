"""The form engine: forms are data (content/forms/*.yml), run by one flow on every channel.

- schema.py: form files and the content lists choices come from (projects, indicators, areas,
  feedback categories); `load_forms` validates them.
- parse.py: numbers the Vietnamese way, periods, dates, phone numbers.
- expr.py: the small safe evaluator of `relevant` and `constraint`.
- options.py: a choice field's options, filtered, searched without diacritics, in pages.
- flow.py: the flow (`start_form(ctx, name, answers)`), summary, edit, confirm.
- submit.py: the submit handlers a form names (`@submit_handler("report")`).
- reminders.py: the job reminding abandoned forms once and expiring them.
- cli.py / xlsform.py: `python -m bot forms check | import FILE.xlsx`.
"""

from bot.flows.forms import flow  # noqa: F401 - registers the flow
from bot.flows.forms.flow import start_form
from bot.flows.forms.submit import SubmitRefused, submit_handler

__all__ = ["start_form", "submit_handler", "SubmitRefused"]
