"""The public open-data pages, a sub-app mounted at `/open-data/` (no login):

- `/open-data/`: a chart per indicator (server-rendered SVG, bot/web/charts.py) with its table,
  the share of meetings held online against the plan's 30% target, filters by area and period as
  a plain GET form (works without JavaScript, on a phone);
- `/open-data/indicators.csv|json`: the published cells (bot/opendata/aggregate.py: commune
  level and the province total, small cells suppressed), filterable by `area`, `period`,
  `indicator`;
- `/open-data/online_meetings.csv|json`: the share of meetings held online;
- `/open-data/datapackage.json`: a Frictionless Tabular Data Package describing the CSV files
  (paths relative to it), so a portal reads them without a guide;
- `/open-data/static/`: the page's CSS (no asset from elsewhere).

Bodies of 1 KiB or more go gzip-compressed to clients that accept it (compressed once per data
version, then kept). Every response carries an ETag (a hash of its body; `-gzip` appended for the
compressed form) and Last-Modified (the last change to the
reports), `Cache-Control: public, max-age=open_data.max_age_seconds`; a matching If-None-Match
(or, without one, If-Modified-Since) gets a 304. The data files and the package add
`Access-Control-Allow-Origin: *`: public data any site may read. HEAD works on every route.

The data is aggregated once per change of the reports table (a one-row fingerprint query tells,
read at most once every `open_data.recheck_seconds`, 60 s), so repeated requests cost at most that
query and a dictionary look-up. A bad query value gets a 400
with a short message saying what is accepted.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import escape

from bot.areas import areas_of
from bot.core.services import Services
from bot.flows.forms.schema import load_lists
from bot.opendata import aggregate
from bot.opendata.aggregate import PERIOD_RE, Dataset
from bot.opendata.licences import LICENCES
from bot.storage.repositories import opendata as repo
from bot.web import charts

log = logging.getLogger("bot.opendata")
HERE = Path(__file__).parent
STATE_KEY = web.AppKey("open_data_state", object)
NAME = "lang-so-mtqg-1719-quang-ngai"
TITLE = "Kết quả Chương trình MTQG 1719 tỉnh Quảng Ngãi (báo cáo nhanh của cán bộ)"
DESCRIPTION = (
    "Tổng các chỉ tiêu từ báo cáo nhanh của cán bộ xã và tỉnh gửi qua Làng Số, theo xã và kỳ "
    "báo cáo, kèm tổng của tỉnh. Không có tên, số điện thoại, mã người dùng, ghi chú, ảnh hay "
    "vị trí. Ô có ít hơn {k} báo cáo bị ẩn (để trống, suppressed = true), không phải bằng 0; "
    "tổng của tỉnh chỉ cộng các ô được công bố. Chưa phải số liệu thống kê chính thức."
)
GZIP_MIN = 1024  # bytes: smaller bodies are sent as they are
CACHE_ENTRIES = 256  # rendered bodies kept per data version (filters x formats)


def _fields_indicators() -> list[dict[str, Any]]:
    return [
        {"name": "indicator", "type": "string", "title": "Mã chỉ tiêu",
         "constraints": {"required": True}},
        {"name": "indicator_name", "type": "string", "title": "Tên chỉ tiêu"},
        {"name": "project", "type": "integer", "title": "Dự án (số)",
         "constraints": {"required": True, "minimum": 1}},
        {"name": "unit", "type": "string", "title": "Đơn vị tính"},
        {"name": "area_code", "type": "string", "title": "Mã địa bàn (mã chấm, content/areas.yml)",
         "constraints": {"required": True}},
        {"name": "area_official_code", "type": "string", "title": "Mã đơn vị hành chính"},
        {"name": "area_name", "type": "string", "title": "Tên địa bàn"},
        {"name": "area_level", "type": "string", "title": "Cấp (commune: xã, province: tỉnh)",
         "constraints": {"required": True, "enum": ["commune", "province"]}},
        {"name": "period", "type": "string", "title": "Kỳ (YYYY-MM, YYYY-Qn hoặc YYYY)",
         "constraints": {"required": True, "pattern": PERIOD_RE.pattern.strip("^$")}},
        {"name": "value", "type": "number", "title": "Giá trị (trống: ẩn)"},
        {"name": "reports", "type": "integer", "title": "Số báo cáo (trống: ẩn)",
         "constraints": {"minimum": 1}},
        {"name": "suppressed", "type": "boolean", "title": "Ô bị ẩn vì có ít báo cáo",
         "constraints": {"required": True}},
        {"name": "suppressed_cells", "type": "integer",
         "title": "Tổng của tỉnh: số ô bị ẩn không được cộng", "constraints": {"minimum": 0}},
    ]  # fmt: skip


def _fields_online() -> list[dict[str, Any]]:
    return [
        {"name": "area_code", "type": "string", "title": "Mã địa bàn",
         "constraints": {"required": True}},
        {"name": "area_name", "type": "string", "title": "Tên địa bàn"},
        {"name": "area_level", "type": "string", "title": "Cấp",
         "constraints": {"required": True, "enum": ["commune", "province"]}},
        {"name": "period", "type": "string", "title": "Kỳ", "constraints": {"required": True}},
        {"name": "online", "type": "number", "title": "Cuộc họp, hội nghị, tập huấn trực tuyến"},
        {"name": "total", "type": "number", "title": "Tổng số cuộc họp, hội nghị, tập huấn"},
        {"name": "share", "type": "number", "title": "Tỷ lệ trực tuyến (0-1)",
         "constraints": {"minimum": 0}},
        {"name": "target", "type": "number", "title": "Mục tiêu (0-1)"},
        {"name": "meets_target", "type": "boolean", "title": "Đạt mục tiêu"},
    ]  # fmt: skip


INDICATOR_FIELDS = [f["name"] for f in _fields_indicators()]
ONLINE_FIELDS = [f["name"] for f in _fields_online()]


class BadQuery(Exception):
    pass


def _num(v: float | None) -> str:
    """A number as CSV and JSON readers expect it: `12`, `12.5`, empty when suppressed."""
    if v is None:
        return ""
    r = round(float(v), 6)
    return str(int(r)) if r == int(r) else repr(r)


def _json_num(v: float | None) -> int | float | None:
    if v is None:
        return None
    r = round(float(v), 6)
    return int(r) if r == int(r) else r


class Body:
    """A rendered response body, its ETag, and its gzip form (made the first time a client
    accepts it, then kept with the body)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        self.gz: bytes | None = None

    async def gzipped(self) -> bytes:
        if self.gz is None:
            self.gz = await asyncio.to_thread(gzip.compress, self.data, 6, mtime=0)
        return self.gz


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.replace(" ", "").removeprefix("q=")
            try:
                return float(q or 1) > 0
            except ValueError:
                return False
    return False


