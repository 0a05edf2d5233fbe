"""The Rasa backend (`nlu.engine: rasa`) against a local fake Rasa HTTP server.

Rasa only classifies the intent: retrieval, thresholds and fallback are the built-in engine's, so
given the same intent the two backends must answer alike; and a Rasa that is down, slow or talking
nonsense must give a polite "not understood", never an exception.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import load_settings
from bot.content import load_content
from nlu.engine import BuiltinEngine, NluResult
from nlu.intents import INTENTS
from nlu.rasa_backend import RasaEngine, RasaError, prediction_from_rasa
from tests.fakes.rasa_server import INTENT_NAMES, FakeRasa

ROOT = Path(__file__).resolve().parents[2]
HOUSING = "nhà em dột nát hết rồi, xin hỗ trợ làm nhà được mấy triệu"
SECRET = "số điện thoại của tôi là 0905123456"


@pytest.fixture(scope="module")
def content():
    c = load_content(ROOT / "content")
    assert c.items, "content/items has no items"
    return c


@pytest.fixture(scope="module")
def builtin(content, nlu_model) -> BuiltinEngine:
    return BuiltinEngine.load(nlu_model, content.items)


@pytest.fixture
async def fake():
    async with FakeRasa() as server:
        yield server


@pytest.fixture
async def engine(fake, content):
    eng = RasaEngine(fake.url, content.items, timeout=2.0)
    yield eng
    await eng.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the fake itself speaks Rasa's API ------------------------------------------------------------


async def test_fake_speaks_rasa_http_api(fake):
    import aiohttp

    fake.intents["xin chào"] = ("greet", 0.97)
    async with aiohttp.ClientSession() as s:
        async with s.get(fake.url + "/") as r:
            assert r.status == 200 and (await r.text()).startswith("Hello from Rasa: 3.")
        async with s.get(fake.url + "/status") as r:
            assert "model_file" in await r.json()
        async with s.post(fake.url + "/model/parse", json={"text": "xin chào"}) as r:
            body = await r.json()
    assert set(body) >= {"text", "intent", "entities", "intent_ranking", "response_selector"}
    assert body["intent"]["name"] == "greet" and body["intent"]["confidence"] == 0.97
    assert body["intent_ranking"][0]["name"] == "greet"
    assert abs(sum(x["confidence"] for x in body["intent_ranking"]) - 1.0) < 1e-6


# -- intent mapping -------------------------------------------------------------------------------


async def test_intent_and_confidence_come_from_rasa(engine, fake):
    fake.intents["xin chào"] = ("greet", 0.97)
    result = await engine.parse("Xin chào!!", "vi")
    assert isinstance(result, NluResult)
    assert (result.intent, result.confidence, result.low_confidence) == ("greet", 0.97, False)
    assert result.answer_id is None
    assert result.normalized == "xin chào"
    # Rasa gets the message as typed: it learnt the examples as written.
    assert fake.received == ["Xin chào!!"]


async def test_normalized_mode_sends_the_normalised_text(fake, content):
    eng = RasaEngine(fake.url, content.items, send="normalized")
    try:
        await eng.parse("Xin chào!!", "vi")
    finally:
        await eng.close()
    assert fake.received == ["xin chào"]
    with pytest.raises(ValueError):
        RasaEngine(fake.url, content.items, send="folded")


async def test_low_rasa_confidence_is_low_confidence(engine, fake):
    fake.intents["làm nhà"] = ("ask_policy", 0.2)
    fake.intents["chào bạn"] = ("greet", 0.3)
    weak = await engine.parse("chào bạn", "vi")
    assert weak.intent == "greet" and weak.low_confidence
    # A strong retrieval match may still carry a weakly classified question, exactly as built in.
    housing = await engine.parse(HOUSING, "vi")
    assert housing.candidates, "retrieval offers topics for the fallback buttons"


async def test_out_of_scope_never_gets_an_answer(engine, fake):
    fake.intents["làm nhà"] = ("out_of_scope", 0.95)
    result = await engine.parse(HOUSING, "vi")
    assert result.intent == "out_of_scope" and result.answer_id is None


def test_the_fake_knows_the_intents_rasa_is_trained_on():
    assert set(INTENT_NAMES) == set(INTENTS)


def test_unknown_intent_names_map_to_known_ones():
    body = {
        "text": "x",
        "intent": {"name": "nlu_fallback", "confidence": 0.7},
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.7},
            {"name": "help", "confidence": 0.2},
            {"name": "chitchat_weather", "confidence": 0.1},
        ],
    }
    pred = prediction_from_rasa(body)
    assert (pred.intent, pred.confidence) == ("help", 0.2)
    assert pred.ranking[0] == ("help", 0.2)
    assert {n for n, _ in pred.ranking} == set(INTENTS), "every known intent, unlisted ones at 0"
    assert all(c == 0.0 for _, c in pred.ranking[1:])
    nothing = prediction_from_rasa(
        {"text": "", "intent": {"name": None, "confidence": 0.0}, "entities": []}
    )
    assert nothing.intent == "out_of_scope" and nothing.confidence == 0.0
    only_unknown = prediction_from_rasa({"intent": {"name": "weather", "confidence": 0.99}})
    assert only_unknown.intent == "out_of_scope" and only_unknown.known == 0.0


@pytest.mark.parametrize(
    "body",
    [
        [],
        "greet",
        {"intent": "greet"},
        {"intent": {"name": "greet"}},
        {"intent": {"name": "greet", "confidence": "high"}},
        {"intent": {"name": "greet", "confidence": 7.5}},
        {"intent": {"name": 3, "confidence": 0.5}},
    ],
)
def test_garbage_shapes_are_rasa_errors(body):
    with pytest.raises(RasaError):
        prediction_from_rasa(body)


async def test_empty_text_does_not_call_rasa(engine, fake):
    result = await engine.parse("🙂 !!", "vi")
    assert result.low_confidence and result.intent == "out_of_scope"
    assert fake.requests == 0


# -- retrieval is the built-in engine's ------------------------------------------------------------

QUESTIONS = [
    HOUSING,
    "ho tro nuoc sinh hoat cho ba con bn tien",
    "quế trà bồng bán ở mô",
    "muốn học nghề may thì đăng ký răng",
    "dự án 3 hỗ trợ sản xuất thế nào",
    "chào bạn",
    "cảm ơn nhiều nha",
    "tôi muốn báo đường bị sạt lở",
]


async def test_same_intent_same_answer_as_builtin(engine, fake, builtin):
    """Feed the fake exactly what the built-in classifier says (its whole ranking): every field
    must then agree, as the two backends differ only in the classifier."""
    answered = 0
    for text in QUESTIONS:
        norm = builtin.normalizer(text)
        pred = builtin.model.predict_norm(norm)
        fake.intents = {text: [(n, float(c)) for n, c in pred.ranking]}
        expected = builtin.parse_sync(text, "vi")
        got = await engine.parse(text, "vi")
        assert got.normalized == expected.normalized == norm.text
        assert got.candidates == expected.candidates, text
        assert (got.intent, got.answer_id) == (expected.intent, expected.answer_id), text
        assert got.confidence == pytest.approx(expected.confidence, abs=1e-4), text
        if pred.known > 0:
            assert got.low_confidence == expected.low_confidence, text
        answered += got.answer_id is not None
    assert answered >= 3, "retrieval should answer the content questions"


async def test_policy_question_gets_its_item(engine, fake, content):
    fake.intents["làm nhà"] = ("ask_policy", 0.91)
    result = await engine.parse(HOUSING, "vi")
    assert result.intent == "ask_policy" and not result.low_confidence
    item = content.by_id()[result.answer_id]
    assert item.intent == "ask_policy"
    assert result.candidates[0].item_id == result.answer_id


async def test_concurrent_messages_keep_their_own_intents(engine, fake):
    fake.intents = {
        "xin chào": ("greet", 0.9),
        "tạm biệt": ("goodbye", 0.8),
        "cảm ơn": ("thank", 0.85),
    }
    texts = ["xin chào", "tạm biệt", "cảm ơn"] * 10
    results = await asyncio.gather(*(engine.parse(t, "vi") for t in texts))
    assert [r.intent for r in results] == ["greet", "goodbye", "thank"] * 10


class StaggeredRasa(FakeRasa):
    """The fake, answering each text after its own delay: a message asked first can be answered
    last, so its parse resumes while another one's is under way."""

    def __init__(self, delays: dict[str, float]) -> None:
        super().__init__()
        self.delays = delays
        self.answered: list[str] = []

    async def _parse(self, request: web.Request) -> web.StreamResponse:
        text = (await request.json())["text"]  # aiohttp keeps the body for the real handler
        await asyncio.sleep(self.delays.get(text, 0.0))
        self.answered.append(text)
        return await super()._parse(request)


