"""Converting a translator's recording with ffmpeg (Debian's /usr/bin/ffmpeg, installed by
scripts/install-system-deps.sh and the Dockerfile).

`convert(data, settings)` returns the files a recording is kept as:

- the original, byte for byte (what the translator sent: Telegram's OGG/Opus, Zalo's M4A or
  AMR, a browser's WebM, an uploaded MP3 or WAV);
- OGG/Opus, mono 48 kHz, 32 kbit/s: Telegram shows it as a voice message (sendVoice needs
  OGG with Opus);
- M4A (AAC-LC, 64 kbit/s) or MP3 (`voice.web_format`): what every browser's <audio> plays, and
  what a Zalo user's phone opens from the link (the Zalo OA API itself sends no audio).

Both are loudness-normalised to `voice.loudness_lufs` (EBU R128, ffmpeg's `loudnorm`, two
passes: the first measures, the second applies one linear gain, so speech keeps its dynamics)
and cut at `voice.max_seconds`. A recording longer than that is refused before any work
(`TooLong`), so the translator is asked for a shorter one rather than getting half a sentence.

Every ffmpeg / ffprobe run is a subprocess with an argument list (never a shell), stdin closed,
a timeout (`voice.timeout_seconds`; the process is killed past it) and its stderr kept only to
tell what failed; the input goes in a private temporary directory. What is not audio at all
(no audio stream, or ffprobe cannot read it) is `NotAudio`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import VoiceSettings

log = logging.getLogger("bot.voice")

OPUS_BITRATE = "32k"
AAC_BITRATE = "64k"
TRUE_PEAK = -1.5
LOUDNESS_RANGE = 11.0
MAX_INPUT_BYTES = 25 * 1024 * 1024
SAFE_EXT = re.compile(r"\A[a-z0-9]{1,5}\Z")


class AudioRefused(Exception):
    """A recording that will not be kept; `code` says why (not_audio, too_long, failed)."""

    code = "failed"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


class NotAudio(AudioRefused):
    code = "not_audio"


class TooLong(AudioRefused):
    code = "too_long"

    def __init__(self, seconds: float, limit: float) -> None:
        super().__init__(f"{seconds:.1f} s over {limit:.0f} s")
        self.seconds = seconds
        self.limit = limit


class Failed(AudioRefused):
    code = "failed"


@dataclass(frozen=True)
class Converted:
    """A recording's files: `digest` (SHA-256 of the original) names them all."""

    digest: str
    original: bytes
    original_ext: str
    ogg: bytes
    web: bytes
    web_ext: str
    duration: float  # seconds, of the converted files


async def run(args: list[str], timeout: float) -> tuple[int, bytes, bytes]:
    """Run one program (no shell) with a timeout: (return code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise Failed(f"{Path(args[0]).name} took longer than {timeout:.0f} s") from None
    return proc.returncode or 0, out, err


@dataclass(frozen=True)
class Probe:
    duration: float
    codec: str | None
    audio: bool


async def probe(path: Path, settings: VoiceSettings) -> Probe:
    """What ffprobe sees in a file: its duration and first audio stream's codec."""
    code, out, _err = await run(
        [
            settings.ffprobe,
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,duration",
            "-of",
            "json",
            str(path),
        ],
        settings.timeout_seconds,
    )
    if code != 0:
        raise NotAudio("ffprobe could not read it")
    try:
        data = json.loads(out.decode("utf-8", "replace") or "{}")
    except ValueError:
        raise NotAudio("ffprobe output") from None
    streams = [s for s in data.get("streams") or [] if s.get("codec_type") == "audio"]
    if not streams:
        return Probe(0.0, None, False)
    duration = _float((data.get("format") or {}).get("duration"))
    if duration is None:
        duration = _float(streams[0].get("duration")) or 0.0
    return Probe(duration, streams[0].get("codec_name"), True)


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


