"""Approved phrase texts into the gettext catalogs, so the translators' git workflow keeps
working: `python -m bot i18n import-approved` (bot/__main__.py) writes each approved text of a
UI phrase as the msgstr of its msgid in `content/locales/<lang>/LC_MESSAGES/messages.po`, with a
translator comment saying who made and approved it (labels, never a chat id) and when. Drafts
and sent-back texts are never written. A msgid the catalog does not have yet (not extracted) is
added. The file is written the way `make i18n-update` writes it (bot/i18n.py), so the next
update keeps the translation. Content items' texts stay in the database (villagers get them from
there); writing them into content/items/*.yml is left to the content editors.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from babel.messages.pofile import read_po

from bot import i18n
from bot.voice.phrases import BY_KEY
from bot.voice.publish import braces

COMMENT = "Làng Số: "


def export_approved(locales_dir: Path, rows: Iterable) -> dict[str, int]:
    """Write approved phrase texts (Recording rows) into the catalogs; {lang: written}."""
    by_lang: dict[str, list] = {}
    for r in rows:
        if r.status == "approved" and r.kind == "phrase" and r.text and r.key in BY_KEY:
            by_lang.setdefault(r.lang, []).append(r)
    written: dict[str, int] = {}
    for lang, found in sorted(by_lang.items()):
        if lang not in i18n.LANGUAGES or lang == i18n.SOURCE_LANGUAGE:
            continue
        path = i18n.po_path(locales_dir, lang)
        if path.is_file():
            with path.open("rb") as fh:
                cat = read_po(fh, locale=None, domain=i18n.DOMAIN)
        else:
            cat = i18n._new_catalog(lang)
        n = 0
        for r in sorted(found, key=lambda r: (r.reviewed_at is None, r.reviewed_at, r.id)):
            msgid = BY_KEY[r.key].msgid
            text = braces(r.text) if "{" in msgid else r.text
            msg = cat.get(msgid)
            if msg is None:
                cat.add(msgid, text)
                msg = cat.get(msgid)
            msg.string = text
            msg.flags.discard("fuzzy")
            when = r.reviewed_at.strftime("%Y-%m-%d") if r.reviewed_at else "?"
            note = (
                f"{COMMENT}translator {r.made_by_label}, approved by "
                f"{r.reviewed_label or '?'} on {when}"
            )
            msg.user_comments = [c for c in msg.user_comments if not c.startswith(COMMENT)]
            msg.user_comments.append(note)
            n += 1
        i18n._write_po(path, cat, lang)
        written[lang] = n
    return written


async def import_approved(session, locales_dir: Path) -> dict[str, int]:
    """Every approved phrase text from the database into the catalogs under `locales_dir`."""
    from bot.storage.repositories import voice as repo

    return export_approved(locales_dir, await repo.approved_all(session, kind="phrase"))


def cli_import(config: str, root: Path) -> int:
    """`python -m bot i18n import-approved [--root .]`: prints what was written per language."""
    import asyncio

    from bot.config import load_settings
    from bot.storage.db import resolve_url, with_session

    settings = load_settings(config)
    locales = Path(root) / "content" / "locales"
    written = asyncio.run(
        with_session(
            resolve_url(settings.database_url, settings.base_dir),
            lambda s: import_approved(s, locales),
        )
    )
    if not written:
        print("no approved texts of UI phrases yet (recordings alone are not written)")
    for lang, n in written.items():
        print(f"{lang}: {n} approved text(s) written to {i18n.po_path(locales, lang)}")
    print("then: make i18n-compile (or restart the bot) so the catalogs are used")
    return 0
