"""Helpers for the voice tests: short tones made with ffmpeg's lavfi sine source (never speech,
never a minority language), translators joined through the chat, a voice message as the media
step leaves it (stored by content hash), and ffprobe / EBU R128 readings of converted files."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from bot import officers
from bot.media.checks import check
from bot.media.store import MediaStore
from bot.messages import Media
from tests.conftest import all_text, message

FFMPEG, FFPROBE = "/usr/bin/ffmpeg", "/usr/bin/ffprobe"
CODECS = {"ogg": ["-c:a", "libopus"], "m4a": ["-c:a", "aac"], "mp3": ["-c:a", "libmp3lame"]}
_tones: dict[tuple, bytes] = {}


@pytest.fixture
def settings(settings, tmp_path: Path):
    """The test's own voice folder; recordings capped at 3 s so an over-long one is 4 s."""
    voice = dataclasses.replace(settings.voice, dir=str(tmp_path / "voice"), max_seconds=3.0)
    return dataclasses.replace(settings, voice=voice)


def tone(seconds: float, fmt: str = "ogg", freq: int = 440, volume: float = 0.1) -> bytes:
    """A sine tone of `seconds` as an OGG/Opus, M4A or MP3 file (made once per run)."""
    key = (seconds, fmt, freq, volume)
    if key not in _tones:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"tone.{fmt}"  # MP4 needs a seekable output: a file, not a pipe
            subprocess.run(
                [
                    FFMPEG,
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    f"sine=frequency={freq}:duration={seconds}",
                    "-af",
                    f"volume={volume}",
                    *CODECS[fmt],
                    str(out),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            _tones[key] = out.read_bytes()
    return _tones[key]


def stored(settings, data: bytes, kind: str = "voice") -> Media:
    """What the media step hands the turn for an audio file: checked and stored by hash."""
    checked = check(data, "audio", settings.media.max_image_pixels)
    ref = MediaStore(settings.path(settings.media.dir)).put(checked.data, checked.ext)
    return Media(kind, ref, checked.mime_type, len(checked.data))  # type: ignore[arg-type]


def voice_message(settings, data: bytes, sender: str, kind: str = "voice"):
    return message(sender=sender, media=(stored(settings, data, kind),))


def probe(path: Path) -> dict:
    out = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    data = json.loads(out)
    return {
        "codec": data["streams"][0]["codec_name"],
        "duration": float(data["format"]["duration"]),
    }


def loudness(path: Path) -> float:
    """Integrated loudness (LUFS) as ffmpeg's EBU R128 scanner reads it."""
    err = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        timeout=30,
    ).stderr.decode()
    summary = err[err.rfind("Summary:") :]
    return float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))


async def invite(services, lang: str = "hre") -> str:
    async with services.sessionmaker() as s:
        made = await officers.make_invite(
            s, services.settings, "", timedelta(days=1), role="translator", lang=lang
        )
        await s.commit()
    return officers.show(made.code)


async def join_translator(pipeline, services, sender: str, lang: str = "hre") -> str:
    """A translator joins with a fresh code and agrees to the notice; all the bot said."""
    code = await invite(services, lang)
    said = all_text(await pipeline.handle(message(f"/madich {code}", sender=sender)))
    assert "Bạn có đồng ý không?" in said, said
    said = all_text(await pipeline.handle(message(payload="/consent yes", sender=sender)))
    return said
