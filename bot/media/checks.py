"""What a downloaded or uploaded file is, judged by its content, never by its name or the type
the sender claimed; and images re-encoded without their metadata.

Images: Pillow opens the header (no pixels decoded yet), the format must be JPEG, PNG or WebP,
and width x height must be within `max_pixels` BEFORE anything is decoded (a small file that
decodes to gigabytes, a decompression bomb, is refused; `Image.MAX_IMAGE_PIXELS` is set to the
same cap so Pillow refuses it too); then `verify()` checks the file's structure, and the image
is decoded, turned upright (`ImageOps.exif_transpose`: the orientation EXIF gave is applied to
the pixels) and encoded again with NO metadata at all: no EXIF (so no GPS position, camera or
time), no XMP, no ICC profile, no text chunks. A location is only ever kept when the user shared
one on purpose (a Location message), never taken from a photo.

Audio: by its first bytes (magic numbers): OGG with an Opus, Vorbis or Speex stream, MP3 (an
ID3 tag or an MPEG audio frame sync), M4A/AAC (an ISO `ftyp` box with an audio brand, or an
ADTS header), AMR, WAV (RIFF WAVE), and WebM (what browsers record). Audio is stored as it came:
these containers carry no position.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}


class MediaRefused(Exception):
    """A file that will not be stored, whatever the number of tries: `code` says why
    (bot.media.PROBLEMS holds the message for each)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Checked:
    """A file fit to store: its bytes (an image re-encoded), type and extension."""

    data: bytes
    mime_type: str
    ext: str
    kind: str  # "image" | "audio"


def image_pixels_cap(max_pixels: int) -> None:
    """Pillow's own decompression-bomb guard at our cap (it refuses at twice MAX_IMAGE_PIXELS and
    warns above it; the warning is turned into a refusal in `clean_image`)."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def clean_image(data: bytes, max_pixels: int) -> Checked:
    """The image in `data` re-encoded upright and without metadata, or MediaRefused."""
    image_pixels_cap(max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:  # reads the header only
                fmt = probe.format
                if fmt not in IMAGE_FORMATS:
                    raise MediaRefused("not_image", f"format {fmt}")
                width, height = probe.size
                if width < 1 or height < 1 or width * height > max_pixels:
                    raise MediaRefused("too_many_pixels", f"{width}x{height}")
                probe.verify()
            with Image.open(io.BytesIO(data)) as im:  # verify() leaves the image unusable
                im.load()
                upright = ImageOps.exif_transpose(im)
        except MediaRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise MediaRefused("too_many_pixels") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
            raise MediaRefused("not_image", type(exc).__name__) from None
    mime, ext = IMAGE_FORMATS[fmt]
    return Checked(_encode(upright, fmt), mime, ext, "image")


def _encode(im: Image.Image, fmt: str) -> bytes:
    """The pixels alone: a fresh image of the same mode and size, so nothing of the original's
    `info` (exif, xmp, icc_profile, comments, PNG text) can reach the encoder."""
    if fmt == "JPEG" and im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    pixels = Image.new(im.mode, im.size)
    pixels.paste(im)
    if im.mode == "P" and im.getpalette() is not None:
        pixels.putpalette(im.getpalette())
    out = io.BytesIO()
    if fmt == "JPEG":
        pixels.save(out, "JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        pixels.save(out, "PNG", optimize=True)
    else:
        pixels.save(out, "WEBP", quality=90)
    return out.getvalue()


def _ogg_codec(head: bytes) -> bool:
    return any(tag in head[:512] for tag in (b"OpusHead", b"\x01vorbis", b"Speex   "))


AUDIO_BRANDS = (b"M4A ", b"M4B ", b"mp42", b"isom", b"iso2", b"MSNV", b"dash", b"3gp4", b"3gp5")


def sniff_audio(data: bytes) -> tuple[str, str] | None:
    """(mime type, extension) of an audio file by its first bytes, or None."""
    head = data[:512]
    if head.startswith(b"OggS"):
        return ("audio/ogg", "ogg") if _ogg_codec(head) else None
    if head.startswith(b"ID3") or (
        len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06)
    ):
        return "audio/mpeg", "mp3"  # an ID3 tag, or an MPEG frame sync with a layer (not ADTS)
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "audio/aac", "aac"  # ADTS: sync, layer 00
    if head[4:8] == b"ftyp" and head[8:12] in AUDIO_BRANDS:
        return "audio/mp4", "m4a"
    if head.startswith(b"#!AMR\n") or head.startswith(b"#!AMR-WB\n"):
        return "audio/amr", "amr"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav", "wav"
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64]:
        return "audio/webm", "webm"
    return None


def check_audio(data: bytes) -> Checked:
    found = sniff_audio(data)
    if found is None:
        raise MediaRefused("not_audio")
    return Checked(data, found[0], found[1], "audio")


def check(data: bytes, want: str, max_pixels: int) -> Checked:
    """`data` checked as `want` ("image" or "audio"); MediaRefused when it is not one."""
    if not data:
        raise MediaRefused("empty")
    if want == "image":
        return clean_image(data, max_pixels)
    return check_audio(data)
