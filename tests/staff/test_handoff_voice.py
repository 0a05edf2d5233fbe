"""A villager's voice message: the bot does not understand speech, so it says so kindly and a
person listens. Without the "handoff" consent nothing is kept and the menu and a person are
offered; with it, the recording goes to the handoff inbox, where staff who see the conversation
(and only they) play it."""

from __future__ import annotations

from sqlalchemy import select

from bot.storage.models import Handoff, HandoffMessage
from tests.conftest import all_text, message
from tests.voice.conftest import tone, voice_message

SORRY = "chưa nghe hiểu được tin nhắn thoại"


async def rows(services, query):
    async with services.sessionmaker() as s:
        return list((await s.execute(query)).scalars())


def payloads(turn) -> list[str]:
    return [b.payload for r in turn.replies for b in r.buttons]


async def test_a_voice_message_goes_to_a_person(
    pipeline, services, settings, staff_client, make_staff, login, new_client
):
    # Before any consent: said kindly, the menu and a person offered, nothing stored.
    turn = await pipeline.handle(voice_message(settings, tone(1, "ogg"), "v-77", kind="voice"))
    assert SORRY in all_text(turn) and "/human" in payloads(turn)
    assert await rows(services, select(HandoffMessage)) == []

    # Agreeing to talk to a person once: the next voice message goes to the inbox.
    await pipeline.handle(message("/canbo", sender="v-77", lang="vi"))
    await pipeline.handle(message(payload="/consent yes", sender="v-77"))
    await pipeline.handle(message("/huy", sender="v-77"))  # back to the bot
    turn = await pipeline.handle(voice_message(settings, tone(2, "ogg", freq=550), "v-77"))
    assert SORRY in all_text(turn) and "chuyển cho cán bộ nghe" in all_text(turn)
    [m] = await rows(services, select(HandoffMessage).where(HandoffMessage.media_ref.is_not(None)))
    [h] = await rows(services, select(Handoff).where(Handoff.status == "open"))
    assert m.handoff_id == h.id
    # While the conversation is open, a further voice message is passed on too.
    await pipeline.handle(voice_message(settings, tone(1, "ogg", freq=660), "v-77"))
    voices = await rows(
        services, select(HandoffMessage).where(HandoffMessage.media_ref.is_not(None))
    )
    assert len(voices) == 2

    province = await login(staff_client, await make_staff("province"))
    page = await (await province.get(f"/staff/handoff/{h.id}")).text()
    src = f"/staff/handoff/{h.id}/voice/{m.id}"
    assert f'<audio controls preload="none" src="{src}"' in page
    played = await province.get(src)
    assert played.status == 200 and played.headers["Content-Type"] == "audio/ogg"
    assert (await played.read())[:4] == b"OggS"
    assert played.headers["Cache-Control"] == "private, no-store"
    assert (await province.get(f"/staff/handoff/{h.id}/voice/999999")).status == 404
    other = await login(await new_client(), await make_staff("commune", "qng.ba_to_21484"))
    h_area = h.area_code
    if h_area is None:  # a villager of no known area: only province staff and admins see it
        assert (await other.get(src, allow_redirects=False)).status == 403
    anonymous = await new_client()
    assert (await anonymous.get(src, allow_redirects=False)).status in (302, 303)
