"""Approved texts of UI phrases go into the gettext catalogs (on a copy of content/locales):
msgstr with a translator comment, for approved rows only; the catalog then serves them; a
phrase the code formats keeps the translator's braces literal. And through the CLI,
`python -m bot i18n import-approved`, from the database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n import Catalogs, po_path
from bot.storage.models import Recording
from bot.voice.catalog import export_approved
from bot.voice.phrases import BY_KEY
from tests.conftest import message
from tests.voice.conftest import join_translator

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def row(key: str, text: str, status: str = "approved", kind: str = "phrase") -> Recording:
    return Recording(
        kind=kind,
        key=key,
        lang="hre",
        text=text,
        status=status,
        made_by_label="hre-1",
        reviewed_label="hre-2",
        reviewed_at=WHEN,
    )


def copy_locales(tmp_path: Path) -> Path:
    target = tmp_path / "content" / "locales"
    shutil.copytree(ROOT / "content" / "locales", target)
    return target


def entry(locales: Path, msgid: str):
    with po_path(locales, "hre").open("rb") as fh:
        return read_po(fh, locale=None).get(msgid)


def test_only_approved_texts_are_written(tmp_path: Path) -> None:
    locales = copy_locales(tmp_path)
    written = export_approved(
        locales,
        [
            row("greeting", "[hre test text: greeting]"),
            row("not_understood", "[hre draft]", status="draft"),
            row("menu_policy", "[hre sent back]", status="sent_back"),
            row("language_chosen", "[hre test text {x}]"),
            row("support.housing", "[hre item text]", kind="item"),
        ],
    )
    assert written == {"hre": 2}
    greeting = entry(locales, BY_KEY["greeting"].msgid)
    assert greeting.string == "[hre test text: greeting]"
    assert any(
        "translator hre-1, approved by hre-2 on 2026-12-01" in c for c in greeting.user_comments
    )
    assert not entry(locales, BY_KEY["not_understood"].msgid).string
    assert not entry(locales, BY_KEY["menu_policy"].msgid).string
    t = Catalogs(locales).for_lang("hre")
    assert t._(BY_KEY["greeting"].msgid) == "[hre test text: greeting]"
    chosen = t._(BY_KEY["language_chosen"].msgid).format(name="Hrê")
    assert chosen == "[hre test text {x}]"  # the braces the translator typed, kept
    # Written again (a second import): one comment, not two.
    export_approved(locales, [row("greeting", "[hre test text: greeting]")])
    assert (
        len([c for c in entry(locales, BY_KEY["greeting"].msgid).user_comments if "hre-1" in c])
        == 1
    )


async def test_the_cli_imports_from_the_database(pipeline, services, settings, db_url, tmp_path):
    await join_translator(pipeline, services, "tr-a")
    await join_translator(pipeline, services, "tr-b")
    offer = await pipeline.handle(message("/dich", sender="tr-a"))  # nothing asked: a phrase
    assert "Câu trong hội thoại" in offer.replies[0].text
    await pipeline.handle(message("[hre test text: welcome]", sender="tr-a"))
    await pipeline.handle(message("/duyet", sender="tr-b"))
    await pipeline.handle(message("duyệt", sender="tr-b"))
    locales = copy_locales(tmp_path)
    env = {**os.environ, "DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "i18n", "import-approved", "--root", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "hre: 1 approved text(s) written" in done.stdout
    assert entry(locales, BY_KEY["welcome"].msgid).string == "[hre test text: welcome]"
    assert not entry(ROOT / "content" / "locales", BY_KEY["welcome"].msgid).string  # a copy


def copy_content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(ROOT / "content", target)
    return target


def test_approved_item_texts_go_into_the_content_files(tmp_path: Path) -> None:
    """On a copy of content/: the approved text becomes the item's `answer.hre` with the
    translator comment, the file keeps its comments, every other answer is unchanged, a draft
    is never written, and a second export replaces the first instead of adding one."""
    from bot.content import load_content
    from bot.voice.catalog import export_item_texts

    content = copy_content(tmp_path)
    path = content / "items" / "support.yml"
    before = path.read_text(encoding="utf-8")
    comments = [ln for ln in before.splitlines() if ln.lstrip().startswith("#")]
    items = {i.id: i for i in load_content(content).items}
    housing = next(i for i in items if i.startswith("support.") and "40" in items[i].answer["vi"])
    out = export_item_texts(
        content,
        [
            row(housing, "[hre test text: housing]\nline two", kind="item"),
            row("support.loans", "[hre draft]", status="draft", kind="item"),
            row("no.such_item", "[hre test]", kind="item"),
        ],
    )
    assert out == {"written": [housing], "skipped": ["no.such_item"]}
    after = {i.id: i for i in load_content(content).items}
    assert after[housing].answer["hre"].strip() == "[hre test text: housing]\nline two"
    assert after[housing].answer["vi"] == items[housing].answer["vi"]
    assert "hre" not in after["support.loans"].answer
    assert {k: v.answer for k, v in after.items() if k != housing} == {
        k: v.answer for k, v in items.items() if k != housing
    }
    text = path.read_text(encoding="utf-8")
    assert "# Làng Số: translator hre-1, approved by hre-2 on 2026-12-01" in text
    assert all(c in text.splitlines() for c in comments)  # the editors' comments stay
    export_item_texts(content, [row(housing, "[hre test text: second]", kind="item")])
    again = path.read_text(encoding="utf-8")
    assert again.count(f"{'hre'}: |") == 1 and "[hre test text: housing]" not in again
    assert load_content(content).by_id()[housing].answer["hre"].strip() == (
        "[hre test text: second]"
    )
