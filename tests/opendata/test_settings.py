"""The `open_data` settings reach the published data: the suppression threshold, the licence in
the package and the page, the cache lifetime; bad values are refused when the config loads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.config import ConfigError, load_settings
from bot.opendata.web import STATE_KEY
from bot.storage.models import Report
from tests.opendata.test_web import fetch, rows_of, seed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(settings):
    od = dataclasses.replace(
        settings.open_data,
        min_cell_reports=1,
        licence="CC0-1.0",
        max_age_seconds=60,
        recheck_seconds=3600,
    )
    return dataclasses.replace(settings, open_data=od)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_settings_apply(server, services):
    await seed(services)
    _, headers, body = await fetch(server, "/open-data/indicators.csv?area=qng.ba_dinh")
    [row] = rows_of(body)
    assert row["value"] == "73" and row["suppressed"] == "false"  # k = 1: nothing hidden
    assert headers["Cache-Control"] == "public, max-age=60"
    _, _, body = await fetch(server, "/open-data/datapackage.json")
    lic = json.loads(body)["licenses"][0]
    assert lic["name"] == "CC0-1.0" and "publicdomain/zero" in lic["path"]
    _, _, body = await fetch(server, "/open-data/")
    assert "CC0-1.0" in body.decode() and "ít hơn 1 báo cáo" in body.decode()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_new_reports_show_after_recheck_seconds(server, services):
    """Within recheck_seconds the server's copy is served without asking the database; after
    it, the fingerprint is read again and the change shows."""
    await seed(services)
    path = "/open-data/indicators.csv?area=qng.ba_dinh"
    _, _, before = await fetch(server, path)
    async with services.sessionmaker() as s:
        # as repositories.reports.correct does: a new version
        await s.execute(
            update(Report)
            .where(Report.area_code == "qng.ba_dinh")
            .values(value=1, version=Report.version + 1)
        )
        await s.commit()
    _, _, same = await fetch(server, path)
    assert same == before
    state = next(
        r._app[STATE_KEY]
        for r in server.app.router.resources()
        if getattr(r, "_app", None) is not None and STATE_KEY in r._app
    )
    state.checked_at -= 3601  # an hour later
    _, _, after = await fetch(server, path)
    assert rows_of(after)[0]["value"] == "2"


@pytest.mark.parametrize(
    "section, message",
    [
        ("open_data:\n  licence: all-rights-reserved\n", "open_data.licence"),
        ("open_data:\n  min_cell_reports: 0\n", "open_data.min_cell_reports"),
        ("open_data:\n  min_cell_reports: three\n", "open_data.min_cell_reports"),
        ("open_data:\n  max_age_seconds: -1\n", "max_age_seconds"),
        ("open_data:\n  recheck_seconds: -1\n", "recheck_seconds"),
    ],
)
def test_bad_settings_are_refused(tmp_path, section, message):
    text = (ROOT / "config.yml").read_text(encoding="utf-8")
    start = text.index("\nopen_data:\n") + 1
    end = text.index("\n\n", start) + 1
    path = tmp_path / "config.yml"
    path.write_text(text[:start] + section + text[end:], encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(path, env={})
