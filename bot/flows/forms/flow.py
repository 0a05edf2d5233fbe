"""The flow that runs a form (bot/flows/forms/schema.py) on every channel, one field a message.

Its place is the stored `FlowState` (name "form"): the step is the field being asked ("summary"
and "edit" at the end), the data holds the form's name, the answers, the fields skipped, the
history for "quay lại", the page and search of a long list, and the started / touched / reminded
times the reminder job reads (bot/flows/forms/reminders.py). Every step is saved in the turn's
transaction, so a restart resumes at the same field with nothing lost.

Controls at every step, typed or as buttons ("/form <what>"): back ("quay lại"), skip an optional
field ("bỏ qua"), cancel ("hủy", "/huy"); a choice list shows `page_size` options a page with
"xem thêm", and typing part of a name (without diacritics; aliases such as former commune names
count) searches it. At the end a summary: send, edit one field (re-asked alone, then back to the
summary), cancel. Sending calls the form's submit handler (bot/flows/forms/submit.py).

A question typed mid-form is answered and the field asked again, by this rule: text that is not
a valid answer for a number, date, period, choice, yes/no or media field is given to the NLU and,
when it is confidently a question (policy, product, training), answered; a text field takes what
is typed as its answer unless it also reads as a question (ends with "?" or a question word such
as "bao nhiêu", "không", "ở đâu") and the NLU is confident.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from bot.core.registry import REGISTRY, Flow, FlowState, end_flow, understand
from bot.flows.forms import options as opts
from bot.flows.forms.errors import ExprError, FormInputError
from bot.flows.forms.parse import (
    folded,
    parse_date,
    parse_number,
    parse_period,
    parse_phone,
    show_date,
    show_number,
    show_period,
)
from bot.flows.forms.schema import (
    CHOICE_TYPES,
    Form,
    FormField,
    Option,
    forms_for,
    text_for,
)
from bot.flows.forms.submit import DEFAULTS, SubmitRefused, handler
from bot.flows.yesno import yes_or_no
from bot.i18n import N_
from bot.messages import Button
from nlu.intents import QUESTION_INTENTS

if TYPE_CHECKING:
    from bot.core.context import Context

log = logging.getLogger("bot.forms")

NAME = "form"
COMMAND = "/form"
CANCEL_COMMAND = "/huy"
SUMMARY, EDIT = "summary", "edit"
MAX_PAYLOAD_VALUE = 48

BACK = {"quay lai", "tro lai", "lui", "lui lai", "back", "cau truoc"}
SKIP = {"bo qua", "skip", "khong co", "ko co", "k co", "bo", "qua", "khong can"}
CANCEL = {"huy", "huy bo", "thoi huy", "cancel", "dung lai", "thoat", "/huy", "huy bao cao"}
MORE = {"xem them", "them", "tiep", "trang sau", "more", "next"}
PREV = {"trang truoc", "prev"}
DONE = {"xong", "done", "het", "du roi"}
SEND = {"gui", "gui di", "xac nhan", "dong y", "ok", "co", "dung", "dung roi", "send"}
EDIT_WORDS = {"sua", "chinh sua", "sua lai", "doi", "edit"}
QUESTION_ENDS = (
    "bao nhieu",
    "khong",
    "ko",
    "chua",
    "gi",
    "nao",
    "sao",
    "o dau",
    "dau",
    "khi nao",
    "bao gio",
    "the nao",
    "ai",
    "nhieu khong",
)
QUESTION_STARTS = ("bao gio", "khi nao", "lam sao", "tai sao", "o dau", "vi sao", "the nao", "ai ")
FREE_TYPES = ("text", "number", "date", "period")


def now() -> int:
    return int(time.time())


def looks_like_question(text: str) -> bool:
    """Ends with "?" or a question word, or starts like a question."""
    t = folded(text).strip()
    if text.rstrip().endswith("?"):
        return True
    t = t.rstrip(" .!")
    return any(t == w or t.endswith(" " + w) for w in QUESTION_ENDS) or t.startswith(
        QUESTION_STARTS
    )


def form_named(ctx: Context, name: str) -> Form | None:
    return forms_for(ctx.content.root).forms.get(name)


async def start_form(
    ctx: Context, name: str, answers: dict[str, Any] | None = None, skip: tuple[str, ...] = ()
) -> bool:
    """Begin form `name` (answers already known, e.g. from a one-line report, are kept and not
    asked; the optional fields named in `skip` are not asked either, and can be filled from the
    summary). False, with a message, when there is no such form."""
    if form_named(ctx, name) is None:
        log.error("no form named %r under content/forms", name)
        ctx.say(ctx._("Xin lỗi, biểu mẫu này hiện không dùng được."))
        return False
    await REGISTRY.start_flow(ctx, NAME, form=name, answers=answers or {}, skip=list(skip))
    return True


class Run:
    """One turn's view of a form in progress: the form, its state data, the context."""

    def __init__(self, flow: FormFlow, ctx: Context, form: Form, data: dict[str, Any]) -> None:
        self.flow, self.ctx, self.form = flow, ctx, form
        answers = data.get("answers")
        self.answers: dict[str, Any] = dict(answers) if isinstance(answers, dict) else {}
        self.skipped: list[str] = [s for s in data.get("skipped") or [] if isinstance(s, str)]
        self.history: list[str] = [h for h in data.get("history") or [] if isinstance(h, str)]
        self.page = data.get("page") if isinstance(data.get("page"), int) else 0
        self.query = data.get("query") if isinstance(data.get("query"), str) else ""
        self.picked = list(data.get("picked") or []) if isinstance(data.get("picked"), list) else []
        self.editing = bool(data.get("editing"))
        self.started = data.get("started") if isinstance(data.get("started"), int) else now()

    # --- state -------------------------------------------------------------------------------

    def save(self, step: str) -> None:
        self.flow.save(
            self.ctx,
            step,
            form=self.form.name,
            answers=self.answers,
            skipped=self.skipped,
            history=self.history,
            page=self.page,
            query=self.query,
            picked=self.picked,
            editing=self.editing,
            started=self.started,
            touched=now(),
            reminded=False,
        )

    def _(self, message: str) -> str:
        return self.ctx._(message)

    def t(self, texts: dict[str, str]) -> str:
        return text_for(texts, self.ctx.lang)

    def relevant(self, field: FormField) -> bool:
        if field.relevant is None:
            return True
        try:
            return field.relevant.test(self.answers)
        except ExprError as exc:
            log.warning(
                "form %s field %s: relevant failed: %s", self.form.name, field.name, exc.detail
            )
            return False

    def next_field(self) -> FormField | None:
        for f in self.form.fields:
            if not self.relevant(f):
                continue
            if f.name in self.answers:
                if f.type in CHOICE_TYPES and f.filter is not None and not self._still_valid(f):
                    self.answers.pop(f.name)
                    return f
                continue
            if f.name in self.skipped:
                continue
            return f
        return None

    def _still_valid(self, f: FormField) -> bool:
        values = {str(o.value) for o in opts.all_options(self.ctx, f, self.answers)}
        got = self.answers[f.name]
        got = got if isinstance(got, list) else [got]
        return all(str(v) in values for v in got)

    def submitted_answers(self) -> dict[str, Any]:
        return {
            f.name: self.answers[f.name]
            for f in self.form.fields
            if f.name in self.answers and self.relevant(f)
        }

    # --- asking -------------------------------------------------------------------------------

    async def advance(self, lead: str = "") -> None:
        """Ask the next field, or show the summary when nothing is left."""
        f = self.next_field()
        self.page, self.query, self.picked = 0, "", []
        if f is None:
            self.editing = False
            self.save(SUMMARY)
            self.show_summary(lead)
            return
        self.save(f.name)
        await self.ask(f, lead)

    def controls(self, f: FormField) -> list[Button]:
        out = []
        if not f.required:
            out.append(Button(self._("Bỏ qua"), f"{COMMAND} skip"))
        out.append(Button(self._("Quay lại"), f"{COMMAND} back"))
        out.append(Button(self._("Hủy"), f"{COMMAND} cancel"))
        return out

    def unit(self, f: FormField) -> str:
        if f.unit_from is not None:
            source = self.form.field(f.unit_from)
            chosen = self.answers.get(f.unit_from)
            if source is not None and chosen is not None:
                o = opts.find(opts.all_options(self.ctx, source, self.answers), str(chosen))
                if o is not None and isinstance(o.extra.get("unit"), dict):
                    return text_for(o.extra["unit"], self.ctx.lang)
        return self.t(f.unit)

    def unit_words(self, f: FormField) -> tuple[str, ...]:
        words = {self.unit(f)} | set(f.unit.values())
        return tuple(w for w in words if w)

    async def ask(self, f: FormField, lead: str = "") -> None:
        lines = [lead] if lead else []
        lines.append(self.t(f.prompt))
        unit = self.unit(f) if f.type == "number" else ""
        if unit:
            lines.append(self._("(đơn vị: {unit})").format(unit=unit))
        if f.hint:
            lines.append(self.t(f.hint))
        if not f.required:
            lines.append(self._('Không bắt buộc: gõ "bỏ qua" nếu không có.'))
        buttons: list[Button] = []
        if f.type in CHOICE_TYPES:
            shown, number, pages, matched = await self.choice_page(f)
            if self.query:
                lines.append(self._('Kết quả tìm "{query}":').format(query=self.query))
            if pages > 1:
                lines.append(
                    self._("Trang {page}/{pages}. Gõ một phần tên để tìm.").format(
                        page=number + 1, pages=pages
                    )
                )
            if f.type == "multi_choice":
                lines.append(self._('Chọn một hoặc nhiều mục, rồi bấm "Xong".'))
            for o, alias in matched:
                buttons.append(Button(self.option_label(o, alias, f), self.option_payload(f, o)))
            if number + 1 < pages:
                buttons.append(Button(self._("Xem thêm"), f"{COMMAND} more"))
            if number > 0:
                buttons.append(Button(self._("Trang trước"), f"{COMMAND} prev"))
            if f.type == "multi_choice":
                buttons.append(Button(self._("Xong"), f"{COMMAND} done"))
        elif f.type == "yes_no":
            buttons += [
                Button(self._("Có"), f"{COMMAND} v yes"),
                Button(self._("Không"), f"{COMMAND} v no"),
            ]
        elif f.type == "photo":
            lines.append(self._("Bấm nút đính kèm để gửi ảnh."))
        elif f.type == "audio":
            lines.append(self._("Gửi một tin nhắn thoại hoặc tệp âm thanh."))
        elif f.type == "location":
            lines.append(self._("Dùng nút gửi vị trí của ứng dụng."))
        buttons += self.controls(f)
        self.ctx.say("\n".join(lines), buttons=buttons)

    async def choice_page(
        self, f: FormField
    ) -> tuple[list[tuple[Option, str | None]], int, int, list]:
        options = opts.all_options(self.ctx, f, self.answers)
        if self.query:
            listed = opts.search(options, self.query)
        else:
            listed = [(o, None) for o in options]
            default = await self.default(f)
            if default is not None:
                first = [x for x in listed if str(x[0].value) == str(default)]
                listed = first + [x for x in listed if str(x[0].value) != str(default)]
        shown, number, pages = opts.page(listed, self.page, f.page_size)
        self.page = number
        return listed, number, pages, shown

    async def default(self, f: FormField) -> Any:
        if f.default is None:
            return None
        provider = DEFAULTS.get(f.default)
        if provider is None:
            return f.default
        try:
            return await provider(self.ctx)
        except Exception:  # a provider's bug must not stop the form
            log.exception("form default provider %s failed", f.default)
            return None

    def option_label(self, o: Option, alias: str | None, f: FormField) -> str:
        label = o.label_for(self.ctx.lang)
        if alias is not None:
            label = self._("{name} ({alias} cũ)").format(name=label, alias=alias)
        if f.type == "multi_choice" and any(str(p) == str(o.value) for p in self.picked):
            label = "✓ " + label
        return label[:60]

    def option_payload(self, f: FormField, o: Option) -> str:
        verb = "t" if f.type == "multi_choice" else "v"
        value = str(o.value)
        if len(value.encode()) > MAX_PAYLOAD_VALUE:
            options = opts.all_options(self.ctx, f, self.answers)
            value = f"#{options.index(o)}"
        return f"{COMMAND} {verb} {value}"

    def resolve_value(self, f: FormField, value: str) -> Option | None:
        options = opts.all_options(self.ctx, f, self.answers)
        if value.startswith("#") and value[1:].isascii() and value[1:].isdigit():
            i = int(value[1:])
            return options[i] if i < len(options) else None
        return opts.find(options, value)

    def show(self, f: FormField, value: Any) -> str:
        if value is None:
            return self._("(bỏ qua)")
        if f.type in CHOICE_TYPES:
            options = opts.all_options(self.ctx, f, self.answers)
            values = value if isinstance(value, list) else [value]
            labels = []
            for v in values:
                o = opts.find(options, str(v))
                labels.append(o.label_for(self.ctx.lang) if o is not None else str(v))
            return ", ".join(labels)
        if f.type == "number":
            unit = self.unit(f)
            return (
                f"{show_number(value)} {unit}".strip()
                if isinstance(value, int | float)
                else str(value)
            )
        if f.type == "period":
            return show_period(str(value))
        if f.type == "date":
            return show_date(str(value))
        if f.type == "yes_no":
            return self._("Có") if value else self._("Không")
        if f.type == "photo":
            return self._("đã gửi ảnh")
        if f.type == "audio":
            return self._("đã gửi âm thanh")
        if f.type == "location":
            return self._("đã gửi vị trí")
        text = str(value)
        return text if len(text) <= 80 else text[:77] + "..."

    def show_summary(self, lead: str = "") -> None:
        lines = [lead] if lead else []
        lines.append(self._("Kiểm tra lại {title}:").format(title=self.t(self.form.title)))
        for f in self.form.fields:
            if not self.relevant(f) or (f.name not in self.answers and f.name not in self.skipped):
                continue
            lines.append(f"- {self.t(f.label)}: {self.show(f, self.answers.get(f.name))}")
        lines.append(self._("Gửi đi, sửa một mục, hay hủy?"))
        self.ctx.say(
            "\n".join(lines),
            buttons=[
                Button(self._("Gửi"), f"{COMMAND} confirm"),
                Button(self._("Sửa"), f"{COMMAND} edit"),
                Button(self._("Hủy"), f"{COMMAND} cancel"),
            ],
        )

    def editable(self) -> list[FormField]:
        return [
            f
            for f in self.form.fields
            if self.relevant(f) and (f.name in self.answers or f.name in self.skipped)
        ]

    def show_edit(self) -> None:
        self.save(EDIT)
        buttons = [Button(self.t(f.label)[:60], f"{COMMAND} f {f.name}") for f in self.editable()]
        buttons.append(Button(self._("Quay lại"), f"{COMMAND} back"))
        self.ctx.say(self._("Bạn muốn sửa mục nào?"), buttons=buttons)

    # --- answering ----------------------------------------------------------------------------

    async def accept(self, f: FormField, value: Any, lead: str = "") -> None:
        """Check the constraint, store the answer, go on."""
        if f.constraint is not None:
            try:
                ok = f.constraint.test(self.answers, value)
            except ExprError:
                ok = False
            if not ok:
                message = self.t(f.constraint_message) or self._("Câu trả lời chưa hợp lệ.")
                await self.ask(f, lead=message)
                self.save(f.name)
                return
        self.answers[f.name] = value
        if f.name in self.skipped:
            self.skipped.remove(f.name)
        self._visited(f)
        await self.after_answer(lead)

    def _visited(self, f: FormField) -> None:
        if f.name in self.history:
            self.history.remove(f.name)
        self.history.append(f.name)

    async def after_answer(self, lead: str = "") -> None:
        if self.editing:
            f = self.next_field()
            if f is None:
                self.editing = False
                self.page, self.query, self.picked = 0, "", []
                self.save(SUMMARY)
                self.show_summary(lead)
                return
        await self.advance(lead)

    async def skip(self, f: FormField) -> None:
        if f.required:
            await self.ask(f, lead=self._("Câu này cần trả lời, không bỏ qua được."))
            self.save(f.name)
            return
        self.answers.pop(f.name, None)
        if f.name not in self.skipped:
            self.skipped.append(f.name)
        self._visited(f)
        await self.after_answer()

    async def back(self, step: str) -> None:
        if step == EDIT or (self.editing and step != SUMMARY and self.next_field() is None):
            self.editing = False  # out of an edit: the summary again, the answer unchanged
            self.save(SUMMARY)
            self.show_summary()
            return
        current = self.form.field(step)
        if current is not None and current.type in CHOICE_TYPES and (self.query or self.page):
            self.query, self.page = "", 0  # out of a search or a later page: the list's start
            self.save(step)
            await self.ask(current)
            return
        if step != SUMMARY and step in self.history:
            self.history.remove(step)
        if not self.history:
            f = current or self.next_field()
            self.save(step)
            if f is not None:
                await self.ask(f, lead=self._("Đây là câu hỏi đầu tiên."))
            return
        name = self.history.pop()
        self.answers.pop(name, None)
        if name in self.skipped:
            self.skipped.remove(name)
        f = self.form.field(name)
        assert f is not None
        self.page, self.query, self.picked = 0, "", []
        self.editing = False
        self.save(f.name)
        await self.ask(f)

    async def cancel(self) -> None:
        end_flow(self.ctx)
        self.ctx.say(
            self._("Đã hủy {title}. Không có gì được gửi.").format(title=self.t(self.form.title))
        )

    async def confirm(self) -> None:
        fn = handler(self.form.submit)
        if fn is None:
            log.error("form %s: no submit handler %r", self.form.name, self.form.submit)
            self.save(SUMMARY)
            self.ctx.say(
                self._(
                    "Xin lỗi, hiện chưa gửi được {title}: nơi nhận chưa sẵn sàng. "
                    'Câu trả lời của bạn vẫn được giữ; bấm "Gửi" lại sau.'
                ).format(title=self.t(self.form.title)),
                buttons=[
                    Button(self._("Gửi"), f"{COMMAND} confirm"),
                    Button(self._("Hủy"), f"{COMMAND} cancel"),
                ],
            )
            return
        try:
            reply = await fn(self.ctx, self.form, self.submitted_answers())
        except SubmitRefused as exc:
            self.save(SUMMARY)
            self.show_summary(lead=exc.message)
            return
        end_flow(self.ctx)
        if reply:
            self.ctx.say(reply)

    async def invalid(self, f: FormField, error: FormInputError, text: str) -> None:
        """Not a valid answer: a question is answered; otherwise say what is right."""
        if f.questions and await self.answer_question(text):
            await self.ask(
                f, lead=self._("Tiếp tục {title}:").format(title=self.t(self.form.title))
            )
            self.save(f.name)
            return
        self.save(f.name)
        await self.ask(f, lead=error.render(self._))

    async def answer_question(self, text: str) -> bool:
        if not text.strip():
            return False
        result = await understand(self.ctx, text)
        if result.low_confidence or result.intent not in QUESTION_INTENTS:
            return False
        await self.flow.registry.run_intent(self.ctx, result.intent)
        return True

    async def take_value(self, f: FormField, text: str) -> None:
        """Typed text as the answer to `f`."""
        if f.type in ("photo", "audio", "location"):
            await self.take_media(f, text)
            return
        if not text.strip():  # a photo or a location where a typed answer is asked for
            await self.ask(f, lead=self._("Tôi cần câu trả lời bằng chữ cho câu này."))
            self.save(f.name)
            return
        if f.type in CHOICE_TYPES:
            await self.take_choice_text(f, text)
            return
        if f.type == "yes_no":
            yes = yes_or_no(text)
            if yes is None:
                await self.invalid(f, FormInputError(N_('Trả lời "có" hoặc "không".')), text)
                return
            await self.accept(f, yes)
            return
        try:
            if f.type == "number":
                value: Any = parse_number(
                    text,
                    integer=f.integer,
                    unit_words=self.unit_words(f),
                    minimum=f.minimum,
                    maximum=f.maximum,
                )
            elif f.type == "period":
                value = parse_period(text, f.periods)
            elif f.type == "date":
                value = parse_date(text)
            elif f.format == "phone":
                value = parse_phone(text)
            else:
                if f.questions and looks_like_question(text) and await self.answer_question(text):
                    await self.ask(
                        f, lead=self._("Tiếp tục {title}:").format(title=self.t(self.form.title))
                    )
                    self.save(f.name)
                    return
                if len(text) > f.max_length:
                    raise FormInputError(
                        N_("Dài quá: tối đa {n} ký tự. Bạn viết ngắn lại nhé."), n=f.max_length
                    )
                value = text
        except FormInputError as exc:
            await self.invalid(f, exc, text)
            return
        await self.accept(f, value)

    async def take_media(self, f: FormField, text: str) -> None:
        msg = self.ctx.msg
        problem = getattr(msg, "media_problem", None)
        if problem:
            self.save(f.name)
            await self.ask(f, lead=str(problem))
            return
        if f.type == "location":
            if msg.location is not None:
                await self.accept(
                    f, {"latitude": msg.location.latitude, "longitude": msg.location.longitude}
                )
                return
            error = FormInputError(N_("Tôi cần một vị trí: dùng nút gửi vị trí của ứng dụng."))
        else:
            kinds = ("photo",) if f.type == "photo" else ("voice", "audio")
            for m in msg.media:
                image_doc = (
                    f.type == "photo"
                    and m.kind == "document"
                    and (m.mime_type or "").startswith("image/")
                )
                if m.kind in kinds or image_doc:
                    await self.accept(
                        f,
                        {"kind": m.kind, "ref": m.ref, "mime_type": m.mime_type, "size": m.size},
                    )
                    return
            if f.type == "photo":
                error = FormInputError(N_("Tôi cần một ảnh: bấm nút đính kèm và chọn ảnh."))
            else:
                error = FormInputError(N_("Tôi cần một tin nhắn thoại hoặc tệp âm thanh."))
        await self.invalid(f, error, text)

    async def take_choice_text(self, f: FormField, text: str) -> None:
        options = opts.all_options(self.ctx, f, self.answers)
        if f.type == "multi_choice" and ("," in text or ";" in text):
            parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
            shown = [o for o, _alias in (await self.choice_page(f))[3]]
            chosen = []
            for p in parts:
                o = opts.find(options, p)
                if o is None and p.isdigit() and 1 <= int(p) <= len(shown):
                    o = shown[int(p) - 1]  # "1, 3": the numbered options shown
                if o is None:
                    hits = opts.search(options, p)
                    o = hits[0][0] if len(hits) == 1 else None
                if o is None:
                    await self.invalid(
                        f,
                        FormInputError(
                            N_('Không tìm thấy "{query}". Gõ lại, hoặc chọn trong danh sách.'),
                            query=p,
                        ),
                        "",
                    )
                    return
                chosen.append(o.value)
            await self.accept(f, list(dict.fromkeys(chosen)))
            return
        o = opts.find(options, text.strip())
        if o is not None:
            await self.pick(f, o)
            return
        hits = opts.search(options, text)
        if len(hits) == 1:
            await self.pick(f, *hits[0])
            return
        if hits:
            self.query, self.page = text.strip()[:60], 0
            self.save(f.name)
            await self.ask(f)
            return
        error = FormInputError(
            N_('Không tìm thấy "{query}". Gõ lại, hoặc chọn trong danh sách.'),
            query=text.strip()[:60],
        )
        if f.questions and await self.answer_question(text):
            self.query, self.page = "", 0
            await self.ask(
                f, lead=self._("Tiếp tục {title}:").format(title=self.t(self.form.title))
            )
            self.save(f.name)
            return
        self.query, self.page = "", 0
        self.save(f.name)
        await self.ask(f, lead=error.render(self._))

    async def pick(self, f: FormField, o: Option, alias: str | None = None) -> None:
        if f.type == "multi_choice":
            if any(str(p) == str(o.value) for p in self.picked):
                self.picked = [p for p in self.picked if str(p) != str(o.value)]
            else:
                self.picked.append(o.value)
            self.save(f.name)
            await self.ask(f)
            return
        lead = ""
        if alias is not None:  # found by a former name: say what it is now
            lead = self._("Đã chọn {alias} cũ, nay là {name}.").format(
                alias=alias, name=o.label_for(self.ctx.lang)
            )
        await self.accept(f, o.value, lead)


