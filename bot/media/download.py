"""Fetching a file over HTTP with a cap, and the media step the inbound worker runs before a
turn (`MediaStep.prepare`).

The step runs OUTSIDE any database transaction (the worker calls it before `pipeline.handle`,
holding only the sender's in-process order), so a slow platform never holds the SQLite write
gate or a PostgreSQL transaction. For each photo or audio of a message it asks the channel
adapter for the bytes (`fetch_media(media, max_bytes)`: Telegram getFile + the file URL, Zalo's
attachment URL), checks them by content (bot/media/checks.py), stores them by hash
(bot/media/store.py), and hands the turn a message whose `Media.ref` is the stored reference. A
failure that may pass (a timeout, a refused connection, HTTP 5xx or 429) is tried again after
`retry_delay_seconds`, doubled each time, up to `download_attempts`; one that will not (too big,
not an image, the platform says the file is gone) is not. Either way the original Media stays
in the message and `media_problem` says what to do (`PROBLEMS`), for the form engine to ask
for the file again; the rest of the form is untouched. A message without photo or audio is
returned as it is, at no cost.

Nothing logged names a file, a URL (Telegram's file URLs hold the bot token) or a user.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.media.checks import MediaRefused, check
from bot.media.store import MediaStore, is_stored_ref
from bot.messages import IncomingMessage, Media

if TYPE_CHECKING:
    from bot.config import MediaSettings, Settings

log = logging.getLogger("bot.media")
CHUNK = 64 * 1024
RETRYABLE_STATUS = {408, 425, 429}


class DownloadFailed(Exception):
    """A download that did not complete; `retryable` when trying again may help. The message
    never holds the URL."""

    def __init__(self, detail: str, retryable: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


class Problem(str):
    """`IncomingMessage.media_problem`: the Vietnamese text (what `str()` gives), with `code`,
    and `msgid` + `params` for a caller that translates (`ctx._(p.msgid).format(**p.params)`)."""

    code: str
    msgid: str
    params: dict[str, Any]

    def __new__(cls, code: str, msgid: str, **params: Any) -> Problem:
        self = super().__new__(cls, msgid.format(**params) if params else msgid)
        self.code, self.msgid, self.params = code, msgid, params
        return self


# The media_problem messages by code and file type (catalog msgids, Vietnamese first).
PROBLEMS: dict[tuple[str, str], str] = {
    ("failed", "image"): "Chưa nhận được ảnh, xin gửi lại.",
    ("failed", "audio"): "Chưa nhận được tin nhắn thoại, xin gửi lại.",
    ("too_large", "image"): "Ảnh lớn quá: tối đa {size}. Xin gửi ảnh nhỏ hơn.",
    ("too_large", "audio"): "Tệp âm thanh lớn quá: tối đa {size}. Xin gửi tin nhắn ngắn hơn.",
    ("too_many_pixels", "image"): "Ảnh có kích thước quá lớn. Xin gửi ảnh nhỏ hơn.",
    ("not_image", "image"): "Tệp này không phải là ảnh (JPEG, PNG hoặc WebP). Xin gửi một ảnh.",
    ("not_audio", "audio"): (
        "Tệp này không phải là âm thanh. Xin gửi tin nhắn thoại hoặc tệp OGG, MP3, M4A, AMR, WAV."
    ),
    ("empty", "image"): "Ảnh gửi đến bị trống. Xin gửi lại.",
    ("empty", "audio"): "Tệp âm thanh gửi đến bị trống. Xin gửi lại.",
}


def human_size(n: int) -> str:
    """10485760 -> "10 MB", 262144 -> "256 KB" (binary units, as phones show sizes)."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.3g} MB".replace(".", ",")
    return f"{max(1, n // 1024)} KB"


def problem(code: str, want: str, cap: int) -> Problem:
    msgid = PROBLEMS.get((code, want)) or PROBLEMS[("failed", want)]
    if code == "too_large":
        return Problem(code, msgid, size=human_size(cap))
    return Problem(code if (code, want) in PROBLEMS else "failed", msgid)


def wanted(media: Media) -> str | None:
    """ "image" or "audio" for what the step stores; None for what it leaves alone (video,
    stickers, other documents)."""
    mime = (media.mime_type or "").lower()
    if media.kind == "photo" or (media.kind == "document" and mime.startswith("image/")):
        return "image"
    if media.kind in ("voice", "audio") or (media.kind == "document" and mime.startswith("audio/")):
        return "audio"
    return None


