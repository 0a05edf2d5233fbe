"""Grounding, follow-ups, topic words, stories and English: issue 9's cases on the real content.

These run the model `make setup` trains on nlu/data and the items under content/, because what
they check is what a villager gets: a question the content does not cover gets no item's facts.
The sentences are written for these tests (not from ../shared/eval/dev.yml or benchmarks/data).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.content import load_items
from nlu.engine import BuiltinEngine
from nlu.grounding import Generic, Grounder, idf_table
from nlu.model import TYPO_FULL_UNTIL, typo_copies

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def items():
    return load_items(ROOT / "content")


@pytest.fixture(scope="module")
def real(nlu_model: Path, items) -> BuiltinEngine:
    return BuiltinEngine.load(nlu_model, items)


@pytest.fixture(scope="module")
def ungrounded(nlu_model: Path, items) -> BuiltinEngine:
    """The same engine with grounding switched off: what the bot did before."""
    return BuiltinEngine.load(nlu_model, items, ground_threshold=0.0)


# -- the coverage test itself, on a tiny vocabulary ------------------------------------------------


def _grounder(*vocabs: str) -> Grounder:
    vocab = [set(v.split()) for v in vocabs]
    pairs = [set(zip(v.split(), v.split()[1:], strict=False)) for v in vocabs]
    generic = Generic.of(["co", "khong", "bao", "nhieu"], ["ho tro", "nha nuoc"])
    return Grounder(vocab, idf_table(vocab), generic, pairs=pairs)


def test_generic_words_are_not_what_is_asked() -> None:
    g = _grounder("lam nha o 40 trieu", "bon nuoc 3 trieu")
    assert g.content("nha nuoc co ho tro lam nha khong".split()) == ("lam", "nha")
    assert g.coverage("ho tro lam nha bao nhieu".split(), 0).share == 1.0


def test_a_thing_the_item_does_not_name_is_not_covered() -> None:
    g = _grounder("lam nha o 40 trieu", "bon nuoc 3 trieu")
    cov = g.coverage("nha nuoc co ho tro mua may cay khong".split(), 0)
    assert cov.share == 0.0 and set(cov.uncovered) == {"mua", "may", "cay"}


def test_a_word_away_from_its_neighbours_counts_half() -> None:
    # "phân bón" typed "phan bon": both words are the water item's ("phân tán", "bồn"), neither
    # beside the other.
    g = _grounder("bon nuoc phan tan mua bon", "lam nha")
    alone = g.coverage("mua phan bon".split(), 0)
    together = g.coverage("mua bon nuoc".split(), 0)
    assert alone.share < 0.6 < together.share == 1.0


def test_the_head_of_the_question_must_be_covered() -> None:
    g = _grounder("dien thoai thong minh hoc dung", "lam nha")
    cov = g.coverage("tien mua dien thoai thong minh".split(), 0)
    assert cov.share > 0.55 and not cov.head  # "mua" (buying one) is not what the item is about


def test_a_frame_word_passes_the_head_to_the_thing_after_it() -> None:
    # "giá heo": the price of a pig; an item about Ba Tơ cattle has "giá" and "Ba Tơ", not pigs.
    vocab = ["gia bo ba to thit bo", "lam nha"]
    generic = Generic.of(["o", "bao", "nhieu"], frames=["gia"])
    g = Grounder(
        [set(v.split()) for v in vocab],
        idf_table([set(v.split()) for v in vocab]),
        generic,
        pairs=[set(zip(v.split(), v.split()[1:], strict=False)) for v in vocab],
    )
    assert not g.coverage("gia heo con o ba to".split(), 0).head
    assert g.coverage("gia bo ba to".split(), 0).head
    assert g.coverage("gia bao nhieu".split(), 0).head  # nothing after it: the frame is all


def test_the_question_clause_of_a_story_counts() -> None:
    g = _grounder("lam nha o 40 trieu sap", "bon nuoc")
    text = "hom qua bao to mua lon gio lam nha".split()
    assert g.coverage(text, 0).share < 0.55
    assert g.coverage(text, 0, clause_start=7).share == 1.0


# -- the engine on the real content --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "hỗ trợ mua máy cày cho hộ nghèo bao nhiêu tiền",  # was: the housing item's 40 million
        "hỗ trợ tiền điện cho hộ nghèo",  # was: housing
        "hộ nghèo được hỗ trợ mua tivi không",  # was: housing
        "co ho tro xay nha ve sinh khong",  # a toilet, not a house; was: housing
        "nha nuoc co ho tro tien mua phan bon khong",  # was: the water item
        "xa co ho tro mua dien thoai thong minh ko",  # was: the digital skills course
        "con đi học xa có được hỗ trợ tiền xe buýt không",  # was: boarding pupils' meals
    ],
)
def test_an_uncovered_question_gets_no_items_facts(
    real: BuiltinEngine, ungrounded: BuiltinEngine, text: str
) -> None:
    r = real.parse_sync(text)
    assert r.answer_id is None and r.low_confidence
    # Without grounding a confident item answered it: the protection is what stops it.
    assert ungrounded.parse_sync(text).answer_id is not None


def test_a_policy_question_no_item_covers_is_a_gap(real: BuiltinEngine) -> None:
    r = real.parse_sync("nha nuoc co ho tro mua may cay cho ba con khong")
    assert r.intent == "ask_policy" and r.answer_id is None
    assert r.gap and r.low_confidence and r.candidates


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("con em hoc o xa, o lai truong ca tuan, co dc tien an ko", "education.boarding_pupils"),
        ("mun xin giong cay ve trong thi lam rang", "support.production"),
        ("hoc phi truong cong nam nay", "education.tuition"),
        ("nước sạch", "support.water"),
        ("thiếu nước uống", "support.water"),
        ("How much is the housing support?", "support.housing"),
        ("nha em bi lu cuon troi mat, nha nuoc co giup lam lai cai nha k", "support.housing"),
        # "cấp" is the granting ("được cấp gạo"): the rice is what is asked for
        ("con o noi tru, hoc lop 4, co duoc cap gao khong", "education.boarding_pupils"),
    ],
)
def test_what_villagers_ask_is_answered_by_its_item(
    real: BuiltinEngine, text: str, answer: str
) -> None:
    r = real.parse_sync(text)
    assert r.answer_id == answer and not r.low_confidence


def test_who_are_you_is_a_help_question(real: BuiltinEngine) -> None:
    assert real.parse_sync("bn la ai").intent == "help"
    assert real.parse_sync("who are you").intent == "help"


@pytest.mark.parametrize(
    ("previous", "text", "answer"),
    [
        ("support.housing", "bao nhiêu", "support.housing"),
        ("support.water", "bao nhiêu", "support.water"),
        ("support.housing", "vậy giấy tờ gì", "support.documents"),
        ("support.housing", "còn nước sạch thì sao", "support.water"),
        ("education.boarding_pupils", "được mấy tháng", "education.boarding_pupils"),
        ("support.water", "còn làm nhà thì sao", "support.housing"),
    ],
)
def test_a_follow_up_is_read_against_the_previous_answer(
    real: BuiltinEngine, previous: str, text: str, answer: str
) -> None:
    r = real.parse_sync(text, previous=previous)
    assert r.answer_id == answer and not r.low_confidence


def test_without_a_previous_answer_a_bare_aspect_is_not_answered(real: BuiltinEngine) -> None:
    assert real.parse_sync("bao nhiêu").answer_id is None


def test_a_follow_up_never_answers_what_no_item_covers(real: BuiltinEngine) -> None:
    r = real.parse_sync("còn mua máy cày thì sao", previous="support.housing")
    assert r.answer_id is None


def test_thanks_after_an_answer_stay_thanks(real: BuiltinEngine) -> None:
    r = real.parse_sync("cảm ơn nhiều nhé", previous="support.housing")
    assert (r.intent, r.answer_id) == ("thank", None)


# -- typo augmentation without a cliff -------------------------------------------------------------


def test_typo_copies_scale_down_smoothly() -> None:
    sizes = range(1000, 20001, 250)
    copies = [typo_copies(n) for n in sizes]
    assert typo_copies(TYPO_FULL_UNTIL) == 2.0
    assert all(b <= a for a, b in zip(copies, copies[1:], strict=False))
    # No cliff: a few more examples never change the typo rows by more than a few percent.
    for n in (1999, 2000, 2001, 2500, 5000):
        assert abs(typo_copies(n + 1) * (n + 1) - typo_copies(n) * n) <= 2
    assert typo_copies(10_000) > 0


def test_a_question_is_not_taken_for_a_complaint(real: BuiltinEngine) -> None:
    # Feedback examples share the words ("bị", "lũ", "mất"): in question form, with a policy
    # reading close enough, it is a policy question no item covers, not the feedback form.
    asked = real.parse_sync("bi lu cuon mat lua thi dc boi thuong ko")
    assert (asked.intent, asked.answer_id, asked.gap) == ("ask_policy", None, True)
    told = real.parse_sync("bon nuoc cua thon bi vo roi")
    assert told.intent == "feedback"


@pytest.mark.parametrize(
    "text",
    [
        # Read as a complaint, with a question reading above the second reading but below the
        # 0.15 it once was (the first one fails at 0.15).
        "dien tang gia qua xa co giup dan ko",
        "tien nuoc may thang nay cao qua, thon co giup dong ko",
    ],
)
def test_a_weak_question_reading_still_beats_a_complaint_reading(
    real: BuiltinEngine, text: str
) -> None:
    asked = real.parse_sync(text)
    assert (asked.intent, asked.answer_id, asked.gap) == ("ask_policy", None, True)


@pytest.mark.parametrize(
    "text",
    ["cau treo bi gay, co ai den sua khong", "den duong o thon tat het, xa co sua ko"],
)
def test_a_complaint_in_question_form_is_still_a_complaint(real: BuiltinEngine, text: str) -> None:
    assert real.parse_sync(text).intent == "feedback"


def test_a_price_names_its_thing(real: BuiltinEngine) -> None:
    # The cattle item has "giá" and "Ba Tơ"; a pig's price is not its fact.
    pig = real.parse_sync("giá heo con ở Ba Tơ bao nhiêu")
    assert pig.answer_id is None
    assert real.parse_sync("giá bò Ba Tơ").answer_id == "product.ba_to_cattle"
    # "mức" is a frame too: the level of what.
    assert real.parse_sync("mức hỗ trợ bồn nước").answer_id == "support.water"


class _Unsure:
    """A classifier torn between out of scope and a policy question."""

    def __init__(self, model) -> None:
        self.model, self.normalizer = model, model.normalizer

    def predict_norm(self, norm):
        pred = self.model.predict_norm(norm)
        ranking = (("out_of_scope", 0.35), ("ask_policy", 0.3), ("feedback", 0.2))
        rest = tuple((n, 0.15 / 12) for n, _ in pred.ranking if n not in dict(ranking))
        return dataclasses.replace(
            pred, intent="out_of_scope", confidence=0.35, ranking=ranking + rest
        )


def test_an_unsure_question_gets_no_information_rather_than_not_understood(
    real: BuiltinEngine,
) -> None:
    unsure = BuiltinEngine(_Unsure(real.model), real.retriever)  # type: ignore[arg-type]
    asked = unsure.parse_sync("trợ cấp cho người khiếm thị lãnh ở đâu")
    assert (asked.intent, asked.answer_id, asked.gap) == ("ask_policy", None, True)
    # Not in question form: still "not understood".
    said = unsure.parse_sync("trợ cấp cho người khiếm thị")
    assert said.low_confidence and not said.gap


class _Sure:
    """A classifier that reads every message as `intent` with `confidence`."""

    def __init__(self, model, intent: str, confidence: float) -> None:
        self.model, self.normalizer = model, model.normalizer
        self.intent, self.confidence = intent, confidence

    def predict_norm(self, norm):
        pred = self.model.predict_norm(norm)
        rest = (1.0 - self.confidence) / (len(pred.ranking) - 1)
        ranking = ((self.intent, self.confidence),) + tuple(
            (n, rest) for n, _ in pred.ranking if n != self.intent
        )
        return dataclasses.replace(
            pred, intent=self.intent, confidence=self.confidence, ranking=ranking
        )


def test_a_request_made_of_the_previous_items_words_is_a_follow_up(real: BuiltinEngine) -> None:
    # "đăng ký thế nào" after the OCOP answer: registering a product, not for notices.
    fairly = BuiltinEngine(_Sure(real.model, "subscribe", 0.75), real.retriever)  # type: ignore[arg-type]
    r = fairly.parse_sync("dang ky the nao", previous="product.ocop")
    assert r.followup and r.answer_id in ("product.ocop", "product.ocop_register")
    # Words of its own ("thông báo"): the request stands.
    assert not fairly.parse_sync("dang ky nhan thong bao", previous="product.ocop").followup
    # Sure of the request: it stands.
    sure = BuiltinEngine(_Sure(real.model, "subscribe", 0.95), real.retriever)  # type: ignore[arg-type]
    assert sure.parse_sync("dang ky the nao", previous="product.ocop").intent == "subscribe"
