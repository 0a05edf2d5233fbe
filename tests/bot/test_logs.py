"""Personal data never reaches the logs: user ids, message texts, SQL parameters."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import User
from tests.conftest import message

SECRET_ID = "sender-0987654321"
SECRET_TEXT = "nhà tôi ở thôn Làng Teng số điện thoại 0905111222 hỗ trợ làm nhà"


async def test_a_conversation_logs_no_ids_or_texts(pipeline, caplog):
    from bot.__main__ import setup_logging

    setup_logging("DEBUG")  # the bot's own logging setup, at its most verbose
    caplog.set_level(logging.DEBUG)
    for text in (SECRET_TEXT, "/subscribe", "đồng ý", "/dulieu"):
        await pipeline.handle(message(text, sender=SECRET_ID, lang="vi"))
    logged = caplog.text
    assert "handled channel=web" in logged  # the pipeline does log each message...
    assert SECRET_ID not in logged  # ...with a keyed hash instead of the id
    assert "0905111222" not in logged and "Làng Teng" not in logged


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
async def test_database_errors_do_not_carry_values(db_url):
    engine = create_engine(db_url)
    sm = create_sessionmaker(engine)
    try:
        async with sm() as s:
            s.add(User(channel="web", external_id=SECRET_ID, state={}))
            await s.commit()
        async with sm() as s:
            s.add(User(channel="web", external_id=SECRET_ID, state={}))
            with pytest.raises(IntegrityError) as err:
                await s.commit()
        assert SECRET_ID not in str(err.value)
    finally:
        await engine.dispose()