async def fetch_url(
    session: aiohttp.ClientSession, url: str, max_bytes: int, timeout: float = 30.0
) -> bytes:
    """GET `url`, at most `max_bytes` (refused from Content-Length, else as soon as the stream
    passes it, without reading the rest). Raises DownloadFailed or MediaRefused("too_large")."""
    try:
        async with session.get(
            url,
            timeout=aiohttp.ClientTimeout(total=timeout, connect=min(10.0, timeout)),
            max_redirects=3,
        ) as resp:
            if resp.status >= 500 or resp.status in RETRYABLE_STATUS:
                raise DownloadFailed(f"HTTP {resp.status}")
            if resp.status >= 300:
                raise DownloadFailed(f"HTTP {resp.status}", retryable=False)
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise MediaRefused("too_large", f"{resp.content_length} bytes declared")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise MediaRefused("too_large", f"over {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except (DownloadFailed, MediaRefused):
        raise
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise DownloadFailed(type(exc).__name__) from None


Fetch = Callable[[Media, int], Awaitable[bytes]]


class MediaStep:
    """Downloads, checks and stores a message's photos and audio (module docstring)."""

    def __init__(
        self,
        settings: MediaSettings,
        root: Path,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.store = MediaStore(root)
        self.sleep = sleep
        self._done: OrderedDict[tuple[str, str], IncomingMessage] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaStep:
        return cls(settings.media, settings.path(settings.media.dir))

    def cap(self, want: str) -> int:
        s = self.settings
        return s.max_photo_bytes if want == "image" else s.max_audio_bytes

    async def prepare(self, adapter: Any, msg: IncomingMessage) -> IncomingMessage:
        """`msg` with its photos and audio stored, or with `media_problem` set."""
        fetch: Fetch | None = getattr(adapter, "fetch_media", None)
        if not msg.media or fetch is None:
            return msg
        key = (msg.channel, msg.message_id)
        if key in self._done:  # handled again in order (an older message went first)
            return self._done[key]
        media: list[Media] = []
        trouble: Problem | None = None
        for m in msg.media:
            want = wanted(m)
            if want is None or is_stored_ref(m.ref):
                media.append(m)
                continue
            try:
                media.append(await self.store_one(fetch, m, want))
            except (MediaRefused, DownloadFailed) as exc:
                code = exc.code if isinstance(exc, MediaRefused) else "failed"
                trouble = trouble or problem(code, want, self.cap(want))
                media.append(m)
        out = dataclasses.replace(msg, media=tuple(media), media_problem=trouble)
        self._done[key] = out
        while len(self._done) > 256:
            self._done.popitem(last=False)
        return out

    async def store_one(self, fetch: Fetch, m: Media, want: str) -> Media:
        """Download (with retries), check and store one file; the stored Media."""
        cap = self.cap(want)
        if m.size is not None and m.size > cap:
            log.info("media: a %s of %d bytes refused (cap %d)", m.kind, m.size, cap)
            raise MediaRefused("too_large", "declared size")
        attempts = max(1, self.settings.download_attempts)
        delay = self.settings.retry_delay_seconds
        for attempt in range(1, attempts + 1):
            try:
                async with asyncio.timeout(self.settings.download_timeout_seconds):
                    data = await fetch(m, cap)
                break
            except TimeoutError:
                exc: Exception = DownloadFailed("timed out")
                if attempt == attempts:
                    log.warning("media: a %s download timed out %d time(s)", m.kind, attempt)
                    raise exc from None
                await self.sleep(delay * 2 ** (attempt - 1))
                continue
            except MediaRefused as exc:
                log.info("media: a %s was refused (%s)", m.kind, exc.code)
                raise
            except DownloadFailed as exc:
                if not exc.retryable or attempt == attempts:
                    log.warning(
                        "media: a %s could not be downloaded after %d attempt(s) (%s)",
                        m.kind,
                        attempt,
                        exc.detail,
                    )
                    raise
                await self.sleep(delay * 2 ** (attempt - 1))
        if len(data) > cap:  # an adapter that could not stream: still refused
            raise MediaRefused("too_large", "read")
        try:
            checked = await asyncio.to_thread(check, data, want, self.settings.max_image_pixels)
        except MediaRefused as exc:
            log.info("media: a %s was refused (%s)", m.kind, exc.code)
            raise
        ref = await asyncio.to_thread(self.store.put, checked.data, checked.ext)
        return Media(m.kind, ref, checked.mime_type, len(checked.data))

    async def store_bytes(self, data: bytes, want: str) -> tuple[str, str, int]:
        """Check and store bytes already in hand (a web upload): (ref, mime type, size).
        Raises MediaRefused."""
        if len(data) > self.cap(want):
            raise MediaRefused("too_large")
        checked = await asyncio.to_thread(check, data, want, self.settings.max_image_pixels)
        ref = await asyncio.to_thread(self.store.put, checked.data, checked.ext)
        return ref, checked.mime_type, len(checked.data)