class State:
    """What the sub-app keeps: the content lists, the area tree, the current dataset (rebuilt
    when the reports' fingerprint changes) and the bodies rendered from it."""

    def __init__(self, services: Services) -> None:
        self.services = services
        s = services.settings
        self.settings = s.open_data
        self.timezone = s.timezone  # the province's: the page's "updated" time is read there
        self.tree = areas_of(services.content)
        self.indicators = aggregate.indicators_of(load_lists(s.path(s.content_dir)))
        self.by_indicator = {i.code: i for i in self.indicators}
        self.fingerprint: repo.Fingerprint | None = None
        self.dataset: Dataset | None = None
        self.checked_at = -math.inf  # when the fingerprint was last read (time.monotonic)
        self.lock = asyncio.Lock()
        self.bodies: OrderedDict[tuple, Body] = OrderedDict()

    async def current(self) -> Dataset:
        """The dataset, rebuilt when the reports changed (one rebuild at a time; the building,
        CPU work, in a thread so the event loop keeps serving the chat meanwhile)."""
        if self.dataset is not None and self._fresh():
            return self.dataset
        async with self.lock:
            if self.dataset is not None and self._fresh():
                return self.dataset  # another request rebuilt it while this one waited
            self.checked_at = time.monotonic()
            async with self.services.sessionmaker() as session:
                fp = await repo.fingerprint(session)
                if self.dataset is not None and fp == self.fingerprint:
                    return self.dataset
                raw = await repo.cells(session)
            last = fp.last_updated
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            k = self.settings.min_cell_reports
            dataset = await asyncio.to_thread(
                aggregate.build, raw, self.tree, self.indicators, k, last
            )
            self.dataset, self.fingerprint = dataset, fp
            self.bodies.clear()
            return dataset

    def _fresh(self) -> bool:
        return time.monotonic() - self.checked_at < self.settings.recheck_seconds

    async def cached(self, ds: Dataset, key: tuple, make: Callable[[], bytes]) -> Body:
        """The body `make` renders from `ds` for `key`, kept while `ds` is current."""
        key = (id(ds), *key)
        hit = self.bodies.get(key)
        if hit is None:
            hit = Body(await asyncio.to_thread(make))
            if ds is self.dataset:  # not a body of data replaced meanwhile
                self.bodies[key] = hit
                if len(self.bodies) > CACHE_ENTRIES:
                    self.bodies.popitem(last=False)
        else:
            self.bodies.move_to_end(key)
        return hit

    # -- query values ---------------------------------------------------------------------

    def area(self, request: web.Request) -> str | None:
        raw = request.query.get("area", "").strip()
        if not raw:
            return None
        area = self.tree.by_code.get(raw) if len(raw) <= 200 else None
        if area is None or area.level not in ("province", "commune"):
            raise BadQuery(
                "area: mã xã hoặc tỉnh không đúng (ví dụ area=qng hoặc area=qng.ba_dong); "
                "danh sách mã ở cột area_code của indicators.csv"
            )
        return area.code

    def period(self, request: web.Request) -> str | None:
        raw = request.query.get("period", "").strip()
        if not raw:
            return None
        if not PERIOD_RE.match(raw):
            raise BadQuery("period: kỳ không đúng; dùng YYYY-MM, YYYY-Qn hoặc YYYY (ví dụ 2026-11)")
        return raw

    def indicator(self, request: web.Request) -> str | None:
        raw = request.query.get("indicator", "").strip()
        if not raw:
            return None
        if raw not in self.by_indicator:
            raise BadQuery("indicator: mã chỉ tiêu không có; xem cột indicator của indicators.csv")
        return raw


