"""Approved phrase texts into the gettext catalogs, so the translators' git workflow keeps
working: `python -m bot i18n import-approved` (bot/__main__.py) writes each approved text of a
UI phrase as the msgstr of its msgid in `content/locales/<lang>/LC_MESSAGES/messages.po`, with a
translator comment saying who made and approved it (labels, never a chat id) and when. Drafts
and sent-back texts are never written. A msgid the catalog does not have yet (not extracted) is
added. The file is written the way `make i18n-update` writes it (bot/i18n.py), so the next
update keeps the translation. Approved texts of content items go into `content/items/*.yml` as
the item's `answer.<lang>` (`export_item_texts`), with the same comment above them: the file is
edited line by line so the editors' comments and layout stay, and it is written only when it
still loads with every item unchanged but that answer (otherwise it is left as it was and the
item is reported). Recordings stay under `voice.dir` (the bot sends them from there).
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


def _note(r) -> str:
    when = r.reviewed_at.strftime("%Y-%m-%d") if r.reviewed_at else "?"
    return f"{COMMENT}translator {r.made_by_label}, approved by {r.reviewed_label or '?'} on {when}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _with_answer(lines: list[str], item_id: str, lang: str, text: str, note: str) -> bool:
    """Set item `item_id`'s `answer.<lang>` in a file's lines (in place); False when the item or
    its `answer:` block is not found in the layout this project's content files use."""
    head = next((i for i, ln in enumerate(lines) if ln.strip() == f"- id: {item_id}"), None)
    if head is None:
        return False
    item_indent = _indent(lines[head])
    end = next(
        (
            i
            for i in range(head + 1, len(lines))
            if lines[i].strip() and _indent(lines[i]) <= item_indent
        ),
        len(lines),
    )
    answer = next((i for i in range(head + 1, end) if lines[i].strip() == "answer:"), None)
    if answer is None:
        return False
    key_indent = _indent(lines[answer]) + 2
    block_end = next(
        (i for i in range(answer + 1, end) if lines[i].strip() and _indent(lines[i]) < key_indent),
        end,
    )
    # Drop an earlier `<lang>:` (and the comment this export wrote above it).
    i = answer + 1
    while i < block_end:
        ln = lines[i]
        if _indent(ln) == key_indent and ln.strip().startswith(f"{lang}:"):
            j = i + 1
            while j < block_end and (not lines[j].strip() or _indent(lines[j]) > key_indent):
                j += 1
            start = i - 1 if lines[i - 1].strip().startswith(f"# {COMMENT}") else i
            del lines[start:j]
            block_end -= j - start
            i = start
            continue
        i += 1
    while block_end > answer + 1 and not lines[block_end - 1].strip():
        block_end -= 1  # keep blank lines after the block after it
    pad = " " * key_indent
    body = [f"{pad}  {t}".rstrip() for t in text.strip().splitlines()]
    lines[block_end:block_end] = [f"{pad}# {note}", f"{pad}{lang}: |", *body]
    return True


def _only_these_changed(before, after, expected: dict[tuple[str, str], str]) -> bool:
    """Whether `after` loads cleanly with the same items as `before`, each answer the same but
    the `expected` ones ({(item id, lang): text}), which hold their new text."""
    if after.errors or {i.id for i in after.items} != {i.id for i in before.items}:
        return False
    old = {i.id: i for i in before.items}
    for item in after.items:
        langs = set(item.answer) | set(old[item.id].answer)
        for lang in langs | {lg for (iid, lg) in expected if iid == item.id}:
            want = expected.get((item.id, lang), old[item.id].answer.get(lang))
            if (item.answer.get(lang) or "").strip() != (want or "").strip():
                return False
    return True


def export_item_texts(content_dir: Path, rows: Iterable) -> dict[str, list[str]]:
    """Write approved item texts (Recording rows) as `answer.<lang>` into the content files;
    {"written": [item ids], "skipped": [item ids whose file could not be edited safely]}."""
    from bot.content import load_content

    latest: dict[tuple[str, str], object] = {}
    for r in rows:  # oldest first: a later approval wins
        if r.status == "approved" and r.kind == "item" and r.text and r.lang != "vi":
            latest[(r.key, r.lang)] = r
    before = load_content(content_dir)
    where = {}
    for path in sorted((content_dir / "items").glob("*.yml")):
        for ln in path.read_text(encoding="utf-8").splitlines():
            if ln.strip().startswith("- id: "):
                where[ln.strip()[len("- id: ") :]] = path
    out: dict[str, list[str]] = {"written": [], "skipped": []}
    by_file: dict[Path, list] = {}
    for (item_id, _lang), r in sorted(latest.items()):
        if item_id in where:
            by_file.setdefault(where[item_id], []).append(r)
        else:
            out["skipped"].append(item_id)
    for path, found in by_file.items():
        original = path.read_text(encoding="utf-8")
        lines = original.splitlines()
        done = [r for r in found if _with_answer(lines, r.key, r.lang, r.text, _note(r))]
        out["skipped"] += [r.key for r in found if r not in done]
        if not done:
            continue
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        after = load_content(content_dir)
        expected = {(r.key, r.lang): r.text.strip() for r in done}
        if not _only_these_changed(before, after, expected):  # leave the file as it was
            path.write_text(original, encoding="utf-8")
            out["skipped"] += [r.key for r in done]
            continue
        before = after
        out["written"] += [r.key for r in done]
    return out


async def import_approved(session, locales_dir: Path) -> dict[str, int]:
    """Every approved phrase text from the database into the catalogs under `locales_dir`, and
    every approved item text into the content files beside them (`content/items`)."""
    from bot.storage.repositories import voice as repo

    written = export_approved(locales_dir, await repo.approved_all(session, kind="phrase"))
    items = export_item_texts(locales_dir.parent, await repo.approved_all(session, kind="item"))
    written["items"] = len(items["written"])
    if items["skipped"]:
        written["items skipped"] = len(items["skipped"])
    return written


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
