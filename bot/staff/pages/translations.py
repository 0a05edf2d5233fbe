"""Translations on the dashboard: coverage per language, and review of translators' drafts.

- `/staff/translations`: per minority language, how many items and UI phrases have approved
  audio, approved text, or neither, the drafts waiting and the translators; `?lang=hre` lists
  that language's drafts (listen with an <audio> element, read the text, approve, or send back
  with a comment) and its gaps, most asked first (bot/voice/coverage.py).
- `/staff/translations/{id}/audio.m4a`: a recording for a logged-in account, private, never
  cached (drafts are the translator's personal data; approved ones are public at /voice/).
- `POST /staff/translations/{id}/review`: approve, or send back with a comment; the translator
  is told in the chat (bot/voice/review.py); an audit entry either way.

Province and admin accounts review (the languages are the province's); commune accounts see
the coverage. Translators appear by their label ("hre-3"), never a chat id.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from bot.i18n import LANGUAGES
from bot.staff import audit
from bot.staff.auth import check_csrf, current_staff, require, services_of
from bot.storage.repositories import voice as repo
from bot.voice import coverage, review
from bot.voice.store import VoiceStore

routes = web.RouteTableDef()
NAV = ("Bản dịch", "/staff/translations", 60, ("admin", "province", "commune"))
REVIEWERS = ("admin", "province")
GAPS_SHOWN = 30
DONE = {
    "approved": "Đã duyệt: người dân nói tiếng này sẽ nhận bản này.",
    "sent_back": "Đã trả lại cho người dịch, kèm lời nhắn.",
}


def _refuse(message: str, cls: type[web.HTTPException] = web.HTTPBadRequest) -> web.HTTPException:
    exc = cls(text=message)
    exc.message = message  # type: ignore[attr-defined]
    return exc


def _rec_id(request: web.Request) -> int:
    raw = request.match_info.get("id", "")
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    return int(raw)


@routes.get("/staff/translations")
async def translations_page(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    lang = request.query.get("lang", "")
    errors = []
    if lang and lang not in coverage.LANGS:
        errors.append(f"Ngôn ngữ: một trong {', '.join(coverage.LANGS)}.")
        lang = ""
    async with services.sessionmaker() as session:
        summaries = await coverage.summaries(session, services.content, services.catalogs)
        drafts, gaps = [], []
        if lang:
            t = services.catalogs.for_lang(lang)
            entries = await coverage.entries(session, services.content, lang, t)
            gaps = [e for e in entries if e.neither][:GAPS_SHOWN]
            for rec in await repo.drafts(session, lang):
                title, vietnamese = review.title_of(services.content, rec.kind, rec.key, lang)
                drafts.append({"rec": rec, "title": title, "vietnamese": vietnamese})
    done = DONE.get(request.query.get("done", ""))
    return aiohttp_jinja2.render_template(
        "translations/index.html",
        request,
        {
            "summaries": summaries,
            "lang": lang,
            "lang_name": LANGUAGES.get(lang, ""),
            "drafts": drafts,
            "gaps": gaps,
            "errors": errors,
            "done": done,
            "can_review": staff.role in REVIEWERS,
        },
        status=400 if errors else 200,
    )


@routes.get("/staff/translations/{id}/audio.m4a")
async def recording_audio(request: web.Request) -> web.StreamResponse:
    await current_staff(request)
    services = services_of(request)
    async with services.sessionmaker() as session:
        rec = await repo.get(session, _rec_id(request))
    fmt = services.settings.voice.web_format
    store = VoiceStore(services.settings.path(services.settings.voice.dir))
    path = store.path(rec.audio, fmt) if rec is not None and rec.audio else None
    if path is None or not path.is_file():
        raise web.HTTPNotFound(text="Không có bản ghi.")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "audio/mp4" if fmt == "m4a" else "audio/mpeg",
            "Cache-Control": "private, no-store",
        },
    )


@routes.post("/staff/translations/{id}/review")
async def recording_review(request: web.Request) -> web.StreamResponse:
    staff = require(await current_staff(request), *REVIEWERS)
    form = await check_csrf(request)
    services = services_of(request)
    rec_id = _rec_id(request)
    verdict = str(form.get("verdict") or "")
    comment = str(form.get("comment") or "").strip()
    if verdict not in ("approved", "sent_back"):
        raise _refuse("Chọn: duyệt, hoặc trả lại kèm lời nhắn.")
    if verdict == "sent_back" and not comment:
        raise _refuse("Trả lại cần lời nhắn: ghi rõ người dịch cần sửa gì.")
    if len(comment) > review.MAX_COMMENT:
        raise _refuse(f"Lời nhắn dài quá {review.MAX_COMMENT} ký tự.")
    label = f"staff:{staff.id}"
    async with services.writing() as session:
        rec = await repo.get(session, rec_id)
        if rec is None:
            raise web.HTTPNotFound(text="Không có bản ghi.")
        if rec.status != "draft":
            raise _refuse("Bản này đã được duyệt hoặc trả lại rồi.", web.HTTPConflict)
        args = (session, services.catalogs, services.content, rec, None, label)
        if verdict == "approved":
            told = await review.approve(*args)
        else:
            told = await review.send_back(*args, comment)
        await audit.record(
            session,
            staff,
            f"translation.{verdict}",
            target=f"recording:{rec_id}",
            detail={"lang": rec.lang, "kind": rec.kind, "key": rec.key, "notified": told},
        )
        lang = rec.lang
        await session.commit()
    raise web.HTTPSeeOther(f"/staff/translations?lang={lang}&done={verdict}")
