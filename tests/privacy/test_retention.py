"""The retention job enforces `privacy.retention_days`, with rows dated in the past.

Past the retention: inactive users are erased as by /xoadulieu, the chat log (sent replies) is
deleted, inbox rows keep a hashed key and nothing else. At any age: finished replies keep no text,
and the sent rows an erasure left (of no stored user) go. Whatever is recent stays. The purge is
idempotent and safe to run from several processes at once; `--dry-run` counts without deleting;
`serve`'s background jobs run it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.privacy import retention
from bot.privacy.retention import PrivacyJobs, purge
from bot.storage.models import (
    Consent,
    ContentGap,
    InboxEntry,
    OutboxEntry,
    Subscription,
    User,
)
from bot.storage.repositories import outbox
from tests.conftest import ROOT
from tests.privacy.conftest import traces

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=30)
GONE_ZALO = "6640193857201948372"  # inactive for 400 days
ACTIVE = "7721049385710294853"  # wrote a month ago; has an old chat log too


def inbox_row(channel: str, key: str, at: datetime, **kw) -> InboxEntry:
    kw.setdefault("status", "done")
    return InboxEntry(channel=channel, message_id=key, received_at=at, **kw)


def outbox_row(recipient: str, user_id: int | None, at: datetime, **kw) -> OutboxEntry:
    kw.setdefault("status", outbox.SENT)
    return OutboxEntry(
        channel="zalo", recipient=recipient, user_id=user_id, created_at=at, due_at=at, **kw
    )


async def seed(services) -> None:
    async with services.writing() as s:
        gone = User(
            channel="zalo",
            external_id=GONE_ZALO,
            state={},
            created_at=OLD,
            last_seen_at=OLD,
            display_name="Phạm Văn Xoan",
            phone="0914555666",
        )
        active = User(
            channel="zalo", external_id=ACTIVE, state={}, created_at=OLD, last_seen_at=RECENT
        )
        s.add_all([gone, active])
        await s.flush()
        for u in (gone, active):
            s.add(
                Consent(
                    user_id=u.id, purpose="notices", notice_version=1, channel="zalo", given_at=OLD
                )
            )
            s.add(Subscription(user_id=u.id, channel="zalo", created_at=OLD, updated_at=OLD))
        s.add_all(
            [
                outbox_row(GONE_ZALO, gone.id, OLD),
                outbox_row(ACTIVE, active.id, OLD),  # the chat log past the retention
                outbox_row(ACTIVE, active.id, RECENT),  # kept
                outbox_row(
                    ACTIVE,
                    active.id,
                    RECENT,
                    status=outbox.FAILED,
                    payload={"text": "còn nội dung"},
                ),  # a finished row's text: dropped
                outbox_row(
                    ACTIVE, active.id, RECENT, status=outbox.QUEUED, payload={"text": "chưa gửi"}
                ),  # still to send: kept as is
                outbox_row("4410293847561029384", None, RECENT),  # left by an erasure
                inbox_row("zalo", f"follow:{GONE_ZALO}:1700000000000", OLD),
                inbox_row("zalo", f"follow:{ACTIVE}:1700000000000", OLD),
                inbox_row(
                    "telegram",
                    "900000001",
                    OLD,
                    status="failed",
                    payload={"message": {"text": "tin cũ 0905333111"}},
                    sender="123456789",
                ),
                inbox_row("zalo", f"user_send_text:{ACTIVE}:recent", RECENT),
                ContentGap(
                    question="giá phân bón ở xã sơn bao",
                    lang="vi",
                    channel="zalo",
                    first_seen=OLD,
                    last_seen=OLD,
                ),
                ContentGap(
                    question="lịch tiêm phòng cho bò",
                    lang="vi",
                    channel="zalo",
                    first_seen=OLD,
                    last_seen=RECENT,
                ),
            ]
        )
        await s.commit()


async def counts(services) -> dict[str, int]:
    out = {}
    async with services.sessionmaker() as s:
        for model in (User, Consent, Subscription, OutboxEntry, InboxEntry):
            query = select(func.count()).select_from(model)
            out[model.__tablename__] = (await s.execute(query)).scalar_one()
    return out


async def test_what_is_past_the_retention_goes_and_the_rest_stays(services, settings, app_parts):
    engine = app_parts[1]
    await seed(services)
    before = await counts(services)
    dry = await purge(services.sessionmaker, settings, now=NOW, dry_run=True)
    assert await counts(services) == before  # a dry run deletes nothing
    report = await purge(services.sessionmaker, settings, now=NOW, ordering=services.ordering)
    assert (report.users, report.consents, report.subscriptions) == (1, 1, 1)
    # The gone user's old reply, the active user's old one, the erasure's leftover.
    assert report.outbox_deleted == 3
    assert report.outbox_payloads == 1
    assert report.inbox_anonymised == 3
    assert report.content_gaps == 1  # last asked before the cutoff; the other was asked since
    assert (dry.users, dry.outbox_deleted, dry.inbox_anonymised, dry.content_gaps) == (1, 3, 3, 1)

    assert (
        await traces(
            engine,
            [
                GONE_ZALO,
                "Phạm Văn Xoan",
                "0914555666",
                "0905333111",
                "123456789",
                "4410293847561029384",
                "phân bón ở xã sơn bao",
            ],
        )
        == []
    )
    async with services.sessionmaker() as s:
        users = (await s.execute(select(User.external_id))).scalars().all()
        assert users == [ACTIVE]
        rows = (await s.execute(select(OutboxEntry).order_by(OutboxEntry.id))).scalars().all()
        assert [(r.recipient, r.status, r.payload) for r in rows] == [
            (ACTIVE, outbox.SENT, None),
            (ACTIVE, outbox.FAILED, None),
            (ACTIVE, outbox.QUEUED, {"text": "chưa gửi"}),
        ]
        keys = (await s.execute(select(InboxEntry.message_id).order_by(InboxEntry.id))).all()
        keys = [k for (k,) in keys]
        assert all(k.startswith("erased:") for k in keys[:3])
        assert keys[3] == f"user_send_text:{ACTIVE}:recent"  # recent: untouched
    # Idempotent: a second run finds nothing.
    again = await purge(services.sessionmaker, settings, now=NOW)
    assert again.lines() == retention.Report().lines()


async def test_two_processes_purging_at_once_do_it_once(services, settings, app_parts):
    await seed(services)
    a, b = await asyncio.gather(
        purge(services.sessionmaker, settings, now=NOW),
        purge(services.sessionmaker, settings, now=NOW),
    )
    assert a.users + b.users == 1
    assert a.outbox_deleted + b.outbox_deleted == 3
    async with services.sessionmaker() as s:
        assert (await s.execute(select(User.external_id))).scalars().all() == [ACTIVE]


async def test_the_background_job_runs_the_purge(services, settings):
    await seed(services)
    jobs = PrivacyJobs(services.sessionmaker, settings, sweep_interval=0.01, first_purge=0)
    jobs.start()
    try:
        async with asyncio.timeout(10):
            while not jobs.purges:
                await asyncio.sleep(0.02)
    finally:
        await jobs.stop()
    assert (await counts(services))["users"] == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_cli_purge_prints_counts_and_dry_run_keeps_everything(services, db_url, tmp_path):
    await seed(services)
    env = {**os.environ, "DATABASE_URL": db_url}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "privacy", "purge", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    dry = run("--dry-run")
    assert "would delete" in dry and "users: 1" in dry
    assert (await counts(services))["users"] == 2
    real = run()
    assert "deleted" in real and "users: 1" in real and "inbox_anonymised: 3" in real
    assert (await counts(services))["users"] == 1
