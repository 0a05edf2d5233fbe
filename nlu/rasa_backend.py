"""Rasa as an optional intent classifier (`nlu.engine: rasa` in the bot's config.yml).

Each message is sent as typed to a Rasa 3 server's `POST {url}/model/parse` (a model trained on
the same `nlu/data`, see `nlu/rasa-config.yml` and docs/rasa.md); Rasa learnt the examples as
written, teencode and dialect included, and on the dev set it does as well or better given the raw
text than the built-in normaliser's output (`send="normalized"`, see `make bench-rasa`). Only the
intent comes from Rasa: the FAQ retrieval over the content, the thresholds and the rules that join
intent and retrieval are the built-in engine's own (`nlu.engine.Combiner`), so the two backends
differ in the intent classifier alone.

When Rasa is down, slow (past `timeout`) or answers something that is not a parse result, a
warning is logged (never the user's text) and the result is low confidence: the bot says it did
not understand, offers the closest topics from retrieval and a person, and goes on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from nlu.engine import DEFAULT_DATA, Combiner, NluResult
from nlu.intents import INTENTS
from nlu.model import Prediction
from nlu.normalize import Normalizer
from nlu.retrieval import Document, Retriever

log = logging.getLogger(__name__)

# Anything else Rasa names counts as out of scope.
KNOWN_INTENTS = frozenset(INTENTS)
SEND_MODES = ("raw", "normalized")
# What a failed call or an empty answer stands for: nothing known, so never a sure result.
NOTHING = Prediction("out_of_scope", 0.0, 0.0, (("out_of_scope", 0.0),))


class RasaError(Exception):
    """Rasa did not give a usable parse result; the message says why (never the user's text)."""


def prediction_from_rasa(body: Any) -> Prediction:
    """Rasa's `/model/parse` JSON -> a `Prediction`; raises `RasaError` on anything else."""
    if not isinstance(body, dict):
        raise RasaError(f"expected a JSON object, got {type(body).__name__}")
    intent = body.get("intent")
    if not isinstance(intent, dict):
        raise RasaError("no `intent` object in the response")
    name = intent.get("name")
    conf = intent.get("confidence")
    if name is None:  # Rasa's answer to empty text, or a model trained without intents
        return NOTHING
    if not isinstance(name, str) or isinstance(conf, bool) or not isinstance(conf, (int, float)):
        raise RasaError("`intent.name` / `intent.confidence` have the wrong types")
    conf = float(conf)
    if not 0.0 <= conf <= 1.0 + 1e-6:
        raise RasaError(f"`intent.confidence` {conf} is outside 0..1")
    ranking: list[tuple[str, float]] = []
    for entry in body.get("intent_ranking") or ():
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("name"), str) and isinstance(entry.get("confidence"), (int, float)):
            ranking.append((entry["name"], float(entry["confidence"])))
    if not ranking or ranking[0][0] != name:
        ranking.insert(0, (name, conf))
    if name not in KNOWN_INTENTS:
        # e.g. `nlu_fallback` from a FallbackClassifier, or a model trained on other data: take
        # the best intent the bot knows, at the confidence Rasa gave it, as low as it is.
        known = [(n, c) for n, c in ranking if n in KNOWN_INTENTS]
        if not known:
            return NOTHING
        name, conf = known[0]
    ranking = [(n, c) for n, c in ranking if n in KNOWN_INTENTS]
    # The built-in rules add retrieval evidence to every intent of the ranking; an intent Rasa left
    # out (a `ranking_length` below the number of intents) counts as 0, as it nearly is.
    listed = {n for n, _ in ranking}
    ranking += [(n, 0.0) for n in sorted(KNOWN_INTENTS - listed)]
    return Prediction(name, min(conf, 1.0), 1.0, tuple(ranking))


