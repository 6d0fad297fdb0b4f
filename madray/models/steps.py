"""One step of the command family: the user's program run once, in a fresh process, resumably.

A step is an argv list (never a shell) run with the trial's folder as working directory and the
environment of the Ray worker (so `CUDA_VISIBLE_DEVICES` is what Ray assigned the trial); its
stdout and stderr go to `<name>.log` beside its outputs. After the program exits 0 and its
outputs check out, `<name>.json` records the argv, the checksum of its inputs and of each output:
a step is finished when that manifest exists and its outputs still have those checksums, and a
re-run does not run a finished step again. A non-zero exit, a timeout or a missing output raises
`StepFailed` with the log's last lines, which fails that trial alone.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from madray.data.formats import checksum
from madray.errors import DataError
from madray.malloc import without_ours

LOG_TAIL_LINES = 20
PR_SET_PDEATHSIG = 1  # <sys/prctl.h>


class StepFailed(RuntimeError):
    """A step's program failed; the message names the step, why, its log and the log's last lines."""


@dataclass(frozen=True)
class Step:
    name: str  # "train", "sample-n500-seed123": names the manifest and the log
    argv: tuple[str, ...]
    folder: Path  # holds the manifest, the log and (usually) the outputs
    cwd: Path  # the trial's folder
    outputs: tuple[Path, ...]  # what the program must write (a file, or a folder it fills)
    inputs: str = ""  # checksum of what the program reads (its training set)
    empty_dirs: tuple[Path, ...] = ()  # output folders madray creates, empty, before the program runs

    @property
    def manifest(self) -> Path:
        return self.folder / f"{self.name}.json"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"


def finished(step: Step) -> bool:
    """The step ran to success with these argv and inputs, and its outputs are unchanged since."""
    try:
        record = json.loads(step.manifest.read_text())
    except (OSError, ValueError):
        return False
    if record.get("argv") != list(step.argv) or record.get("inputs") != step.inputs:
        return False
    outputs = record.get("outputs", {})
    return all(p.exists() and outputs.get(p.name) == checksum(p) for p in step.outputs)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _fail(step: Step, why: str) -> StepFailed:
    return StepFailed(f"step {step.name} in {step.folder}: {why}; log {step.log}, last lines:\n{tail(step.log)}")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """Linux: the program gets SIGKILL when madray's worker dies (a SIGKILLed run leaves no step behind
    to race the re-run's); elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(step: Step, timeout: float) -> None:
    with open(step.log, "wb") as log:
        # its own process group, so that a timeout also ends what the program started
        proc = subprocess.Popen(list(step.argv), cwd=step.cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=without_ours(dict(os.environ)), start_new_session=True,
                                preexec_fn=_die_with_parent)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise _fail(step, f"timed out after {timeout:g} s") from None
        except BaseException:  # interrupted: do not leave the program running
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    if code != 0:
        raise _fail(step, f"exited with status {code}")


def _missing(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def run_step(step: Step, timeout: float, check: Callable[[], Any] | None = None) -> Any:
    """Run `step` unless it is finished, then return `check()` (which reads and checks the outputs,
    raising DataError if they are malformed). Raises StepFailed."""
    if finished(step):
        return check() if check else None
    step.folder.mkdir(parents=True, exist_ok=True)
    step.manifest.unlink(missing_ok=True)
    for out in step.outputs:  # a failed earlier attempt's partial output (madray made these paths)
        shutil.rmtree(out) if out.is_dir() else out.unlink(missing_ok=True)
    for folder in step.empty_dirs:
        folder.mkdir(parents=True)
    start = time.monotonic()
    try:
        _run(step, timeout)
    except (FileNotFoundError, PermissionError) as e:
        raise _fail(step, f"cannot start {step.argv[0]!r}: {e.strerror}") from None
    missing = [str(p) for p in step.outputs if _missing(p)]
    if missing:
        raise _fail(step, f"exited 0 but wrote nothing at {', '.join(missing)}")
    try:
        result = check() if check else None
    except DataError as e:
        raise _fail(step, f"malformed output: {e}") from None
    record = {"argv": list(step.argv), "inputs": step.inputs, "seconds": round(time.monotonic() - start, 3),
              "outputs": {p.name: checksum(p) for p in step.outputs}}
    tmp = step.manifest.with_name(f".{step.manifest.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, step.manifest)
    return result
