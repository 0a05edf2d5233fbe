"""A local fake of a Rasa 3 server's HTTP API, for testing `nlu.rasa_backend.RasaEngine`.

It is a real aiohttp server on 127.0.0.1 (a free port) that answers like `rasa run --enable-api`:
  GET  /              "Hello from Rasa: 3.6.21"
  GET  /version       {"version", "minimum_compatible_version"}
  GET  /status        {"model_file", "model_id", "num_active_training_jobs"}
  POST /model/parse   {"text", "intent": {"id", "name", "confidence"}, "entities": [],
                       "text_tokens", "intent_ranking": [...], "response_selector": {...}}

The test decides what it understands: `fake.intents[phrase] = ("greet", 0.97)` (the other intents
share the rest), or a whole ranking `[("greet", 0.9), ("thank", 0.06), ...]`; a message equal to a
phrase (ignoring case and surrounding spaces) gets that answer, else the first phrase contained in
it, else `fake.default`. The ranking lists every intent, as DIET with `ranking_length: 0` does.
Faults are injected with `fake.fault`: "500", "slow" (answers after `fake.delay` seconds),
"invalid_json", "wrong_shape", "drop" (closes the connection). Every parsed text is kept in
`fake.received`.

    async with FakeRasa() as fake:
        fake.intents["xin chao"] = ("greet", 0.97)
        ... RasaEngine(NluSettings(engine="rasa", rasa_url=fake.url), content) ...
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from aiohttp import web

from nlu.intents import INTENTS

VERSION = "3.6.21"
INTENT_NAMES = INTENTS  # a Rasa model trained on nlu/data knows exactly these
FAULTS = (None, "500", "slow", "invalid_json", "wrong_shape", "drop")


def _intent_id(name: str) -> int:
    """Rasa puts a stable large integer id on each intent; any stable number will do here."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:7], "big")


def _tokens(text: str) -> list[list[int]]:
    out, pos = [], 0
    for tok in text.split():
        start = text.index(tok, pos)
        out.append([start, start + len(tok)])
        pos = start + len(tok)
    return out


class FakeRasa:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.intents: dict[str, tuple[str, float] | list[tuple[str, float]]] = {}
        self.default: tuple[str | None, float] = ("out_of_scope", 0.31)
        self.fault: str | None = None
        self.delay = 5.0
        self.received: list[str] = []
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- what it understands ----------------------------------------------------------------------

    def classify(self, text: str) -> tuple[str | None, float] | list[tuple[str, float]]:
        key = text.casefold().strip()
        table = {k.casefold().strip(): v for k, v in self.intents.items()}
        if key in table:
            return table[key]
        for phrase, value in table.items():
            if phrase and phrase in key:
                return value
        return self.default

    def parse_result(self, text: str) -> dict:
        answer = self.classify(text) if text.strip() else (None, 0.0)
        if isinstance(answer, list):  # a whole ranking
            pairs = sorted(answer, key=lambda nc: -nc[1])
        elif answer[0] is None:
            pairs = []
        else:
            name, conf = answer
            others = [n for n in INTENT_NAMES if n != name]
            pairs = [(name, conf), *((n, (1.0 - conf) / len(others)) for n in others)]
        ranking = [{"id": _intent_id(n), "name": n, "confidence": c} for n, c in pairs]
        intent = ranking[0] if ranking else {"name": None, "confidence": 0.0}
        return {
            "text": text,
            "intent": intent,
            "entities": [],
            "text_tokens": _tokens(text),
            "intent_ranking": ranking,
            "response_selector": {
                "all_retrieval_intents": [],
                "default": {
                    "response": {
                        "responses": None,
                        "confidence": 0.0,
                        "intent_response_key": None,
                        "utter_action": "utter_None",
                    },
                    "ranking": [],
                },
            },
        }

    # -- HTTP --------------------------------------------------------------------------------------

    async def _root(self, _request: web.Request) -> web.Response:
        return web.Response(text=f"Hello from Rasa: {VERSION}")

    async def _version(self, _request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION, "minimum_compatible_version": VERSION})

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "model_file": "models/nlu-fake.tar.gz",
                "model_id": "fake",
                "num_active_training_jobs": 0,
            }
        )

    async def _parse(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.json_response(
                {
                    "version": VERSION,
                    "status": "failure",
                    "reason": "BadRequest",
                    "message": "An unexpected error occurred. Error: bad JSON",
                    "code": 400,
                },
                status=400,
            )
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return web.json_response(
                {
                    "version": VERSION,
                    "status": "failure",
                    "reason": "BadRequest",
                    "message": "'text' is missing",
                    "code": 400,
                },
                status=400,
            )
        self.received.append(text)
        fault = self.fault
        if fault == "500":
            return web.json_response(
                {
                    "version": VERSION,
                    "status": "failure",
                    "reason": "ParsingError",
                    "message": "An unexpected error occurred.",
                    "code": 500,
                },
                status=500,
            )
        if fault == "slow":
            try:
                await asyncio.wait_for(self._closing.wait(), self.delay)
            except TimeoutError:
                pass
        if fault == "invalid_json":
            return web.Response(
                text='{"text": "x", "intent": {"name": "greet", "confid',
                content_type="application/json",
            )
        if fault == "wrong_shape":
            return web.json_response({"text": text, "intent": "greet", "entities": []})
        if fault == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        return web.Response(
            text=json.dumps(self.parse_result(text), ensure_ascii=False),
            content_type="application/json",
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_get("/version", self._version)
        app.router.add_get("/status", self._status)
        app.router.add_post("/model/parse", self._parse)
        return app

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeRasa:
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeRasa:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


if (
    __name__ == "__main__"
):  # `python -m tests.fakes.rasa_server [PORT]`: a fake to point a bot at by hand
    import sys

    async def _main() -> None:
        fake = await FakeRasa(port=int(sys.argv[1]) if len(sys.argv) > 1 else 5005).start()
        print(
            f"fake Rasa on {fake.url} (answers {fake.default[0]} to everything); Ctrl+C stops",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await fake.stop()

    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        pass
