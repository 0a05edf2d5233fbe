"""Property: `bot.config.load_settings` raises ConfigError and nothing else, whatever the file
and the environment hold.

Three sources of examples: the real config.yml with any values in its environment variables
(what an operator's .env can hold); the real config.yml's tree with values swapped for anything
YAML can express (numbers out of range, NaN, dates, lists, mappings, huge integers, text where
a number goes), dumped back to YAML; and any text or bytes at all as the file (not YAML, not
UTF-8, nested too deep). A file that loads gives Settings; every other outcome is a ConfigError
whose message names the problem.

"ci" profile: 10,000 examples per property; `HYPOTHESIS_PROFILE=dev`: 200.
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ENV_RE, ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG_TEXT = (ROOT / "config.yml").read_text(encoding="utf-8")
ENV_NAMES = sorted({m.group(1) for m in ENV_RE.finditer(CONFIG_TEXT)})
TREE = yaml.safe_load(CONFIG_TEXT)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
WORK = Path(tempfile.mkdtemp(prefix="config-property-"))
(WORK / "content").mkdir(exist_ok=True)
_n = iter(range(10**9))

env_values = st.one_of(
    st.text(max_size=16),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "65536",
            "1e999",
            "nan",
            "inf",
            "true",
            "maybe",
            "9" * 5000,
            "sqlite+aiosqlite:///x.db",
            "postgresql+asyncpg://u:p@h/db",
            "https://example.vn/telegram/webhook",
            "http://",
            "a,b,,c",
            "${OTHER}",
            "é\u0301",
        ]
    ),
)
environments = st.dictionaries(
    st.sampled_from(ENV_NAMES), env_values.filter(lambda v: "\x00" not in v), max_size=6
)
yaml_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.dates(),
        st.sampled_from(["${DATABASE_URL}", "${NOPE}", "${NOPE:-x}", "10", "0.5", "yes"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def leaf_paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += leaf_paths(v, prefix + (k,))
    return out


PATHS = leaf_paths(TREE)


@st.composite
def mutated_trees(draw: st.DrawFn) -> Any:
    """The real config's tree with a few values (or whole sections) replaced, keys added or
    removed."""
    tree = copy.deepcopy(TREE)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        target = tree
        for key in path[:-1]:
            if not isinstance(target, dict) or key not in target:
                break
            target = target[key]
        else:
            if isinstance(target, dict):
                action = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
                if action == "set":
                    target[path[-1]] = draw(yaml_values)
                elif action == "delete":
                    target.pop(path[-1], None)
                else:
                    target[draw(st.text(max_size=8))] = draw(yaml_values)
    if draw(st.integers(0, 9)) == 0:
        tree = draw(yaml_values)  # not a mapping at all
    return tree


def load(text: str | bytes, env: dict[str, str]) -> Settings | None:
    path = WORK / f"config-{next(_n) % 64}.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    try:
        return load_settings(path, env=env)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
        assert "Traceback" not in message
        return None


@given(environments)
def test_any_environment(env: dict[str, str]) -> None:
    settings = load(CONFIG_TEXT, env)
    if settings is not None:
        assert 1 <= settings.server.port <= 65535
        assert settings.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))


@given(mutated_trees(), environments)
def test_any_values_in_the_file(tree: Any, env: dict[str, str]) -> None:
    text = yaml.dump(tree, Dumper=DUMPER, allow_unicode=True, sort_keys=False)
    load(text, env)


def nested(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth


@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        st.integers(1, 3_000).map(nested),
        st.integers(1, 300).map(lambda n: "".join(f"{' ' * i}k{i}:\n" for i in range(n))),
        st.sampled_from(
            [
                b"\xff\xfe\x00",
                b"database:\n  url: \xc3\x28\n",
                "database: {url: sqlite+aiosqlite:///x.db}\nserver: {port: 99999999999999}\n",
                "? [a, b]\n: c\n",
                "a: &x [1]\nb: *x\n",
                "server: !!python/object:os.system {}\n",
                "---\na: 1\n---\nb: 2\n",
                "\ufeffdatabase: {url: x}\n",
            ]
        ),
    ),
    environments,
)
def test_any_file_content(content: str | bytes, env: dict[str, str]) -> None:
    load(content, env)


def test_the_shipped_config_loads() -> None:
    assert isinstance(load(CONFIG_TEXT, {}), Settings)
    assert re.search(r"invalid configuration", _error("server: {port: 0}\n"))


def _error(text: str) -> str:
    path = WORK / "error.yml"
    path.write_text(text, encoding="utf-8")
    try:
        load_settings(path, env={})
    except ConfigError as exc:
        return str(exc)
    raise AssertionError("loaded")


def test_dates_nan_and_deep_nesting_are_config_errors() -> None:
    for text in (
        "database: {url: sqlite+aiosqlite:///x.db}\nserver: {port: 2024-01-01}\n",
        "database: {url: sqlite+aiosqlite:///x.db}\nnlu: {intent_threshold: .nan}\n",
    ):
        assert "invalid configuration" in _error(text)
    assert "nested too deeply" in _error(nested(900))  # parsed, then too deep to expand
    assert "not valid YAML" in _error(nested(20_000))  # too deep to parse
    path = WORK / "latin1.yml"
    path.write_bytes("database: {url: ở}\n".encode("utf-16"))
    try:
        load_settings(path, env={})
    except ConfigError as exc:
        assert "not UTF-8" in str(exc)
    else:
        raise AssertionError("loaded")


def test_a_nul_character_in_a_value_is_a_config_error_naming_the_key() -> None:
    # Found by test_any_values_in_the_file: `content: {dir: "\0"}` crashed the path checks.
    for section, key in (("content", "dir"), ("media", "dir")):
        text = f'database: {{url: sqlite+aiosqlite:///x.db}}\n{section}: {{{key}: "a\\0b"}}\n'
        message = _error(text)
        assert f"{section}.{key}: contains a NUL character" in message
