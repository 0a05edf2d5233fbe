"""The area tree, queried: by dotted code or official code, children and subtrees, and search by
a typed name, without diacritics, former names included.

    tree = areas_of(ctx.content)              # built once per Content
    tree.get("qng.ba_dong") / tree.get("21496")
    tree.subtree("qng.ba_dong")               # the commune and its villages
    for m in tree.search("xa ba thanh"):      # -> Match(area=xã Ba Động, alias="xã Ba Thành")
        m.describe()                          # "xã Ba Thành cũ, nay là xã Ba Động"

`search` folds the way typed answers are compared everywhere (nlu.normalize.fold): each word
typed must begin a word of the name or of a former name, in order; the type words (xã, phường,
thôn, làng, thị trấn...) may be left out. The whole name as typed comes first, then the name
without its type word, then the rest; a current name before a former one; among equals, the one
whose diacritics are the ones typed ("Ba Tô" before "Ba Tơ"); then tree order.
The areas come from `content/areas.yml` (bot/content.py), built by bot/areas_build.py.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nlu.normalize import fold

if TYPE_CHECKING:
    from bot.content import Area, Content

_TYPE_PREFIX_MARKED = re.compile(
    r"^(thị trấn|đặc khu|tổ dân phố|xã|phường|huyện|thôn|làng|bản|buôn) "
)
_TYPE_PREFIX = re.compile(r"^(thi tran|dac khu|to dan pho|xa|phuong|huyen|thon|lang|ban|buon) ")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text).lower())


def _bare(ws: list[str]) -> str:
    return _TYPE_PREFIX.sub("", " ".join(ws), count=1)


def _marked(text: str) -> str:
    """Lower case, single spaces, diacritics kept (NFC)."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def _marked_forms(name: str) -> tuple[str, str]:
    marked = _marked(name)
    bare = _TYPE_PREFIX_MARKED.sub("", marked, count=1)
    return marked, bare


@dataclass(frozen=True)
class Match:
    """An area found by a typed name; `alias` is the former name that matched, if one did."""

    area: Area
    alias: str | None = None
    exact: bool = False

    def describe(self) -> str:
        """The area's name; by a former name: "xã Ba Thành cũ, nay là xã Ba Động"."""
        if self.alias is None:
            return self.area.name
        part = dict(self.area.alias_parts).get(self.alias)
        old = f"{self.alias} cũ ({part})" if part else f"{self.alias} cũ"
        return f"{old}, nay là {self.area.name}"


def prefixes_match(query: list[str], name: list[str]) -> bool:
    """Each query word begins a word of the name, in order (words between may be skipped: "ba
    dong" matches "xa ba dong"). Also the form engine's choice search (bot/flows/forms/options)."""
    i = 0
    for q in query:
        while i < len(name) and not name[i].startswith(q):
            i += 1
        if i == len(name):
            return False
        i += 1
    return True


