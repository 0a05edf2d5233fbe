"""bot/spreadsheets.py: exports read back with csv and openpyxl show text, never a formula; numbers
stay numbers; the file name is safe; 100,000 rows stream in bounded memory."""

from __future__ import annotations

import csv
import io
import json
import threading
import tracemalloc
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.spreadsheets import FORMULA_START, safe_cell, safe_filename, stream_export

HEADER = ["Mã", "Ghi chú", "Giá trị", "Ngày"]
DANGEROUS = [
    "=1+1",
    '=HYPERLINK("http://x.invalid","bấm")',
    "+SUM(A1:A2)",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "\x00=1+1",
]
WHEN = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 00:30 on 1 Dec in Asia/Ho_Chi_Minh


def sample_rows():
    rows = [[i, text, i * 1.5, WHEN] for i, text in enumerate(DANGEROUS)]
    rows.append([100, "Nhà ở thôn 2, xã Ba Động", Decimal("12"), date(2026, 11, 1)])
    rows.append([101, None, -5, None])
    return rows


async def aiter(rows):
    for row in rows:
        yield row


def make_app(rows_factory, filename="báo cáo.csv"):
    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_export(
            request, request.query.get("fmt", ""), filename, HEADER, rows_factory()
        )

    app = web.Application()
    app.router.add_get("/export", handler)
    return app


@pytest.fixture
async def client():
    async def start(rows_factory=lambda: aiter(sample_rows()), filename="báo cáo.csv"):
        c = TestClient(TestServer(make_app(rows_factory, filename), host="127.0.0.1"))
        await c.start_server()
        clients.append(c)
        return c

    clients: list[TestClient] = []
    yield start
    for c in clients:
        await c.close()


def test_safe_cell_neutralises_every_formula_start():
    for text in DANGEROUS:
        cell = safe_cell(text)
        assert cell.startswith("'"), text
        assert "\x00" not in cell
    for start in FORMULA_START:
        assert safe_cell(start + "x").startswith("'")
    assert safe_cell("Nhà ở") == "Nhà ở"
    assert safe_cell("a=b") == "a=b"  # only the start matters
    assert safe_cell("-5") == "'-5"  # text that looks like a number is still text
    assert safe_cell(-5) == -5 and safe_cell(2.5) == 2.5 and safe_cell(Decimal("3")) == 3
    assert safe_cell(None) is None and safe_cell(True) is True
    assert safe_cell(date(2026, 1, 1)) == date(2026, 1, 1)
    assert safe_cell("ok\x07\x1b") == "ok"  # control characters XML cannot hold are dropped


def test_safe_filename():
    assert safe_filename("báo cáo.csv", "csv") == "b_o_c_o.csv"
    name = safe_filename('../../etc/pa"ss\r\nSet-Cookie: x.xlsx', "xlsx")
    assert name.endswith(".xlsx") and "/" not in name and '"' not in name and "\n" not in name
    assert safe_filename("reports", "json") == "reports.json"
    assert safe_filename("...", "csv") == "export.csv"
    assert safe_filename("reports.csv", "xlsx") == "reports.xlsx"


