"""Where stored media live: `media.dir` (var/media by default), one file per content, named by
the SHA-256 of the stored bytes (after cleaning), fanned out by its first two hex digits.

A stored file is referred to as `media/<2 hex>/<64 hex>.<ext>` (`Media.ref` after the media
step, and what form answers keep); `is_stored_ref` tells such a reference from a content asset
(`media/que-tra-bong.jpg`, under content/) or a platform file id. The same photo sent twice is
one file. The directory is personal data: no static route serves it, and an erasure deletes the
files named in the person's records (`delete`, `refs_in`).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PREFIX = "media/"
REF_RE = re.compile(
    r"\Amedia/([0-9a-f]{2})/([0-9a-f]{64})\.(jpg|png|webp|ogg|mp3|aac|m4a|amr|wav|webm)\Z"
)


def is_stored_ref(ref: Any) -> bool:
    return isinstance(ref, str) and REF_RE.match(ref) is not None


def refs_in(value: Any) -> Iterator[str]:
    """Every stored media reference in a JSON-like value (form answers, a report's data)."""
    if isinstance(value, str):
        if is_stored_ref(value):
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from refs_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from refs_in(v)


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, ref: str) -> Path | None:
        """The file of a stored reference (None for anything else: no path outside the root)."""
        m = REF_RE.match(ref) if isinstance(ref, str) else None
        if m is None:
            return None
        return self.root / m.group(1) / f"{m.group(2)}.{m.group(3)}"

    def put(self, data: bytes, ext: str) -> str:
        """Store `data` under its hash; the reference. Written to a private temporary file and
        renamed into place, so a reader never sees half a file and two writers agree."""
        digest = hashlib.sha256(data).hexdigest()
        ref = f"{PREFIX}{digest[:2]}/{digest}.{ext}"
        target = self.path(ref)
        assert target is not None
        if target.is_file() and target.stat().st_size == len(data):
            return ref
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_name(f".{digest}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return ref

    def delete(self, ref: str) -> bool:
        """Delete a stored file; whether there was one."""
        path = self.path(ref)
        if path is None or not path.is_file():
            return False
        path.unlink()
        return True

    def read(self, ref: str) -> bytes | None:
        path = self.path(ref)
        return path.read_bytes() if path is not None and path.is_file() else None
