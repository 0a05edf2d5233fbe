"""Configuration: one `config.yml` with `${ENV_VAR}` expansion, validated at start.

`${NAME}` takes the variable (an unset one is an error naming it), `${NAME:-default}` falls back to
the default when it is unset or empty. Every value is checked against the schema below; the first
problems are reported all together, each naming the key and what is expected, and the start stops.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.i18n import LANGUAGES

# libyaml's safe loader when PyYAML has it (the same documents, about ten times faster).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; the message names every key at fault."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # SIGTERM: stop accepting, finish what is in hand, exit within this many seconds (below
    # docker's default stop timeout of 10 s; raise `stop_grace_period` with it).
    shutdown_grace_seconds: float = 8.0
    dispatcher_port: int = 8081  # `run --role dispatcher`: /healthz only, on this port


@dataclass(frozen=True)
class DatabasePoolSettings:
    """`database.pool_*` and timeouts (bot.storage.db.PoolSettings): bounded waits, so a webhook
    answers 503 within a second while the database is away or the pool is used up."""

    pool_size: int = 10
    pool_overflow: int = 10
    pool_timeout: float = 5.0
    connect_timeout: float = 5.0
    statement_timeout: float = 10.0


@dataclass(frozen=True)
class NluSettings:
    engine: str = "builtin"  # builtin | rasa
    data: str = "nlu/data"
    model: str = "var/nlu/model.npz"
    intent_threshold: float = 0.45
    answer_threshold: float = 0.3
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout: float = 3.0


@dataclass(frozen=True)
class ContactSettings:
    """Local contact details; empty means the bot says "liên hệ UBND xã"."""

    hotline: str = ""
    office: str = ""
    email: str = ""


@dataclass(frozen=True)
class PrivacySettings:
    notice_version: int = 1
    retention_days: int = 365
    pseudonym_key: str = ""
    # Fernet keys for the channel tokens stored in the database, comma-separated, the first
    # encrypts (bot/crypto.py); empty: a development key in var/token-encryption.key.
    token_encryption_keys: str = ""
    # /dulieu export files: where they are written (not served statically) and how long they stay.
    export_dir: str = "var/exports"
    export_ttl_minutes: int = 60
    # How often the retention job runs (bot/privacy/retention.py), in hours.
    retention_interval_hours: float = 24.0


@dataclass(frozen=True)
class FormSettings:
    """Forms in progress (bot/flows/forms/reminders.py): a form left idle is reminded once after
    `remind_after_minutes` and dropped (the user told) after `expire_after_hours`."""

    remind_after_minutes: float = 60.0
    expire_after_hours: float = 24.0
    check_interval_seconds: float = 60.0


@dataclass(frozen=True)
class NoticeSettings:
    """Notices (bot/notices/): the channels they reach (comma-separated: the push channels),
    the reminder to those who said yes `remind_hours_before` the training starts, and how often
    the reminder job looks."""

    channels_list: str = "telegram,zalo"
    remind_hours_before: float = 24.0
    check_interval_seconds: float = 60.0

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.channels_list.split(",") if c.strip())


@dataclass(frozen=True)
class ReportSettings:
    """Officers' quick reports (actions/reports.py): corrected or withdrawn within
    `edit_window_hours` of being sent; periods typed ("tháng 11") read in `timezone`."""

    edit_window_hours: float = 48.0
    timezone: str = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True)
class FeedbackSettings:
    """Citizens' feedback on the dashboard (bot/staff/pages/feedback.py): a feedback still open
    (not resolved or rejected) `overdue_days` after it was sent is marked overdue."""

    overdue_days: float = 7.0


@dataclass(frozen=True)
class OpenDataSettings:
    """The public indicator tables at /open-data/ (bot/opendata/): a cell (indicator, area,
    period) summed from fewer than `min_cell_reports` reports is published as suppressed; the
    data package's `licence` (an SPDX id of an open licence) and `publisher`; how long clients
    and proxies may keep a response (`max_age_seconds`); how stale the server's own copy may
    get (`recheck_seconds`: a new report shows within that long)."""

    min_cell_reports: int = 3
    licence: str = "CC-BY-4.0"
    publisher: str = "Làng Số, Chương trình MTQG 1719 tỉnh Quảng Ngãi"
    max_age_seconds: int = 300
    # The reports' fingerprint is read, and the data rebuilt when it changed (about a second of
    # CPU with 100,000 reports), at most this often.
    recheck_seconds: float = 60.0


@dataclass(frozen=True)
class MediaSettings:
    """Photos and audio users send (bot/media/): stored under `dir` by content hash (personal
    data: not under content/, never served statically), each type capped, downloads retried."""

    dir: str = "var/media"
    max_photo_bytes: int = 10 * 1024 * 1024
    max_audio_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 50_000_000  # decoded size cap (a decompression bomb is refused)
    download_attempts: int = 3
    retry_delay_seconds: float = 0.5  # doubled after each failed attempt
    download_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class VoiceSettings:
    """Translators' recordings (bot/voice/): converted with ffmpeg (`ffmpeg`, `ffprobe`) to
    OGG/Opus (Telegram voice) and `web_format` (m4a: AAC, or mp3: the web chat's <audio> and the
    Zalo link), loudness-normalised to `loudness_lufs` (EBU R128), at most `max_seconds` long;
    each ffmpeg run is stopped after `timeout_seconds`. Files under `dir`, served at /voice/ only
    once approved. `public_url`: the bot's public address (https://host), for the link Zalo
    users get (the OA API sends no audio); empty: Zalo gets the text only."""

    dir: str = "var/voice"
    max_seconds: float = 120.0
    timeout_seconds: float = 60.0
    loudness_lufs: float = -16.0
    web_format: str = "m4a"
    public_url: str = ""
    ffmpeg: str = "/usr/bin/ffmpeg"
    ffprobe: str = "/usr/bin/ffprobe"


@dataclass(frozen=True)
class HandoffSettings:
    """A villager talking to a person (bot/handoff/): while a handoff is open their messages go to
    staff, acknowledged at most once every `ack_minutes`; a staff reply is at most
    `max_reply_chars` long; after `idle_hours` without a message either way the villager's
    next text is for the bot again (the conversation stays open for staff). Zalo OA's reply
    window is the outbox's (`outbox.zalo_window_*`)."""

    ack_minutes: float = 5.0
    max_reply_chars: int = 2000
    idle_hours: float = 72.0