async def test_csv_has_bom_and_text_never_formulas(client):
    c = await client()
    response = await c.get("/export", params={"fmt": "csv"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="b_o_c_o.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.read()
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert table[0] == HEADER
    for row, text in zip(table[1:], DANGEROUS, strict=False):
        assert row[1].startswith("'"), row
        assert row[1].lstrip("'\t\r").lstrip("'") == text.lstrip("\t\r\x00")
    assert table[9] == ["100", "Nhà ở thôn 2, xã Ba Động", "12", "2026-11-01"]
    assert table[10] == ["101", "", "-5", ""]
    assert table[1][3] == "2026-11-30T17:30:00+00:00"


async def test_xlsx_read_back_has_no_formula_and_numbers_stay_numbers(client, tmp_path):
    c = await client()
    response = await c.get("/export", params={"fmt": "xlsx"})
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="b_o_c_o.xlsx"'
    path = tmp_path / "out.xlsx"
    path.write_bytes(await response.read())
    sheet = openpyxl.load_workbook(path).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == HEADER
    for row in values[1:9]:
        assert isinstance(row[1], str) and row[1].startswith("'")
        assert isinstance(row[0], int) and isinstance(row[2], int | float)
        assert row[3] == datetime(2026, 12, 1, 0, 30)  # shown in the province's time zone
    assert values[9][:3] == [100, "Nhà ở thôn 2, xã Ba Động", 12]
    assert values[10] == [101, None, -5, None]


async def test_json_is_an_array_of_objects(client):
    c = await client()
    response = await c.get("/export", params={"fmt": "json"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    data = json.loads(await response.read())
    assert len(data) == 10
    assert data[0] == {"Mã": 0, "Ghi chú": "=1+1", "Giá trị": 0.0, "Ngày": WHEN.isoformat()}
    assert data[7]["Ghi chú"] == "=1+1"  # NUL dropped; JSON is no spreadsheet
    assert data[8]["Giá trị"] == 12 and data[9]["Giá trị"] == -5 and data[9]["Ghi chú"] is None


async def test_unknown_format_is_a_clear_400(client):
    c = await client()
    for fmt in ("", "pdf", "../csv"):
        response = await c.get("/export", params={"fmt": fmt})
        assert response.status == 400
        assert "csv, xlsx hoặc json" in await response.text()


ROWS = 100_000


PRODUCED = [0]  # rows big_rows has handed out so far (the server and client share the loop)


def big_rows():
    async def rows():
        PRODUCED[0] = 0
        for i in range(ROWS):
            PRODUCED[0] = i + 1
            yield [i, f"Ghi chú số {i} — nhà ở thôn {i % 50}", i * 0.5, WHEN]

    return rows()


async def download(c, fmt, path):
    response = await c.get("/export", params={"fmt": fmt})
    assert response.status == 200
    size, first_chunk_after = 0, None
    with open(path, "wb") as file:
        async for chunk in response.content.iter_chunked(64 * 1024):
            if first_chunk_after is None:
                first_chunk_after = PRODUCED[0]  # rows produced when the first bytes arrived
            size += len(chunk)
            file.write(chunk)
    return size, first_chunk_after


async def test_100k_rows_csv_streams_in_bounded_memory(client, tmp_path):
    """The peak of Python allocations during a 100,000-row CSV export stays far below the size of
    the file: nothing holds all the rows (or all the output) at once, and the first bytes arrive
    long before the last row is written. The client keeps only a file on disk."""
    c = await client(big_rows, "reports.csv")
    tracemalloc.start()
    try:
        size, first_chunk_after = await download(c, "csv", tmp_path / "big.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 5_000_000  # the file is big ...
    assert peak < 10_000_000 and peak < size / 2, (peak, size)  # ... the memory is not
    # The first bytes reached the client before the last row was produced (counted, not timed:
    # a loaded machine slows both sides alike; a response built whole would arrive after it).
    assert first_chunk_after is not None and first_chunk_after < ROWS, first_chunk_after
    with open(tmp_path / "big.csv", encoding="utf-8-sig") as file:
        assert sum(1 for _ in csv.reader(file)) == ROWS + 1


async def test_100k_rows_xlsx_in_bounded_memory(client, tmp_path):
    """A 100,000-row XLSX export grows the process by far less than a workbook held in memory
    would (openpyxl's normal mode keeps a cell object per value: some 150 MB here). Measured as
    resident memory sampled in a thread (tracemalloc would make openpyxl seven times slower)."""
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        c = await client(big_rows, "reports.csv")
        await download(c, "xlsx", tmp_path / "big.xlsx")
    finally:
        done.set()
        sampler.join()
    assert peak - baseline < 50_000_000, peak - baseline
    print("xlsx RSS growth", peak - baseline)
    with zipfile.ZipFile(tmp_path / "big.xlsx") as archive:
        with archive.open("xl/worksheets/sheet1.xml") as xml:
            rows, tail = 0, b""
            while chunk := xml.read(1 << 20):
                rows += (tail + chunk).count(b"</row>")
                tail = chunk[-5:]  # a tag cut between two reads is counted once
    assert rows == ROWS + 1
