"""The public open-data pages over HTTP, on SQLite and PostgreSQL: the aggregate of reports
filed by officers, suppression as shown, no personal value in any public response (every
endpoint of the sub-app's router walked), caching and CORS headers, HEAD, 400s for bad queries,
and the Data Package valid and readable by its relative paths."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import jsonschema
import pytest
from aiohttp import ClientSession
from aiohttp.web_urldispatcher import StaticResource
from sqlalchemy import update

from bot.storage.models import Report
from tests.opendata.conftest import PERSONAL, VILLAGE, add_officer, report

SCHEMA = json.loads((Path(__file__).parent.parent / "data" / "datapackage-subset.json").read_text())


async def seed(services):
    """Xã Ba Động: 3 house reports in 2026-11 (one from its village) -> published (15);
    xã Ba Dinh: 2 -> suppressed; meetings for the online share; one withdrawn report and one
    sent back, which must not count."""
    async with services.sessionmaker() as s:
        officers = [await add_officer(s, n) for n in range(3)]
        a, b, c = officers
        s.add_all(
            [
                report(a, "p1_nha_o", "qng.ba_dong", "2026-11", 5),
                report(b, "p1_nha_o", "qng.ba_dong", "2026-11", 4),
                report(c, "p1_nha_o", VILLAGE, "2026-11", 6),
                report(a, "p1_nha_o", "qng.ba_dinh", "2026-11", 70),
                report(b, "p1_nha_o", "qng.ba_dinh", "2026-11", 3),
                report(a, "p1_nha_o", "qng.ba_dong", "2026-11", 1000, status="withdrawn"),
                report(a, "p1_nha_o", "qng.ba_dong", "2026-10", 3),
                report(b, "p1_nha_o", "qng.ba_dong", "2026-10", 3),
                report(c, "p1_nha_o", "qng.ba_dong", "2026-10", 3),
            ]
            + [report(o, "p10_truc_tuyen", "qng.ba_dong", "2026-Q4", 2) for o in officers]
            + [report(o, "p10_tong_cuoc", "qng.ba_dong", "2026-Q4", 4) for o in officers]
        )
        await s.commit()
        sent_back = report(a, "p1_nha_o", "qng.ba_dong", "2026-10", 500)
        s.add(sent_back)
        await s.flush()
        if hasattr(Report, "review"):
            sent_back.review = "sent_back"
        else:  # before migration 0008 lands there is no review: withdrawn stands in
            sent_back.status = "withdrawn"
        await s.commit()


def url(server, path):
    return str(server.make_url(path))


def public_paths(server) -> list[str]:
    """Every GET route of the open-data sub-app, from its router (a new route is covered
    without touching this test), static files listed from their folder."""
    from bot.opendata.web import STATE_KEY

    sub = next(
        r._app
        for r in server.app.router.resources()
        if getattr(r, "_app", None) is not None and STATE_KEY in r._app
    )
    paths = []
    for res in sub.router.resources():
        if isinstance(res, StaticResource):
            folder = Path(res._directory)
            paths += [res.url_for(filename=f.name).path for f in folder.iterdir() if f.is_file()]
            continue
        if any(r.method == "GET" for r in res):
            paths.append(res.canonical)
    assert len(paths) >= 7
    return paths


async def fetch(server, path, **kw):
    async with ClientSession() as http:
        async with http.get(url(server, path), allow_redirects=False, **kw) as resp:
            return resp.status, resp.headers, await resp.read()


def rows_of(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


async def test_the_aggregate_published_with_suppression(server, services):
    await seed(services)
    status, headers, body = await fetch(server, "/open-data/indicators.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = {(r["indicator"], r["area_code"], r["period"]): r for r in rows_of(body)}
    dong = rows[("p1_nha_o", "qng.ba_dong", "2026-11")]
    assert dong["value"] == "15" and dong["reports"] == "3" and dong["suppressed"] == "false"
    assert dong["area_name"] == "xã Ba Động" and dong["area_official_code"] == "21496"
    dinh = rows[("p1_nha_o", "qng.ba_dinh", "2026-11")]
    assert (dinh["value"], dinh["reports"], dinh["suppressed"]) == ("", "", "true")
    total = rows[("p1_nha_o", "qng", "2026-11")]
    assert total["value"] == "15" and total["suppressed_cells"] == "1"
    # withdrawn and sent back reports are left out
    assert rows[("p1_nha_o", "qng.ba_dong", "2026-10")]["value"] == "9"
    assert not any(k[1].count(".") > 1 for k in rows), "never a village"
    # the JSON has the same rows; suppressed is null, not 0
    status, _, body = await fetch(server, "/open-data/indicators.json?area=qng.ba_dinh")
    data = json.loads(body)
    assert data["min_cell_reports"] == 3 and data["licence"] == "CC-BY-4.0"
    assert data["filters"] == {"area": "qng.ba_dinh"}
    assert [(r["value"], r["suppressed"]) for r in data["data"]] == [(None, True)]
    # online share
    status, _, body = await fetch(server, "/open-data/online_meetings.json")
    shares = {(r["area_code"], r["period"]): r for r in json.loads(body)["data"]}
    assert shares[("qng.ba_dong", "2026-Q4")]["share"] == 0.5
    assert shares[("qng.ba_dong", "2026-Q4")]["meets_target"] is True
    assert shares[("qng", "2026-Q4")]["target"] == 0.3


async def test_the_page_shows_charts_tables_and_the_online_target(server, services):
    await seed(services)
    status, headers, body = await fetch(server, "/open-data/")
    html = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert html.count("<svg") >= 19  # a chart per indicator, and the online share's
    assert "<script" not in html
    assert "Mục tiêu 30%" in html and "Kế hoạch 168/KH-UBND" in html
    assert "50%" in html and "Đạt" in html
    assert '<td class="num">9</td>' in html  # 2026-10 at province level
    # the last change (08:00 UTC) in the province's time zone, its offset said
    assert "Cập nhật: 20/11/2026 15:00 (GMT+7)." in html
    # filters: one period, the whole province -> a bar per commune, the suppressed one marked
    status, _, body = await fetch(server, "/open-data/?period=2026-11")
    html = body.decode()
    assert "theo xã" in html and "xã Ba Dinh" in html
    assert '<td class="num supp">ẩn</td>' in html
    assert 'class="suppressed"' in html
    status, _, body = await fetch(server, "/open-data/?area=qng.ba_dong&period=")
    assert status == 200 and "xã Ba Động" in body.decode()
    # data changes are seen at once (the fingerprint changes)
    async with services.sessionmaker() as s:
        await s.execute(update(Report).where(Report.area_code == "qng.ba_dinh").values(value=1))
        await s.execute(
            update(Report)
            .where(Report.area_code == "qng.ba_dong", Report.period == "2026-10")
            .values(status="withdrawn", updated_at=datetime.now(UTC))
        )
        await s.commit()
    _, _, body = await fetch(server, "/open-data/indicators.csv?period=2026-10")
    assert rows_of(body) == []


async def test_no_personal_value_in_any_public_response(server, services):
    await seed(services)
    queries = ["", "?area=qng.ba_dong", "?period=2026-11", "?area=qng&period=2026-Q4"]
    seen = 0
    for path in public_paths(server):
        for q in queries if not path.startswith("/open-data/static/") else [""]:
            for method in ("GET", "HEAD"):
                async with ClientSession() as http:
                    async with http.request(method, url(server, path + q)) as resp:
                        body = (await resp.read()).decode("utf-8")
                        assert resp.status == 200, (path, q, resp.status)
                        assert "Set-Cookie" not in resp.headers, path
                        text = body + "\n".join(f"{k}: {v}" for k, v in resp.headers.items())
                for value in PERSONAL:
                    assert value.lower() not in text.lower(), (path + q, value)
                seen += 1
    assert seen > 20


async def test_public_without_login_and_staff_pages_not(server, services):
    for path in public_paths(server):
        status, headers, _ = await fetch(server, path)
        if path == "/open-data":
            assert status == 301 and headers["Location"] == "/open-data/"
            continue
        assert status == 200, path
    staff = [r.canonical for r in server.app.router.resources() if r.canonical.startswith("/staff")]
    if not staff:
        pytest.skip("the staff dashboard is not mounted in this tree")
    status, headers, _ = await fetch(server, "/staff/")
    assert status in (302, 303, 401, 403), status


async def test_caching_headers_conditional_requests_cors_and_head(server, services):
    await seed(services)
    zipped_seen = False
    for path, cors in [
        ("/open-data/indicators.csv", True),
        ("/open-data/indicators.json", True),
        ("/open-data/datapackage.json", True),
        ("/open-data/online_meetings.csv", True),
        ("/open-data/", False),
    ]:
        status, h, body = await fetch(server, path)
        assert status == 200
        assert h["Cache-Control"] == "public, max-age=300"
        etag, last = h["ETag"], h["Last-Modified"]
        assert etag.startswith('"') and last.endswith("GMT")
        assert last == format_datetime(datetime(2026, 11, 20, 8, 0, tzinfo=UTC), usegmt=True)
        assert (h.get("Access-Control-Allow-Origin") == "*") is cors
        status, h2, body2 = await fetch(server, path, headers={"If-None-Match": etag})
        assert status == 304 and body2 == b"" and h2["ETag"] == etag
        status, _, _ = await fetch(server, path, headers={"If-None-Match": '"other"'})
        assert status == 200
        status, _, _ = await fetch(server, path, headers={"If-Modified-Since": last})
        assert status == 304
        older = "Thu, 19 Nov 2026 08:00:00 GMT"
        status, _, _ = await fetch(server, path, headers={"If-Modified-Since": older})
        assert status == 200
        status, _, _ = await fetch(server, path, headers={"If-Modified-Since": "garbage"})
        assert status == 200
        async with ClientSession() as http:
            async with http.head(url(server, path)) as resp:
                assert resp.status == 200 and await resp.read() == b""
                assert resp.headers["ETag"] == etag
            # without gzip: the plain body, its own tag, its length on HEAD too
            plain = {"Accept-Encoding": "identity"}
            async with http.get(url(server, path), headers=plain) as resp:
                assert "Content-Encoding" not in resp.headers
                assert await resp.read() == body
                plain_tag = resp.headers["ETag"]
            async with http.head(url(server, path), headers=plain) as resp:
                assert int(resp.headers["Content-Length"]) == len(body)
            zipped = {"Accept-Encoding": "gzip"}
            async with http.get(url(server, path), headers=zipped, auto_decompress=False) as resp:
                assert resp.headers["Vary"] == "Accept-Encoding"
                raw = await resp.read()
                if len(body) < 1024:  # not worth it
                    assert "Content-Encoding" not in resp.headers and raw == body
                else:
                    assert resp.headers["Content-Encoding"] == "gzip"
                    assert gzip.decompress(raw) == body and len(raw) < len(body)
                    assert resp.headers["ETag"] == plain_tag[:-1] + '-gzip"'
                    zipped_seen = True
            async with http.get(url(server, path), headers={**plain, "If-None-Match": etag}) as r:
                assert r.status == 304  # either tag revalidates either form
    assert zipped_seen
    # a different filter, a different ETag
    _, h_all, _ = await fetch(server, "/open-data/indicators.csv")
    _, h_one, _ = await fetch(server, "/open-data/indicators.csv?period=2026-11")
    assert h_all["ETag"] != h_one["ETag"]
    async with ClientSession() as http:
        async with http.options(
            url(server, "/open-data/indicators.json"),
            headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
        ) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert "If-None-Match" in resp.headers["Access-Control-Allow-Headers"]


BAD_QUERIES = [
    ("/open-data/indicators.csv?area=qng.khong_co", "area:"),
    ("/open-data/indicators.json?area=%3Cscript%3E", "area:"),
    ("/open-data/indicators.json?area=qng.ba_dong.lang_teng", "area:"),  # a village
    ("/open-data/indicators.csv?period=2026-13", "period:"),
    ("/open-data/indicators.json?period=tháng 11", "period:"),
    ("/open-data/online_meetings.json?period=2026-Q5", "period:"),
    ("/open-data/indicators.json?indicator=khong_co", "indicator:"),
    ("/open-data/?area=" + "x" * 5000, "area:"),
    ("/open-data/?period=%00", "period:"),
    ("/open-data/?area=%3Cscript%3Ealert(1)%3C/script%3E", "area:"),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_bad_query_values_get_a_400(server):
    for path, fragment in BAD_QUERIES:
        status, headers, body = await fetch(server, path)
        text = body.decode()
        assert status == 400, (path, status)
        assert fragment in text and "Traceback" not in text and len(text) < 800, text
        assert headers["Cache-Control"] == "no-store"
        assert "<script>" not in text
        if ".json" in path:
            assert "error" in json.loads(text)


async def test_the_data_package_is_valid_and_readable_by_its_relative_paths(server, services):
    await seed(services)
    status, headers, body = await fetch(server, "/open-data/datapackage.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    pkg = json.loads(body)
    jsonschema.validate(pkg, SCHEMA)  # the spec's rules that can be checked offline
    assert pkg["profile"] == "tabular-data-package"
    assert pkg["licenses"][0]["name"] == "CC-BY-4.0"
    assert pkg["created"] == "2026-11-20T08:00:00Z"
    assert pkg["sources"] and pkg["title"]
    casts = {
        "string": str,
        "integer": int,
        "number": float,
        "boolean": lambda v: {"true": True, "false": False}[v],
    }
    for res in pkg["resources"]:
        path = res["path"]
        assert "://" not in path and not path.startswith("/") and ".." not in path
        status, h, data = await fetch(server, "/open-data/" + path)  # relative to the package
        assert status == 200 and h["Content-Type"].startswith(res["mediatype"])
        reader = csv.reader(io.StringIO(data.decode(res["encoding"])))
        header = next(reader)
        fields = res["schema"]["fields"]
        assert header == [f["name"] for f in fields]
        keys = set()
        rows = list(reader)
        assert rows, path
        for row in rows:
            assert len(row) == len(fields)
            for f, v in zip(fields, row, strict=True):
                cons = f.get("constraints", {})
                if v in res["schema"]["missingValues"]:
                    assert not cons.get("required"), (f["name"], row)
                    continue
                typed = casts[f["type"]](v)
                if "enum" in cons:
                    assert typed in cons["enum"]
                if "minimum" in cons:
                    assert typed >= cons["minimum"]
            key = tuple(row[header.index(k)] for k in res["schema"]["primaryKey"])
            assert key not in keys, f"primary key repeated: {key}"
            keys.add(key)


def test_the_schema_subset_rejects_what_portals_would():
    """The offline schema is not a rubber stamp: a package with an absolute path, a bad name,
    or an unknown field type fails it."""
    good = {
        "profile": "tabular-data-package",
        "name": "ok-name",
        "licenses": [{"name": "CC-BY-4.0"}],
        "resources": [
            {
                "name": "t",
                "path": "t.csv",
                "profile": "tabular-data-resource",
                "schema": {"fields": [{"name": "a", "type": "string"}], "primaryKey": ["a"]},
            }
        ],
    }
    jsonschema.validate(good, SCHEMA)
    bad = [
        ("name", "Bad Name!"),
        ("resources", []),
        ("licenses", [{}]),
    ]
    for key, value in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, key: value}, SCHEMA)
    for change in (
        {"path": "/abs/t.csv"},
        {"path": "https://x.org/t.csv"},
        {"path": "../t.csv"},
        {"schema": {"fields": [{"name": "a", "type": "decimal"}]}},
        {"schema": {"fields": []}},
    ):
        res = {**good["resources"][0], **change}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, "resources": [res]}, SCHEMA)
