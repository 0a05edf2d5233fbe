"""What a former commune is now, and what a commune was made of: answered from the area tree.

Since the 2025 reorganisation (no district level, Kon Tum joined) villagers ask "xã Ba Thành giờ
thuộc xã nào" and "xã Ba Động gồm những xã nào". The area tree (content/areas.yml, built from
the official list) holds every commune's former units and the resolution that merged them, so
the answer is read from it, never from a content item that merely mentions the place (the
brocade item names xã Ba Thành, and used to answer that question with its facts).

A registry shortcut, read before the NLU: a message that names a commune, current or former, by
its whole name, and asks where it is now or what it was made of. Anything else naming a place
("mua quế ở Trà Bồng") goes to the NLU as before.
"""

from __future__ import annotations

import re

from actions.answers import answer_by_id
from bot.areas import Match, areas_of, words
from bot.core.context import Context
from bot.core.registry import action, shortcut

ADMIN_CHANGES = "programme.admin_changes"  # the content item on the 2025 reorganisation

# Folded, whole words. "Where is it now": "giờ thuộc xã nào", "nay là xã gì", "sáp nhập vào
# đâu", "tên mới là gì", "còn không". "What was it made of": "gồm những xã nào", "nhập từ đâu".
_NOW = re.compile(
    r"\b(gio|nay|bay gio|hien nay|hien gio|hien tai|sau sap nhap|sau sap xep)\b.*"
    r"\b(thuoc|la|ve|nam|o)\b.*\b(xa|phuong|dac khu|dau|nao|gi|mo|chi)\b"
    r"|\b(sap nhap|nhap|hop nhat|gop|sap xep)\b.*\b(vao|voi|thanh|ve)\b.*"
    r"\b(xa|phuong|dac khu|dau|nao|gi|mo|chi)\b"
    r"|\bthuoc (xa|phuong|dac khu) (nao|gi|chi)\b"
    r"|\bthuoc (ve )?(dau|mo)\b"
    r"|\bten moi\b"
    r"|\bcon (khong|ko|k|hong)\s*$"
)
_MADE_OF = re.compile(
    r"\b(gom|gop tu|nhap tu|hop nhat tu|sap nhap tu|lap tu|tao tu|tu nhung|tu cac)\b"
    r"|\b(nhung|cac) (xa|phuong|don vi) (cu )?nao\b"
)


def _folded(text: str) -> str:
    return " ".join(words(text))  # the area tree's own folding (bot/areas.py)


@shortcut
def area_question(ctx: Context, text: str) -> tuple[str, str] | None:
    """A question about a commune's (or a former district's) place since the reorganisation
    ("ask_area"), or None."""
    if len(text) > 200:
        return None
    folded = _folded(text)
    if not (_NOW.search(folded) or _MADE_OF.search(folded)):
        return None
    if areas_of(ctx.content).mentions(text) or re.search(r"\bhuyen\b", folded):
        return ("ask_area", text)
    return None


def _code(ctx: Context, match: Match) -> str:
    code = match.area.official_code
    return " (" + ctx._("mã {code}").format(code=code) + ")" if code else ""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


@action("ask_area")
async def answer_area(ctx: Context) -> None:
    # Reported as the policy question it is (the intents are one fixed list, nlu/intents.py);
    # the turn's actions say it was answered from the area tree.
    ctx.turn.intent = "ask_policy"
    _ = ctx._
    found = areas_of(ctx.content).mentions(ctx.arg)
    if not found:
        # A former district ("huyện Sơn Tây giờ thuộc đâu"): the list has no districts; what
        # changed is said by the reorganisation item.
        if ADMIN_CHANGES in ctx.content.by_id():
            await answer_by_id(ctx, ADMIN_CHANGES)
        else:
            ctx.say(
                _("Tôi không tìm thấy tên xã, phường này. Bạn gõ tên đầy đủ, ví dụ: xã Ba Thành.")
            )
        return
    made_of = bool(_MADE_OF.search(_folded(ctx.arg)))
    lines: list[str] = []
    for m in found:
        if m.alias is not None and not made_of:
            lines.append(_sentence(m.describe()) + _code(ctx, m) + ".")
        elif m.area.aliases:
            # "Merged into", not "made of": the list leaves out a former unit of the same name.
            lines.append(
                _("Các đơn vị cũ nhập vào {name}{code}: {units}.").format(
                    name=m.area.name, code=_code(ctx, m), units=", ".join(m.area.aliases)
                )
            )
        else:
            lines.append(
                _("{name}{code}: danh mục không ghi đơn vị cũ nào nhập vào.").format(
                    name=_sentence(m.area.name), code=_code(ctx, m)
                )
            )
    sources = sorted({m.area.source for m in found if m.area.source})
    source = "; ".join(sources) or _("danh mục đơn vị hành chính của tỉnh")
    lines.append(_("Không còn cấp huyện nữa: xã báo cáo thẳng lên tỉnh."))
    lines.append(_("Nguồn: {source}").format(source=source))
    ctx.say("\n".join(lines))
