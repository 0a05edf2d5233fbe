"""UI strings through gettext, with Babel catalogs for vi, hre, cua and sed.

Message ids are the Vietnamese source text: the province's translators work from Vietnamese. The
`vi` catalog is complete; `hre` (Hrê), `cua` (Cor) and `sed` (Ca Dong) fall back to Vietnamese
string by string. Babel has no CLDR data for those three codes (`Locale.parse('hre')` raises), so
dates and numbers are formatted the Vietnamese way for them, and the extract / update / compile
workflow below writes their catalogs without asking Babel for a locale.
"""

from __future__ import annotations

import copy
import gettext
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal

LANGUAGES: dict[str, str] = {"vi": "Tiếng Việt", "hre": "Hrê", "cua": "Cor", "sed": "Ca Dong"}
SOURCE_LANGUAGE = "vi"
DOMAIN = "messages"
PLURAL_FORMS = "nplurals=1; plural=0;"  # Vietnamese has no plural inflection
# Where Babel lacks CLDR data, format like this locale.
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"  # Quảng Ngãi; `timezone` in config.yml
CLDR_FALLBACK = {"hre": "vi", "cua": "vi", "sed": "vi"}
EXTRACT_DIRS = ("bot", "actions")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now."""
    return message


def cldr_locale(lang: str) -> Locale:
    return Locale.parse(CLDR_FALLBACK.get(lang, lang))


def format_date(value: date, lang: str, fmt: str = "short") -> str:
    return _babel_format_date(value, format=fmt, locale=cldr_locale(lang))


def format_datetime(
    value: datetime, lang: str, fmt: str = "short", tz: str | tzinfo | None = None
) -> str:
    """A time as users read it: in the province's time zone (`Settings.timezone`; `tz` None:
    DEFAULT_TIMEZONE), never the server's or UTC. A naive `value` is UTC (as stored)."""
    zone = tz if isinstance(tz, tzinfo) else ZoneInfo(tz or DEFAULT_TIMEZONE)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return _babel_format_datetime(value, format=fmt, tzinfo=zone, locale=cldr_locale(lang))


def format_number(value: float | int, lang: str) -> str:
    return format_decimal(value, locale=cldr_locale(lang))


