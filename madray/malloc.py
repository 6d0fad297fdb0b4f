"""glibc malloc settings for the processes that run trials: freed memory stays in the process.

glibc serves every allocation above 32 MiB with a fresh mmap and unmaps it on free, so a trial
that draws, joins and fits arrays of hundreds of MB each generation touches all of them anew, and
on a virtual machine a first touch of a page is slow (docs/cluster.md, Performance inside a trial).
With mmap off and trimming off, a generation's arrays reuse the pages the previous one freed; a
process's memory stays at its peak until it exits. Set either variable yourself to override.

glibc's MALLOC_*_ variables, not GLIBC_TUNABLES: Ray cuts a worker's environment values at ':'.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

SETTINGS = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}  # trim only above 1 TiB free
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt(3)


def set_default(environ: dict | os._Environ = os.environ) -> None:
    """Give processes started from `environ` the settings, unless the user chose malloc settings."""
    if not any(name in environ for name in SETTINGS):
        environ.update(SETTINGS)


def without_ours(environ: dict) -> dict:
    """`environ` for a user's own program: madray's settings removed (the user's kept)."""
    ours = all(environ.get(name) == value for name, value in SETTINGS.items())
    return {k: v for k, v in environ.items() if not (ours and k in SETTINGS)}


def apply_here() -> None:
    """The same settings in this already running process (a forked pilot), where glibc allows it."""
    if any(name in os.environ and os.environ[name] != value for name, value in SETTINGS.items()):
        return  # the user's own settings rule
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, -1)  # read as size_t: never trim
    except OSError:  # not glibc (musl, macOS): nothing to tune
        pass