def _state(request: web.Request) -> State:
    return request.app[STATE_KEY]  # type: ignore[return-value]


def _bad(request: web.Request, message: str) -> web.Response:
    path = request.path
    headers = {"Cache-Control": "no-store"}
    if path.endswith(".json"):
        return web.json_response({"error": message}, status=400, headers=headers)
    if path.endswith(".csv"):
        return web.Response(text=message + "\n", status=400, headers=headers)
    return web.Response(
        text=(
            '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Yêu cầu không hợp lệ</title></head><body><p>"
            + escape(message)
            + '</p><p><a href="/open-data/">Về trang dữ liệu mở</a></p></body></html>'
        ),
        status=400,
        content_type="text/html",
        headers=headers,
    )


def _not_modified(request: web.Request, etag: str, last: datetime | None) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        tags = [t.strip().removeprefix("W/").replace("-gzip", "") for t in inm.split(",")]
        return "*" in tags or etag in tags
    ims = request.headers.get("If-Modified-Since")
    if ims and last is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last.replace(microsecond=0) <= since
    return False


async def _respond(
    request: web.Request,
    ds: Dataset,
    body: Body,
    content_type: str,
    *,
    cors: bool,
    filename: str | None = None,
) -> web.Response:
    """200 with the body (gzip when the client accepts it and it is worth it) or 304."""
    state = _state(request)
    last = ds.last_updated
    gz = len(body.data) >= GZIP_MIN and _accepts_gzip(request)
    etag = body.etag[:-1] + '-gzip"' if gz else body.etag  # one tag per representation
    headers = {
        "Cache-Control": f"public, max-age={state.settings.max_age_seconds}",
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if last is not None:
        headers["Last-Modified"] = format_datetime(last.astimezone(UTC), usegmt=True)
    if cors:
        headers.update(CORS)
    if filename:
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
    if _not_modified(request, body.etag, last):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = content_type
    if gz:
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=await body.gzipped(), headers=headers)
    return web.Response(body=body.data, headers=headers)


CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified",
    # The files are meant to be read from other sites (a portal, a newsroom's chart).
    "Cross-Origin-Resource-Policy": "cross-origin",
}


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight for a script elsewhere sending If-None-Match: allowed, GET and HEAD."""
    return web.Response(
        status=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": "If-None-Match, If-Modified-Since",
            "Access-Control-Max-Age": "86400",
        },
    )


# -- the tables ---------------------------------------------------------------------------


def indicator_row(cell: aggregate.Cell, state: State) -> dict[str, Any]:
    area = state.tree.by_code.get(cell.area_code)
    return {
        "indicator": cell.indicator.code,
        "indicator_name": cell.indicator.name,
        "project": cell.indicator.project,
        "unit": cell.indicator.unit,
        "area_code": cell.area_code,
        "area_official_code": (area.official_code if area else None) or "",
        "area_name": cell.area_name,
        "area_level": cell.area_level,
        "period": cell.period,
        "value": _json_num(cell.value),
        "reports": cell.reports,
        "suppressed": cell.suppressed,
        "suppressed_cells": cell.suppressed_cells,
    }


def online_row(share: aggregate.Share) -> dict[str, Any]:
    return {
        "area_code": share.area_code,
        "area_name": share.area_name,
        "area_level": share.area_level,
        "period": share.period,
        "online": _json_num(share.online),
        "total": _json_num(share.total),
        "share": round(share.share, 4),
        "target": aggregate.ONLINE_TARGET,
        "meets_target": share.meets_target,
    }


def _csv(fields: list[str], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(fields)
    for row in rows:
        w.writerow([_csv_value(row[f]) for f in fields])
    return out.getvalue().encode("utf-8")


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _num(v)
    return str(v)


def _json(meta: dict[str, Any], rows: list[dict[str, Any]]) -> bytes:
    body = json.dumps({**meta, "data": rows}, ensure_ascii=False, separators=(",", ":"))
    return body.encode("utf-8")


def _meta(state: State, ds: Dataset, filters: dict[str, str | None]) -> dict[str, Any]:
    return {
        "title": TITLE,
        "licence": state.settings.licence,
        "publisher": state.settings.publisher,
        "last_updated": _iso(ds.last_updated),
        "min_cell_reports": ds.min_cell_reports,
        "filters": {k: v for k, v in filters.items() if v is not None},
        "datapackage": "datapackage.json",
    }


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if t else None


async def _data(request: web.Request, kind: str, fmt: str) -> web.Response:
    state = _state(request)
    try:
        area, period = state.area(request), state.period(request)
        indicator = state.indicator(request) if kind == "indicators" else None
    except BadQuery as exc:
        return _bad(request, str(exc))
    ds = await state.current()
    filters = {"area": area, "period": period, "indicator": indicator}

    def make() -> bytes:
        if kind == "indicators":
            rows = [
                indicator_row(c, state)
                for c in ds.select(area=area, period=period, indicator=indicator)
            ]
            fields = INDICATOR_FIELDS
        else:
            rows = [online_row(s) for s in ds.select_shares(area=area, period=period)]
            fields = ONLINE_FIELDS
        if fmt == "csv":
            return _csv(fields, rows)
        return _json(_meta(state, ds, filters), rows)

    body = await state.cached(ds, (kind, fmt, area, period, indicator), make)
    ctype = "text/csv; charset=utf-8" if fmt == "csv" else "application/json; charset=utf-8"
    return await _respond(request, ds, body, ctype, cors=True, filename=f"{kind}.{fmt}")


async def indicators_csv(request: web.Request) -> web.Response:
    return await _data(request, "indicators", "csv")


async def indicators_json(request: web.Request) -> web.Response:
    return await _data(request, "indicators", "json")


async def online_csv(request: web.Request) -> web.Response:
    return await _data(request, "online_meetings", "csv")


async def online_json(request: web.Request) -> web.Response:
    return await _data(request, "online_meetings", "json")


def datapackage(state: State, ds: Dataset) -> dict[str, Any]:
    lic = LICENCES[state.settings.licence]
    k = ds.min_cell_reports
    pkg: dict[str, Any] = {
        "profile": "tabular-data-package",
        "name": NAME,
        "title": TITLE,
        "description": DESCRIPTION.format(k=k),
        "licenses": [{"name": state.settings.licence, "path": lic["path"], "title": lic["title"]}],
        "sources": [
            {"title": "Báo cáo nhanh của cán bộ xã và tỉnh qua Làng Số (trợ lý nhắn tin)"},
            {"title": "Danh sách chỉ tiêu: content/indicators.yml, theo Quyết định 1719/QĐ-TTg"},
            {"title": "Danh mục địa bàn: content/areas.yml (96 đơn vị cấp xã sau sắp xếp 2025)"},
            {"title": "Mục tiêu họp trực tuyến: " + aggregate.ONLINE_TARGET_SOURCE},
        ],
        "contributors": [{"title": state.settings.publisher, "role": "publisher"}],
        "keywords": ["MTQG 1719", "Quảng Ngãi", "dân tộc thiểu số", "open data"],
        "resources": [
            {
                "profile": "tabular-data-resource",
                "name": "indicators",
                "title": "Chỉ tiêu theo xã, tỉnh và kỳ",
                "path": "indicators.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": _fields_indicators(),
                    "primaryKey": ["indicator", "area_code", "period"],
                    "missingValues": [""],
                },
            },
            {
                "profile": "tabular-data-resource",
                "name": "online-meetings",
                "title": "Tỷ lệ cuộc họp, hội nghị, tập huấn trực tuyến (mục tiêu 30%)",
                "path": "online_meetings.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": _fields_online(),
                    "primaryKey": ["area_code", "period"],
                    "missingValues": [""],
                },
            },
        ],
    }
    if ds.last_updated is not None:
        pkg["created"] = _iso(ds.last_updated)
    return pkg


async def datapackage_json(request: web.Request) -> web.Response:
    state = _state(request)
    ds = await state.current()

    def make() -> bytes:
        return json.dumps(datapackage(state, ds), ensure_ascii=False, indent=1).encode("utf-8")

    body = await state.cached(ds, ("datapackage",), make)
    return await _respond(request, ds, body, "application/json; charset=utf-8", cors=True)


# -- the page -----------------------------------------------------------------------------


def _pct(v: float) -> str:
    return charts.format_number(round(v, 1)) + "%"


def page_context(state: State, ds: Dataset, area: str | None, period: str | None) -> dict:
    province_code, province_name = ds.province
    shown_area = area or province_code
    area_name = state.tree.by_code[shown_area].name if shown_area in state.tree.by_code else ""
    k = ds.min_cell_reports
    sections = []
    for ind in ds.indicators:
        if period and shown_area == province_code:
            # one period, the whole province: a bar per commune
            cells = ds.select(indicator=ind.code, period=period, level="commune")
            items = [(c.area_name, c.value) for c in cells]
            title = f"{ind.name} ({ind.unit}), {period}, theo xã"
            chart = charts.hbar_chart(items, title=title, unit=ind.unit)
            total = ds.select(indicator=ind.code, period=period, area=province_code)
            rows = [(c.area_name, c) for c in total + cells]
            first = "Địa bàn"
        else:
            cells = ds.select(indicator=ind.code, area=shown_area, period=period)
            items = [(c.period, c.value) for c in cells]
            title = f"{ind.name} ({ind.unit}), {area_name}, theo kỳ"
            chart = charts.bar_chart(items, title=title, unit=ind.unit)
            rows = [(c.period, c) for c in cells]
            first = "Kỳ"
        sections.append(
            {"indicator": ind, "title": title, "chart": chart, "rows": rows, "first": first}
        )
    projects: list[dict] = []
    for s in sections:
        ind = s["indicator"]
        if not projects or projects[-1]["number"] != ind.project:
            projects.append({"number": ind.project, "name": ind.project_name, "sections": []})
        projects[-1]["sections"].append(s)
    shares = ds.select_shares(area=shown_area, period=period)
    share_chart = None
    if ds.online_available:
        share_chart = charts.bar_chart(
            [(s.period, round(s.share * 100, 1)) for s in shares],
            title=f"Tỷ lệ cuộc họp, hội nghị, tập huấn trực tuyến, {area_name} (%)",
            unit="%",
            target=aggregate.ONLINE_TARGET * 100,
            target_label="Mục tiêu 30%",
            fmt=lambda v: charts.format_number(v) + "%",
            empty_text="Chưa đủ số liệu để tính",
        )
    areas = [(province_code, province_name)] + [
        (a.code, a.name) for a in state.tree.areas if a.level == "commune"
    ]
    return {
        "title": TITLE,
        "area": area,
        "period": period,
        "area_name": area_name,
        "areas": areas,
        "periods": ds.periods,
        "projects": projects,
        "k": k,
        "fmt": charts.format_number,
        "pct": _pct,
        "shares": shares,
        "share_chart": share_chart,
        "online_available": ds.online_available,
        "online_source": aggregate.ONLINE_TARGET_SOURCE,
        "target_pct": int(aggregate.ONLINE_TARGET * 100),
        "last_updated": _local_time(ds.last_updated, state.timezone) if ds.last_updated else None,
        "licence": state.settings.licence,
        "licence_info": LICENCES[state.settings.licence],
        "publisher": state.settings.publisher,
        "query": "&".join(
            f"{k}={v}" for k, v in (("area", area), ("period", period)) if v is not None
        ),
    }


async def page(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        area, period = state.area(request), state.period(request)
    except BadQuery as exc:
        return _bad(request, str(exc))
    ds = await state.current()

    def make() -> bytes:
        ctx = page_context(state, ds, area, period)
        return aiohttp_jinja2.render_string("index.html", request, ctx).encode("utf-8")

    body = await state.cached(ds, ("page", area, period), make)
    return await _respond(request, ds, body, "text/html; charset=utf-8", cors=False)


async def to_page(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(
        "/open-data/" + (f"?{request.query_string}" if request.query_string else "")
    )


def _local_time(value: datetime, zone: str) -> str:
    """ "20/11/2026 15:00 (GMT+7)": in the province's time zone, with its offset said, since
    readers of open data may be anywhere."""
    local = value.astimezone(ZoneInfo(zone))
    offset = local.utcoffset() or timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    minutes = abs(rest) // 60
    label = f"GMT{hours:+d}" + (f":{minutes:02d}" if minutes else "")
    return local.strftime("%d/%m/%Y %H:%M") + f" ({label})"


def build_open_data_app(services: Services) -> web.Application:
    """The sub-app `bot.app.build_web_app` mounts at /open-data/."""
    app = web.Application()
    app[STATE_KEY] = State(services)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_get("/", page)
    app.router.add_get("", to_page)  # /open-data -> /open-data/
    app.router.add_get("/datapackage.json", datapackage_json)
    app.router.add_get("/indicators.csv", indicators_csv)
    app.router.add_get("/indicators.json", indicators_json)
    app.router.add_get("/online_meetings.csv", online_csv)
    app.router.add_get("/online_meetings.json", online_json)
    for path in (
        "/datapackage.json",
        "/indicators.csv",
        "/indicators.json",
        "/online_meetings.csv",
        "/online_meetings.json",
    ):
        app.router.add_route("OPTIONS", path, preflight)
    app.router.add_static("/static/", HERE / "static", append_version=False)
    return app
