"""Return the C heap's free pages to the operating system during long runs.

On glibc, memory freed by `free()` inside a heap arena stays resident until the top of
the arena is free, so a long run's resident size creeps up even though the memory in use
stays flat. In a 20,000-email run (CPython 3.12.1, glibc, 2-core VM) the bytes in use
stayed at 25 MB while the free bytes inside the arenas grew from 5 to 12 MB, all
resident. `malloc_trim(0)` hands those free pages back with `madvise`, which took 1 to
25 ms per call there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable

TRIM_INTERVAL_S = 30.0
"""How often a run returns free heap pages; each call costs milliseconds."""


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        # musl and other C libraries without malloc_trim: nothing to do.
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


def release_free_heap() -> bool:
    """Return the free pages of the C heap to the operating system, where glibc allows it.

    Returns False where the C library has no `malloc_trim`.
    """
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
