"""The notice topics: `content/topics.yml` (code, name, urgent), read once per file version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

_cache: dict[Path, tuple[float, tuple[Topic, ...]]] = {}


@dataclass(frozen=True)
class Topic:
    code: str
    name: str
    urgent: bool = False  # first in the queue; reaches every subscriber of the areas


class TopicsError(ValueError):
    """content/topics.yml cannot be used; the message says where."""


def load(content_dir: str | Path) -> tuple[Topic, ...]:
    """The topics of `<content_dir>/topics.yml`, in file order."""
    path = Path(content_dir) / "topics.yml"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise TopicsError(f"{path}: missing (the notice topics)") from None
    cached = _cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise TopicsError(f"{path}: expected a `topics:` list")
    out: list[Topic] = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or not isinstance(t.get("code"), str) or not t.get("name"):
            raise TopicsError(f"{path}: topic {i + 1} needs a code and a name")
        code = t["code"].strip()
        if not code.replace("_", "").isalnum() or not code.isascii() or "," in code:
            raise TopicsError(f"{path}: topic code {code!r}: lower-case letters, digits, _")
        out.append(Topic(code, str(t["name"]), bool(t.get("urgent", False))))
    if len({t.code for t in out}) != len(out):
        raise TopicsError(f"{path}: a topic code is used twice")
    topics = tuple(out)
    _cache[path] = (mtime, topics)
    return topics


def by_code(content_dir: str | Path) -> dict[str, Topic]:
    return {t.code: t for t in load(content_dir)}
