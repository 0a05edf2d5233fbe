"""Normalisation: what the classifier and retrieval see of a message."""

from __future__ import annotations

import pytest

from nlu.normalize import Normalizer, fold, load_tables, strip_diacritics, tokenize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hỗ Trợ", "hỗ trợ"),
        ("Ho\u0302\u0303 tro\u031b\u0323", "hỗ trợ"),  # decomposed marks (NFD input) compose to NFC
        ("ĐƯỜNG", "đường"),
        ("đâyyyy", "đây"),
        ("chàoooo bạnnn", "chào bạn"),
        ("xoong nồi", "xoong nồi"),  # a real double letter stays
        ("so dien thoai cap cuu", "so dien thoai cap cuu"),  # "cuu" is cứu without diacritics
        ("uu dai", "uu dai"),
        (
            "hoá học, thuỷ lợi, khoẻ",
            "hóa học thủy lợi khỏe",
        ),  # one tone position for both spellings
        ("quý", "quý"),  # "qu" + y: the tone stays on y
        ("xin chào 😀👍!!!", "xin chào"),
        ("40.000.000đ", "40000000 đ"),
        ("3,5 triệu", "3.5 triệu"),
        ("dự án9", "dự án 9"),
        ("snake_case-words", "snake case words"),
    ],
)
def test_tokenize(raw: str, expected: str) -> None:
    assert " ".join(tokenize(raw)) == expected


def test_fold_removes_every_diacritic_and_d_bar() -> None:
    assert fold("Đường đến Trà Bồng, Sâm Ngọc Linh") == "Duong den Tra Bong, Sam Ngoc Linh"
    assert strip_diacritics("hỗ trợ") == "ho tro"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ko dc j", "không được gì"),
        ("k biết", "không biết"),
        ("hỗ trợ bn tiền", "hỗ trợ bao nhiêu tiền"),
        ("làm ntn", "làm như thế nào"),
        ("thẻ bhyt", "thẻ bảo hiểm y tế"),
        ("UBND xã", "ủy ban nhân dân xã"),
        ("người dtts", "người dân tộc thiểu số"),
        ("ctmtqg", "chương trình mục tiêu quốc gia"),
        ("đc không", "được không"),
        ("kooo", "không"),  # stretched teencode still found
    ],
)
def test_abbreviations(normalizer: Normalizer, raw: str, expected: str) -> None:
    assert normalizer(raw).text == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5k", "5 nghìn"),
        ("giá 500K một bó", "giá 500 nghìn một bó"),
        ("5 k", "5 nghìn"),
        ("k có tiền", "không có tiền"),
        ("2tr", "2 triệu"),
        ("5kg", "5 kg"),
        ("168/KH-UBND", "168 kế hoạch ủy ban nhân dân"),
    ],
)
def test_k_after_a_number_is_money_not_no(normalizer: Normalizer, raw: str, expected: str) -> None:
    assert normalizer(raw).text == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("làm răng rứa", "làm sao thế"),
        ("đi mô", "đi đâu"),
        ("hỗ trợ chi", "hỗ trợ gì"),
        ("cái ni", "cái này"),
        ("bên tê", "bên kia"),
        ("làm ri", "làm thế này"),
        ("lam rang", "làm sao"),  # a phrase from the table, typed without diacritics
        ("mần chi", "làm gì"),
    ],
)
def test_dialect(normalizer: Normalizer, raw: str, expected: str) -> None:
    assert normalizer(raw).text == expected


@pytest.mark.parametrize(
    "raw",
    [
        "chi tiêu",  # spending, not "gì tiêu"
        "chi trả tiền",
        "đau răng",  # a tooth, not "đau sao"
        "mô hình",
        "tê liệt",
        "nghe nói",
        "chi can",  # "chỉ cần" typed without diacritics
        "mo cua",  # "mở cửa": the folded form of "mô" is not dialect
        "chìa khóa",  # whole tokens only: "chi" inside a word is never touched
        "quy mô",
    ],
)
def test_ambiguous_dialect_words_stay(normalizer: Normalizer, raw: str) -> None:
    assert normalizer(raw).text == " ".join(tokenize(raw))


def test_project_numbers_in_words(normalizer: Normalizer) -> None:
    assert normalizer("dự án chín").text == "dự án 9"
    assert normalizer("du an mot").text == "du an 1"
    assert normalizer("ba con").text == "ba con"  # "ba" only counts after "dự án"


def test_keeps_original_and_folded_tokens(normalizer: Normalizer) -> None:
    n = normalizer("Hỗ trợ làm nhà")
    assert n.tokens == ("hỗ", "trợ", "làm", "nhà")
    assert n.folded == ("ho", "tro", "lam", "nha")
    assert n.folded_text == "ho tro lam nha"


def test_synonyms_replace_whole_phrases() -> None:
    n = Normalizer(
        synonyms={"thẻ bảo hiểm": "bảo hiểm y tế", "nhcsxh": "ngân hàng chính sách xã hội"}
    )
    assert n("làm thẻ bảo hiểm ở đâu").text == "làm bảo hiểm y tế ở đâu"
    assert (
        n("lam the bao hiem o dau").text == "lam bảo hiểm y tế o dau"
    )  # multi-word: also without diacritics
    assert n("vay nhcsxh").text == "vay ngân hàng chính sách xã hội"
    # the canonical text itself is left alone, not rewritten into "bảo hiểm y tế y tế"
    assert n("thẻ bảo hiểm y tế").text == "thẻ bảo hiểm y tế"


def test_empty_and_symbol_only_messages(normalizer: Normalizer) -> None:
    assert not normalizer("")
    assert not normalizer("👍🙏 ... !!!")


def test_tables_hash_changes_with_the_tables(tmp_path) -> None:
    (tmp_path / "abbreviations.yml").write_text("abbreviations: {ko: không}\n", encoding="utf-8")
    first = Normalizer.from_tables(tmp_path).hash
    (tmp_path / "abbreviations.yml").write_text(
        "abbreviations: {ko: không, j: gì}\n", encoding="utf-8"
    )
    assert Normalizer.from_tables(tmp_path).hash != first


def test_bad_table_names_the_file(tmp_path) -> None:
    (tmp_path / "dialect.yml").write_text("dialect: [răng, sao\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dialect\.yml"):
        load_tables(tmp_path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ko", "không"),
        ("k", "không"),
        ("dc", "được"),
        ("đc", "được"),
        ("j", "gì"),
        ("ntn", "như thế nào"),
        ("bhyt", "bảo hiểm y tế"),
        ("ubnd", "ủy ban nhân dân"),
        ("dtts", "dân tộc thiểu số"),
        ("ctmtqg", "chương trình mục tiêu quốc gia"),
        ("làm răng", "làm sao"),
        ("rứa", "thế"),
        ("ở mô", "ở đâu"),
        ("là chi", "là gì"),
        ("cái ni", "cái này"),
        ("bên tê", "bên kia"),
        ("như ri", "như thế này"),
    ],
)
def test_shipped_tables_cover_the_common_words(raw: str, expected: str) -> None:
    assert Normalizer.from_tables()(raw).text == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nn co giup ko", "nhà nước co giup không"),  # "nn" collapses to "n" before the table
        ("dang ki o dau", "đăng ký o dau"),  # "kí" and "ký" are both right
        ("Đăng kí nhận tin", "đăng ký nhận tin"),
    ],
)
def test_the_shipped_tables(raw: str, expected: str) -> None:
    assert Normalizer.from_tables()(raw).text == expected