async def test_concurrent_parses_each_combine_their_own_prediction(content):
    """Two parses waiting on Rasa at once, answered in the other order: each result is built from
    its own message's prediction (no prediction is left on the engine for the next to pick up)."""
    async with StaggeredRasa({HOUSING: 0.3, "xin chào": 0.0}) as fake:
        fake.intents = {"làm nhà": ("ask_policy", 0.93), "xin chào": ("greet", 0.97)}
        eng = RasaEngine(fake.url, content.items, timeout=2.0)
        try:
            housing, hello = await asyncio.gather(
                eng.parse(HOUSING, "vi"), eng.parse("xin chào", "vi")
            )
        finally:
            await eng.close()
    assert fake.answered == ["xin chào", HOUSING], "the second message was answered first"
    assert (hello.intent, hello.confidence, hello.answer_id) == ("greet", 0.97, None)
    assert housing.intent == "ask_policy" and not housing.low_confidence
    assert content.by_id()[housing.answer_id].intent == "ask_policy"


# -- Rasa down, slow or broken --------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "invalid_json", "wrong_shape", "drop"])
async def test_broken_rasa_falls_back_politely(engine, fake, fault, caplog):
    fake.fault = fault
    fake.intents["làm nhà"] = ("ask_policy", 0.99)
    with caplog.at_level(logging.WARNING, logger="nlu.rasa_backend"):
        result = await engine.parse(HOUSING, "vi")
        await engine.parse(SECRET, "vi")
    assert result.low_confidence and result.answer_id is None
    assert result.candidates, "the closest topics are still offered"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for words in ("dột nát", "dot nat", "0905123456", "điện thoại", "làm nhà"):
        assert words not in logged
    assert engine.failures == 2


