"""What one message's handling sees (`Context`) and produces (`Turn`). Actions never see the
transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.messages import Button, IncomingMessage, Reply
from bot.storage.models import User
from bot.storage.repositories import outbox, users

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.content import Content
    from bot.core.services import Services
    from nlu.engine import NluResult


@dataclass
class Turn:
    """What handling one message produced."""

    replies: list[Reply] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    answer_id: str | None = None
    duplicate: bool = False
    lang: str | None = None  # the user's language after this message, when known
    outbox_ids: list[int] = field(default_factory=list)  # the replies' outbox rows, in order
    claimed: list[outbox.Claimed] = field(default_factory=list)  # taken for the fast path
    actions: list[str] = field(default_factory=list)  # the intents whose actions ran, in order


@dataclass
class Context:
    """Everything an action may use for one message, inside the message's transaction."""

    msg: IncomingMessage
    session: AsyncSession
    services: Services
    user: User | None = None
    lang: str = "vi"
    lang_known: bool = True
    t: Translator | None = None
    consents: set[str] | None = None  # loaded on demand: bot.storage.repositories.users
    turn: Turn = field(default_factory=Turn)
    nlu: NluResult | None = None
    arg: str = ""  # argument of the command being run ("/lang vi" -> "vi")
    stop: bool = False

    def _(self, message: str) -> str:
        assert self.t is not None
        return self.t._(message)

    def say(
        self, text: str = "", buttons: list[Button] | tuple[Button, ...] = (), **media: Any
    ) -> None:
        self.turn.replies.append(Reply(text=text, buttons=tuple(buttons), **media))

    async def load_consents(self) -> set[str]:
        """Purposes this user consented to under the current notice version (cached per message)."""
        if self.consents is None:
            if self.user is None:
                return set()
            self.consents = await users.consented_purposes(
                self.session, self.user.id, self.settings.privacy.notice_version
            )
        return self.consents

    @property
    def role(self) -> str:
        """villager, officer or admin (bot/officers.py)."""
        return getattr(self.user, "role", None) or "villager"

    @property
    def area_code(self) -> str | None:
        """An officer's area (dotted code); None for a villager."""
        return getattr(self.user, "area_code", None) if self.role != "villager" else None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def content(self) -> Content:
        return self.services.content

    @property
    def state(self) -> dict[str, Any]:
        assert self.user is not None
        return self.user.state

    def set_state(self, **changes: Any) -> None:
        """Change dialogue state; reassigning the dict makes SQLAlchemy write it."""
        assert self.user is not None
        old = self.user.state or {}
        new = dict(old)
        for k, v in changes.items():
            if v is None:
                new.pop(k, None)
            else:
                new[k] = v
        if new != old:  # unchanged state: no UPDATE at commit
            self.user.state = new
