"""Form engine tests: the whole pipeline (SQLite and PostgreSQL), a scripted NLU, test forms.

The test forms (tests/flows/forms/data/forms/*.yml) live in a content folder of the test's own,
with the shipped lists (projects, indicators, feedback categories) and an area tree of test
communes whose areas carry `aliases` (former names). "@form NAME {json answers}" starts a form
(a test intent); the "test" submit handler records what it was given and says so.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_pipeline
from bot.content import Area
from bot.core.registry import REGISTRY
from bot.flows.forms import start_form, submit_handler
from bot.flows.forms.submit import default_provider
from tests.conftest import message
from tests.fakes.nlu import FakeNlu, understood
from tests.flows.conftest import SCRIPT

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).resolve().parent / "data"
SUBMITTED: dict[str, list[dict[str, Any]]] = {}  # sender -> answers given to the handler

FORM_SCRIPT = {
    **SCRIPT,
    "hỗ trợ làm nhà bao nhiêu": understood("ask_policy", answer_id="support.housing"),
    "ho tro lam nha bao nhieu": understood("ask_policy", answer_id="support.housing"),
}


@dataclasses.dataclass(frozen=True)
class AliasedArea(Area):
    aliases: tuple[str, ...] = ()


COMMUNES = [
    ("ba_dong", "xã Ba Động", ("xã Ba Thành", "xã Ba Dinh")),
    ("ba_to", "xã Ba Tơ", ()),
    ("ba_vi", "xã Ba Vì", ()),
    ("tra_bong", "xã Trà Bồng", ()),
    ("tra_giang", "xã Trà Giang", ()),
    ("son_ha", "xã Sơn Hà", ()),
    ("son_tay", "xã Sơn Tây", ()),
    ("minh_long", "xã Minh Long", ()),
    ("nghia_hanh", "xã Nghĩa Hành", ()),
    ("duc_pho", "xã Đức Phổ", ()),
    ("mo_duc", "xã Mộ Đức", ()),
    ("tu_nghia", "xã Tư Nghĩa", ()),
]
AREAS = [AliasedArea("qng", "tỉnh Quảng Ngãi", "province", None)] + [
    AliasedArea(f"qng.{code}", name, "commune", "qng", aliases) for code, name, aliases in COMMUNES
]


class FormNlu(FakeNlu):
    async def parse(self, text: str, lang: str, previous: str | None = None):
        if text.startswith("@form "):
            self.parsed.append((text, lang))
            return understood("form_test")
        return await super().parse(text, lang, previous)


if not REGISTRY.has_action("form_test"):

    @REGISTRY.action("form_test")
    async def _start_test_form(ctx) -> None:
        _, name, rest = (ctx.msg.text + " ").split(" ", 2)
        answers = json.loads(rest) if rest.strip() else {}
        await start_form(ctx, name, answers)

    @submit_handler("test")
    async def _record(ctx, form, answers) -> str:
        SUBMITTED.setdefault(ctx.msg.sender_id, []).append(answers)
        return f"Đã nhận {form.name}: " + json.dumps(answers, ensure_ascii=False, sort_keys=True)

    @default_provider("test_area")
    async def _test_area(ctx) -> str:
        return "qng.son_tay"


@pytest.fixture
def form_root(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(DATA / "forms", root / "forms")
    for name in ("projects.yml", "indicators.yml", "feedback_categories.yml"):
        shutil.copy(ROOT / "content" / name, root / name)
    return root


@pytest.fixture
def nlu() -> FakeNlu:
    return FormNlu(FORM_SCRIPT)


@pytest.fixture
def form_services(services, nlu, form_root):
    content = dataclasses.replace(services.content, root=form_root, areas=list(AREAS))
    # A test types a whole form in a second; people do not (limits.flood_messages).
    limits = dataclasses.replace(services.settings.limits, flood_messages=10_000)
    settings = dataclasses.replace(services.settings, limits=limits)
    return dataclasses.replace(services, nlu=nlu, content=content, settings=settings)


@pytest.fixture
def pipeline(form_services):
    return build_pipeline(form_services)


class Chat:
    """One user talking to the pipeline: `await chat("text")` -> the turn; `chat.text` its
    replies as a channel without buttons shows them."""

    def __init__(self, pipeline, sender: str) -> None:
        self.pipeline, self.sender = pipeline, sender
        self.turn = None

    async def __call__(self, text: str = "", payload: str | None = None, **kw):
        self.turn = await self.pipeline.handle(
            message(text, sender=self.sender, payload=payload, **{"lang": "vi", **kw})
        )
        return self.turn

    async def start(self, form: str, **answers: Any):
        return await self(f"@form {form} {json.dumps(answers, ensure_ascii=False)}")

    @property
    def text(self) -> str:
        from tests.conftest import all_text

        return all_text(self.turn)

    @property
    def payloads(self) -> list[str]:
        return [b.payload for r in self.turn.replies for b in r.buttons]

    def submitted(self) -> list[dict[str, Any]]:
        return SUBMITTED.get(self.sender, [])


@pytest.fixture
def chat(pipeline, request):
    sender = f"f-{request.node.name}"[:60]
    SUBMITTED.pop(sender, None)
    return Chat(pipeline, sender)