async def test_rasa_down_falls_back_and_recovers(content, caplog):
    port = free_port()
    eng = RasaEngine(f"http://127.0.0.1:{port}", content.items, timeout=2.0)
    try:
        with caplog.at_level(logging.WARNING, logger="nlu.rasa_backend"):
            started = time.perf_counter()
            result = await eng.parse(HOUSING, "vi")
        assert time.perf_counter() - started < 1.5
        assert result.low_confidence and result.answer_id is None and result.candidates
        assert "failed" in caplog.text and "dột" not in caplog.text
        # Rasa comes up on that port: the next message is understood again.
        async with FakeRasa(port=port) as late:
            late.intents["làm nhà"] = ("ask_policy", 0.9)
            again = await eng.parse(HOUSING, "vi")
        assert again.intent == "ask_policy" and not again.low_confidence and again.answer_id
        assert eng.failures == 0
    finally:
        await eng.close()


async def test_timeout_is_honoured(fake, content):
    fake.fault, fake.delay = "slow", 10.0
    eng = RasaEngine(fake.url, content.items, timeout=0.3)
    try:
        started = time.perf_counter()
        result = await eng.parse(HOUSING, "vi")
        elapsed = time.perf_counter() - started
        assert 0.25 <= elapsed < 1.5, elapsed
        assert result.low_confidence and result.answer_id is None
        fake.fault = None
        fake.intents["làm nhà"] = ("ask_policy", 0.9)
        assert not (await eng.parse(HOUSING, "vi")).low_confidence
    finally:
        await eng.close()


