"""Files for the media tests, made here with Pillow: a JPEG with EXIF GPS, and what to look for
in a stored file."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

CAMERA = "LangSoCam-GPS-Test"
GPS = {1: "N", 2: (15.0, 5.0, 31.5), 3: "E", 4: (108.0, 28.0, 5.5)}  # Quảng Ngãi


def jpeg_with_gps(size: tuple[int, int] = (40, 20), color: tuple = (200, 10, 10)) -> bytes:
    """A real JPEG whose EXIF has a GPS IFD (the position of the house), the camera's name and
    orientation 6 (rotated: shown upright it is taller than wide)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = CAMERA
    exif[0x8825] = GPS
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", exif=exif.tobytes(), quality=95)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825) == GPS  # the test's premise
    return data


def assert_clean_jpeg(path: Path) -> None:
    """A stored photo: a JPEG with no EXIF at all (no GPS, no camera), turned upright."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        exif = im.getexif()
        assert not exif.get_ifd(0x8825) and not dict(exif), dict(exif)
        assert "exif" not in im.info
        assert im.size == (20, 40)  # orientation 6 applied to the pixels
    assert b"Exif" not in data and CAMERA.encode() not in data


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_named_by_hash(root: Path, ref: str) -> Path:
    path = root / ref.removeprefix("media/")
    assert path.is_file(), ref
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert ref == f"media/{digest[:2]}/{digest}.{path.suffix[1:]}"
    return path