@dataclass(frozen=True)
class LimitSettings:
    # Per user, a token bucket (bot/core/middlewares.py flood_limit): bursts of up to
    # `flood_messages`, one more every `flood_refill_seconds`.
    flood_messages: int = 10
    flood_refill_seconds: float = 1.0
    # Web chat requests per client address (many people can share one address behind NAT).
    address_messages: int = 120
    address_window_seconds: float = 60.0


@dataclass(frozen=True)
class WebSettings:
    """The web chat's session cookie and how the app sees clients (bot/web/)."""

    session_key: str = ""  # Fernet key(s), newest first, comma-separated; empty: key_file
    session_key_file: str = "var/web-session.key"
    session_cookie: str = "langso_session"
    session_days: int = 180
    https: bool = False  # served over HTTPS (a TLS proxy in front): Secure cookie, HSTS
    trust_proxy: bool = False  # take X-Forwarded-For / -Proto from the one proxy in front


@dataclass(frozen=True)
class TelegramSettings:
    token: str = ""
    api_base_url: str = "https://api.telegram.org/bot"
    file_base_url: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""
    rate_per_second: float = 30.0
    rate_per_chat_seconds: float = 1.0


@dataclass(frozen=True)
class ZaloSettings:
    app_id: str = ""
    oa_secret_key: str = ""
    app_secret: str = ""
    access_token: str = ""
    refresh_token: str = ""
    api_base_url: str = "https://openapi.zalo.me"
    oauth_base_url: str = "https://oauth.zaloapp.com"
    timestamp_window_seconds: int = 300
    rate_per_second: float = 10.0
    # Hosts users' attachments are fetched from (the host or a subdomain of it): Zalo's file
    # hosts. A signed event naming another host is not fetched (the bot never downloads from
    # wherever a payload points).
    media_hosts: str = "zadn.vn,zdn.vn,zalo.me,zaloapp.com"

    @property
    def media_host_list(self) -> tuple[str, ...]:
        return tuple(h.strip().lower().strip(".") for h in self.media_hosts.split(",") if h.strip())

    def media_host_allowed(self, url: str) -> bool:
        """Whether `url` is https or http on one of `media_hosts` (or a subdomain of one)."""
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return False
        if parts.scheme not in ("https", "http") or not host:
            return False
        return any(host == h or host.endswith("." + h) for h in self.media_host_list)


