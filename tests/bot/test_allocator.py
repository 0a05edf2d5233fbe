"""The serving process fixes glibc's mmap threshold (bot/allocator.py), so a large block freed
does not move the later large blocks onto the main heap, where they leave free space the heap
cannot hand back; the operator's own setting wins."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

try:
    GLIBC = hasattr(ctypes.CDLL("libc.so.6"), "gnu_get_libc_version")
except OSError:
    GLIBC = False

pytestmark = pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")

# A 4 MiB block, mapped and freed (glibc raises its threshold to 4 MiB), then a 300 KB one:
# prints whether fix_mmap_threshold set the threshold, and how many mapped blocks the 300 KB
# block added (1: mapped, given back when freed; 0: on the main heap).
PROBE = """
import ctypes, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
fixed = None
if sys.argv[1] == "fix":
    from bot.allocator import fix_mmap_threshold
    fixed = fix_mmap_threshold()
big = bytearray(4 << 20)
del big
before = libc.mallinfo2().hblks
block = bytearray(300_000)
print(fixed, libc.mallinfo2().hblks - before)
"""


def probe(mode: str, **env: str) -> str:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def test_glibc_moves_large_blocks_onto_the_heap_once_one_was_freed():
    # What the fix is for: without it, the 300 KB block comes from the main heap.
    assert probe("plain") == "None 0"


def test_with_the_threshold_fixed_a_large_block_is_mapped_after_a_larger_one_was_freed():
    assert probe("fix") == "True 1"


@pytest.mark.parametrize(
    "env",
    [
        {"MALLOC_MMAP_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"},
    ],
)
def test_the_operators_threshold_wins(env):
    assert probe("fix", **env) == "False 1"  # not set by the bot; theirs maps the block


def test_bot_run_fixes_the_threshold_before_it_serves(monkeypatch):
    import bot.__main__ as cli
    import bot.allocator
    import bot.app
    import bot.secrets_cli

    calls: list[str] = []
    monkeypatch.setattr(bot.allocator, "fix_mmap_threshold", lambda: calls.append("fix"))
    monkeypatch.setattr(cli, "_check_schema", lambda settings: None)
    monkeypatch.setattr(bot.secrets_cli, "check_stored_tokens", lambda settings: None)

    async def serve(settings, console, role):
        calls.append(f"serve {role}")

    monkeypatch.setattr(bot.app, "serve", serve)
    monkeypatch.chdir(ROOT)
    assert cli.main(["run", "--no-console"]) == 0
    assert cli.main(["dispatch"]) == 0
    assert calls == ["fix", "serve all", "fix", "serve dispatcher"]
