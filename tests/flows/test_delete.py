"""Delete-my-data: the confirmation, then the user, consents, subscriptions and sent replies go;
the replies still to send go once sent, and the person's waiting messages are dropped."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.privacy import erase
from bot.storage.models import Consent, InboxEntry, OutboxEntry, Subscription, User
from bot.storage.repositories import inbox, outbox
from tests.conftest import all_text, message

GOODBYE = "Đã xóa toàn bộ dữ liệu của bạn. Bạn vẫn có thể hỏi thông tin bất cứ lúc nào."


@pytest.fixture(autouse=True)
async def no_forget_task_left():
    yield
    await erase.cancel_pending()


async def outbox_rows(services, recipient: str) -> list[OutboxEntry]:
    async with services.sessionmaker() as s:
        query = select(OutboxEntry).where(OutboxEntry.recipient == recipient)
        return list((await s.execute(query.order_by(OutboxEntry.id))).scalars())


async def subscribed(pipeline, sender: str) -> None:
    await pipeline.handle(message("/subscribe", sender=sender, lang="vi"))
    await pipeline.handle(message(payload="/consent yes", sender=sender, lang="vi"))


@pytest.mark.parametrize(
    "yes",
    [message(payload="/delete yes", sender="p1"), message("có", sender="p1")],
    ids=["button", "typed"],
)
async def test_confirmed_delete_removes_everything_and_still_says_goodbye(
    pipeline, services, count, yes
):
    await subscribed(pipeline, "p1")
    await subscribed(pipeline, "other")
    async with services.sessionmaker() as s:  # the sender core delivered everything so far
        await outbox.mark_sent(s, [r.id for r in await outbox_rows(services, "p1")])
    confirm = await pipeline.handle(message("/xoadulieu", sender="p1"))  # its reply is unsent
    assert confirm.intent == "delete_data"
    assert [b.payload for r in confirm.replies for b in r.buttons] == ["/delete yes", "/delete no"]
    others = len(await outbox_rows(services, "other"))
    done = await pipeline.handle(yes)
    assert done.intent == "delete_data"
    assert all_text(done) == GOODBYE
    assert await count(User, User.external_id == "p1") == 0
    assert await count(Consent) == await count(Subscription) == 1  # the other user's
    left = await outbox_rows(services, "p1")
    # Sent replies are gone; the unsent confirmation and the goodbye still go, to nobody stored.
    assert [r.id for r in left] == confirm.outbox_ids + done.outbox_ids
    goodbye = left[-1]
    assert goodbye.status == outbox.QUEUED and goodbye.user_id is None
    assert goodbye.payload["text"] == GOODBYE
    assert len(await outbox_rows(services, "other")) == others
    # The user is forgotten in memory too: asked again, they get the notice again.
    again = await pipeline.handle(message("/subscribe", sender="p1", lang="vi"))
    assert again.replies[-1].text.endswith("Bạn có đồng ý không?")


@pytest.mark.parametrize(
    "no",
    [message(payload="/delete no", sender="k1"), message("không", sender="k1")],
    ids=["button", "typed"],
)
async def test_declined_delete_keeps_everything(pipeline, count, no):
    await subscribed(pipeline, "k1")
    await pipeline.handle(message("/xoadulieu", sender="k1"))
    turn = await pipeline.handle(no)
    assert all_text(turn) == "Đã hủy. Dữ liệu của bạn vẫn giữ nguyên."
    assert await count(User, User.external_id == "k1") == 1
    assert await count(Consent) == await count(Subscription) == 1


async def test_an_old_delete_button_without_the_question_deletes_nothing(pipeline, count):
    await subscribed(pipeline, "b1")
    turn = await pipeline.handle(message(payload="/delete yes", sender="b1"))
    assert all_text(turn) == "Đã hủy. Dữ liệu của bạn vẫn giữ nguyên."
    assert await count(User, User.external_id == "b1") == 1


async def test_anything_but_an_answer_drops_the_question(pipeline, count, user_row):
    await subscribed(pipeline, "q1")
    await pipeline.handle(message("/xoadulieu", sender="q1"))
    question = await pipeline.handle(message("hỗ trợ làm nhà", sender="q1"))
    assert question.answer_id == "support.housing"  # answered as a new message
    assert "flow" not in (await user_row("q1")).state
    late = await pipeline.handle(message("có", sender="q1"))
    assert "chưa hiểu" in all_text(late)
    assert await count(User, User.external_id == "q1") == 1


async def test_the_goodbye_is_deleted_once_sent_and_waiting_messages_are_dropped(
    pipeline, services, count
):
    await subscribed(pipeline, "g1")
    async with services.writing() as s:  # a message of theirs recorded, not handled yet
        await inbox.record(s, "web", "later-1", {"text": "tin sau"}, sender="g1")
    await pipeline.handle(message("/xoadulieu", sender="g1"))
    done = await pipeline.handle(message(payload="/delete yes", sender="g1"))
    assert all_text(done) == GOODBYE
    waiting = await count(InboxEntry, InboxEntry.message_id == "later-1")
    assert waiting == 1
    async with services.sessionmaker() as s:
        row = await inbox.get(s, "web", "later-1")
        assert (row.status, row.sender) == ("done", None)  # not handled after the deletion
        assert row.payload is None
    assert await outbox_rows(services, "g1")  # unsent: they still go
    async with services.writing() as s:  # the sender core delivers them
        await outbox.mark_sent(s, [r.id for r in await outbox_rows(services, "g1")])
    await erase.settle()
    assert await outbox_rows(services, "g1") == []