@dataclass(frozen=True)
class ZaloBotSettings:
    """A bot of the Zalo Bot Platform (bot/channels/zalo_bot.py): polling when `webhook_url` is
    empty, else the webhook at its path, checked with `webhook_secret`."""

    token: str = ""
    api_base_url: str = "https://bot-api.zaloplatforms.com"
    webhook_url: str = ""
    webhook_secret: str = ""
    rate_per_second: float = 10.0
    rate_per_chat_seconds: float = 1.0


@dataclass(frozen=True)
class StaffSettings:
    """The staff dashboard (bot/staff/): where it listens, sessions, lockout, password hashing.

    `port` 0 serves /staff/ and /open-data/ on the web chat's server; another port (and `host`,
    empty: server.host) serves them there instead, and not on the web chat's."""

    host: str = ""
    port: int = 0
    idle_minutes: float = 30.0  # a session unused this long ends
    absolute_hours: float = 12.0  # and any session this long after its login
    lockout_failures: int = 5  # wrong logins per account name within lockout_minutes
    lockout_address_failures: int = 20  # wrong logins per client address within lockout_minutes
    lockout_minutes: float = 15.0
    password_min_length: int = 12
    # argon2id (argon2-cffi's defaults); a hash made with other parameters is redone at login.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4


@dataclass(frozen=True)
class OutboxSettings:
    """Sending (bot/outbox/): a dispatcher leases rows for `lease_seconds` (a dead process's rows
    are taken over after that), at most `batch` at a time per channel, `concurrency` sends at
    once; channels with a rate limit share it through the database, sending at `rate_headroom`
    of the platform's rate (headroom for timing jitter). Zalo OA: replies are free for
    `zalo_window_messages` messages within `zalo_window_hours` of the user's last message;
    anything else spends the month's proactive quota (`zalo_monthly_quota`), and only for a
    notice marked to use it."""

    lease_seconds: float = 30.0
    batch: int = 200
    concurrency: int = 64
    rate_headroom: float = 0.97
    max_attempts: int = 8
    zalo_window_hours: float = 48.0
    zalo_window_messages: int = 8
    zalo_monthly_quota: int = 1000


