"""Abandoned forms: reminded once, then expired. A job outside the turns, run from `serve`.

A form in progress is the user's stored flow state (bot/flows/forms/flow.py) with its `touched`
time. Every `forms.check_interval_seconds` the job looks at users whose flow is a form:

- idle for `forms.remind_after_minutes` and not reminded yet: the question waiting is sent again
  (with its buttons, so a typed number still picks one) through the outbox, and the state marked
  `reminded` (an answer clears the mark: a later pause is a new one);
- idle for `forms.expire_after_hours`: the form is dropped and the user told once, nothing sent.

Each user is handled in a short transaction of its own, under the same per-user lock a turn
takes (the write gate on SQLite, the advisory lock on PostgreSQL), re-reading the state first: a
message handled meanwhile wins. The replies are outbox rows; the dispatcher sends them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.core.context import Context
from bot.core.registry import REGISTRY, FlowState
from bot.flows.forms.flow import EDIT, NAME, SUMMARY, FormFlow
from bot.messages import IncomingMessage
from bot.storage.gate import writing
from bot.storage.models import User
from bot.storage.repositories import outbox
from bot.tasks import stop_task

if TYPE_CHECKING:
    from bot.core.services import Services

log = logging.getLogger("bot.forms")
BATCH = 200
SOURCE = "form"  # the outbox rows' source


@dataclass
class Swept:
    reminded: int = 0
    expired: int = 0


def _idle_since(data: dict[str, Any]) -> float | None:
    touched = data.get("touched")
    return (
        float(touched)
        if isinstance(touched, int | float) and not isinstance(touched, bool)
        else None
    )


async def sweep(services: Services, now: float | None = None) -> Swept:
    """One pass over the forms in progress."""
    now = time.time() if now is None else now
    cfg = services.settings.forms
    remind_at = now - cfg.remind_after_minutes * 60
    expire_at = now - cfg.expire_after_hours * 3600
    swept = Swept()
    last_id = 0
    flow_name = User.state[("flow", "name")].as_string()
    while True:
        async with services.sessionmaker() as s:
            rows = (
                await s.execute(
                    select(User.id, User.state)
                    .where(User.id > last_id, flow_name == NAME)
                    .order_by(User.id)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return swept
        last_id = rows[-1].id
        for row in rows:
            state = FlowState.load((row.state or {}).get("flow"))
            idle = _idle_since(state.data) if state is not None else None
            if state is None or idle is None:
                continue
            if idle <= expire_at or (idle <= remind_at and not state.data.get("reminded")):
                done = await _one(services, row.id, remind_at, expire_at)
                if done == "reminded":
                    swept.reminded += 1
                elif done == "expired":
                    swept.expired += 1
        if len(rows) < BATCH:
            return swept


async def _one(services: Services, user_id: int, remind_at: float, expire_at: float) -> str | None:
    async with writing(services.sessionmaker) as s:
        user = await s.get(User, user_id)
        if user is None:
            return None
        await services.ordering.lock(s, user.channel, user.external_id)
        await s.refresh(user)  # a turn may have moved on while we waited for the lock
        state = FlowState.load((user.state or {}).get("flow"))
        if state is None or state.name != NAME:
            return None
        idle = _idle_since(state.data)
        if idle is None:
            return None
        lang = user.locale or services.settings.default_language
        msg = IncomingMessage(
            channel=user.channel, sender_id=user.external_id, message_id="form-job"
        )
        ctx = Context(
            msg=msg,
            session=s,
            services=services,
            user=user,
            lang=lang,
            t=services.catalogs.for_lang(lang),
        )
        flow = REGISTRY.flows[NAME]
        assert isinstance(flow, FormFlow)
        run = flow.run(ctx, state)
        if idle <= expire_at or run is None:
            ctx.set_state(flow=None)
            title = run.t(run.form.title) if run is not None else ctx._("biểu mẫu")
            ctx.say(
                ctx._(
                    "{title} bạn đang điền đã hết hạn vì lâu không trả lời; chưa có gì được gửi. "
                    "Muốn làm lại, gõ /baocao (báo cáo) hoặc /phananh (phản ánh)."
                ).format(title=title)
            )
            outcome = "expired"
        elif idle <= remind_at and not state.data.get("reminded"):
            lead = ctx._('Bạn chưa điền xong {title}. Trả lời để tiếp tục, hoặc gõ "hủy".').format(
                title=run.t(run.form.title)
            )
            step = state.step
            if step == SUMMARY:
                run.show_summary(lead=lead)
            elif step == EDIT:
                ctx.say(lead)
                run.show_edit()
            else:
                field = run.form.field(step)
                if field is None:
                    return None
                await run.ask(field, lead=lead)
            raw = dict(user.state.get("flow") or {})
            data = dict(raw.get("data") or {})
            data.update(reminded=True, touched=idle)  # the form's own clock is unchanged
            ctx.set_state(flow={**raw, "data": data})
            outcome = "reminded"
        else:
            return None
        if user.reachable:
            await outbox.add_replies(
                s,
                channel=user.channel,
                recipient=user.external_id,
                replies=ctx.turn.replies,
                user_id=user.id,
                source=SOURCE,
            )
        await s.commit()
        return outcome


class FormJobs:
    """The reminder job `serve` runs: `sweep` every `forms.check_interval_seconds`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.passes = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                swept = await sweep(self.services)
                self.passes += 1
                if swept.reminded or swept.expired:
                    log.info("forms: %d reminded, %d expired", swept.reminded, swept.expired)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: next time
                log.warning("forms: reminder job failed (%s)", type(exc).__name__)
            await asyncio.sleep(self.services.settings.forms.check_interval_seconds)
