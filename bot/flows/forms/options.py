"""The options of a choice field for one user and moment: from the form or from content,
filtered by an earlier answer, searchable without diacritics (aliases count), in pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.areas import prefixes_match
from bot.flows.forms.parse import folded
from bot.flows.forms.schema import FormField, Option, forms_for

if TYPE_CHECKING:
    from bot.core.context import Context


def all_options(ctx: Context, field: FormField, answers: dict[str, Any]) -> list[Option]:
    """The field's options given the answers so far (indicators of the chosen project...)."""
    if field.source is None:
        options = list(field.choices)
    else:
        lists = forms_for(ctx.content.root).lists
        options = list(lists.source(field.source, ctx.content.areas))
        if field.source == "areas":
            names = {o.value: o.label.get("vi", "") for o in options}
            if field.levels:
                options = [o for o in options if o.extra.get("level") in field.levels]
            options = [_with_parent(o, names) for o in options]
    if field.filter is not None:
        wanted = answers.get(field.filter)
        if wanted is not None:
            options = [
                o
                for o in options
                if o.extra.get("project", o.extra.get("parent")) in (wanted, str(wanted))
                or (isinstance(o.value, str) and o.value.startswith(f"{wanted}."))
            ]
    return options


def _with_parent(option: Option, names: dict) -> Option:
    parent = option.extra.get("parent")
    if option.extra.get("level") == "village" and parent in names:
        label = {"vi": f"{option.label['vi']} ({names[parent]})"}
        return Option(option.value, label, option.aliases, option.extra)
    return option


def find(options: list[Option], value: str) -> Option | None:
    """The option whose value is `value` (a button's payload or a typed code)."""
    for o in options:
        if str(o.value) == value:
            return o
    return None


def _words(text: str) -> list[str]:
    return folded(text).replace(",", " ").replace("(", " ").replace(")", " ").split()


def search(options: list[Option], query: str) -> list[tuple[Option, str | None]]:
    """Options whose name or an alias holds every word typed (without diacritics, each word a
    prefix of a word of the name): [(option, the alias matched or None)], best first."""
    q = _words(query)
    if not q:
        return []
    exact: list[tuple[Option, str | None]] = []
    found: list[tuple[Option, str | None]] = []
    qs = " ".join(q)
    for o in options:
        names = [(o.label.get("vi", ""), None)] + [(a, a) for a in o.aliases]
        names += [(t, None) for lang, t in o.label.items() if lang != "vi"]
        for name, alias in names:
            words = _words(name)
            if prefixes_match(q, words):
                bare = " ".join(w for w in words if w not in ("xa", "thon", "lang", "phuong"))
                target = exact if qs in (" ".join(words), bare) else found
                target.append((o, alias))
                break
    return exact + found


def page(options: list, number: int, size: int) -> tuple[list, int, int]:
    """(the options on page `number`, the page shown, the number of pages)."""
    pages = max(1, -(-len(options) // size))
    number = min(max(0, number), pages - 1)
    return options[number * size : (number + 1) * size], number, pages