class AreaTree:
    """The areas of one Content, indexed."""

    def __init__(self, areas: list[Area] | tuple[Area, ...]) -> None:
        self.areas = tuple(areas)
        self.by_code = {a.code: a for a in self.areas}
        self.by_official = {a.official_code: a for a in self.areas if a.official_code}
        self.kids: dict[str | None, list[Area]] = {}
        for a in self.areas:
            self.kids.setdefault(a.parent, []).append(a)
        self._names = [
            (a, [(words(a.name), None)] + [(words(al), al) for al in a.aliases]) for a in self.areas
        ]

    def mentions(self, text: str, levels: tuple[str, ...] = ("commune",)) -> list[Match]:
        """The areas a free text names by a whole name, current or former ("xã Ba Thành giờ
        thuộc xã nào" -> xã Ba Động by "xã Ba Thành"), left to right, longest name first. A
        name without its type word counts when it has two words or more ("ba thanh"), so a
        lone word ("Tây") is never taken for a place; every area of a shared name is kept."""
        ws = words(text)
        index = self._name_index(levels)
        out: list[Match] = []
        i = 0
        while i < len(ws):
            for size in range(min(_LONGEST, len(ws) - i), 0, -1):
                found = index.get(" ".join(ws[i : i + size]))
                if found and i > 0 and ws[i - 1] in _OTHER_LEVELS:
                    found = None  # "huyện Sơn Tây" (a district, gone) is not xã Sơn Tây
                if found:
                    out += [m for m in found if m not in out]
                    i += size
                    break
            else:
                i += 1
        return out

    def _name_index(self, levels: tuple[str, ...]) -> dict[str, list[Match]]:
        cached = self.__dict__.setdefault("_indexes", {}).get(levels)
        if cached is not None:
            return cached
        index: dict[str, list[Match]] = {}
        for area, names in self._names:
            if levels and area.level not in levels:
                continue
            for name, alias in names:
                bare = _bare(name).split()
                for key in {" ".join(name), " ".join(bare) if len(bare) >= 2 else ""} - {""}:
                    index.setdefault(key, []).append(Match(area, alias, exact=True))
        self.__dict__["_indexes"][levels] = index
        return index

    def get(self, code: str) -> Area | None:
        """By dotted code ("qng.ba_dong"), its last part when unique ("ba_dong"), or official
        code ("21496")."""
        code = code.strip()
        found = self.by_code.get(code) or self.by_official.get(code)
        if found is None and code and "." not in code:
            tails = [a for a in self.areas if a.code.rsplit(".", 1)[-1] == code]
            found = tails[0] if len(tails) == 1 else None
        return found

    def children(self, code: str | None) -> list[Area]:
        return list(self.kids.get(code, []))

    def subtree(self, code: str) -> list[Area]:
        """The area and everything under it, in tree order; [] when there is no such area."""
        root = self.by_code.get(code)
        if root is None:
            return []
        out = [root]
        for child in self.kids.get(code, []):
            out += self.subtree(child.code)
        return out

    def path(self, code: str) -> list[Area]:
        """From the root down to the area."""
        out: list[Area] = []
        area = self.by_code.get(code)
        while area is not None:
            out.insert(0, area)
            area = self.by_code.get(area.parent) if area.parent else None
        return out

    def within(self, code: str, ancestor: str) -> bool:
        return code == ancestor or code.startswith(ancestor + ".")

    def search(
        self, text: str, levels: tuple[str, ...] = (), limit: int | None = None
    ) -> list[Match]:
        """Areas whose name or a former name holds the typed words; best first."""
        q = words(text)
        if not q:
            return []
        qs, bare_q = " ".join(q), _bare(q)
        typed = _marked(text)  # with its diacritics: "Ba Tô" is not "Ba Tơ"
        ranked: list[tuple[int, int, Match]] = []
        for n, (area, names) in enumerate(self._names):
            if levels and area.level not in levels:
                continue
            best: tuple[int, Match] | None = None
            for name, alias in names:
                joined, bare = " ".join(name), _bare(name)
                former = alias is not None
                if qs == joined:
                    rank = 0 + former  # the whole name as typed
                elif bare_q == bare or qs == bare:
                    rank = 2 + former  # the name without its type word
                elif prefixes_match(q, name):
                    rank = 4 + former  # every word typed begins a word of the name
                else:
                    continue
                rank *= 2
                if rank < 8 and typed in _marked_forms(alias or area.name):
                    rank -= 1  # the same letters, diacritics included, go first
                if best is None or rank < best[0]:
                    best = (rank, Match(area, alias, exact=rank < 8))
            if best is not None:
                ranked.append((best[0], n, best[1]))
        found = [m for _, _, m in sorted(ranked, key=lambda r: (r[0], r[1]))]
        return found[:limit] if limit else found


_OTHER_LEVELS = frozenset(("huyen", "tinh", "quan", "thanh pho"))
_LONGEST = 5  # words in the longest area name with its type word ("thị trấn Ba Tơ": 4)

_trees: dict[int, tuple[object, AreaTree]] = {}


def tree_of(areas: list[Area] | tuple[Area, ...]) -> AreaTree:
    """The indexed tree of these areas (built once per list: content does not change while the
    bot runs)."""
    key = id(areas)
    cached = _trees.get(key)
    if cached is not None and cached[0] is areas and len(cached[1].areas) == len(areas):
        return cached[1]
    tree = AreaTree(areas)
    if len(_trees) > 8:
        _trees.clear()
    _trees[key] = (areas, tree)
    return tree


def areas_of(content: Content) -> AreaTree:
    return tree_of(content.areas)


def search(content: Content, text: str, levels: tuple[str, ...] = ()) -> list[Match]:
    """Areas of `content` found by a typed name ("xa ba thanh" -> xã Ba Động by its former
    name); see `AreaTree.search`."""
    return areas_of(content).search(text, levels)
