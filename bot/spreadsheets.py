"""Exports staff download: CSV, XLSX and JSON, streamed, with no spreadsheet formula ever run.

`stream_export(request, fmt, filename, header, rows)` answers a request with `rows` (an async
iterator of sequences, one value per `header` column) as a file download:

- **csv**: UTF-8 with a byte-order mark (Excel then reads Vietnamese correctly), written in chunks
  as the rows arrive;
- **xlsx**: openpyxl's write-only workbook (rows go to a temporary file, not a tree in memory;
  openpyxl 3.1 writes strings inline, so no shared-string table grows either), built in a worker
  thread batch by batch so the event loop keeps serving, then sent in chunks and deleted;
- **json**: one array of objects keyed by the header, written object by object.

Memory stays bounded whatever the row count: the caller's iterator is read in batches of
`BATCH` rows (the repositories page through the table, see
`bot.storage.repositories.reports.iter_export`), never as one list.

`safe_cell(value)` neutralises text that a spreadsheet would take for a formula: a cell that
starts with `=`, `+`, `-`, `@`, tab, carriage return or NUL gets a leading apostrophe (the
OWASP "CSV injection" advice), so `=HYPERLINK(...)` typed by a villager stays text in Excel and
LibreOffice. Numbers stay numbers (`-5` is a number, the text `"-5"` becomes `'-5`). Control
characters that XML (and so XLSX) cannot hold are removed. CSV and XLSX cells go through it;
JSON is not a spreadsheet and keeps the text as it was (minus those control characters).

Aware datetimes: CSV and JSON keep the ISO form with its offset; XLSX has no time zones, so the
value is shown in `tz` (the province's zone by default, `Settings.timezone`) without one.

The download's name is reduced to ASCII letters, digits, `.`, `_` and `-` (`safe_filename`) and
gets the format's extension; responses are `Cache-Control: no-store` (staff exports hold
personal data and must not stay in a shared cache).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

FORMATS = ("csv", "xlsx", "json")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json; charset=utf-8",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
BATCH = 500  # rows handed to the XLSX writer thread at a time
CHUNK = 64 * 1024  # bytes written to the response at a time
BOM = "\ufeff"
DEFAULT_TZ = "Asia/Ho_Chi_Minh"
# Characters XML 1.0 cannot hold (tab, line feed and carriage return are allowed).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def clean_text(text: str) -> str:
    """`text` without the control characters a spreadsheet or XML cannot hold."""
    return _ILLEGAL.sub("", text)


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet shows as it is: text that would start a formula gets a leading
    apostrophe; numbers, dates and None pass unchanged; other objects become text."""
    if value is None or isinstance(value, bool | int | float | Decimal | date | time):
        return value
    text = value if isinstance(value, str) else str(value)
    cleaned = clean_text(text)
    if text.startswith(FORMULA_START) or cleaned.startswith(FORMULA_START):
        return "'" + cleaned
    return cleaned


def check_format(fmt: str | None) -> str:
    """The format asked for, or a 400 that says which ones exist."""
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise web.HTTPBadRequest(
            text="Định dạng xuất không hỗ trợ: dùng csv, xlsx hoặc json.",
            content_type="text/plain",
        )
    return fmt


def safe_filename(filename: str, fmt: str) -> str:
    """An ASCII file name with the format's extension: no path, no quote, no header injection."""
    base = os.path.basename(filename.replace("\\", "/"))
    stem, ext = os.path.splitext(base)
    if ext.lower().lstrip(".") not in FORMATS:
        stem = base
    stem = _UNSAFE_NAME.sub("_", stem).strip("._-")[:80] or "export"
    return f"{stem}.{fmt}"


def _csv_value(value: Any) -> Any:
    value = safe_cell(value)
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _xlsx_value(value: Any, zone: tzinfo) -> Any:
    value = safe_cell(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(zone).replace(tzinfo=None)
    if isinstance(value, time) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


async def _batches(rows: AsyncIterator[Sequence], size: int = BATCH):
    batch: list[Sequence] = []
    async for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _prepare(fmt: str, filename: str) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="{safe_filename(filename, fmt)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    response.enable_chunked_encoding()
    return response


async def stream_export(
    request: web.Request,
    fmt: str,
    filename: str,
    header: Sequence[str],
    rows: AsyncIterator[Sequence],
    *,
    tz: str | tzinfo | None = None,
    sheet_title: str = "Export",
) -> web.StreamResponse:
    """Send `rows` under `header` as a `fmt` download named after `filename` (see the module
    docstring). A bad `fmt` is a 400."""
    fmt = check_format(fmt)
    header = [str(h) for h in header]
    if fmt == "xlsx":
        zone = tz if isinstance(tz, tzinfo) else ZoneInfo(tz or DEFAULT_TZ)
        return await _stream_xlsx(request, filename, header, rows, zone, sheet_title)
    response = _prepare(fmt, filename)
    await response.prepare(request)
    if fmt == "csv":
        await _stream_csv(response, header, rows)
    else:
        await _stream_json(response, header, rows)
    await response.write_eof()
    return response


async def _stream_csv(response: web.StreamResponse, header, rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([_csv_value(h) for h in header])
    async for batch in _batches(rows):
        for row in batch:
            writer.writerow([_csv_value(v) for v in row])
        if buffer.tell() >= CHUNK:
            await response.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    await response.write(buffer.getvalue().encode("utf-8"))


async def _stream_json(response: web.StreamResponse, header, rows) -> None:
    parts: list[str] = ["["]
    size, first = 1, True
    async for batch in _batches(rows):
        for row in batch:
            item = {h: _json_value(v) for h, v in zip(header, row, strict=False)}
            text = json.dumps(item, ensure_ascii=False, default=_json_default)
            parts.append(text if first else "," + text)
            size += len(text) + 1
            first = False
        if size >= CHUNK:
            await response.write("".join(parts).encode("utf-8"))
            parts, size = [], 0
    parts.append("]")
    await response.write("".join(parts).encode("utf-8"))


async def _stream_xlsx(request, filename, header, rows, zone, sheet_title) -> web.StreamResponse:
    from openpyxl import Workbook  # imported here: only exports need it

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=clean_text(sheet_title)[:31] or "Export")
    sheet.append([_xlsx_value(h, zone) for h in header])

    def append(batch: list[Sequence]) -> None:
        for row in batch:
            sheet.append([_xlsx_value(v, zone) for v in row])

    handle, path = tempfile.mkstemp(prefix="export-", suffix=".xlsx")
    os.close(handle)
    try:
        async for batch in _batches(rows):
            await asyncio.to_thread(append, batch)
        await asyncio.to_thread(workbook.save, path)
        response = _prepare("xlsx", filename)
        await response.prepare(request)
        with open(path, "rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        os.unlink(path)
