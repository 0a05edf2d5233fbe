"""The long-lived parts built once at start and shared by every message."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.memory import SessionMemory
from bot.core.ordering import Ordering
from bot.i18n import Catalogs
from bot.storage.gate import WriteGate, writing

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.content import Content
    from nlu.engine import NluEngine


@dataclass
class Services:
    """Settings, content, NLU, catalogs, the database, per-user memory and ordering."""

    settings: Settings
    content: Content
    nlu: NluEngine
    catalogs: Catalogs
    sessionmaker: async_sessionmaker[AsyncSession]
    memory: SessionMemory = field(default_factory=SessionMemory)
    ordering: Ordering = field(default_factory=Ordering, repr=False)

    @property
    def writes(self) -> WriteGate:
        """The database's write gate, shared by every writer on the same engine."""
        return WriteGate.of(self.sessionmaker)

    def writing(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A session for a short write, taking its turn with every other writer of the database."""
        return writing(self.sessionmaker)
