"""Personal data: the export (`/dulieu`), the erasure (`/xoadulieu`), the retention job.

- `export`: the JSON and readable text files of everything kept about a person;
- `erase`: deleting a person everywhere (rows, session memory, export files), then, once the
  replies confirming it are sent, those too;
- `retention`: the scheduled job that enforces `privacy.retention_days`
  (`python -m bot privacy purge` runs it once);
- `web`: the web chat's download route for an export.

The queries are in `bot.storage.repositories.personal`.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

_FALLBACK_KEY = secrets.token_bytes(32)


def hash_key(settings: Settings) -> bytes:
    """The key of the hashes that replace erased inbox keys: `privacy.pseudonym_key`, or a key
    random per process when it is not set (set PSEUDONYM_KEY to keep them comparable)."""
    return settings.privacy.pseudonym_key.encode() or _FALLBACK_KEY


def exports_dir(settings: Settings):
    return settings.path(settings.privacy.export_dir)
