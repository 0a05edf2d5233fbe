"""Subscribing to notices, choosing the area and the topics, and stopping: a few taps.

- `/dangky`: consent (once), subscribed, then "Bạn ở xã nào?": typed part of a name (the area
  tree's matcher, bot/areas.py: without diacritics, former names too) or a button; a commune
  with villages offers them as buttons, or the whole commune; then the topics, as buttons that
  switch on and off (✓), "Tất cả" and "Xong". Urgent warnings are not a choice: every
  subscriber of the area gets them.
- Already subscribed, `/dangky` shows the settings with buttons: change area (`/khuvuc`), topics
  (`/chude`), language (`/ngonngu`), stop (`/ngung`).
- `/ngung` stops. Every change applies at once to notices still going out
  (bot.notices.manage.refresh_user): a stopped subscriber's queued notice is not sent, a new
  area's notice reaches them, before the next send.

On Zalo the buttons are numbered options: a typed number picks one.
"""

from __future__ import annotations

from typing import Any

from bot.areas import areas_of, words
from bot.core.context import Context
from bot.core.registry import REGISTRY, Flow, FlowState, action, end_flow
from bot.flows.consent import require_consent
from bot.messages import Button
from bot.notices import manage
from bot.notices import topics as topics_mod
from bot.storage.repositories import subscriptions

NAME = "subscription"
AREA, TOPICS = "area", "topics"
AREA_COMMAND, TOPIC_COMMAND = "/khuvuc", "/chude"
SKIP, WHOLE, ALL, DONE = "-", "!", "*", "xong"
MAX_CHOICES = 8
_DONE_WORDS = {"xong", "xong roi", "ok", "done", "het", "du roi"}


def _topics(ctx: Context) -> list[topics_mod.Topic]:
    return list(topics_mod.load(ctx.content.root))


async def _refresh(ctx: Context) -> None:
    assert ctx.user is not None
    await manage.refresh_user(
        ctx.session, ctx.user.id, ctx.settings, ctx.services.catalogs.for_lang
    )


def _area_name(ctx: Context, code: str | None) -> str:
    if not code:
        return ctx._("chưa chọn")
    area = areas_of(ctx.content).get(code)
    return area.name if area is not None else code


def _topic_names(ctx: Context, chosen: list[str] | None) -> str:
    names = [
        ctx._(t.name) for t in _topics(ctx) if not t.urgent and (chosen is None or t.code in chosen)
    ]
    if chosen is None:
        return ctx._("tất cả")
    return ", ".join(names) if names else ctx._("chỉ cảnh báo khẩn")


def settings_buttons(ctx: Context) -> list[Button]:
    return [
        Button(ctx._("Đổi địa bàn"), AREA_COMMAND),
        Button(ctx._("Đổi chủ đề"), TOPIC_COMMAND),
        Button(ctx._("Đổi ngôn ngữ"), "/ngonngu"),
        Button(ctx._("Ngừng nhận"), "/ngung"),
    ]


@action("subscribe")
async def subscribe(ctx: Context) -> None:
    if not await require_consent(ctx, "notices", resume="subscribe"):
        return
    assert ctx.user is not None
    if await subscriptions.subscribe(ctx.session, ctx.user.id, ctx.msg.channel):
        ctx.say(
            ctx._(
                "Đã đăng ký. Bạn sẽ nhận thông báo lớp tập huấn "
                "và tin mới của chương trình. Muốn ngừng, gõ /ngung."
            )
        )
        await _refresh(ctx)
        await REGISTRY.start_flow(ctx, NAME, then=TOPICS)
        return
    sub = await subscriptions.get(ctx.session, ctx.user.id, ctx.msg.channel)
    assert sub is not None
    ctx.say(
        ctx._("Bạn đã đăng ký nhận thông báo rồi. Muốn ngừng, gõ /ngung.")
        + "\n"
        + ctx._("Địa bàn: {area}. Chủ đề: {topics}.").format(
            area=_area_name(ctx, sub.area_code),
            topics=_topic_names(ctx, subscriptions.topics_of(sub)),
        ),
        buttons=settings_buttons(ctx),
    )