@dataclass(frozen=True)
class Settings:
    database_url: str
    # Message transactions at once; None: from the database (1 on SQLite, 4 on PostgreSQL).
    database_max_transactions: int | None = None
    database_pool: DatabasePoolSettings = field(default_factory=DatabasePoolSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    nlu: NluSettings = field(default_factory=NluSettings)
    content_dir: str = "content"
    default_language: str = "vi"
    # The province's time zone: every time shown to users (bot.i18n.format_datetime).
    timezone: str = "Asia/Ho_Chi_Minh"
    console: bool = True
    contact: ContactSettings = field(default_factory=ContactSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    forms: FormSettings = field(default_factory=FormSettings)
    notices: NoticeSettings = field(default_factory=NoticeSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    open_data: OpenDataSettings = field(default_factory=OpenDataSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    web: WebSettings = field(default_factory=WebSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    zalo: ZaloSettings = field(default_factory=ZaloSettings)
    zalo_bot: ZaloBotSettings = field(default_factory=ZaloBotSettings)
    staff: StaffSettings = field(default_factory=StaffSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    base_dir: Path = field(default_factory=Path.cwd)

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.base_dir / p


def expand_env(value: Any, env: dict[str, str], key: str, errors: list[str]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a YAML tree."""
    if isinstance(value, dict):
        return {
            k: expand_env(v, env, f"{key}.{k}" if key else str(k), errors) for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand_env(v, env, f"{key}[{i}]", errors) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        got = env.get(name)
        if got:
            return got
        if default is not None:
            return default
        errors.append(
            f"{key}: environment variable {name} is not set "
            f"(use ${{{name}:-default}} for an optional value)"
        )
        return ""

    value = ENV_RE.sub(sub, value)
    if "\x00" in value:  # a path with one cannot be opened; nothing else needs one
        errors.append(f"{key}: contains a NUL character (\\0); remove it")
        value = value.replace("\x00", "")  # so the other checks run (the start still stops)
    return value


_SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "nlu": NluSettings,
    "contact": ContactSettings,
    "privacy": PrivacySettings,
    "forms": FormSettings,
    "notices": NoticeSettings,
    "reports": ReportSettings,
    "feedback": FeedbackSettings,
    "open_data": OpenDataSettings,
    "media": MediaSettings,
    "handoff": HandoffSettings,
    "voice": VoiceSettings,
    "limits": LimitSettings,
    "web": WebSettings,
    "telegram": TelegramSettings,
    "zalo": ZaloSettings,
    "zalo_bot": ZaloBotSettings,
    "staff": StaffSettings,
    "outbox": OutboxSettings,
}


def _coerce(section: str, name: str, typ: Any, raw: Any, errors: list[str]) -> Any:
    key = f"{section}.{name}"
    typ = (
        {"str": str, "int": int, "float": float, "bool": bool}.get(typ, typ)
        if isinstance(typ, str)
        else typ
    )
    if raw is None:
        return None
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "yes", "1", "false", "no", "0"):
            return raw.lower() in ("true", "yes", "1")
        errors.append(f"{key}: expected true or false, got {raw!r}")
        return None
    if typ is int:
        try:
            if isinstance(raw, bool):
                raise ValueError
            return int(str(raw).strip())
        except ValueError:
            errors.append(f"{key}: expected a whole number, got {raw!r}")
            return None
    if typ is float:
        try:
            return float(str(raw).strip())
        except ValueError:
            errors.append(f"{key}: expected a number, got {raw!r}")
            return None
    if not isinstance(raw, (str, int, float)):
        errors.append(f"{key}: expected text, got {type(raw).__name__}")
        return None
    return str(raw)


def _build_section(name: str, cls: type, raw: Any, errors: list[str]) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        errors.append(f"{name}: expected a mapping of settings")
        return cls()
    fields = cls.__dataclass_fields__
    kwargs: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in fields:
            errors.append(f"{name}.{k}: unknown setting; known: {', '.join(fields)}")
            continue
        val = _coerce(name, k, fields[k].type, v, errors)
        if val is not None and not (
            isinstance(val, str) and val == "" and fields[k].default not in ("", None)
        ):
            kwargs[k] = val
    return cls(**kwargs)


def _validate(s: Settings, errors: list[str]) -> None:
    if not (1 <= s.server.port <= 65535):
        errors.append(f"server.port: expected a port 1-65535, got {s.server.port}")
    if not s.server.host:
        errors.append("server.host: expected an address such as 127.0.0.1")
    if s.database_max_transactions is not None and s.database_max_transactions < 1:
        errors.append(
            f"database.max_transactions: expected at least 1, got {s.database_max_transactions} "
            "(leave it empty for 1 on SQLite, 4 on PostgreSQL)"
        )
    pool = s.database_pool
    if pool.pool_size < 1 or pool.pool_overflow < 0:
        errors.append("database: pool_size must be >= 1 and pool_overflow >= 0")
    if min(pool.pool_timeout, pool.connect_timeout, pool.statement_timeout) <= 0:
        errors.append("database: pool_timeout, connect_timeout and statement_timeout must be > 0")
    if s.server.shutdown_grace_seconds <= 0 or not 1 <= s.server.dispatcher_port <= 65535:
        errors.append("server: shutdown_grace_seconds must be > 0, dispatcher_port 1-65535")
    if not s.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        errors.append(
            "database.url: expected sqlite+aiosqlite:///path.db "
            "or postgresql+asyncpg://user:pass@host/db, "
            f"got {s.database_url.split('://')[0] or 'nothing'}://..."
        )
    if s.nlu.engine not in ("builtin", "rasa"):
        errors.append(f"nlu.engine: expected builtin or rasa, got {s.nlu.engine!r}")
    for key in ("intent_threshold", "answer_threshold"):
        v = getattr(s.nlu, key)
        if not 0.0 <= v <= 1.0:
            errors.append(f"nlu.{key}: expected a number between 0 and 1, got {v}")
    if s.nlu.engine == "rasa" and not s.nlu.rasa_url.startswith(("http://", "https://")):
        errors.append("nlu.rasa_url: expected an http(s) URL of the Rasa server")
    if s.default_language not in LANGUAGES:
        errors.append(f"default_language: expected one of {', '.join(LANGUAGES)}")
    try:
        ZoneInfo(s.timezone)
    except (ValueError, ZoneInfoNotFoundError):
        errors.append(f"timezone: expected a zone such as Asia/Ho_Chi_Minh, got {s.timezone!r}")
    if s.limits.flood_messages < 1 or s.limits.flood_refill_seconds <= 0:
        errors.append("limits: flood_messages must be >= 1 and flood_refill_seconds > 0")
    if s.limits.address_messages < 1 or s.limits.address_window_seconds <= 0:
        errors.append("limits: address_messages must be >= 1 and address_window_seconds > 0")
    errors.extend(_web_errors(s.web))
    h = s.handoff
    if h.ack_minutes < 0 or h.max_reply_chars < 1 or h.idle_hours <= 0:
        errors.append("handoff: ack_minutes must be >= 0, max_reply_chars >= 1 and idle_hours > 0")
    errors.extend(_open_data_errors(s.open_data))
    errors.extend(_staff_errors(s.staff))
    v = s.voice
    if not (1 <= v.max_seconds <= 600 and v.timeout_seconds > 0):
        errors.append("voice: max_seconds must be 1-600 and timeout_seconds > 0")
    if v.web_format not in ("m4a", "mp3"):
        errors.append(f"voice.web_format: expected m4a or mp3, got {v.web_format!r}")
    if v.public_url and not v.public_url.startswith(("https://", "http://")):
        errors.append("voice.public_url: expected https://your.host (or empty)")
    m = s.media
    if min(m.max_photo_bytes, m.max_audio_bytes, m.max_image_pixels, m.download_attempts) < 1:
        errors.append("media: the caps and download_attempts must be at least 1")
    if not s.feedback.overdue_days > 0:
        errors.append("feedback: overdue_days must be > 0")
    if m.retry_delay_seconds < 0 or m.download_timeout_seconds <= 0:
        errors.append("media: retry_delay_seconds must be >= 0, download_timeout_seconds > 0")
    if s.path(m.dir).resolve().is_relative_to(s.path(s.content_dir).resolve()):
        errors.append("media.dir: users' photos must not be under content/ (it is served)")
    if s.telegram.webhook_url and not s.telegram.webhook_url.startswith("https://"):
        errors.append("telegram.webhook_url: Telegram only calls https:// URLs")
    if s.telegram.webhook_url and not s.telegram.webhook_secret:
        errors.append(
            "telegram.webhook_secret: required when telegram.webhook_url is set "
            "(1-256 of A-Z a-z 0-9 _ -)"
        )
    if s.telegram.webhook_secret and not re.fullmatch(
        r"[A-Za-z0-9_-]{1,256}", s.telegram.webhook_secret
    ):
        errors.append("telegram.webhook_secret: use 1-256 characters of A-Z a-z 0-9 _ -")
    errors.extend(_zalo_bot_errors(s.zalo_bot))
    if s.zalo.app_id and not s.zalo.oa_secret_key:
        errors.append(
            "zalo.oa_secret_key: required when zalo.app_id is set "
            "(webhook signatures are checked with it)"
        )
    if s.privacy.notice_version < 1 or s.privacy.retention_days < 1:
        errors.append("privacy: notice_version and retention_days must be positive")
    if not (
        s.forms.remind_after_minutes > 0
        and s.forms.expire_after_hours * 60 > s.forms.remind_after_minutes
        and s.forms.check_interval_seconds > 0
    ):
        errors.append(
            "forms: remind_after_minutes and check_interval_seconds must be positive, and "
            "expire_after_hours later than the reminder"
        )
    if not (s.notices.remind_hours_before > 0 and s.notices.check_interval_seconds > 0):
        errors.append("notices: remind_hours_before and check_interval_seconds must be positive")
    if not s.notices.channels:
        errors.append("notices.channels_list: name at least one channel (telegram,zalo)")
    if s.privacy.token_encryption_keys:
        from bot.crypto import TokenKeyError, parse_keys

        try:
            parse_keys(s.privacy.token_encryption_keys)
        except TokenKeyError as exc:
            errors.append(str(exc))
    if s.privacy.export_ttl_minutes < 1 or not s.privacy.retention_interval_hours > 0:
        errors.append("privacy: export_ttl_minutes and retention_interval_hours must be positive")


def _zalo_bot_errors(z: ZaloBotSettings) -> list[str]:
    errors = []
    if z.token and not re.fullmatch(r"[0-9]+:[^\s/?#]+", z.token):
        errors.append(
            "zalo_bot.token: expected the Bot Token from Zalo Bot Manager, <bot id>:<secret>"
        )
    if z.webhook_url:
        host = re.match(r"https?://([^/:]+)", z.webhook_url)
        local = host is not None and host.group(1) in ("127.0.0.1", "localhost")
        if not (z.webhook_url.startswith("https://") or local):
            errors.append("zalo_bot.webhook_url: Zalo only calls https:// URLs")
        if not z.webhook_secret:
            errors.append("zalo_bot.webhook_secret: required when zalo_bot.webhook_url is set")
    if z.webhook_secret and not re.fullmatch(r"[A-Za-z0-9_-]{8,256}", z.webhook_secret):
        errors.append("zalo_bot.webhook_secret: use 8-256 characters of A-Z a-z 0-9 _ -")
    if z.rate_per_second <= 0 or z.rate_per_chat_seconds < 0:
        errors.append("zalo_bot: rate_per_second must be > 0, rate_per_chat_seconds >= 0")
    return errors


def _web_errors(w: WebSettings) -> list[str]:
    errors = []
    for key in filter(None, (k.strip() for k in w.session_key.split(","))):
        try:
            ok = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (ValueError, UnicodeEncodeError):
            ok = False
        if not ok:
            errors.append(
                "web.session_key: expected Fernet keys (32 bytes, urlsafe base64), comma-separated;"
                ' make one: python -c "from cryptography.fernet import Fernet;'
                ' print(Fernet.generate_key().decode())"'
            )
            break
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", w.session_cookie):
        errors.append("web.session_cookie: use 1-64 characters of A-Z a-z 0-9 _ -")
    if w.session_days < 1:
        errors.append(f"web.session_days: expected at least 1, got {w.session_days}")
    return errors


def _staff_errors(st: StaffSettings) -> list[str]:
    errors = []
    if not 0 <= st.port <= 65535:
        errors.append(f"staff.port: expected 0 (the web chat's server) or a port, got {st.port}")
    if min(st.idle_minutes, st.absolute_hours, st.lockout_minutes) <= 0:
        errors.append("staff: idle_minutes, absolute_hours and lockout_minutes must be > 0")
    if min(st.lockout_failures, st.lockout_address_failures) < 1:
        errors.append("staff: lockout_failures and lockout_address_failures must be >= 1")
    if st.password_min_length < 8:
        errors.append("staff.password_min_length: expected at least 8")
    if st.argon2_time_cost < 1 or st.argon2_parallelism < 1 or st.argon2_memory_kib < 8:
        errors.append("staff: argon2 time_cost and parallelism >= 1, memory_kib >= 8")
    return errors


def _open_data_errors(od: OpenDataSettings) -> list[str]:
    from bot.opendata.licences import LICENCES

    errors = []
    if od.min_cell_reports < 1:
        errors.append(f"open_data.min_cell_reports: expected at least 1, got {od.min_cell_reports}")
    if od.licence not in LICENCES:
        errors.append(
            f"open_data.licence: expected one of {', '.join(LICENCES)}, got {od.licence!r}"
        )
    if od.max_age_seconds < 0 or od.recheck_seconds < 0:
        errors.append("open_data: max_age_seconds and recheck_seconds must be 0 or more")
    return errors


def load_settings(path: str | Path = "config.yml", env: dict[str, str] | None = None) -> Settings:
    """Read, expand and validate the configuration file; raise ConfigError naming each bad key."""
    path = Path(path)
    env = dict(os.environ if env is None else env)
    if not path.is_file():
        raise ConfigError(
            f"{path}: configuration file not found; copy config.yml from the repository"
        )
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    errors: list[str] = []
    try:
        raw = expand_env(raw, env, "", errors)
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    known = {"database", "content", "default_language", "timezone", "console", *_SECTIONS}
    for k in raw:
        if k not in known:
            errors.append(f"{k}: unknown section; known: {', '.join(sorted(known))}")
    db = raw.get("database") or {}
    url = db.get("url") if isinstance(db, dict) else None
    if not url:
        errors.append("database.url: required (set DATABASE_URL or database.url)")
        url = ""
    max_transactions = db.get("max_transactions") if isinstance(db, dict) else None
    max_transactions = _coerce(
        "database",
        "max_transactions",
        int,
        None if max_transactions == "" else max_transactions,
        errors,
    )
    sections = {
        name: _build_section(name, cls, raw.get(name), errors) for name, cls in _SECTIONS.items()
    }
    content = raw.get("content") or {}
    content_dir = content.get("dir", "content") if isinstance(content, dict) else "content"
    console = _coerce("", "console", bool, raw.get("console", True), errors)
    settings = Settings(
        database_url=str(url),
        database_max_transactions=max_transactions,
        database_pool=_build_section(
            "database",
            DatabasePoolSettings,
            {k: v for k, v in db.items() if k in DatabasePoolSettings.__dataclass_fields__}
            if isinstance(db, dict)
            else None,
            errors,
        ),
        content_dir=str(content_dir),
        default_language=str(raw.get("default_language", "vi")),
        timezone=str(raw.get("timezone") or "Asia/Ho_Chi_Minh"),
        console=bool(console) if console is not None else True,
        base_dir=path.resolve().parent,
        **sections,
    )
    _validate(settings, errors)
    if errors:
        raise ConfigError(
            f"{path}: invalid configuration:\n" + "\n".join(f"  - {e}" for e in errors)
        )
    return settings