@dataclass(frozen=True)
class Translator:
    """gettext for one language, falling back to Vietnamese string by string."""

    lang: str
    translations: gettext.NullTranslations

    def _(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def has(self, message: str) -> bool:
        """True when this language itself (not the fallback) translates `message`."""
        own = getattr(self.translations, "_catalog", {})
        return bool(own.get(message))


class Catalogs:
    """Loads compiled catalogs once; `for_lang` is cheap afterwards."""

    def __init__(self, locales_dir: Path, compiled_dir: Path | None = None) -> None:
        self.locales_dir = Path(locales_dir)
        self.compiled_dir = Path(compiled_dir) if compiled_dir else None
        self._cache: dict[str, Translator] = {}

    def _load(self, lang: str) -> gettext.NullTranslations:
        po = self.locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        if not po.is_file():
            return gettext.NullTranslations()
        mo = None
        if self.compiled_dir:
            mo = self.compiled_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo is None or not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime:
            buf = io.BytesIO()
            with po.open("rb") as fh:
                write_mo(buf, read_po(fh, locale=None, domain=DOMAIN), use_fuzzy=False)
            buf.seek(0)
            return gettext.GNUTranslations(buf)
        with mo.open("rb") as fh:
            return gettext.GNUTranslations(fh)

    def for_lang(self, lang: str) -> Translator:
        if lang not in LANGUAGES:
            lang = SOURCE_LANGUAGE
        tr = self._cache.get(lang)
        if tr is None:
            translations = self._load(lang)
            if lang != SOURCE_LANGUAGE:
                translations.add_fallback(self.for_lang(SOURCE_LANGUAGE).translations)
            tr = Translator(lang, translations)
            self._cache[lang] = tr
        return tr


# --- translators' workflow: extract, update, compile -------------------------------------------


def _new_catalog(lang: str | None) -> Catalog:
    # locale=None: Babel would refuse hre/cua/sed; the Language header is set by hand instead.
    cat = Catalog(
        locale=None,
        domain=DOMAIN,
        project="Làng Số",
        version="1",
        charset="utf-8",
        msgid_bugs_address="",
        copyright_holder="UBND tỉnh Quảng Ngãi",
    )
    cat.language_team = f"{LANGUAGES.get(lang, '')} <>" if lang else ""
    if lang:
        cat._language = lang
    return cat


def extract(root: Path) -> Catalog:
    """Collect every marked UI string from the source tree into a template catalog."""
    template = _new_catalog(None)
    method_map = [("**.py", "python")]
    for d in EXTRACT_DIRS:
        base = root / d
        if not base.is_dir():
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
            str(base),
            method_map=method_map,
            keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True,
        ):
            template.add(
                message,
                None,
                [(f"{d}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
            )
    return template


def _write_po(path: Path, catalog: Catalog, lang: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, sort_output=True, omit_header=False)
    text = buf.getvalue().decode("utf-8")
    # Babel writes no Language header without a CLDR locale; add it (gettext tools need it).
    lines = text.splitlines()
    header_plural = f'"Plural-Forms: {PLURAL_FORMS}\\n"'
    lines = [
        line
        for line in lines
        if not line.startswith('"Plural-Forms:') and not line.startswith('"Language:')
    ]
    for i, line in enumerate(lines):
        if line.startswith('"Content-Type:'):
            extra = [header_plural] + ([f'"Language: {lang}\\n"'] if lang else [])
            lines[i:i] = extra
            break
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def po_path(locales_dir: Path, lang: str) -> Path:
    return locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def update(
    locales_dir: Path, template: Catalog, langs: list[str] | None = None
) -> dict[str, tuple[int, int]]:
    """Merge the template into each language's catalog; vi is filled with the source text.

    Returns {lang: (translated, total)}.
    """
    locales_dir.mkdir(parents=True, exist_ok=True)
    _write_po(locales_dir / f"{DOMAIN}.pot", template, None)
    stats: dict[str, tuple[int, int]] = {}
    for lang in langs or list(LANGUAGES):
        path = po_path(locales_dir, lang)
        if path.is_file():
            with path.open("rb") as fh:
                cat = read_po(fh, locale=None, domain=DOMAIN)
        else:
            cat = _new_catalog(lang)
        cat.update(copy.deepcopy(template), no_fuzzy_matching=True)  # update shares Message objects
        if lang == SOURCE_LANGUAGE:
            for msg in cat:
                if msg.id and not msg.string:
                    msg.string = msg.id
                    msg.flags.discard("fuzzy")
        _write_po(path, cat, lang)
        total = sum(1 for m in cat if m.id)
        done = sum(1 for m in cat if m.id and m.string and "fuzzy" not in m.flags)
        stats[lang] = (done, total)
    return stats


def compile_catalogs(locales_dir: Path, out_dir: Path) -> list[Path]:
    """Compile every .po to .mo under out_dir (fuzzy entries left out)."""
    written = []
    for lang in LANGUAGES:
        po = po_path(locales_dir, lang)
        if not po.is_file():
            continue
        with po.open("rb") as fh:
            cat = read_po(fh, locale=None, domain=DOMAIN)
        mo = out_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as fh:
            write_mo(fh, cat, use_fuzzy=False)
        written.append(mo)
    return written


def coverage(locales_dir: Path) -> dict[str, tuple[int, int]]:
    """{lang: (translated, total)} of UI strings, read from the .po files."""
    out: dict[str, tuple[int, int]] = {}
    for lang in LANGUAGES:
        po = po_path(locales_dir, lang)
        if not po.is_file():
            out[lang] = (0, 0)
            continue
        with po.open("rb") as fh:
            cat = read_po(fh, locale=None, domain=DOMAIN)
        total = sum(1 for m in cat if m.id)
        done = sum(1 for m in cat if m.id and m.string and "fuzzy" not in m.flags)
        out[lang] = (done, total)
    return out
