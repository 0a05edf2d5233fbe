"""Reading Rasa 3 NLU training data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlu.rasa_format import NluDataError, load_file, load_paths, parse_annotated

FULL = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - xin chào
    - chào [anh Ba](person)
    - tôi ở [Ba Tơ]{"entity": "place", "value": "ba_to"}
    - đi [Trà Bồng][{"entity": "place"}, {"entity": "area", "role": "to"}]
    - cần [bhyt](policy:bảo hiểm y tế)
- intent: faq/ask_fee
  metadata: {topic: fees}
  examples:
  - text: |
      phí bao nhiêu
    metadata: {sentiment: neutral}
  - text: phí là gì
- synonym: bảo hiểm y tế
  examples: |
    - thẻ bảo hiểm
- regex: phone
  examples: |
    - \\b0\\d{9}\\b
- lookup: product
  examples: |
    - quế Trà Bồng
    - thổ cẩm
- lookup: fruit
  examples: fruit.txt
"""


@pytest.fixture
def full(tmp_path: Path) -> Path:
    (tmp_path / "fruit.txt").write_text("cam\nquýt\n\n", encoding="utf-8")
    path = tmp_path / "nlu.yml"
    path.write_text(FULL, encoding="utf-8")
    return path


def test_intents_and_both_example_forms(full: Path) -> None:
    data = load_file(full)
    assert data.counts() == {"faq/ask_fee": 2, "greet": 5}
    assert [e.text for e in data.examples if e.intent == "faq/ask_fee"] == [
        "phí bao nhiêu",
        "phí là gì",
    ]


def test_entity_annotations_are_stripped_and_kept(full: Path) -> None:
    by_text = {e.text: e for e in load_file(full).examples}
    assert "chào anh Ba" in by_text
    (person,) = by_text["chào anh Ba"].entities
    assert (person.entity, person.value, "chào anh Ba"[person.start : person.end]) == (
        "person",
        "anh Ba",
        "anh Ba",
    )
    (place,) = by_text["tôi ở Ba Tơ"].entities
    assert (place.entity, place.value) == ("place", "ba_to")
    two = by_text["đi Trà Bồng"].entities
    assert [(e.entity, e.role) for e in two] == [("place", None), ("area", "to")]
    (policy,) = by_text["cần bhyt"].entities
    assert policy.value == "bảo hiểm y tế"


def test_synonyms_regex_lookup(full: Path) -> None:
    data = load_file(full)
    assert data.synonyms["thẻ bảo hiểm"] == "bảo hiểm y tế"
    assert data.synonyms["bhyt"] == "bảo hiểm y tế"  # learnt from the annotation's value
    assert data.synonyms["Ba Tơ"] == "ba_to"
    assert data.regexes == [("phone", r"\b0\d{9}\b")]
    assert data.lookups["product"] == ["quế Trà Bồng", "thổ cẩm"]
    assert data.lookups["fruit"] == ["cam", "quýt"]  # from the file next to the YAML
    assert data.entity_values()["place"] == {"Ba Tơ", "Trà Bồng"}


def test_example_lines_are_located(full: Path) -> None:
    data = load_file(full)
    assert data.examples[0].source == f"{full}:5"


def test_parse_annotated_plain_text_untouched() -> None:
    assert parse_annotated("không có chú thích [nào") == ("không có chú thích [nào", ())


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(
        "nlu:\n- intent: greet\n  examples: |\n    - hi\n   - bad: [\n", encoding="utf-8"
    )
    with pytest.raises(NluDataError) as err:
        load_paths([path])
    assert "broken.yml:5" in str(err.value)
    assert err.value.line == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("nlu: {intent: greet}\n", "must be a list"),
        ("nlu:\n- intent: greet\n  synonym: x\n  examples: |\n    - hi\n", "exactly one of"),
        ("nlu:\n- regex: r\n  examples: |\n    - (unclosed\n", "not a valid regular expression"),
        ("nlu:\n- intent: greet\n  examples: |\n    - chào [x]{bad json}\n", "not valid JSON"),
        ("nlu:\n- intent: greet\n  examples: 5\n", "needs `examples:`"),
    ],
)
def test_structural_errors_name_the_file(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "data.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(NluDataError, match=message) as err:
        load_file(path)
    assert str(err.value).startswith(str(path))


def test_lines_without_dash_are_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "data.yml"
    path.write_text(
        "nlu:\n- intent: greet\n  examples: |\n    - chào\n    hello\n", encoding="utf-8"
    )
    data = load_file(path)
    assert [e.text for e in data.examples] == ["chào"]
    assert "data.yml:5" in data.warnings[0]


def test_directories_skip_files_without_nlu(tmp_path: Path, full: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.yaml").write_text(
        "nlu:\n- intent: bye\n  examples: |\n    - tạm biệt\n", encoding="utf-8"
    )
    (tmp_path / "domain.yml").write_text("intents: [greet]\nresponses: {}\n", encoding="utf-8")
    (tmp_path / "stories.yml").write_text("stories: []\n", encoding="utf-8")
    data = load_paths([tmp_path])
    assert data.counts() == {"bye": 1, "faq/ask_fee": 2, "greet": 5}
    with pytest.raises(NluDataError, match="no `nlu:` section"):
        load_paths([tmp_path / "domain.yml"])  # named explicitly, it must be NLU data


def test_several_paths_merge(tmp_path: Path, full: Path) -> None:
    other = tmp_path / "other" / "x.yml"
    other.parent.mkdir()
    other.write_text("nlu:\n- intent: greet\n  examples: |\n    - alo\n", encoding="utf-8")
    assert load_paths([full, other]).counts()["greet"] == 6


def test_missing_path_and_empty_data(tmp_path: Path) -> None:
    with pytest.raises(NluDataError, match="no such file"):
        load_paths([tmp_path / "nope.yml"])
    (tmp_path / "empty.yml").write_text("nlu: []\n", encoding="utf-8")
    with pytest.raises(NluDataError, match="no intent examples"):
        load_paths([tmp_path / "empty.yml"])


def test_json_format(tmp_path: Path) -> None:
    path = tmp_path / "nlu.json"
    path.write_text(
        json.dumps(
            {
                "rasa_nlu_data": {
                    "common_examples": [
                        {"text": "xin chào", "intent": "greet"},
                        {
                            "text": "tôi ở Ba Tơ",
                            "intent": "inform",
                            "entities": [
                                {"start": 6, "end": 11, "value": "Ba Tơ", "entity": "place"}
                            ],
                        },
                    ],
                    "regex_features": [{"name": "phone", "pattern": r"\d{10}"}],
                    "lookup_tables": [{"name": "place", "elements": ["Ba Tơ", "Trà Bồng"]}],
                    "entity_synonyms": [{"value": "bảo hiểm y tế", "synonyms": ["bhyt"]}],
                }
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    data = load_paths([path])
    assert data.counts() == {"greet": 1, "inform": 1}
    assert data.synonyms == {"bhyt": "bảo hiểm y tế"}
    assert data.lookups == {"place": ["Ba Tơ", "Trà Bồng"]}
    assert data.regexes == [("phone", r"\d{10}")]


def test_the_shipped_training_data_loads() -> None:
    data = load_paths([Path(__file__).resolve().parents[2] / "nlu" / "data"])
    assert not data.warnings
    assert len(data.intents) >= 15
