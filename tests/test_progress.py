"""Progress output: throttled Tune reports, a line per finished trial, a status line at most every ~10 s."""

import types

import pytest

from madray.sweep import progress as progress_module
from madray.sweep.progress import Progress
from madray.sweep.trainable import Throttle


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_throttle_reports_once_per_interval_and_always_at_the_end():
    clock = Clock()
    throttle = Throttle(1.0, clock)
    due = []
    for step in range(1, 26):  # 25 generations of 0.1 s
        clock.now = step * 0.1
        due.append(throttle.due(final=step == 25))
    assert [i + 1 for i, d in enumerate(due) if d] == [10, 20, 25]
    assert Throttle(0.0, clock).due(final=False)  # --verbose: every generation


def trial(tid):
    """A Tune trial running a unit of one madray trial (what tune_units makes of a trial that runs alone)."""
    unit = {"trial_id": tid, "pack": [{"trial_id": tid, "generations": 4}]}
    return types.SimpleNamespace(config={"trial": unit}, error_msg="RayActorError: node died")


def report(tid, generation, **metrics):
    """A unit's Tune report: one event per madray trial that progressed."""
    return {"generation": generation, "events": [{"trial_id": tid, "generation": generation,
                                                  "finished": generation == 4, **metrics}]}


@pytest.fixture()
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def run_events(prog, clock, n_trials=30, generations=4, step=1.0, crash_last_after=None):
    """Trials one after another, one report per generation, `step` seconds apart; the last one's unit
    crashes after `crash_last_after` generations if given."""
    for i in range(n_trials):
        prog.on_trial_start(0, [], trial(f"t{i}"))
        last = crash_last_after if i == n_trials - 1 and crash_last_after is not None else generations
        for g in range(1, last + 1):
            clock.now += step
            prog.on_trial_result(0, [], trial(f"t{i}"), report(f"t{i}", g, m=0.5 * g))
        if last == generations:
            prog.on_trial_complete(0, [], trial(f"t{i}"))
        else:
            prog.on_trial_error(0, [], trial(f"t{i}"))


def test_without_a_terminal_one_line_per_finished_trial_and_a_status_every_10_s(clock):
    lines = []
    ids = [f"t{i}" for i in range(30)]
    prog = Progress({t: "lam=1" for t in ids}, ["m"], {t: 4 for t in ids}, emit=lines.append)
    run_events(prog, clock, crash_last_after=2)
    prog.on_experiment_end([])
    finished = [line for line in lines if " finished " in line]
    status = [line for line in lines if "] trials " in line]
    assert len(finished) == 29 and finished[-1].endswith("t28 lam=1 finished  m=2")
    # 118 s of reports: a status line per 10 s (the last one forced at the end), never more often
    assert 10 <= len(status) <= 13
    assert lines[-1].startswith("[  118.0s] trials 29/30 done, 0 running, 1 failed | 118/120 generations, 1.0/s")
    assert sum("CRASHED: RayActorError: node died" in line for line in lines) == 1
    assert not any(" gen 2/4" in line for line in lines)


def test_verbose_adds_a_line_per_report_and_resume_counts_earlier_generations(clock):
    lines = []
    prog = Progress({"a": "x", "b": "y"}, ["m"], {"a": 4, "b": 4}, emit=lines.append, verbose=True)
    prog.resumed({"a": 4, "b": 2}, failed=set())
    prog.on_trial_start(0, [], trial("b"))
    for g in (3, 4):
        clock.now += 2.0
        prog.on_trial_result(0, [], trial("b"), report("b", g, m=1.0))
    assert [line.split("] ", 1)[1] for line in lines if " gen " in line and "trials" not in line] == [
        "b y gen 3/4  m=1", "b y gen 4/4  m=1"]
    prog.on_trial_complete(0, [], trial("b"))
    # the rate counts only this process's 2 generations in 4 s; a finished on resume counts as done
    assert prog._status().startswith("[    4.0s] trials 2/2 done, 0 running, 0 failed | 8/8 generations, 0.5/s | ETA 0m00s")


def test_cli_output_to_a_pipe_is_line_buffered():
    """Without a terminal (CI, `ray job` logs) each progress line must reach the log when printed,
    not when an 8 KiB block buffer fills: the CLI line-buffers stdout. Checked in a child whose
    stdout is a pipe, with a `madray` command that prints one line and then stays alive."""
    import subprocess
    import sys

    code = ("import sys, time; from madray.cli.main import main; main(['reproduce', '--list']); "
            "print('line-buffered' if sys.stdout.line_buffering else 'block-buffered'); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        for line in iter(child.stdout.readline, ""):  # ends at EOF (the child's exit) if nothing came
            if line.strip() in ("line-buffered", "block-buffered"):
                break
        assert line.strip() == "line-buffered"
        assert child.poll() is None  # read while the child sleeps: it was flushed, not held in a buffer
    finally:
        child.kill()
        child.wait()


def test_rate_switches_units_for_slow_generations():
    from madray.sweep.progress import _rate
    rates = (2.0, 0.5, 1 / 30, 1 / 600, 1 / 7200, 0.0)  # per second
    assert [_rate(r) for r in rates] == ["2.0/s", "0.5/s", "2.0/min", "0.1/min", "0.5/h", "0.0/h"]