class RasaEngine:
    """`async parse(text, lang) -> NluResult` with the intent from a Rasa server."""

    def __init__(
        self,
        url: str,
        documents: Iterable[Document],
        *,
        timeout: float = 3.0,
        data: str | Path | None = DEFAULT_DATA,
        intent_threshold: float = 0.45,
        answer_threshold: float = 0.3,
        send: str = "raw",
        tables_dir: str | Path | None = None,
        base_dir: str | Path | None = None,
    ) -> None:
        """`url`: the Rasa server; `timeout`: seconds for one call; `data`: the training data, read
        for its synonyms only, a relative path being under `base_dir` (default: the working
        directory) or this checkout. `send`: "raw" sends the message as typed; "normalized" sends
        the built-in normaliser's text (abbreviations, teencode and dialect expanded, lowercased,
        emoji dropped)."""
        if send not in SEND_MODES:
            raise ValueError(f"send must be one of {SEND_MODES}, got {send!r}")
        self.base_url = url.rstrip("/")
        self.url = self.base_url + "/model/parse"
        self.timeout = aiohttp.ClientTimeout(total=float(timeout))
        self.send = send
        normalizer = Normalizer.from_tables(tables_dir).with_synonyms(_synonyms(data, base_dir))
        self.normalizer = normalizer
        self.combiner = Combiner(
            Retriever.from_documents(documents, normalizer),
            intent_threshold=intent_threshold,
            answer_threshold=answer_threshold,
        )
        self._session: aiohttp.ClientSession | None = None
        self.failures = 0  # consecutive failed calls; logged, and reset by the next good answer

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, headers={"Accept": "application/json"}
            )
        return self._session

    async def rasa_parse(self, text: str) -> Prediction:
        """One `/model/parse` call; raises `RasaError` when there is no usable answer in time."""
        try:
            async with self._client().post(self.url, json={"text": text}) as resp:
                if resp.status != 200:
                    raise RasaError(f"HTTP {resp.status}")
                raw = await resp.read()
        except TimeoutError:
            raise RasaError(f"no answer within {self.timeout.total:g} s") from None
        except aiohttp.ClientError as exc:
            raise RasaError(f"{type(exc).__name__}: {_safe(exc)}") from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise RasaError(f"invalid JSON ({len(raw)} bytes)") from None
        return prediction_from_rasa(body)

    async def parse(self, text: str, lang: str = "vi", previous: str | None = None) -> NluResult:
        norm = self.normalizer(text or "")
        if not norm:
            return NluResult("out_of_scope", 0.0, (), None, True, "")
        started = time.perf_counter()
        try:
            pred = await self.rasa_parse(norm.text if self.send == "normalized" else text)
        except RasaError as exc:
            self.failures += 1
            log.warning(
                "Rasa NLU at %s failed (%s; %d in a row): answering as not understood",
                self.url,
                exc,
                self.failures,
            )
            pred = NOTHING  # known 0: the result is low confidence, without an answer
        else:
            if self.failures:
                log.info("Rasa NLU at %s answers again after %d failures", self.url, self.failures)
            self.failures = 0
            log.debug("Rasa parse in %.1f ms", (time.perf_counter() - started) * 1000)
        return self.combiner.combine(norm, pred, previous)

    async def status(self) -> dict[str, Any]:
        """Rasa's `GET /status` (the loaded model), for diagnostics; raises `RasaError`."""
        try:
            async with self._client().get(self.base_url + "/status") as resp:
                if resp.status != 200:
                    raise RasaError(f"HTTP {resp.status}")
                return await resp.json(content_type=None)
        except TimeoutError:
            raise RasaError(f"no answer within {self.timeout.total:g} s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise RasaError(f"{type(exc).__name__}: {_safe(exc)}") from None

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _safe(exc: BaseException) -> str:
    """An aiohttp error as text, short; these name the URL and the OS error, never the request
    body."""
    return str(exc)[:200]


def _synonyms(data: str | Path | None, base_dir: str | Path | None) -> dict[str, str]:
    """The training data's synonyms, so that retrieval normalises exactly as under the built-in
    model (which stores them). Missing or broken data only costs the synonyms, with a warning."""
    if not data:
        return {}
    path = Path(data)
    if not path.is_absolute():
        # The bot's config.yml paths are relative to the project (the bot passes its directory),
        # else this checkout.
        checkout = Path(__file__).resolve().parent.parent
        tries = [Path(base_dir or Path.cwd()) / path, checkout / path]
        path = next((p for p in tries if p.exists()), tries[0])
    if not path.exists():
        log.warning(
            "nlu.data %s not found: retrieval for the Rasa backend runs without its synonyms", path
        )
        return {}
    try:
        from nlu.rasa_format import load_paths

        return dict(load_paths([path]).synonyms)
    except Exception as exc:
        log.warning(
            "nlu.data %s unreadable (%s): retrieval for the Rasa backend runs without its synonyms",
            path,
            exc,
        )
        return {}
