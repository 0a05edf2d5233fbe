"""A fixed mmap threshold for glibc's malloc in the serving process, so its C heap stops creeping.

glibc serves a large block (128 KiB and up, at first) with its own mmap and gives it back to the
system when it is freed. But each time such a block is freed, glibc raises the threshold to that
block's size (up to 32 MiB), so from then on blocks of that size come from the main heap instead.
There they sit between the small long-lived blocks of a busy process, and the heap can only
grow: what they leave when freed is kept as free space that glibc can neither hand back nor, for
a larger request, reuse.

Measured under `benchmarks/bench_load.py` on PostgreSQL (1,000 users, two 60 s phases), with
glibc's own figures sampled every 15 s in the bot: the main heap went from 35 to 50 MB while
what was in use on it stayed at 31 MB, the free space growing from 4 to 19 MB, and the bot's RSS
from 131 to 153 MB, over the target of 150. With the threshold fixed at 128 KiB (which also
keeps the trim threshold fixed), the heap stayed at 31-32 MB with under 1 MB free, and the peak
RSS was 136 MB. Python's own objects (pymalloc, the traced heap) are the same in both runs.

`fix_mmap_threshold` is called once by `python -m bot run` (every role) before it serves. It does
nothing off glibc, or when the operator set the threshold already (`MALLOC_MMAP_THRESHOLD_`, or
`glibc.malloc.mmap_threshold` in `GLIBC_TUNABLES`): theirs wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger("bot")

M_MMAP_THRESHOLD = -3  # malloc.h
THRESHOLD = 128 * 1024  # glibc's own starting value; fixing it stops the raising


def operator_set(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """The threshold is the operator's: set in the environment glibc reads at start."""
    return "MALLOC_MMAP_THRESHOLD_" in environ or "glibc.malloc.mmap_threshold" in environ.get(
        "GLIBC_TUNABLES", ""
    )


def fix_mmap_threshold(size: int = THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at `size` bytes for this process; True when it was set."""
    if operator_set():
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        gnu = libc.gnu_get_libc_version  # glibc only: musl has a mallopt that does nothing
    except (OSError, AttributeError):
        return False
    gnu.restype = ctypes.c_char_p
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_MMAP_THRESHOLD, size))
    if not ok:
        log.warning("malloc: could not fix the mmap threshold (glibc %s)", gnu().decode())
    return ok