@REGISTRY.flow
class FormFlow(Flow):
    """Every form, by the form name in its state."""

    name = NAME
    commands = (COMMAND, CANCEL_COMMAND)
    accepts_media = True

    def run(self, ctx: Context, state: FlowState) -> Run | None:
        form = form_named(ctx, str(state.data.get("form", "")))
        if form is None:
            return None
        return Run(self, ctx, form, state.data)

    async def start(self, ctx: Context, **data: Any) -> None:
        form = form_named(ctx, str(data.get("form", "")))
        if form is None:
            ctx.say(ctx._("Xin lỗi, biểu mẫu này hiện không dùng được."))
            return
        run = Run(self, ctx, form, {"started": now()})
        for name, value in (data.get("answers") or {}).items():
            if form.field(name) is not None and value is not None:
                run.answers[name] = value
        for name in data.get("skip") or ():
            f = form.field(name)
            if f is not None and not f.required and name not in run.answers:
                run.skipped.append(name)
        ctx.turn.intent = ctx.turn.intent or form.name
        if form.intro and not run.answers:
            ctx.say(run.t(form.intro))
        await run.advance()

    def _gone(self, ctx: Context) -> None:
        ctx.say(ctx._("Biểu mẫu này đã kết thúc. Gõ /baocao hoặc /phananh để bắt đầu lại."))

    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        run = self.run(ctx, state)
        if run is None:
            return False
        step = state.step
        word = folded(text).strip(" .!")
        if word in CANCEL:
            await run.cancel()
            return True
        if word in BACK:
            await run.back(step)
            return True
        if step == SUMMARY:
            if word in SEND or yes_or_no(text) is True:
                await run.confirm()
            elif word in EDIT_WORDS:
                run.show_edit()
            elif text and await run.answer_question(text):
                run.show_summary()
            else:
                run.show_summary(
                    lead=ctx._('Bấm "Gửi" để gửi, "Sửa" để sửa một mục, "Hủy" để hủy.')
                )
            return True
        if step == EDIT:
            match = [f for f in run.editable() if folded(run.t(f.label)) == word]
            if match:
                await self.edit_field(run, match[0])
            else:
                run.show_edit()
            return True
        f = run.form.field(step)
        if f is None:  # the form changed under a stored state: go on where we can
            await run.advance()
            return True
        if word in SKIP and f.type != "yes_no":
            await run.skip(f)
            return True
        if f.type in CHOICE_TYPES:
            if word in MORE:
                run.page += 1
                run.save(f.name)
                await run.ask(f)
                return True
            if word in PREV:
                run.page = max(0, run.page - 1)
                run.save(f.name)
                await run.ask(f)
                return True
            if f.type == "multi_choice" and word in DONE:
                await self.done(run, f)
                return True
        await run.take_value(f, text)
        ctx.turn.intent = ctx.turn.intent or run.form.name
        return True

    async def done(self, run: Run, f: FormField) -> None:
        if not run.picked:
            if f.required:
                await run.ask(f, lead=run._("Chọn ít nhất một mục."))
                run.save(f.name)
                return
            await run.skip(f)
            return
        await run.accept(f, list(run.picked))

    async def edit_field(self, run: Run, f: FormField) -> None:
        run.editing = True
        run.page, run.query, run.picked = 0, "", []
        if f.type == "multi_choice" and isinstance(run.answers.get(f.name), list):
            run.picked = list(run.answers[f.name])
        run.save(f.name)
        await run.ask(f)

    async def take_command(
        self, ctx: Context, state: FlowState | None, command: str, arg: str
    ) -> bool:
        run = self.run(ctx, state) if state is not None else None
        if run is None:
            if command == CANCEL_COMMAND:
                ctx.say(ctx._("Không có biểu mẫu nào đang điền."))
            else:
                self._gone(ctx)
            return True
        ctx.turn.intent = run.form.name
        assert state is not None
        step = state.step
        verb, _, value = arg.partition(" ")
        f = run.form.field(step)
        # A typed digit that the dialogue read as a numbered button: on a field that takes typed
        # numbers or text, it is the answer ("2" households), not the second button.
        typed = (ctx.msg.text or "").strip()
        digits = typed.isascii() and typed.isdigit()
        if ctx.msg.payload is None and digits and f is not None and f.type in FREE_TYPES:
            await run.take_value(f, typed)
            return True
        if command == CANCEL_COMMAND or verb == "cancel":
            await run.cancel()
            return True
        if verb == "back":
            await run.back(step)
        elif verb == "confirm" and step == SUMMARY:
            await run.confirm()
        elif verb == "edit" and step == SUMMARY:
            run.show_edit()
        elif verb == "f" and step == EDIT:
            target = run.form.field(value)
            if target is None or target not in run.editable():
                run.show_edit()
            else:
                await self.edit_field(run, target)
        elif f is None:
            await self._reshow(run, step)
        elif verb == "skip":
            await run.skip(f)
        elif verb in ("more", "prev") and f.type in CHOICE_TYPES:
            run.page = run.page + 1 if verb == "more" else max(0, run.page - 1)
            run.save(f.name)
            await run.ask(f)
        elif verb == "done" and f.type == "multi_choice":
            await self.done(run, f)
        elif verb in ("v", "t") and f.type in CHOICE_TYPES:
            o = run.resolve_value(f, value)
            if o is None:
                await run.ask(f, lead=run._("Nút này thuộc câu hỏi trước. Mời bạn chọn lại:"))
                run.save(f.name)
            else:
                await run.pick(f, o)
        elif verb == "v" and f.type == "yes_no" and value in ("yes", "no"):
            await run.accept(f, value == "yes")
        else:
            await self._reshow(run, step)
        return True

    async def _reshow(self, run: Run, step: str) -> None:
        lead = run._("Nút này thuộc câu hỏi trước. Mời bạn chọn lại:")
        if step == SUMMARY:
            run.show_summary(lead=lead)
        elif step == EDIT:
            run.show_edit()
        else:
            f = run.form.field(step)
            if f is None:
                await run.advance()
            else:
                await run.ask(f, lead=lead)
