"""`python -m bot forms import`: an XLSForm workbook written here with openpyxl becomes a form
file the engine runs; rows and columns it cannot express are reported by sheet, row and column,
and nothing is written unless asked to (`--partial`). `forms check` validates the shipped forms."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import yaml
from openpyxl import Workbook

from bot.__main__ import main
from bot.content import Problem
from bot.flows.forms.schema import load_forms, parse_form
from bot.flows.forms.xlsform import convert

GOOD_SURVEY = [
    (
        "type",
        "name",
        "label::Tiếng Việt (vi)",
        "label::English (en)",
        "hint",
        "required",
        "relevant",
        "constraint",
        "constraint_message",
    ),
    (
        "select_one water",
        "water",
        "Loại hỗ trợ nước?",
        "Water support?",
        None,
        "yes",
        None,
        None,
        None,
    ),
    (
        "integer",
        "households",
        "Bao nhiêu hộ?",
        None,
        "Gõ con số",
        "yes",
        "${water} = 'tank'",
        ". >= 0 and . <= 500",
        "Từ 0 đến 500 hộ",
    ),
    ("decimal", "area_ha", "Diện tích (ha)?", None, None, "no", None, None, None),
    ("select_multiple goods", "goods", "Đã nhận gì?", None, None, "no", None, None, None),
    ("date", "day", "Ngày nào?", None, None, "yes", None, None, None),
    ("text", "note", "Ghi chú", None, None, "no", None, None, None),
    ("image", "photo", "Ảnh", None, None, "no", None, None, None),
    ("audio", "voice", "Ghi âm", None, None, "no", None, None, None),
    ("geopoint", "place", "Vị trí", None, None, "no", None, None, None),
]
CHOICES = [
    ("list_name", "name", "label::Tiếng Việt (vi)"),
    ("water", "tank", "Bồn nước"),
    ("water", "pipe", "Ống dẫn"),
    ("goods", "rice", "Gạo"),
    ("goods", "salt", "Muối"),
]
SETTINGS = [("form_id", "form_title"), ("water_check", "Kiểm tra nước")]


def workbook(path: Path, survey=GOOD_SURVEY, choices=CHOICES, settings=SETTINGS) -> Path:
    wb = Workbook()
    for title, rows in (("survey", survey), ("choices", choices), ("settings", settings)):
        ws = wb.active if title == "survey" else wb.create_sheet()
        ws.title = title
        for row in rows:
            ws.append(list(row))
    wb.save(path)
    return path


def test_a_workbook_becomes_a_form_the_engine_accepts(tmp_path):
    result = convert(workbook(tmp_path / "water.xlsx"), submit="test")
    assert result.refused == []
    problems: list[Problem] = []
    form = parse_form(result.form, "water.yml", problems)
    assert problems == [] and form is not None
    assert form.name == "water_check" and form.title == {"vi": "Kiểm tra nước"}
    assert [(f.name, f.type) for f in form.fields] == [
        ("water", "choice"),
        ("households", "number"),
        ("area_ha", "number"),
        ("goods", "multi_choice"),
        ("day", "date"),
        ("note", "text"),
        ("photo", "photo"),
        ("voice", "audio"),
        ("place", "location"),
    ]
    households = form.field("households")
    assert households.integer and households.required and households.hint == {"vi": "Gõ con số"}
    assert households.relevant.test({"water": "tank"}) and not households.relevant.test(
        {"water": "pipe"}
    )
    assert households.constraint_message == {"vi": "Từ 0 đến 500 hộ"}
    assert not form.field("area_ha").integer and not form.field("area_ha").required
    water = form.field("water")
    assert [o.value for o in water.choices] == ["tank", "pipe"]
    assert water.prompt == {"vi": "Loại hỗ trợ nước?", "en": "Water support?"}


def test_rows_and_columns_it_cannot_express_are_refused_by_row_and_column(tmp_path):
    survey = [
        (*GOOD_SURVEY[0], "appearance"),
        (*GOOD_SURVEY[1], None),
        ("begin group", "g1", "Nhóm", None, None, None, None, None, None, "field-list"),  # row 3
        ("calculate", "total", "Tổng", None, None, None, None, None, None, None),  # row 4
        ("integer", "n", "Số?", None, None, "yes", None, ". >> 3", None, None),  # row 5
        ("integer", "m", "Số?", None, None, "yes", "${later} = 1", None, None, None),  # row 6
        ("select_one missing", "x", "Chọn?", None, None, None, None, None, None, None),  # row 7
        ("text", "Bad Name", "Tên?", None, None, None, None, None, None, None),  # row 8
        ("text", "later", "Sau?", None, None, "${n} > 1", None, None, None, None),  # row 9
        ("start", "start", None, None, None, None, None, None, None, None),  # row 10
    ]
    choices = [*CHOICES, ("water", "có dấu", "Có dấu")]  # row 6 of choices
    result = convert(workbook(tmp_path / "bad.xlsx", survey, choices), submit="test")
    said = [str(r) for r in result.refused]
    assert "survey, row 1, column J (appearance): column not supported" in said
    assert "survey, row 3, column A (type): type 'begin group' not supported" in said
    assert "survey, row 4, column A (type): type 'calculate' not supported" in said
    assert any(s.startswith("survey, row 5, column H (constraint): ") for s in said)
    assert "survey, row 6, column G (relevant): refers to later, not an earlier question" in said
    assert any(
        s.startswith("survey, row 7, column A (type): no choices for list 'missing'") for s in said
    )
    assert any(s.startswith("survey, row 8, column B (name): name 'Bad Name'") for s in said)
    assert any(s.startswith("survey, row 9, column F (required)") for s in said)
    assert "survey, row 10, column A (type): type 'start' not supported" in said
    assert any(s.startswith("choices, row 6, column B (name): choice name 'có dấu'") for s in said)
    # What could be expressed is still a valid form: the first question only.
    assert [f["name"] for f in result.form["fields"]] == ["water"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_import_writes_nothing_when_something_was_refused_unless_partial(tmp_path):
    survey = [*GOOD_SURVEY[:3], ("note", "n1", "Chú ý", None, None, None, None, None, None)]
    book = workbook(tmp_path / "w.xlsx", survey)
    out = tmp_path / "content" / "forms" / "water_check.yml"
    code, _, err = run("forms", "import", str(book), "--dir", str(tmp_path / "content"))
    assert code == 1 and not out.exists()
    assert "not imported: survey, row 4, column A (type): type 'note' not supported" in err
    assert "nothing written" in err
    code, stdout, err = run(
        "forms", "import", str(book), "--dir", str(tmp_path / "content"), "--partial"
    )
    assert code == 1 and out.exists() and "wrote" in stdout
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [f["name"] for f in data["fields"]] == ["water", "households"]


def test_import_then_check_with_the_shipped_lists(tmp_path):
    content = tmp_path / "content"
    code, stdout, err = run(
        "forms",
        "import",
        str(workbook(tmp_path / "w.xlsx")),
        "--dir",
        str(content),
        "--submit",
        "feedback",
    )
    assert code == 0, err
    assert load_forms(content).problems == []
    code, stdout, _ = run("forms", "check", "--dir", str(content))
    assert code == 0 and "water_check: submit feedback" in stdout


def test_the_shipped_forms_are_valid():
    root = Path(__file__).resolve().parents[3] / "content"
    forms = load_forms(root)
    assert forms.problems == []
    assert set(forms.forms) >= {"quick_report", "feedback"}
    report = forms.forms["quick_report"]
    assert [f.name for f in report.fields] == [
        "project",
        "indicator",
        "area",
        "period",
        "value",
        "note",
        "photo",
        "location",
    ]
    assert report.submit == "report" and forms.forms["feedback"].submit == "feedback"
    assert {o.extra["project"] for o in forms.lists.indicators} == {1, 3, 4, 5, 6, 7, 8, 9, 10}
    assert [o.value for o in forms.lists.projects] == list(range(1, 11))
    assert len(forms.lists.feedback_categories) == 6


def test_check_reports_a_broken_form_with_its_file_and_field(tmp_path):
    content = tmp_path / "content"
    (content / "forms").mkdir(parents=True)
    (content / "forms" / "bad.yml").write_text(
        "form: bad\ntitle: Hỏng\nsubmit: test\nfields:\n"
        "  - {name: a, type: number, prompt: 'Số?', constraint: '. >'}\n"
        "  - {name: b, type: choice, prompt: 'Chọn?'}\n"
        "  - {name: c, type: colour, prompt: 'Màu?'}\n",
        encoding="utf-8",
    )
    code, stdout, _ = run("forms", "check", "--dir", str(content))
    assert code == 1
    assert "content/forms/bad.yml: field a: `constraint`" in stdout
    assert (
        "content/forms/bad.yml: field b: a choice field needs either `choices` or `from`" in stdout
    )
    assert "content/forms/bad.yml: field c: `type` must be one of" in stdout
