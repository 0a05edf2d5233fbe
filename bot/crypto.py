"""Secrets at rest: the platform tokens in `channel_tokens` are encrypted with Fernet
(cryptography: AES-128-CBC and HMAC-SHA256, with a timestamp).

Keys: `TOKEN_ENCRYPTION_KEYS` (config.yml `privacy.token_encryption_keys`), one or more Fernet keys
separated by commas. The FIRST key encrypts; every key decrypts (MultiFernet), so a key is rotated
by putting the new one first, running `python -m bot secrets rotate` (every stored token is
re-encrypted with the first key) and then removing the old one (docs/secrets.md).

Without the setting (development, `make run`), a key is generated once into
`var/token-encryption.key` (mode 0600) and a WARNING says production must set it: several
processes on one PostgreSQL database must share the key, and the key must not sit beside the
data it protects.

A stored value is `fernet:` + the Fernet token. A value without the prefix is a plaintext token
from before encryption: it is read as it is and re-encrypted (`bot.storage.repositories.tokens`).
A value no key can decrypt raises `TokenKeyError`, which says what to do.

Neither keys nor tokens ever reach a log line or an exception message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.errors import StartupError

log = logging.getLogger("bot.crypto")

PREFIX = "fernet:"
ENV = "TOKEN_ENCRYPTION_KEYS"
SETTING = "privacy.token_encryption_keys"
DEV_KEY_FILE = "var/token-encryption.key"
GENERATE = "python -m bot secrets generate-key"


class TokenKeyError(StartupError):
    """A stored token cannot be decrypted with any configured key, or a key is malformed."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(raw: str) -> list[bytes]:
    """The keys of a `TOKEN_ENCRYPTION_KEYS` value; TokenKeyError naming the bad one (by place,
    never by value)."""
    parts = [p.strip() for p in raw.split(",")]
    keys = [p for p in parts if p]
    if not keys:
        raise TokenKeyError(f"{ENV} ({SETTING}): no key in it; generate one with `{GENERATE}`")
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise TokenKeyError(
                f"{ENV} ({SETTING}): key {n} of {len(keys)} is not a Fernet key "
                f"(44 characters of URL-safe base64); generate one with `{GENERATE}`"
            ) from None
    return [k.encode() for k in keys]


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


class TokenCipher:
    """Encrypts with the first key, decrypts with any (`source` says where the keys came from)."""

    def __init__(self, keys: list[bytes], source: str = ENV) -> None:
        if not keys:
            raise ValueError("at least one key")
        self.source = source
        self._primary = Fernet(keys[0])
        self._all = MultiFernet([Fernet(k) for k in keys])
        self.key_count = len(keys)

    def encrypt(self, plain: str) -> str:
        return PREFIX + self._all.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str, what: str = "a stored token") -> str:
        """The plaintext; a value without the prefix (stored before encryption) as it is."""
        if not is_encrypted(stored):
            return stored
        try:
            return self._all.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise TokenKeyError(self.wrong_key_message(what)) from None

    def is_current(self, stored: str) -> bool:
        """Encrypted with the first key (nothing for `secrets rotate` to do)."""
        if not is_encrypted(stored):
            return False
        try:
            self._primary.decrypt(stored[len(PREFIX) :].encode("ascii"))
        except (InvalidToken, ValueError):
            return False
        return True

    def rotate(self, stored: str, what: str = "a stored token") -> str:
        """The value encrypted with the first key (plaintext included)."""
        return self.encrypt(self.decrypt(stored, what))

    def wrong_key_message(self, what: str) -> str:
        if self.source == ENV:
            keys = f"none of the {self.key_count} key(s) in {ENV}"
        else:
            keys = f"the development key in {self.source} ({ENV} is not set)"
        return (
            f"{what} cannot be decrypted with {keys}. "
            f"Put the key it was encrypted with back in {ENV} (after the new one: "
            f"{ENV}=new,old), start again, and run `python -m bot secrets rotate`. "
            "If that key is lost, run `python -m bot secrets forget zalo`, authorise the app "
            "again and set ZALO_ACCESS_TOKEN and ZALO_REFRESH_TOKEN (docs/secrets.md)"
        )


def _dev_key(path: Path, create: bool) -> bytes | None:
    """The development key from `path`, generated there (mode 0600) when missing."""
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it meanwhile: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(generate_key() + "\n")
            log.warning("generated a development token encryption key in %s", path)
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
            log.warning("%s was readable by others (mode %o); set it to 0600", path, mode)
        raw = path.read_text(encoding="ascii").strip()
        Fernet(raw.encode())
    except (OSError, ValueError, UnicodeError):
        raise TokenKeyError(
            f"{path}: not a readable Fernet key. If no token was stored with it, delete the "
            f"file (a new one is generated); otherwise set {ENV} (docs/secrets.md)"
        ) from None
    return raw.encode()


def load_cipher(keys: str, base_dir: Path, *, create: bool = True) -> TokenCipher | None:
    """The cipher from `keys` (the setting) or, when empty, the development key under
    `base_dir` (generated when `create`; None when it is missing and not created)."""
    if keys.strip():
        return TokenCipher(parse_keys(keys), ENV)
    path = base_dir / DEV_KEY_FILE
    key = _dev_key(path, create)
    if key is None:
        return None
    log.warning(
        "%s is not set: channel tokens are encrypted with the development key in %s; "
        "production must set %s (docs/secrets.md)",
        ENV,
        path,
        ENV,
    )
    return TokenCipher([key], str(path))


def cipher_for(settings) -> TokenCipher:
    """The cipher the configured settings give (the development key is created if needed)."""
    cipher = load_cipher(settings.privacy.token_encryption_keys, settings.base_dir)
    assert cipher is not None
    return cipher


# ---- the process's cipher: configured by `bot.app.build_services`, loaded on first use


_config: tuple[str, Path] | None = None
_cipher: TokenCipher | None = None


def configure(settings) -> None:
    """Use these settings' keys from now on (loaded lazily: nothing is read or generated until
    a token is stored or read)."""
    global _config, _cipher
    _config = (settings.privacy.token_encryption_keys, settings.base_dir)
    _cipher = None


def current(env: Mapping[str, str] | None = None) -> TokenCipher:
    """The process's cipher. Without `configure` (tools and tests that build a channel by hand):
    `TOKEN_ENCRYPTION_KEYS` from the environment, else the project's development key."""
    global _cipher
    if _cipher is None:
        if _config is not None:
            keys, base_dir = _config
        else:
            keys = (os.environ if env is None else env).get(ENV, "")
            base_dir = Path(__file__).resolve().parent.parent
        _cipher = load_cipher(keys, base_dir)
    assert _cipher is not None
    return _cipher
