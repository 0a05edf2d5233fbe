"""glibc's malloc thresholds fixed in the serving process, so its C heap stops creeping.

glibc serves a large block (128 KiB and up, at first) with its own mmap and gives it back to the
system when it is freed. But each time such a block is freed, glibc raises that threshold to the
block's size (up to 32 MiB), so from then on blocks of that size come from the main heap. The
event loop's reads are such blocks (asyncio reads a socket into a 256 KiB buffer, then shrinks
it to what came): on the heap, with the small long-lived blocks of a busy process between them,
they leave free space the heap can neither hand back nor reuse for the next one, and it grows.

Measured under `benchmarks/bench_load.py` on PostgreSQL (1,000 users, two 60 s phases), with
glibc's own figures sampled every 15 s in the bot: the main heap went from 35 to 50 MB while
what was in use on it stayed at 31 MB, and the bot's RSS from 131 to 153 MB, over the target of
150. With the mmap threshold fixed at 128 KiB the heap stayed at 31-32 MB with under 1 MB free
and the peak RSS was 134-136 MB; fixed at 512 KiB (the reads back on the heap), 153 MB again.

Fixing the mmap threshold also stops glibc raising its trim threshold (the free space at the top
of the heap it keeps rather than hand back), which then stays at 128 KiB: the heap's top is
handed back and faulted in again all the time, and a turn on PostgreSQL cost 5-8% more CPU
(2,000 turns in process, alternated three times). With the trim threshold at 4 MiB it cost
nothing measurable, for at most 4 MiB kept.

`tune_malloc` is called once by `python -m bot run` (every role) before it serves. It does
nothing off glibc, or when the operator set either threshold (`MALLOC_MMAP_THRESHOLD_`,
`MALLOC_TRIM_THRESHOLD_`, or either in `GLIBC_TUNABLES`): theirs win.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger("bot")

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value; fixing it stops the raising
TRIM_THRESHOLD = 4 * 1024 * 1024


def operator_set(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """The thresholds are the operator's: either set in the environment glibc reads at start."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    return any(
        f"MALLOC_{name.upper()}_" in environ or f"glibc.malloc.{name}" in tunables
        for name in ("mmap_threshold", "trim_threshold")
    )


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Fix glibc's mmap and trim thresholds (bytes) for this process; True when they were set."""
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
    ok = bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(M_TRIM_THRESHOLD, trim_threshold)
    )
    if not ok:
        log.warning("malloc: could not fix the thresholds (glibc %s)", gnu().decode())
    return ok