async def test_close_and_reuse(engine, fake):
    fake.intents["xin chào"] = ("greet", 0.97)
    assert (await engine.parse("xin chào")).intent == "greet"
    await engine.close()
    await engine.close()  # twice is fine
    assert (await engine.parse("xin chào")).intent == "greet"  # a new session is made lazily
    assert (await engine.status())["model_file"]


# -- end to end: the bot's pipeline with `nlu.engine: rasa` ----------------------------------------


@pytest.fixture
def rasa_config(tmp_path: Path) -> Path:
    """config.yml copied into a temporary project directory that shares the repo's content and
    data."""
    (tmp_path / "config.yml").write_text(
        (ROOT / "config.yml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "content").symlink_to(ROOT / "content", target_is_directory=True)
    (tmp_path / "nlu").symlink_to(ROOT / "nlu", target_is_directory=True)
    (tmp_path / "var").mkdir()
    if (ROOT / "var" / "locales").is_dir():
        (tmp_path / "var" / "locales").symlink_to(
            ROOT / "var" / "locales", target_is_directory=True
        )
    return tmp_path / "config.yml"


async def test_pipeline_end_to_end_through_rasa(fake, rasa_config, tmp_path):
    from bot.app import build_pipeline, build_services
    from bot.messages import IncomingMessage, render_numbered
    from bot.storage.db import upgrade
    from nlu.rasa_backend import RasaEngine as Engine

    settings = load_settings(rasa_config, env={"NLU_ENGINE": "rasa", "RASA_URL": fake.url})
    assert settings.nlu.engine == "rasa" and settings.nlu.rasa_url == fake.url
    url = f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    await asyncio.to_thread(upgrade, url)
    services, db = await asyncio.to_thread(build_services, settings, url)
    assert isinstance(services.nlu, Engine)
    pipeline = build_pipeline(services)

    def msg(text: str, sender: str, n: int) -> IncomingMessage:
        return IncomingMessage(
            channel="web", sender_id=sender, message_id=f"rasa-{n}", text=text, locale_hint="vi"
        )

    def text_of(turn) -> str:
        return "\n".join(render_numbered(r) for r in turn.replies)

    try:
        fake.intents["làm nhà"] = ("ask_policy", 0.93)
        fake.intents["xin chào"] = ("greet", 0.98)
        turn = await pipeline.handle(msg(HOUSING, "e2e-1", 1))
        assert turn.intent == "ask_policy" and turn.answer_id
        assert turn.answer_id == (await services.nlu.parse(HOUSING)).answer_id
        reply = text_of(turn)
        assert "40 triệu" in reply and "Nguồn:" in reply
        hello = await pipeline.handle(msg("xin chào", "e2e-2", 2))
        assert hello.intent == "greet" and hello.replies

        # Rasa breaks: the bot still answers, politely, with the closest topics.
        fake.fault = "500"
        down = await pipeline.handle(msg(HOUSING, "e2e-3", 3))
        assert down.replies and down.answer_id is None
        assert "40 triệu" not in text_of(down)
        assert any(r.buttons for r in down.replies), "the fallback offers topics or a person"
    finally:
        await services.nlu.close()
        await db.dispose()


def test_settings_from_env_select_rasa(rasa_config):
    s = load_settings(rasa_config, env={"NLU_ENGINE": "rasa", "RASA_URL": "http://127.0.0.1:5999"})
    assert s.nlu.engine == "rasa" and s.nlu.rasa_url == "http://127.0.0.1:5999"
    assert s.nlu.rasa_timeout == 3