@action("unsubscribe")
async def unsubscribe(ctx: Context) -> None:
    assert ctx.user is not None
    end_flow(ctx)
    if await subscriptions.unsubscribe(ctx.session, ctx.user.id, ctx.msg.channel):
        await _refresh(ctx)
        ctx.say(ctx._("Đã ngừng gửi thông báo cho bạn. Muốn nhận lại, gõ /dangky."))
    else:
        ctx.say(
            ctx._(
                "Bạn chưa đăng ký nhận thông báo nên sẽ không nhận tin nào. "
                "Muốn đăng ký, gõ /dangky."
            )
        )


@REGISTRY.flow
class SubscriptionFlow(Flow):
    """Choosing the area (typed or buttons) and the topics (buttons switched on and off)."""

    name = NAME
    commands = (AREA_COMMAND, TOPIC_COMMAND)
    numbers_are_choices = True

    async def start(self, ctx: Context, **data: Any) -> None:
        self.ask_area(ctx, then=data.get("then"))

    # ---- area

    def ask_area(self, ctx: Context, then: str | None = None, lead: str = "") -> None:
        self.save(ctx, AREA, then=then)
        text = ctx._("Bạn ở xã nào? Gõ tên xã hoặc thôn, làng (ví dụ: Ba Động).")
        buttons = []
        if ctx.area_code:  # an officer: their own area first
            buttons.append(
                Button(_area_name(ctx, ctx.area_code), f"{AREA_COMMAND} {ctx.area_code}")
            )
        buttons.append(Button(ctx._("Bỏ qua"), f"{AREA_COMMAND} {SKIP}"))
        ctx.say((lead + "\n" if lead else "") + text, buttons=buttons)

    def _choice(self, code: str, label: str, final: bool = False) -> Button | None:
        payload = f"{AREA_COMMAND} {code}" + (f" {WHOLE}" if final else "")
        if len(payload.encode("utf-8")) > 64:
            return None
        return Button(label, payload)

    async def choose_area(self, ctx: Context, state: FlowState | None, arg: str) -> bool:
        code, _, mark = arg.partition(" ")
        tree = areas_of(ctx.content)
        then = state.data.get("then") if state is not None else None
        if code == SKIP:
            chosen = None
        else:
            area = tree.by_code.get(code)
            if area is None:
                return False
            kids = tree.children(area.code)
            if kids and mark != WHOLE:  # a commune with villages: which one, or the whole
                self.save(ctx, AREA, then=then)
                buttons = [
                    b
                    for b in [self._choice(k.code, k.name) for k in kids[:MAX_CHOICES]]
                    + [self._choice(area.code, ctx._("Cả {name}").format(name=area.name), True)]
                    if b is not None
                ]
                ctx.say(
                    ctx._("Bạn ở thôn, làng nào của {name}?").format(name=area.name),
                    buttons=buttons,
                )
                return True
            chosen = area.code
        assert ctx.user is not None
        if not await subscriptions.set_area(ctx.session, ctx.user.id, ctx.msg.channel, chosen):
            end_flow(ctx)
            ctx.say(ctx._("Bạn chưa đăng ký nhận thông báo. Muốn đăng ký, gõ /dangky."))
            return True
        await _refresh(ctx)
        said = ctx._("Đã ghi địa bàn: {area}.").format(area=_area_name(ctx, chosen))
        if then == TOPICS:
            await self.ask_topics(ctx, lead=said)
        else:
            end_flow(ctx)
            ctx.say(said, buttons=settings_buttons(ctx))
        return True

    async def typed_area(self, ctx: Context, state: FlowState, text: str) -> bool:
        found = areas_of(ctx.content).search(text, levels=("commune", "village"), limit=MAX_CHOICES)
        if not found:
            if len(words(text)) > 4:
                return False  # a question, not a name: the user moved on
            ctx.say(
                ctx._('Không tìm thấy xã, thôn nào tên "{name}". Gõ lại, hoặc bấm Bỏ qua.').format(
                    name=text[:60]
                ),
                buttons=[Button(ctx._("Bỏ qua"), f"{AREA_COMMAND} {SKIP}")],
            )
            return True
        exact = [m for m in found if m.exact]
        if len(found) == 1 or len(exact) == 1:
            return await self.choose_area(ctx, state, (exact or found)[0].area.code)
        buttons = [b for b in (self._choice(m.area.code, m.describe()) for m in found) if b]
        ctx.say(ctx._("Bạn chọn địa bàn nào?"), buttons=buttons)
        return True

    # ---- topics

    async def ask_topics(self, ctx: Context, lead: str = "") -> None:
        assert ctx.user is not None
        sub = await subscriptions.get(ctx.session, ctx.user.id, ctx.msg.channel)
        chosen = subscriptions.topics_of(sub) if sub is not None else None
        self.save(ctx, TOPICS)
        buttons = []
        for t in _topics(ctx):
            if t.urgent:
                continue
            on = chosen is None or t.code in chosen
            buttons.append(
                Button(("✓ " if on else "") + ctx._(t.name), f"{TOPIC_COMMAND} {t.code}")
            )
        buttons += [
            Button(ctx._("Tất cả chủ đề"), f"{TOPIC_COMMAND} {ALL}"),
            Button(ctx._("Xong"), f"{TOPIC_COMMAND} {DONE}"),
        ]
        text = ctx._(
            "Bạn muốn nhận tin về chủ đề nào? Bấm để chọn hoặc bỏ chọn (✓ là đang nhận), "
            "xong bấm Xong. Cảnh báo khẩn luôn được gửi."
        )
        ctx.say((lead + "\n" if lead else "") + text, buttons=buttons)

    async def choose_topic(self, ctx: Context, arg: str) -> bool:
        assert ctx.user is not None
        sub = await subscriptions.get(ctx.session, ctx.user.id, ctx.msg.channel)
        if sub is None or not sub.active:
            end_flow(ctx)
            ctx.say(ctx._("Bạn chưa đăng ký nhận thông báo. Muốn đăng ký, gõ /dangky."))
            return True
        if arg == DONE:
            end_flow(ctx)
            ctx.say(
                ctx._("Đã lưu. Địa bàn: {area}. Chủ đề: {topics}.").format(
                    area=_area_name(ctx, sub.area_code),
                    topics=_topic_names(ctx, subscriptions.topics_of(sub)),
                ),
                buttons=settings_buttons(ctx),
            )
            return True
        choosable = [t.code for t in _topics(ctx) if not t.urgent]
        if arg == ALL:
            chosen: list[str] | None = None
        elif arg in choosable:
            current = subscriptions.topics_of(sub)
            chosen = list(choosable) if current is None else list(current)
            chosen = [c for c in chosen if c != arg] if arg in chosen else [*chosen, arg]
            if set(chosen) >= set(choosable):
                chosen = None  # every topic: new topics later included too
        else:
            return False
        await subscriptions.set_topics(ctx.session, ctx.user.id, ctx.msg.channel, chosen)
        await _refresh(ctx)
        await self.ask_topics(ctx)
        return True

    def typed_topic(self, ctx: Context, text: str) -> str | None:
        typed = words(text)
        if " ".join(typed) in _DONE_WORDS:
            return DONE
        if " ".join(typed) in ("tat ca", "het"):
            return ALL
        from bot.areas import prefixes_match

        hits = [
            t.code
            for t in _topics(ctx)
            if not t.urgent and prefixes_match(typed, words(ctx._(t.name)))
        ]
        return hits[0] if len(hits) == 1 else None

    # ---- the Flow interface

    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        if state.step == AREA:
            return await self.typed_area(ctx, state, text)
        if state.step == TOPICS:
            arg = self.typed_topic(ctx, text)
            return arg is not None and await self.choose_topic(ctx, arg)
        return False

    async def take_command(
        self, ctx: Context, state: FlowState | None, command: str, arg: str
    ) -> bool:
        if command == AREA_COMMAND:
            if not arg:
                self.ask_area(ctx)
                return True
            return await self.choose_area(ctx, state, arg)
        if not arg:
            await self.ask_topics(ctx)
            return True
        return await self.choose_topic(ctx, arg)
