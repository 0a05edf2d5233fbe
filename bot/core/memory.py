"""Short-lived, in-process memory per user: what must not be stored before consent."""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque


class SessionMemory:
    """Short-lived, in-process memory per user: what must not be stored before consent.

    Holds the chosen language of users who have not consented (language can reveal ethnicity),
    whether they were already asked to choose one, and the flood-limit windows. Bounded LRU.
    """

    def __init__(
        self, key: str = "", max_users: int = 50_000, ttl_seconds: float = 24 * 3600
    ) -> None:
        self._key = (key or secrets.token_hex(16)).encode()
        self.max_users = max_users
        self.ttl = ttl_seconds
        self._data: OrderedDict[tuple[str, str], dict] = OrderedDict()

    def pseudonym(self, channel: str, sender_id: str) -> str:
        """A stable, keyed hash of a user id: what logs show instead of the id."""
        return hmac.new(self._key, f"{channel}:{sender_id}".encode(), hashlib.sha256).hexdigest()[
            :12
        ]

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

    def snapshot(self, channel: str, sender_id: str) -> dict | None:
        """A copy of the user's memory before a turn, to put back if the turn is rolled back
        (so a retried turn sees what the first try saw: no language question marked as asked,
        no flood-limit slot spent)."""
        entry = self._data.get((channel, sender_id))
        if entry is None:
            return None
        return {k: deque(v) if isinstance(v, deque) else copy.copy(v) for k, v in entry.items()}

    def restore(self, channel: str, sender_id: str, saved: dict | None) -> None:
        """Put back what `snapshot` took (None: the user had no memory before the turn)."""
        if saved is None:
            self._data.pop((channel, sender_id), None)
        else:
            self._data[(channel, sender_id)] = saved
