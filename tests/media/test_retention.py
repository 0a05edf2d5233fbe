"""Stored files no record names (an erased citizen's photo, an abandoned form's) are deleted
after the grace; the ones a report, a feedback or a form in progress names stay."""

from __future__ import annotations

import os
import time

from bot.media.checks import clean_image
from bot.media.retention import sweep_orphans
from bot.media.store import MediaStore
from bot.storage.models import Feedback, User
from tests.media.helpers import jpeg_with_gps


async def test_orphans_are_swept_and_named_files_kept(services):
    settings = services.settings
    store = MediaStore(settings.path(settings.media.dir))
    refs = [
        store.put(clean_image(jpeg_with_gps(color=(i * 40, 0, 0)), 10**6).data, "jpg")
        for i in range(4)
    ]
    in_feedback, in_form, orphan, fresh_orphan = refs
    old = time.time() - 3 * 86400
    for ref in refs[:3]:
        os.utime(store.path(ref), (old, old))
    async with services.sessionmaker() as session:
        session.add(
            Feedback(
                code="ABC234",
                channel="web",
                category="roads",
                description="Đường hỏng",
                photo_ref=in_feedback,
            )
        )
        form = {"flow": "form", "data": {"answers": {"photo": {"kind": "photo", "ref": in_form}}}}
        session.add(User(channel="web", external_id="w-retention-1", state=form))
        await session.commit()

    assert await sweep_orphans(services.sessionmaker, settings) == 1
    assert store.read(orphan) is None
    for ref in (in_feedback, in_form, fresh_orphan):
        assert store.read(ref) is not None, ref

    async with services.sessionmaker() as session:  # the citizen erased: feedback anonymised
        fb = (await session.execute(Feedback.__table__.select())).first()
        await session.execute(
            Feedback.__table__.update().where(Feedback.id == fb.id).values(photo_ref=None)
        )
        await session.commit()
    assert await sweep_orphans(services.sessionmaker, settings) == 1
    assert store.read(in_feedback) is None and store.read(in_form) is not None


async def test_the_retention_job_sweeps_them(services):
    """`privacy purge` (and the daily job) deletes an orphaned photo: nothing else calls the
    sweep, so without this an erased citizen's photo would stay on disk for good."""
    from bot.privacy.retention import purge

    settings = services.settings
    store = MediaStore(settings.path(settings.media.dir))
    ref = store.put(clean_image(jpeg_with_gps(color=(9, 9, 9)), 10**6).data, "jpg")
    old = time.time() - 3 * 86400
    os.utime(store.path(ref), (old, old))
    report = await purge(services.sessionmaker, settings)
    assert report.media == 1 and store.read(ref) is None
