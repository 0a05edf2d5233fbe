"""Joining as an officer in the chat: `/macanbo K7QF-9XPA`, or `/macanbo` and then the code.

The code is checked first (a wrong one counts against the guessing limit, bot/officers.py);
a good one then needs the consent of the "report" purpose, asked through the consent flow,
which resumes here. While consent is asked the code's keyed hash, never the code, waits in the
user's dialogue state. The officer is then bound to the invite's role and area.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot import officers
from bot.areas import areas_of
from bot.core.context import Context
from bot.core.registry import REGISTRY, Flow, FlowState, action, end_flow
from bot.flows.consent import require_consent

PENDING = "officer_invite"  # state key: {"hash": ..., "at": ISO time}
PENDING_FOR = timedelta(hours=1)


def _minutes(delta: timedelta | None) -> int:
    return max(1, int(-(-(delta or timedelta()).total_seconds() // 60)))


def _area_name(ctx: Context, code: str) -> str:
    area = areas_of(ctx.content).get(code)
    return area.name if area is not None else code


def _pending(ctx: Context) -> str | None:
    raw = ctx.state.get(PENDING)
    if not isinstance(raw, dict) or not isinstance(raw.get("hash"), str):
        return None
    try:
        at = datetime.fromisoformat(str(raw.get("at")))
    except ValueError:
        return None
    if at.tzinfo is None or datetime.now(UTC) - at > PENDING_FOR:
        return None
    return raw["hash"]


async def try_code(ctx: Context, text: str | None, code_hash: str | None = None) -> None:
    assert ctx.user is not None
    _ = ctx._
    result = await officers.check_code(
        ctx.session, ctx.settings, ctx.msg.channel, ctx.msg.sender_id, text, code_hash
    )
    out = officers.Outcome
    if result.outcome is out.LIMITED:
        ctx.say(
            _("Bạn đã nhập sai mã nhiều lần. Hãy thử lại sau {minutes} phút.").format(
                minutes=_minutes(result.retry_after)
            )
        )
        return
    if result.outcome is out.MALFORMED:
        ctx.say(
            _(
                "Mã mời cán bộ gồm 8 chữ và số, ví dụ K7QF-9XPA (không có chữ O, I, L, "
                "số 0, 1). Gõ lại: /macanbo và mã."
            )
        )
        return
    if result.outcome is not out.JOINED:
        why = {
            out.UNKNOWN: _("Mã này không đúng."),
            out.USED: _("Mã này đã được dùng rồi. Mỗi mã chỉ dùng được một lần."),
            out.EXPIRED: _("Mã này đã hết hạn."),
            out.REVOKED: _("Mã này đã bị thu hồi."),
        }[result.outcome]
        if result.tries_left:
            more = _("Bạn còn {n} lần thử trong giờ này.").format(n=result.tries_left)
        else:
            more = _("Bạn đã hết lượt thử trong giờ này; hãy thử lại sau.")
        ctx.say(f"{why} {_('Kiểm tra lại mã, hoặc xin cán bộ tỉnh một mã mới.')} {more}")
        return
    invite = result.invite
    assert invite is not None
    if invite.role == "translator":  # a translator's code typed here: joined as a translator
        from actions.translate import join

        await join(ctx, invite)
        return
    if "report" not in await ctx.load_consents():
        ctx.set_state(**{PENDING: {"hash": invite.code_hash, "at": datetime.now(UTC).isoformat()}})
        await require_consent(ctx, "report", resume="officer_join")
        return
    ctx.set_state(**{PENDING: None})
    if not await officers.redeem(ctx.session, ctx.user, invite):
        ctx.say(_("Mã này vừa được dùng hoặc đã hết hạn. Xin cán bộ tỉnh một mã mới."))
        return
    area = _area_name(ctx, invite.area_code)
    if invite.role == "admin":
        ctx.say(_("Bạn đã là quản trị viên của {area}.").format(area=area))
    else:
        ctx.say(
            _("Chào cán bộ! Bạn đã được gắn với {area}. Gõ /baocao để gửi báo cáo.").format(
                area=area
            )
        )


@action("officer_join")
async def officer_join(ctx: Context) -> None:
    arg = ctx.arg.strip()
    pending = _pending(ctx)
    # Back from the consent flow (its own argument, "yes", is in ctx.arg): the code kept.
    if pending is not None and officers.normalize(arg) is None:
        if "report" in await ctx.load_consents():
            await try_code(ctx, None, code_hash=pending)
            return
    if not arg:
        await REGISTRY.start_flow(ctx, OfficerCodeFlow.name)
        return
    await try_code(ctx, arg)


@REGISTRY.flow
class OfficerCodeFlow(Flow):
    """`/macanbo` without a code: the next message that is a code is tried; anything else
    typed is a new message."""

    name = "officer_code"

    async def start(self, ctx: Context, **data: Any) -> None:
        self.save(ctx, "code")
        ctx.say(ctx._("Gõ mã mời cán bộ của bạn (8 chữ và số, ví dụ K7QF-9XPA)."))

    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        if officers.normalize(text) is None and not officers.looks_like_a_try(text):
            return False
        end_flow(ctx)
        await try_code(ctx, text)
        return True

    async def take_command(
        self, ctx: Context, state: FlowState | None, command: str, arg: str
    ) -> bool:
        return False
