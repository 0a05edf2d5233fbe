"""Short-lived, in-process memory per user: what must not be stored before consent."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict


class SessionMemory:
    """Short-lived, in-process memory per user: what must not be stored before consent.

    Holds the chosen language of users who have not consented (language can reveal ethnicity),
    whether they were already asked to choose one, and the flood-limit windows. Bounded LRU.
    """

    def __init__(self, key: str = "", max_users: int = 50_000, ttl_seconds: float = 24 * 3600) -> None:
        self._key = (key or secrets.token_hex(16)).encode()
        self.max_users = max_users
        self.ttl = ttl_seconds
        self._data: OrderedDict[tuple[str, str], dict] = OrderedDict()

    def pseudonym(self, channel: str, sender_id: str) -> str:
        """A stable, keyed hash of a user id: what logs show instead of the id."""
        return hmac.new(self._key, f"{channel}:{sender_id}".encode(), hashlib.sha256).hexdigest()[:12]

    def get(self, channel: str, sender_id: str) -> dict:
        k = (channel, sender_id)
        now = time.monotonic()
        entry = self._data.get(k)
        if entry is None or now - entry["_seen"] > self.ttl:
            entry = {"_seen": now}
            self._data[k] = entry
        entry["_seen"] = now
        self._data.move_to_end(k)
        while len(self._data) > self.max_users:
            self._data.popitem(last=False)
        return entry

    def forget(self, channel: str, sender_id: str) -> None:
        self._data.pop((channel, sender_id), None)
