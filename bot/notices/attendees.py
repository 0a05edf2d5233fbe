"""The organiser's list of those who answered "Tôi sẽ tham gia": formula-safe CSV or XLSX.

The dashboard streams it with `bot.spreadsheets.stream_export`; the CLI writes a file (or CSV to
standard output) here, with the same cells: every text cell goes through
`bot.spreadsheets.safe_cell`, so a name typed as `=HYPERLINK(...)` stays text in Excel and
LibreOffice. The list holds personal data (names, phones): it is for the organiser, never for
open data, and never logged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from bot.spreadsheets import BOM, safe_cell
from bot.storage.repositories import notices as repo

HEADER = ("Trả lời lúc", "Kênh", "Ngôn ngữ", "Tên", "Số điện thoại", "Địa bàn")
FORMATS = ("csv", "xlsx")


async def rows(session: AsyncSession, notice_id: int, tz: tzinfo) -> AsyncIterator[Sequence]:
    """One row per yes-answer, times in the province's zone."""
    async for at, channel, lang, name, phone, area in repo.attendees(session, notice_id):
        yield (_local(at, tz), channel, lang, name or "", phone or "", area or "")


def _local(at: datetime | None, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else ""


def _cell(value: Any) -> Any:
    value = safe_cell(value)
    return "" if value is None else value


async def write_csv(out: TextIO, source: AsyncIterator[Sequence]) -> int:
    """CSV with a byte-order mark (Excel reads the Vietnamese right); how many rows."""
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    n = 0
    async for row in source:
        writer.writerow([_cell(v) for v in row])
        n += 1
    return n


async def write_xlsx(path: Path, source: AsyncIterator[Sequence]) -> int:
    """A write-only workbook (rows stream to disk); how many rows."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title="Tham gia")
    sheet.append(list(HEADER))
    n = 0
    async for row in source:
        sheet.append([_cell(v) for v in row])
        n += 1
    book.save(path)
    return n


async def export(
    session: AsyncSession, notice_id: int, fmt: str, tz: tzinfo, out: Path | None
) -> tuple[int, str | None]:
    """Write the list: (rows, CSV text when no file was named)."""
    source = rows(session, notice_id, tz)
    if fmt == "xlsx":
        assert out is not None
        return await write_xlsx(out, source), None
    if out is not None:
        with out.open("w", encoding="utf-8", newline="") as f:
            return await write_csv(f, source), None
    buffer = io.StringIO()
    n = await write_csv(buffer, source)
    return n, buffer.getvalue()
