"""One run per sweep folder: an exclusive `fcntl.flock` on `<out>/<name>/.madray-lock`.

Two runs on one folder would both compute every trial and race on each other's checkpoints.
The lock is taken before the folder is touched (before --overwrite deletes anything) and held
until the run ends; the kernel drops it when the process dies, so a killed run never leaves a
stale lock. The file records the holder's host and pid for the refusal message. flock works on
local filesystems and on NFS (Linux emulates it with byte-range locks); object stores (s3://)
have no locks: there the rule, stated in docs/reliability.md, is one run per prefix.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
from typing import Iterator

from madray.errors import BusyError
from madray.results.store import LOCK_FILE, filesystem


def _holder() -> str:
    since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return f"host {socket.gethostname()}, pid {os.getpid()}, since {since}"


@contextlib.contextmanager
def sweep_lock(root_uri: str) -> Iterator[None]:
    """Hold the sweep folder's lock for the duration of the block; BusyError at once if another run has it."""
    if "://" in root_uri:
        yield  # no locks on object stores (module docstring)
        return
    _, root = filesystem(root_uri)
    created = not os.path.exists(root)
    os.makedirs(root, exist_ok=True)
    lock = os.path.join(root, LOCK_FILE)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "holder not yet recorded"
            raise BusyError(f"{root_uri} is in use by another madray run ({holder}); wait for it to end, "
                            f"or run this sweep with another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder().encode(), 0)
        yield
        os.ftruncate(fd, 0)
    finally:
        if created and os.listdir(root) == [LOCK_FILE]:  # the run was refused before writing: leave no folder
            os.unlink(lock)
            os.rmdir(root)
        os.close(fd)  # closing the descriptor releases the lock
