"""Where recordings live: `voice.dir` (var/voice), three files per recording, named by the
SHA-256 of the original: `<digest>.orig.<ext>` (as sent), `<digest>.ogg` (Opus),
`<digest>.m4a` or `.mp3` (the web format) and `<digest>.json` (its duration and original
extension: a recording converted before its turn, by bot/voice/media_step.py, is not converted
again).

A reply names a recording as `voice/<digest>` (`Reply.voice`); each channel picks its file:
Telegram the OGG (bot/channels/telegram.py), the web chat and Zalo the web format through the
/voice/ route (bot/voice/web.py), which serves a file only while a row says it is approved (or
to its translator / reviewer). The folder is never served statically.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.voice.audio import Converted

PREFIX = "voice/"
REF_RE = re.compile(r"\Avoice/([0-9a-f]{64})\Z")
FILE_RE = re.compile(r"\A([0-9a-f]{64})\.(ogg|m4a|mp3)\Z")
FORMATS = ("ogg", "m4a", "mp3")


def ref_of(digest: str) -> str:
    return f"{PREFIX}{digest}"


def digest_of(ref: str | None) -> str | None:
    m = REF_RE.match(ref) if isinstance(ref, str) else None
    return m.group(1) if m else None


def is_ref(ref: str | None) -> bool:
    return digest_of(ref) is not None


@dataclass(frozen=True)
class Kept:
    """A recording in the store: what its row needs."""

    digest: str
    duration: float
    original_ext: str


class VoiceStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: str, fmt: str) -> Path | None:
        """The file of one format of a recording (None for anything that is not one)."""
        if not re.fullmatch(r"[0-9a-f]{64}", digest or "") or fmt not in FORMATS:
            return None
        return self.root / digest[:2] / f"{digest}.{fmt}"

    def original(self, digest: str) -> Path | None:
        if not re.fullmatch(r"[0-9a-f]{64}", digest or ""):
            return None
        folder = self.root / digest[:2]
        found = sorted(folder.glob(f"{digest}.orig.*")) if folder.is_dir() else []
        return found[0] if found else None

    def put(self, c: Converted) -> str:
        """Write a converted recording's files; its reference (`voice/<digest>`)."""
        folder = self.root / c.digest[:2]
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._write(folder / f"{c.digest}.orig.{c.original_ext}", c.original)
        self._write(folder / f"{c.digest}.ogg", c.ogg)
        self._write(folder / f"{c.digest}.{c.web_ext}", c.web)
        info = {"duration": c.duration, "ext": c.original_ext, "web": c.web_ext}
        self._write(folder / f"{c.digest}.json", json.dumps(info).encode())  # last: complete
        return ref_of(c.digest)

    def kept(self, digest: str, web_ext: str) -> Kept | None:
        """The recording if all its files are here (converted before), else None."""
        path = self.path(digest, "ogg")
        if path is None:
            return None
        try:
            info = json.loads((path.parent / f"{digest}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        web = self.path(digest, web_ext)
        if info.get("web") != web_ext or web is None or not (path.is_file() and web.is_file()):
            return None
        return Kept(digest, float(info.get("duration") or 0.0), str(info.get("ext") or "bin"))

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        if target.is_file() and target.stat().st_size == len(data):
            return
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def delete(self, digest: str) -> int:
        """Delete every file of a recording; how many."""
        if not re.fullmatch(r"[0-9a-f]{64}", digest or ""):
            return 0
        folder = self.root / digest[:2]
        n = 0
        for path in folder.glob(f"{digest}.*") if folder.is_dir() else []:
            path.unlink(missing_ok=True)
            n += 1
        return n
