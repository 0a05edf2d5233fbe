"""Database tables. Personal data (locale, name, phone) is only written after consent.

`users.external_id` is the platform's address for the user (needed to reply at all); it never
appears in logs (they show `bot.core.memory.SessionMemory.pseudonym`) and never in open data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("store timezone-aware datetimes (UTC)")
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class User(Base):
    """One person on one channel."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_users_channel_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    # Only stored once the user consented (it can reveal ethnicity); before that it lives in the
    # in-memory session of the locale middleware.
    locale: Mapped[str | None] = mapped_column(String(8), default=None)
    display_name: Mapped[str | None] = mapped_column(String(128), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    role: Mapped[str] = mapped_column(String(16), default="villager")  # villager, officer, admin
    # An officer's area (a dotted code of content/areas.yml), set by an invite (bot/officers.py).
    area_code: Mapped[str | None] = mapped_column(String(200), default=None)
    # Dialogue state: the active flow and its step, the last numbered options offered.
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    consents: Mapped[list[Consent]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class Consent(Base):
    """A recorded consent: which notice the user saw, when, on which channel, for what purpose."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    notice_version: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(back_populates="consents")


class Subscription(Base):
    """A user's subscription to notices on one channel (topics and areas come with notices)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "channel", name="uq_subscriptions_user_channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the subscriber lives (a dotted code of the area tree; None: not said) and the topics
    # they chose (",tap_huan,hop," of content/topics.yml; None: every topic). bot/notices.
    area_code: Mapped[str | None] = mapped_column(String(200), default=None)
    topics: Mapped[str | None] = mapped_column(String(400), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="subscriptions")


class InboxEntry(Base):
    """Every incoming message id, recorded before processing: de-duplication and crash recovery.

    `payload` holds the raw platform payload only until the message is processed, so a killed
    process can resume it; it is cleared afterwards (it may contain personal data).
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "message_id", name="uq_inbox_channel_message"),
        Index("ix_inbox_sender", "channel", "sender", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(128))
    # The platform id of the user, until the message is processed: a user's messages are handled
    # oldest first (bot.inbound.worker).
    sender: Mapped[str | None] = mapped_column(String(128), default=None)
    # received | processing (taken to be resumed) | done | failed
    status: Mapped[str] = mapped_column(String(16), default="received")
    payload: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


class ChannelToken(Base):
    """A platform's current OAuth token pair (Zalo OA), kept so a restart keeps the latest pair.

    Zalo's refresh token works once: each refresh returns a new pair, which is written here and
    committed before the new access token is used, or the next restart would hold a spent token.
    Tokens are secrets: never logged, never exported.
    """

    __tablename__ = "channel_tokens"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxEntry(Base):
    """Everything the bot sends, written in the transaction that decided to send it.

    Replies now; notices, reminders and staff replies later (`source`). The sender core
    (`bot.outbox.sender`) delivers rows after commit, one recipient's rows in id order:
    queued -> sending (leased until `lease_until`) -> sent, or back to queued with `due_at` after
    a retryable failure, or failed with `error` (`gone: ...` when the contact blocked or
    unfollowed). `delivered` and `read` follow where the platform reports them (`platform_ref`).
    `payload` (the reply) is dropped once sent: it may quote the user's own data.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # Two indexes only: every reply writes its row, and each index is one more B-tree
        # written (measured in the per-message p99). Rows are found by recipient (sending
        # order, a retried web request, options) or by state (what the dispatcher sends next).
        Index("ix_outbox_recipient", "channel", "recipient", "status"),
        Index("ix_outbox_due", "status", "due_at"),
        # Partial (migration 0011): a reply written already taken ("sending", no notice) adds no
        # entry to either. The queue in sending order; a notice's rows by state.
        Index(
            "ix_outbox_queue",
            text("priority DESC"),
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        Index(
            "ix_outbox_notice",
            "notice_id",
            "status",
            postgresql_where=text("notice_id IS NOT NULL"),
            sqlite_where=text("notice_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    source: Mapped[str] = mapped_column(String(16), default="reply")
    message_id: Mapped[str | None] = mapped_column(String(128), default=None)  # the inbox message
    payload: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # The payloads of the message's buttons (no personal data; kept after sending): a typed "2"
    # picks the second option of the last message the user was sent (bot.core.dialogue).
    options: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(200), default=None)
    platform_ref: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # Notices (migration 0011): sent before lower priorities (an urgent warning first); the notice
    # the row belongs to (FK notices.id where that table exists); a Zalo row outside the reply
    # window may spend the month's proactive quota; why it failed, in a word staff count by
    # (bot.storage.repositories.outbox.REASONS).
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    notice_id: Mapped[int | None] = mapped_column(Integer, default=None)
    use_quota: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reason: Mapped[str | None] = mapped_column(String(40), default=None)


class ContentGap(Base):
    """A question the content has no item for, counted: what the province should write next.

    No user id and no chat id: the normalised question text (phone-like digit runs removed,
    `bot.storage.repositories.gaps`), the user's language and channel, when it was first and
    last asked, how often, and the closest items offered. The text may still hold personal data
    a user typed (a name), so it never goes to logs and is shown only to staff.
    """

    __tablename__ = "content_gaps"
    __table_args__ = (
        UniqueConstraint("question", "lang", "channel", name="uq_content_gaps"),
        Index("ix_content_gaps_last_seen", "last_seen"),  # the gaps page's period; the purge
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(String(300))
    lang: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer, default=1)
    closest: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    # An editor's mark on the group of wordings this one belongs to (migration 0009, the
    # dashboard's content gaps page): "answered" by `resolved_item` (a content item id) or
    # "out_of_scope"; None while open.
    resolution: Mapped[str | None] = mapped_column(String(16), default=None)
    resolved_item: Mapped[str | None] = mapped_column(String(100), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class InviteCode(Base):
    """A one-time code an admin made for an officer (bot/officers.py): role and area it grants.

    Only a keyed hash of the code is stored (`code_hash`, HMAC-SHA256 under a key derived from
    the token encryption keys): a database dump does not reveal a usable code. `hint` is its
    first two characters, for the admin to tell codes apart. Used by `used_by` (the user id,
    set NULL when that user's data is erased: the row keeps the role and area only).
    """

    __tablename__ = "invite_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(4))
    role: Mapped[str] = mapped_column(String(16), default="officer")
    area_code: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    used_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    deactivated_at: Mapped[datetime | None] = mapped_column(default=None)
    # A translator's invite: the language it grants (role "translator", bot/voice/).
    lang: Mapped[str | None] = mapped_column(String(8), default=None)


class InviteAttempt(Base):
    """A wrong invite code typed, kept one window long: guessing is limited per person across
    processes and restarts. `who` is a keyed hash of (channel, platform id), not the id, and
    outlives an erasure of the user on purpose (erasing must not reset the limit)."""

    __tablename__ = "invite_attempts"
    __table_args__ = (Index("ix_invite_attempts_who", "who", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    who: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    """An officer's quick progress report (actions/reports.py): an official record. An erasure of
    the officer keeps it, attributed to the role and area it was filed under (`officer_id` set to
    NULL). Corrected in place only with the old values kept in `report_history`."""

    __tablename__ = "reports"
    __table_args__ = (
        # The dashboard's filters: an area's subtree (prefix of the dotted code) and period,
        # project / indicator / period, one officer's, by status.
        Index(
            "ix_reports_area_period",
            "area_code",
            "period",
            postgresql_ops={"area_code": "varchar_pattern_ops"},
        ),
        Index("ix_reports_indicator_period", "project", "indicator", "period"),
        Index("ix_reports_officer", "officer_id", "created_at"),
        Index("ix_reports_status", "status", "created_at"),
        Index("ix_reports_created", "created_at"),  # the overview's reports a day (0009)
        Index("ix_reports_review", "review", "created_at"),  # the reports page's status (0008)
        # The reports page sorted by value, period or indicator, unfiltered (0008).
        Index("ix_reports_value", "value"),
        Index("ix_reports_period", "period"),
        Index("ix_reports_indicator", "indicator"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[int] = mapped_column(Integer)
    indicator: Mapped[str] = mapped_column(String(64))
    area_code: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(16))  # "2026-11", "2026-Q3", "2026"
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32), default="")
    note: Mapped[str | None] = mapped_column(Text, default=None)
    photo_ref: Mapped[str | None] = mapped_column(String(300), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    officer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    officer_role: Mapped[str] = mapped_column(String(16))
    officer_area: Mapped[str | None] = mapped_column(String(200), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="submitted")  # or "withdrawn"
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Staff review (migration 0008, the dashboard's reports page): "pending" until a staff member
    # marks it "checked" or "sent_back" (with `review_comment`, the officer told in the chat);
    # the officer's correction of a sent-back report makes it "pending" again.
    review: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    review_comment: Mapped[str | None] = mapped_column(Text, default=None)
    reviewed_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="SET NULL"), default=None
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)


class ReportHistory(Base):
    """Every change of a report: what it was before, what it became, who (user id while they
    exist; their role always) and when."""

    __tablename__ = "report_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # "corrected", "withdrawn"
    old_values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    new_values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changed_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    changed_by_role: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A staff review ("checked", "sent_back"; changed_by_role "staff"): the account (0008).
    changed_by_staff: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="SET NULL"), default=None
    )


class Feedback(Base):
    """A citizen's feedback (actions/feedback.py), found by its tracking code. An erasure of the
    citizen keeps it for the record, anonymised: no user, phone, photo or location."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_status", "status", "created_at"),
        Index("ix_feedback_created", "created_at", "status"),  # the overview, a day (0009)
        Index("ix_feedback_category", "category", "created_at"),
        Index("ix_feedback_assigned", "assigned_to", "created_at"),  # the inbox's "mine" (0008)
        Index(
            "ix_feedback_area",
            "area_code",
            "created_at",
            postgresql_ops={"area_code": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(8), default="vi")
    category: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    photo_ref: Mapped[str | None] = mapped_column(String(300), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    phone: Mapped[str | None] = mapped_column(String(16), default=None)
    # submitted, received, in_progress, resolved, rejected
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The dashboard's inbox (migration 0008): the staff member it is assigned to, and the area it
    # concerns (set when it is assigned to a commune account: that commune then sees it).
    assigned_to: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="SET NULL"), default=None
    )
    assigned_at: Mapped[datetime | None] = mapped_column(default=None)
    area_code: Mapped[str | None] = mapped_column(String(200), default=None)


class FeedbackEvent(Base):
    """A staff-side change of a feedback: its new status, a reply, a rejection's reason."""

    __tablename__ = "feedback_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(
        ForeignKey("feedback.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str] = mapped_column(String(32), default="cli")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # The staff account that made it on the dashboard (0008); `actor` keeps "staff:<name>".
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="SET NULL"), default=None
    )


class StaffAccount(Base):
    """A dashboard account (bot/staff/): a role ("admin", "province", "commune") and, for a
    commune account, the area whose subtree it sees. Only an argon2 hash of the password is kept.
    Never deleted (the audit log names it); `active` false ends its sessions and logins."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # lower case
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class StaffSession(Base):
    """A logged-in browser: the cookie session holds a random token, the row only its SHA-256
    (a database dump gives no usable session). Ended by logout, idle or absolute expiry,
    "log out everywhere" and deactivation (rows deleted)."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffLoginAttempt(Base):
    """A failed dashboard login, kept one lockout window: `kind` "account" (key: the name as
    typed, lower case, whether or not it exists) or "address" (key: the client address)."""

    __tablename__ = "staff_login_attempts"
    __table_args__ = (Index("ix_staff_login_attempts_key", "kind", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One staff action (bot/staff/audit.py): who (the account, and its name kept as it was),
    when, what, on what, from which address. Written in the action's own transaction."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at", "id"),
        # The page pages by id, newest first, within an account or an action.
        Index("ix_audit_log_staff", "staff_name", "id"),
        Index("ix_audit_log_action", "action", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="SET NULL"), default=None
    )
    staff_name: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200), default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    address: Mapped[str | None] = mapped_column(String(100), default=None)


class SendBudget(Base):
    """A channel's shared send budget (bot.outbox.budget): the next free send slot, in seconds
    since the epoch. Every dispatcher reserves slots here with one atomic UPDATE, so several
    processes together keep the channel's rate."""

    __tablename__ = "send_budget"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)


class ProactiveQuota(Base):
    """Proactive messages (outside a user's reply window) spent per channel and month
    ("2026-12"): Zalo OA's monthly quota, taken one at a time under its limit."""

    __tablename__ = "proactive_quota"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)


class Notice(Base):
    """A notice staff send to subscribers (bot/notices): its text per language, its targets,
    when it goes, and its state. Composing writes one outbox row per recipient (`outbox.notice_id`)
    in the same transaction; what was sent is counted from those rows.

    `title`, `body`: {lang: text}, Vietnamese always present; `audio`: {lang: media ref};
    `details`: the training's date, time, place, online link, contact (text as staff typed it);
    `event_at`: when it takes place (for the reminder). Targets (JSON lists, empty = everyone):
    `topics`, `areas` (dotted codes: a commune includes its villages), `langs`, `roles`.
    `status`: scheduled (waits for `send_at`), sending, done, cancelled."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_status", "status", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    audio: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    photo: Mapped[str | None] = mapped_column(String(300), default=None)
    document: Mapped[str | None] = mapped_column(String(300), default=None)
    details: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    event_at: Mapped[datetime | None] = mapped_column(default=None)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    langs: Mapped[list[str]] = mapped_column(JSON, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    rsvp: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    use_quota: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="sending")
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64), default="cli")
    send_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class NoticeRsvp(Base):
    """A recipient's answer to a notice with RSVP ("yes" or "no", the latest counts), and when
    the reminder went to them (once). Deleted with the user (delete-my-data)."""

    __tablename__ = "notice_rsvps"
    __table_args__ = (
        UniqueConstraint("notice_id", "user_id", name="uq_notice_rsvps_notice_user"),
        Index("ix_notice_rsvps_answer", "notice_id", "answer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str] = mapped_column(String(8))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)


class Translator(Base):
    """A person who records and writes answers in one minority language (bot/voice/), joined by
    an invite code bound to that language (bot/officers.py, role "translator"). `label` is
    what exports and pages show of them ("hre-3": the language and this row's number), never a
    chat id. Deleted with the user (delete-my-data): their approved recordings stay, attributed
    to the label (bot/voice/recordings.py)."""

    __tablename__ = "translators"
    __table_args__ = (UniqueConstraint("user_id", "lang", name="uq_translators_user_lang"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lang: Mapped[str] = mapped_column(String(8))
    label: Mapped[str] = mapped_column(String(40))
    invite_id: Mapped[int | None] = mapped_column(Integer, default=None)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recording(Base):
    """A translator's recording and/or text of one content item or UI phrase in one language.

    `kind` item | phrase, `key` the item id or the phrase's key (bot/voice/phrases.py). `audio`
    the SHA-256 of the original file; the stored files are `<audio>.<ext>` (the original),
    `<audio>.ogg` (Opus, Telegram voice) and `<audio>.m4a` (AAC: web chat, Zalo link) under
    `voice.dir` (bot/voice/store.py). status: draft -> approved | sent_back (with `comment`);
    an approved one is `replaced` when a newer one of the same key and language is approved.
    Only approved rows reach villagers. Who made and reviewed it: a user id (SET NULL on
    erasure) and a label ("hre-3", "staff:2") that outlives it.
    """

    __tablename__ = "recordings"
    __table_args__ = (
        Index("ix_recordings_lang_key", "lang", "kind", "key", "status"),
        Index("ix_recordings_status", "status", "lang", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(8))
    audio: Mapped[str | None] = mapped_column(String(64), default=None)
    original_ext: Mapped[str | None] = mapped_column(String(8), default=None)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    made_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    made_by_label: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    reviewed_label: Mapped[str | None] = mapped_column(String(40), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)


class AnswerCount(Base):
    """How often each content item was answered, per language (no user, no channel): the order
    translators are offered items in (`/dich`, most asked first) and the coverage page's."""

    __tablename__ = "answer_counts"

    item_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)


class Handoff(Base):
    """A villager's conversation with a person (bot/handoff): opened when they ask for one,
    closed when they end it (/huy, a button) or staff hand it back. Personal data: their messages
    (`handoff_messages`) are kept under the "handoff" consent, erased with the user, and aged out
    by the retention job. `area_code`: the user's area when known (the dashboard's commune
    filter); `answered_at`: a person's first reply (the villager is told once)."""

    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_status_last", "status", "last_message_at"),
        Index("ix_handoffs_user", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(8), default="vi")
    area_code: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_villager_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by: Mapped[str | None] = mapped_column(String(16), default=None)  # villager | staff


class HandoffMessage(Base):
    """One message of a handoff: the villager's (text as typed) or a staff member's reply (with
    the outbox row that carries it to the chat, or `undelivered` when the platform's reply window
    had closed)."""

    __tablename__ = "handoff_messages"
    __table_args__ = (
        Index("ix_handoff_messages_handoff", "handoff_id", "id"),
        Index("ix_handoff_messages_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(16))  # villager | staff
    text: Mapped[str] = mapped_column(Text)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="SET NULL"), default=None
    )
    staff_name: Mapped[str | None] = mapped_column(String(64), default=None)
    outbox_id: Mapped[int | None] = mapped_column(Integer, default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # A villager's voice message (the media store's ref): staff listen to it on the page.
    media_ref: Mapped[str | None] = mapped_column(String(300), default=None)


class TurnCount(Base):
    """Messages handled per day (in the province's time zone), channel, language and outcome
    ("answered" by a content item, "not_answered": not understood or no item, "other": commands,
    small talk, forms), counted in each turn (bot.storage.repositories.stats): the overview's
    figures without reading every message. `shard` spreads concurrent turns over a few rows, so
    PostgreSQL turns do not queue on one row's lock. No user, no text."""

    __tablename__ = "turn_counts"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # "2026-12-01"
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    n: Mapped[int] = mapped_column(Integer, default=0)