async def measure(path: Path, settings: VoiceSettings) -> dict[str, float]:
    """loudnorm's first pass: the input's integrated loudness, true peak, range, threshold."""
    code, _out, err = await run(
        [
            settings.ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-i",
            str(path),
            "-t",
            f"{settings.max_seconds:.3f}",
            "-af",
            f"loudnorm=I={settings.loudness_lufs}:TP={TRUE_PEAK}:LRA={LOUDNESS_RANGE}"
            ":print_format=json",
            "-f",
            "null",
            "-",
        ],
        settings.timeout_seconds,
    )
    if code != 0:
        raise NotAudio("ffmpeg could not decode it")
    text = err.decode("utf-8", "replace")
    start = text.rfind("{")
    try:
        data = json.loads(text[start : text.rfind("}") + 1])
        values = {k: float(data[k]) for k in ("input_i", "input_tp", "input_lra", "input_thresh")}
        values["target_offset"] = float(data.get("target_offset", 0.0))
    except (ValueError, KeyError, TypeError):
        raise Failed("no loudness measurement") from None
    return values


def _loudnorm(settings: VoiceSettings, m: dict[str, float]) -> str:
    # Silence (input_i -inf) cannot be measured: one-pass loudnorm then, which leaves it silent.
    if not all(v == v and abs(v) != float("inf") for v in m.values()):
        return f"loudnorm=I={settings.loudness_lufs}:TP={TRUE_PEAK}:LRA={LOUDNESS_RANGE}"
    return (
        f"loudnorm=I={settings.loudness_lufs}:TP={TRUE_PEAK}:LRA={LOUDNESS_RANGE}"
        f":measured_I={m['input_i']}:measured_TP={m['input_tp']}"
        f":measured_LRA={m['input_lra']}:measured_thresh={m['input_thresh']}"
        f":offset={m['target_offset']}:linear=true"
    )


async def convert(data: bytes, original_ext: str, settings: VoiceSettings) -> Converted:
    """The recording's files (module docstring); AudioRefused when it cannot be one."""
    if not data:
        raise NotAudio("empty")
    if len(data) > MAX_INPUT_BYTES:
        raise Failed("too large")
    ext = original_ext.lower() if SAFE_EXT.match(original_ext.lower() or "") else "bin"
    web_ext = settings.web_format
    with tempfile.TemporaryDirectory(prefix="langso-voice-") as tmp:
        folder = Path(tmp)
        source = folder / f"in.{ext}"
        source.write_bytes(data)
        found = await probe(source, settings)
        if not found.audio:
            raise NotAudio("no audio stream")
        if found.duration > settings.max_seconds + 0.5:
            raise TooLong(found.duration, settings.max_seconds)
        m = await measure(source, settings)
        wav = folder / "norm.wav"
        code, _o, err = await run(
            [
                settings.ffmpeg,
                "-hide_banner",
                "-nostdin",
                "-y",
                "-i",
                str(source),
                "-t",
                f"{settings.max_seconds:.3f}",
                "-vn",
                "-af",
                _loudnorm(settings, m),
                "-ac",
                "1",
                "-ar",
                "48000",
                "-c:a",
                "pcm_s16le",
                str(wav),
            ],
            settings.timeout_seconds,
        )
        if code != 0:
            log.warning("voice: ffmpeg could not normalise a recording (exit %d)", code)
            raise Failed(err.decode("utf-8", "replace")[-200:])
        ogg, web = folder / "out.ogg", folder / f"out.{web_ext}"
        web_codec = (
            ["-c:a", "aac", "-b:a", AAC_BITRATE, "-movflags", "+faststart"]
            if web_ext == "m4a"
            else ["-c:a", "libmp3lame", "-b:a", AAC_BITRATE]
        )
        code, _o, err = await run(
            [
                settings.ffmpeg,
                "-hide_banner",
                "-nostdin",
                "-y",
                "-i",
                str(wav),
                "-map_metadata",
                "-1",
                "-c:a",
                "libopus",
                "-b:a",
                OPUS_BITRATE,
                "-application",
                "voip",
                str(ogg),
                "-map_metadata",
                "-1",
                *web_codec,
                str(web),
            ],
            settings.timeout_seconds,
        )
        if code != 0:
            log.warning("voice: ffmpeg could not encode a recording (exit %d)", code)
            raise Failed(err.decode("utf-8", "replace")[-200:])
        out = await probe(ogg, settings)
        return Converted(
            digest=hashlib.sha256(data).hexdigest(),
            original=data,
            original_ext=ext,
            ogg=ogg.read_bytes(),
            web=web.read_bytes(),
            web_ext=web_ext,
            duration=round(out.duration, 2),
        )
