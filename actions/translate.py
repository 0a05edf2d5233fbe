"""Translators in the chat: joining (`/madich CODE`), recording (`/dich`) and reviewing
(`/duyet`) answers and UI phrases in their language (bot/voice/).

`/dich` offers the next item or phrase of the translator's language that has neither an
approved nor a waiting recording or text (phrases first, then the most asked items:
bot/voice/coverage.py), with the Vietnamese text. The translator answers with a voice message
(Telegram voice, Zalo audio, a web chat upload: stored by the media step, converted here) and may
type a text version; "bỏ qua" skips, "nghe lại" plays back what they sent, "gửi lại" replaces it,
"tiếp" goes on, "dừng" stops. A recording sent back by a reviewer comes first, with the comment.

`/duyet` gives a reviewer of the language (another translator of it, or an admin) the oldest
draft not their own: they listen, then "duyệt" approves it (only then villagers get it) or
"trả lại" plus a comment sends it back to its translator, who is told in the chat.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import officers
from bot.core.context import Context
from bot.core.registry import REGISTRY, Flow, FlowState, action, end_flow
from bot.flows.consent import require_consent
from bot.i18n import LANGUAGES
from bot.messages import Button
from bot.storage.models import Recording
from bot.storage.repositories import voice as repo
from bot.voice import audio, coverage, recordings, store
from bot.voice import review as review_mod
from bot.voice.phrases import BY_KEY
from nlu.normalize import fold

PENDING = "translator_invite"  # state key while consent is asked: {"hash", "at"}
PENDING_FOR = timedelta(hours=1)
MAX_TEXT = 2000

SKIP = ("bo qua", "skip", "bo")
REPLAY = ("nghe lai", "nghe")
REDO = ("gui lai", "ghi lai")
NEXT = ("tiep", "tiep theo", "next")
STOP = ("dung", "thoi", "nghi", "stop", "xong")
APPROVE = ("duyet", "dong y", "ok", "dat")
SEND_BACK = ("tra lai",)


def _word(text: str) -> str:
    folded = fold(unicodedata.normalize("NFC", text or "")).lower().strip(" .!?")
    return " ".join(folded.split())


def _is(text: str, words: tuple[str, ...]) -> bool:
    return _word(text) in words


def _name(lang: str) -> str:
    return LANGUAGES.get(lang, lang)


# ---- joining -------------------------------------------------------------------------------


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


async def join(ctx: Context, invite) -> None:
    """A good translator code: consent to keep their recordings first, then the language."""
    assert ctx.user is not None
    _ = ctx._
    if "translate" not in await ctx.load_consents():
        ctx.set_state(**{PENDING: {"hash": invite.code_hash, "at": datetime.now(UTC).isoformat()}})
        await require_consent(ctx, "translate", resume="translator_join")
        return
    ctx.set_state(**{PENDING: None})
    if not await officers.redeem(ctx.session, ctx.user, invite):
        ctx.say(_("Mã này vừa được dùng hoặc đã hết hạn. Xin cán bộ tỉnh một mã mới."))
        return
    ctx.say(
        _(
            "Bạn đã là người dịch tiếng {name}. Gõ /dich để ghi âm các câu trả lời, "
            "/duyet để nghe và duyệt bản ghi của người dịch khác."
        ).format(name=_name(invite.lang or ""))
    )


async def try_code(ctx: Context, text: str | None, code_hash: str | None = None) -> None:
    result = await officers.check_code(
        ctx.session, ctx.settings, ctx.msg.channel, ctx.msg.sender_id, text, code_hash
    )
    if result.outcome is officers.Outcome.JOINED and result.invite is not None:
        if result.invite.role == "translator":
            await join(ctx, result.invite)
            return
        ctx.say(ctx._("Đây là mã mời cán bộ: gõ /macanbo và mã."))
        return
    refused(ctx, result)  # the wrong try was counted by check_code


def refused(ctx: Context, result: officers.Result) -> None:
    """Say why a code was not taken, as for officers' codes."""
    _ = ctx._
    out = officers.Outcome
    if result.outcome is out.LIMITED:
        minutes = max(1, int(-(-(result.retry_after or timedelta()).total_seconds() // 60)))
        ctx.say(
            _("Bạn đã nhập sai mã nhiều lần. Hãy thử lại sau {minutes} phút.").format(
                minutes=minutes
            )
        )
        return
    if result.outcome is out.MALFORMED:
        ctx.say(_("Gõ /madich và mã mời người dịch (8 chữ và số, ví dụ K7QF-9XPA)."))
        return
    why = {
        out.UNKNOWN: _("Mã này không đúng."),
        out.USED: _("Mã này đã được dùng rồi. Mỗi mã chỉ dùng được một lần."),
        out.EXPIRED: _("Mã này đã hết hạn."),
        out.REVOKED: _("Mã này đã bị thu hồi."),
    }.get(result.outcome, _("Mã này không đúng."))
    if result.tries_left:
        more = _("Bạn còn {n} lần thử trong giờ này.").format(n=result.tries_left)
    else:
        more = _("Bạn đã hết lượt thử trong giờ này; hãy thử lại sau.")
    ctx.say(f"{why} {_('Kiểm tra lại mã, hoặc xin cán bộ tỉnh một mã mới.')} {more}")


@action("translator_join")
async def translator_join(ctx: Context) -> None:
    arg = ctx.arg.strip()
    pending = _pending(ctx)
    if pending is not None and officers.normalize(arg) is None:
        if "translate" in await ctx.load_consents():  # back from the consent flow
            await try_code(ctx, None, code_hash=pending)
            return
    if not arg:
        ctx.say(ctx._("Gõ /madich và mã mời người dịch (8 chữ và số, ví dụ K7QF-9XPA)."))
        return
    await try_code(ctx, arg)


# ---- who translates what -------------------------------------------------------------------


async def languages_of(ctx: Context) -> list[str]:
    if ctx.user is None or ctx.user.id is None:
        return []
    return [t.lang for t in await repo.translators_of(ctx.session, ctx.user.id)]


async def label_of(ctx: Context, lang: str) -> str:
    assert ctx.user is not None
    for t in await repo.translators_of(ctx.session, ctx.user.id):
        if t.lang == lang:
            return t.label
    return f"{ctx.role}-{ctx.user.id}"


def _not_translator(ctx: Context) -> None:
    ctx.say(
        ctx._(
            "Phần này dành cho người dịch. Nếu bạn là người dịch, gõ /madich và mã mời "
            "do tỉnh cấp, ví dụ: /madich K7QF-9XPA"
        )
    )


def _choose_lang(ctx: Context, langs: list[str]) -> str:
    return ctx.arg if ctx.arg in langs else langs[0]


def _title(ctx: Context, kind: str, key: str, lang: str) -> tuple[str, str]:
    """(title, Vietnamese text) of an item or phrase."""
    title, text = review_mod.title_of(ctx.content, kind, key, lang)
    return (ctx._(title) if kind == "phrase" else title), text


def _voice_wanted(kind: str, key: str) -> bool:
    return kind != "phrase" or BY_KEY.get(key) is None or BY_KEY[key].voice


# ---- /dich ---------------------------------------------------------------------------------


@action("translate")
async def translate(ctx: Context) -> None:
    langs = await languages_of(ctx)
    if not langs:
        _not_translator(ctx)
        return
    await REGISTRY.start_flow(ctx, TranslateFlow.name, lang=_choose_lang(ctx, langs))


@REGISTRY.flow
class TranslateFlow(Flow):
    """Data: lang, kind, key (what is offered), rec (the draft made for it), skip (keys),
    redo (the next recording replaces the draft)."""

    name = "translate"
    commands = ("/dichlenh",)
    accepts_media = True

    def _buttons(self, ctx: Context, recorded: bool) -> list[Button]:
        _ = ctx._
        if recorded:
            return [
                Button(_("Nghe lại"), "/dichlenh nghe_lai"),
                Button(_("Gửi lại"), "/dichlenh gui_lai"),
                Button(_("Câu tiếp theo"), "/dichlenh tiep"),
                Button(_("Dừng"), "/dichlenh dung"),
            ]
        return [Button(_("Bỏ qua"), "/dichlenh bo_qua"), Button(_("Dừng"), "/dichlenh dung")]

    async def start(self, ctx: Context, **data: Any) -> None:
        await self.offer(ctx, data["lang"], list(data.get("skip") or []))

    async def offer(self, ctx: Context, lang: str, skip: list[str]) -> None:
        _ = ctx._
        assert ctx.user is not None
        name = _name(lang)
        back = [
            r
            for r in await repo.sent_back_for(ctx.session, ctx.user.id, lang)
            if f"{r.kind}:{r.key}" not in skip
        ]
        comment = None
        if back:
            kind, key, comment = back[0].kind, back[0].key, back[0].comment
        else:
            found = await coverage.entries(
                ctx.session, ctx.content, lang, ctx.services.catalogs.for_lang(lang)
            )
            taken = await repo.keys_with(ctx.session, lang)
            entry = coverage.next_entry(found, taken, skip)
            if entry is None:
                end_flow(ctx)
                ctx.say(_("Đã hết câu cần dịch sang tiếng {name}. Cảm ơn bạn!").format(name=name))
                return
            kind, key = entry.kind, entry.key
        self.save(ctx, "offered", lang=lang, kind=kind, key=key, rec=None, skip=skip, redo=False)
        title, vietnamese = _title(ctx, kind, key, lang)
        lines = [_("Cần dịch sang tiếng {name}: {title}").format(name=name, title=title)]
        if comment:
            lines.append(_("Người duyệt đã trả lại bản trước: {comment}").format(comment=comment))
        lines += ["", vietnamese, ""]
        if _voice_wanted(kind, key):
            lines.append(
                _(
                    "Gửi tin nhắn thoại đọc câu này bằng tiếng {name}; có thể gõ thêm bản chữ. "
                    'Gõ "bỏ qua" để sang câu khác, "dừng" để nghỉ.'
                ).format(name=name)
            )
        else:
            lines.append(
                _(
                    'Đây là chữ trên một nút: gõ bản chữ tiếng {name}. Gõ "bỏ qua" để sang '
                    'câu khác, "dừng" để nghỉ.'
                ).format(name=name)
            )
        ctx.say("\n".join(lines), buttons=self._buttons(ctx, False))

    async def take_command(
        self, ctx: Context, state: FlowState | None, command: str, arg: str
    ) -> bool:
        if state is None:  # an old button: start again
            langs = await languages_of(ctx)
            if not langs:
                _not_translator(ctx)
                return True
            await self.offer(ctx, langs[0], [])
            return True
        word = {
            "bo_qua": "bo qua",
            "nghe_lai": "nghe lai",
            "gui_lai": "gui lai",
            "tiep": "tiep",
            "dung": "dung",
        }.get(arg)
        if word is None:
            return False
        return await self.take_text(ctx, state, word)

    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        _ = ctx._
        d = dict(state.data)
        lang, kind, key = d.get("lang"), d.get("kind"), d.get("key")
        if lang not in LANGUAGES or kind not in ("item", "phrase") or not isinstance(key, str):
            end_flow(ctx)
            return False
        skip = [s for s in d.get("skip") or [] if isinstance(s, str)]
        msg = ctx.msg
        if msg.media_problem:
            p = msg.media_problem
            said = _(p.msgid).format(**p.params) if hasattr(p, "msgid") else str(p)
            ctx.say(said, buttons=self._buttons(ctx, bool(d.get("rec"))))
            return True
        m = recordings.audio_of(msg)
        if m is not None:
            await self.recorded(ctx, d, m)
            return True
        if recordings.other_file(msg):
            ctx.say(
                _(
                    "Tệp này không phải âm thanh. Xin gửi tin nhắn thoại (giữ nút micro), "
                    "hoặc một tệp OGG, MP3, M4A."
                ),
                buttons=self._buttons(ctx, bool(d.get("rec"))),
            )
            return True
        if not text:
            return True
        if _is(text, STOP):
            end_flow(ctx)
            ctx.say(_("Đã dừng. Gõ /dich khi bạn muốn dịch tiếp. Cảm ơn bạn!"))
            return True
        if _is(text, SKIP) or _is(text, NEXT):
            await self.offer(ctx, lang, [*skip, f"{kind}:{key}"][-200:])
            return True
        rec = await self._draft(ctx, d)
        if _is(text, REPLAY):
            if rec is None or not rec.audio:
                ctx.say(_("Bạn chưa gửi bản ghi nào cho câu này."))
            else:
                ctx.say(
                    _("Bản ghi bạn đã gửi ({seconds} giây):").format(
                        seconds=_seconds(rec.duration)
                    ),
                    voice=store.ref_of(rec.audio),
                )
                ctx.say(_("Chưa duyệt."), buttons=self._buttons(ctx, True))
            return True
        if _is(text, REDO):
            self.save(ctx, "redo", **{**d, "redo": True})
            ctx.say(
                _("Gửi tin nhắn thoại mới: nó sẽ thay bản trước."),
                buttons=self._buttons(ctx, False),
            )
            return True
        # Anything else typed is the text version.
        value = text.strip()[:MAX_TEXT]
        if rec is None:
            rec = await self._new_draft(ctx, d, text=value)
        else:
            rec.text = value
            rec.updated_at = datetime.now(UTC)
        self.save(ctx, "recorded", **{**d, "rec": rec.id})
        ctx.say(
            _(
                'Đã lưu bản chữ, chờ duyệt. Gõ "tiếp" để sang câu sau, hoặc gửi tin nhắn '
                "thoại nếu chưa gửi."
            ),
            buttons=self._buttons(ctx, True),
        )
        return True

    async def _draft(self, ctx: Context, d: dict) -> Recording | None:
        rec_id = d.get("rec")
        if not isinstance(rec_id, int):
            return None
        rec = await repo.get(ctx.session, rec_id)
        if rec is None or rec.status != "draft" or rec.made_by != ctx.user.id:
            return None
        return rec

    async def _new_draft(self, ctx: Context, d: dict, **fields: Any) -> Recording:
        assert ctx.user is not None
        lang, kind, key = d["lang"], d["kind"], d["key"]
        rec = repo.add_draft(
            ctx.session,
            kind=kind,
            key=key,
            lang=lang,
            made_by=ctx.user.id,
            label=await label_of(ctx, lang),
            **fields,
        )
        for old in await repo.sent_back_for(ctx.session, ctx.user.id, lang):
            if (old.kind, old.key) == (kind, key):
                old.status = "replaced"  # redone: the reviewer's comment was answered
        await ctx.session.flush()
        return rec

    async def recorded(self, ctx: Context, d: dict, m) -> None:
        _ = ctx._
        name = _name(d["lang"])
        if not _voice_wanted(d["kind"], d["key"]):
            ctx.say(
                _("Câu này là chữ trên một nút: chỉ cần gõ bản chữ tiếng {name}.").format(
                    name=name
                ),
                buttons=self._buttons(ctx, bool(d.get("rec"))),
            )
            return
        try:
            kept = await recordings.take(ctx.settings, m)
        except audio.TooLong as exc:
            ctx.say(
                _(
                    "Bản ghi dài {seconds} giây, quá {limit} giây. Xin ghi ngắn hơn rồi gửi lại."
                ).format(seconds=_seconds(exc.seconds), limit=_seconds(exc.limit)),
                buttons=self._buttons(ctx, bool(d.get("rec"))),
            )
            return
        except audio.NotAudio:
            ctx.say(
                _(
                    "Tệp này không phải âm thanh. Xin gửi tin nhắn thoại (giữ nút micro), "
                    "hoặc một tệp OGG, MP3, M4A."
                ),
                buttons=self._buttons(ctx, bool(d.get("rec"))),
            )
            return
        except audio.AudioRefused:
            ctx.say(_("Chưa xử lý được bản ghi này, xin gửi lại."))
            return
        rec = await self._draft(ctx, d)
        digest = kept.digest
        old = rec.audio if rec is not None else None
        if rec is None:
            rec = await self._new_draft(
                ctx,
                d,
                audio=digest,
                original_ext=kept.original_ext,
                duration=kept.duration,
            )
        else:  # "gửi lại", or a second voice message: it replaces the first
            rec.audio, rec.original_ext = digest, kept.original_ext
            rec.duration, rec.updated_at = kept.duration, datetime.now(UTC)
        if old and old != digest and not await repo.audio_in_use(ctx.session, old, but=rec.id):
            recordings.delete_files(ctx.settings, [old])
        self.save(ctx, "recorded", **{**d, "rec": rec.id, "redo": False})
        ctx.say(
            _(
                'Đã nhận bản ghi ({seconds} giây), chờ duyệt. Gõ "nghe lại" để nghe, '
                '"gửi lại" để ghi lại, hoặc gõ bản chữ nếu có. Gõ "tiếp" để sang câu sau.'
            ).format(seconds=_seconds(kept.duration)),
            buttons=self._buttons(ctx, True),
        )


def _seconds(value: float | None) -> str:
    return str(max(1, round(value or 0)))


# ---- /duyet --------------------------------------------------------------------------------


async def reviewer_langs(ctx: Context) -> list[str]:
    langs = await languages_of(ctx)
    if ctx.role == "admin":
        langs += [code for code in coverage.LANGS if code not in langs]
    return langs


@action("review")
async def review(ctx: Context) -> None:
    langs = await reviewer_langs(ctx)
    if not langs:
        ctx.say(
            ctx._(
                "Phần này dành cho người dịch và cán bộ duyệt bản dịch. Người dịch gõ /madich "
                "và mã mời để bắt đầu."
            )
        )
        return
    wanted = [ctx.arg] if ctx.arg in langs else langs
    await REGISTRY.start_flow(ctx, ReviewFlow.name, langs=wanted)


@REGISTRY.flow
class ReviewFlow(Flow):
    """Data: langs (the reviewer's), rec (the draft shown), skip (ids), step shown|comment."""

    name = "review"
    commands = ("/duyetlenh",)

    def _buttons(self, ctx: Context) -> list[Button]:
        _ = ctx._
        return [
            Button(_("Duyệt"), "/duyetlenh duyet"),
            Button(_("Trả lại"), "/duyetlenh tra_lai"),
            Button(_("Bỏ qua"), "/duyetlenh bo_qua"),
            Button(_("Dừng"), "/duyetlenh dung"),
        ]

    async def start(self, ctx: Context, **data: Any) -> None:
        await self.show_next(ctx, list(data["langs"]), [])

    async def show_next(self, ctx: Context, langs: list[str], skip: list[int]) -> None:
        _ = ctx._
        assert ctx.user is not None
        for lang in langs:
            rec = await repo.next_draft(ctx.session, lang, ctx.user.id, skip)
            if rec is not None:
                break
        else:
            end_flow(ctx)
            ctx.say(_("Không còn bản ghi nào chờ duyệt. Cảm ơn bạn!"))
            return
        self.save(ctx, "shown", langs=langs, rec=rec.id, skip=skip)
        title, vietnamese = _title(ctx, rec.kind, rec.key, rec.lang)
        lines = [
            _("Bản tiếng {name} của người dịch {label}: {title}").format(
                name=_name(rec.lang), label=rec.made_by_label, title=title
            ),
            _("Tiếng Việt: {text}").format(text=vietnamese),
        ]
        if rec.text:
            lines.append(_("Bản chữ: {text}").format(text=rec.text))
        if not rec.audio:
            lines.append(_("(Chỉ có bản chữ, không có bản ghi âm.)"))
        if rec.audio:
            ctx.say(
                _("Nghe bản ghi ({seconds} giây):").format(seconds=_seconds(rec.duration)),
                voice=store.ref_of(rec.audio),
            )
        lines.append(_('Gõ "duyệt" nếu đúng, hoặc "trả lại" kèm điều cần sửa.'))
        ctx.say("\n".join(lines), buttons=self._buttons(ctx))

    async def take_command(
        self, ctx: Context, state: FlowState | None, command: str, arg: str
    ) -> bool:
        if state is None:
            await review(ctx)
            return True
        word = {
            "duyet": "duyet",
            "tra_lai": "tra lai",
            "bo_qua": "bo qua",
            "dung": "dung",
        }.get(arg)
        if word is None:
            return False
        return await self.take_text(ctx, state, word)

    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        _ = ctx._
        d = dict(state.data)
        langs = [lg for lg in d.get("langs") or [] if lg in LANGUAGES]
        skip = [i for i in d.get("skip") or [] if isinstance(i, int)]
        rec = await repo.get(ctx.session, d["rec"]) if isinstance(d.get("rec"), int) else None
        if not langs:
            end_flow(ctx)
            return False
        if not text:
            return True
        if state.step == "comment":
            if _is(text, STOP):
                end_flow(ctx)
                ctx.say(_("Đã dừng. Gõ /duyet khi bạn muốn duyệt tiếp."))
                return True
            await self.send_back(ctx, rec, text.strip(), langs, skip)
            return True
        if _is(text, STOP):
            end_flow(ctx)
            ctx.say(_("Đã dừng. Gõ /duyet khi bạn muốn duyệt tiếp."))
            return True
        if _is(text, SKIP):
            await self.show_next(ctx, langs, [*skip, d.get("rec")][-200:])
            return True
        if rec is None or rec.status != "draft":
            ctx.say(_("Bản ghi này đã được duyệt hoặc trả lại rồi."))
            await self.show_next(ctx, langs, skip)
            return True
        if _is(text, APPROVE):
            label = await label_of(ctx, rec.lang)
            await review_mod.approve(
                ctx.session, ctx.services.catalogs, ctx.content, rec, ctx.user.id, label
            )
            ctx.say(
                _("Đã duyệt. Từ giờ người dân nói tiếng {name} sẽ nhận bản này.").format(
                    name=_name(rec.lang)
                )
            )
            await self.show_next(ctx, langs, skip)
            return True
        folded = _word(text)
        if folded.startswith("tra lai"):
            comment = text.strip()[len("trả lại") :].strip(" :,-")
            if not comment:
                self.save(ctx, "comment", **d)
                ctx.say(_("Gõ lời nhắn cho người dịch: điều cần sửa."))
                return True
            await self.send_back(ctx, rec, comment, langs, skip)
            return True
        ctx.say(
            _('Gõ "duyệt", "trả lại" kèm điều cần sửa, "bỏ qua" hoặc "dừng".'),
            buttons=self._buttons(ctx),
        )
        return True

    async def send_back(
        self, ctx: Context, rec: Recording | None, comment: str, langs: list[str], skip: list
    ) -> None:
        _ = ctx._
        if rec is None or rec.status != "draft":
            ctx.say(_("Bản ghi này đã được duyệt hoặc trả lại rồi."))
            await self.show_next(ctx, langs, skip)
            return
        label = await label_of(ctx, rec.lang)
        await review_mod.send_back(
            ctx.session, ctx.services.catalogs, ctx.content, rec, ctx.user.id, label, comment
        )
        ctx.say(_("Đã trả lại cho người dịch, kèm lời nhắn."))
        await self.show_next(ctx, langs, skip)
