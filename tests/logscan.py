"""A pytest plugin: nothing the test run logs at INFO or above carries personal data or secrets.

For the whole session a handler on the root logger (which is set to INFO if it was quieter)
keeps every record at INFO or above; when the session ends they are scanned for

- Vietnamese phone numbers (0xxxxxxxxx, +84xxxxxxxxx, with or without spaces or dots);
- tokens: Telegram bot tokens (`<digits>:<35 characters>`), the fake Zalo API's `AT-...`/`RT-...`
  tokens, Fernet keys;
- the secrets and texts the tests use: every string constant of a loaded test module whose name
  says it is one (`*SECRET*`, `*TOKEN*`, `*_KEY`, `*PASSWORD*`: webhook secrets, the fake APIs'
  tokens and keys, `SECRET_TEXT`-style message texts), the texts of the messages the tests send
  (`tests.conftest.message` registers those long enough to be telling), and whatever a test
  registers with `sensitive(...)`;

and the session fails (exit status 1) with a short report: which logger logged what (the match
itself is masked). Under pytest-xdist each worker scans its own records and hands its findings to
the controller, which reports them all.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

import pytest

PHONE_RE = re.compile(r"(?<![0-9A-Za-z])(?:\+84|0)[35789](?:[ .]?\d){8}(?![0-9A-Za-z])")
TOKEN_RES = {
    "Telegram bot token": re.compile(r"(?<![0-9A-Za-z])\d{6,12}:[A-Za-z0-9_-]{30,}"),
    "Zalo token": re.compile(r"(?<![0-9A-Za-z])(?:AT|RT)-[A-Za-z0-9_-]{24,}"),
    "Fernet key": re.compile(r"(?<![0-9A-Za-z_-])[A-Za-z0-9_-]{43}="),
}
SECRET_NAME_RE = re.compile(r"SECRET|TOKEN|_KEY$|PASSWORD")
MIN_NEEDLE = 8
MAX_FINDINGS = 50
DIR_ENV = "LOGSCAN_DIR"

_registered: set[str] = set()
_lock = threading.Lock()


def sensitive(*values: str) -> None:
    """Register strings (a message text, an id, a secret) that must never be logged."""
    with _lock:
        _registered.update(v for v in values if isinstance(v, str) and len(v) >= MIN_NEEDLE)


class KeepHandler(logging.Handler):
    """Keeps (logger, level, message with traceback) of every record at INFO or above."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self.records.append((record.name, record.levelname, text))
        except Exception:  # a record that cannot be formatted is not ours to fail on
            pass


def _test_constants() -> set[str]:
    found: set[str] = set()
    for name, module in list(sys.modules.items()):
        base = name.rpartition(".")[2]
        test_module = name == "tests" or name.startswith("tests.") or base.startswith("test_")
        if not test_module or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if SECRET_NAME_RE.search(attr) and isinstance(value, str) and len(value) >= MIN_NEEDLE:
                found.add(value)
    return found


def _mask(text: str) -> str:
    return text[:3] + "…" if len(text) > 3 else "…"


def scan(records: list[tuple[str, str, str]], needles: set[str]) -> list[str]:
    """One line per finding: `logger LEVEL: what (masked) in "excerpt"`."""
    findings: list[str] = []
    for logger, level, text in records:
        hits: list[tuple[str, str]] = [("phone number", m.group()) for m in PHONE_RE.finditer(text)]
        for what, pattern in TOKEN_RES.items():
            hits += [(what, m.group()) for m in pattern.finditer(text)]
        hits += [("a test's secret or message text", n) for n in needles if n in text]
        for what, value in hits:
            excerpt = text.replace(value, _mask(value)).replace("\n", " ")[:160]
            findings.append(f"{logger} {level}: {what} {_mask(value)!r} in {excerpt!r}")
            if len(findings) >= MAX_FINDINGS:
                return findings
    return findings


class LogScan:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.handler = KeepHandler()
        self.root_level: int | None = None
        self.worker = hasattr(config, "workerinput")
        self.dir: Path | None = None
        self.findings: list[str] = []

    def start(self) -> None:
        root = logging.getLogger()
        root.addHandler(self.handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            self.root_level = root.level
            root.setLevel(logging.INFO)
        if self.worker:
            self.dir = Path(self.config.workerinput[DIR_ENV])
        elif self.config.pluginmanager.hasplugin("xdist"):
            self.dir = Path(tempfile.mkdtemp(prefix="logscan-"))

    def stop(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        if self.root_level is not None:
            root.setLevel(self.root_level)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:  # xdist controller: tell each worker where
        if self.dir is not None:
            node.workerinput[DIR_ENV] = str(self.dir)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.stop()
        with _lock:
            needles = _test_constants() | set(_registered)
        self.findings = scan(self.handler.records, needles)
        self.handler.records.clear()
        if self.worker:
            assert self.dir is not None
            out = self.dir / f"{self.config.workerinput.get('workerid', os.getpid())}.json"
            out.write_text(json.dumps(self.findings), encoding="utf-8")
            return
        if self.dir is not None:
            for part in sorted(self.dir.glob("*.json")):
                self.findings += json.loads(part.read_text(encoding="utf-8"))
                part.unlink()
            self.dir.rmdir()
        if self.findings and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.worker or not self.findings:
            return
        terminalreporter.section("log scan: personal data or secrets logged at INFO or above")
        for line in self.findings[:MAX_FINDINGS]:
            terminalreporter.write_line(line)
        terminalreporter.write_line(
            f"{len(self.findings)} finding(s): log a pseudonym (SessionMemory.pseudonym) or the "
            "type of the error instead, or lower the record to DEBUG"
        )


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin("logscan-session"):
        return
    plugin = LogScan(config)
    plugin.start()
    config.pluginmanager.register(plugin, "logscan-session")
