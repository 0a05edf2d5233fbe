"""A scripted NLU, so dialogue, action and flow tests say what was understood.

The trained model decides what real sentences mean and is tested in tests/nlu; a test of the
consent flow should not fail because a retrained model reads "lưu bao lâu?" differently. Texts
are matched after case-folding and trimming; anything not scripted is not understood (low
confidence, no candidates), which the bot answers with its fallback.

    nlu = FakeNlu({"hỗ trợ làm nhà": understood("ask_policy", answer_id="support.housing")})
    pipeline = build_pipeline(dataclasses.replace(services, nlu=nlu))
"""

from __future__ import annotations

from nlu.engine import Candidate, NluResult


def understood(intent: str, *, answer_id: str | None = None, confidence: float = 0.95) -> NluResult:
    """A confident reading of `intent`, answered by `answer_id` when given."""
    candidates = (Candidate(answer_id, 0.9),) if answer_id else ()
    return NluResult(
        intent=intent,
        confidence=confidence,
        candidates=candidates,
        answer_id=answer_id,
        low_confidence=False,
    )


NOT_UNDERSTOOD = NluResult(
    intent="out_of_scope", confidence=0.1, candidates=(), answer_id=None, low_confidence=True
)


class FakeNlu:
    """An `NluEngine` answering from a script; `parsed` keeps every (text, lang) it was given."""

    def __init__(self, script: dict[str, NluResult] | None = None) -> None:
        self.script = {self._key(text): result for text, result in (script or {}).items()}
        self.parsed: list[tuple[str, str]] = []
        self.previous: list[str | None] = []  # the `previous` item given with each parse

    @staticmethod
    def _key(text: str) -> str:
        return text.casefold().strip()

    async def parse(self, text: str, lang: str, previous: str | None = None) -> NluResult:
        self.parsed.append((text, lang))
        self.previous.append(previous)
        return self.script.get(self._key(text), NOT_UNDERSTOOD)

    async def close(self) -> None:
        """Nothing to release; there because the bot closes its NLU engine when it stops."""
