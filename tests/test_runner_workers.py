"""Issue 13: on the embedded Ray, Tune's trial actors start in the workers Ray prestarted and preloaded.

Each check runs in a fresh Python process with its own embedded Ray (the prestarted workers are used up
by the first sweep). The second check turns madray's part off and shows that the actors then start
fresh workers: the first check can fail, and it tells whether Ray still needs the patch.
"""

import json
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys, tempfile, threading, time
import psutil
from madray.spec import parse_sweep
from madray.sweep import run_sweep
from madray.sweep import ray_session

spec = {"name": "w", "family": "gaussian", "loop": "fully_synthetic", "generations": 400, "replicates": 4,
        "n_ini": 50, "n_s": 50, "grid": {"lam": [1.0, 0.9, 0.8, 0.7]}}
ray_session.start_or_join(num_cpus=2)
prestarted = {p.pid for p in psutil.Process().children(recursive=True) if p.cmdline()[:1] == ["ray::IDLE"]}
if sys.argv[1] == "off":
    ray_session._embedded.clear()
actors, stop = set(), threading.Event()

def watch():
    while not stop.is_set():
        for p in psutil.Process().children(recursive=True):
            try:
                if p.cmdline()[0].startswith("ray::ImplicitFunc"):
                    actors.add(p.pid)
            except (psutil.Error, IndexError):
                pass
        time.sleep(0.02)

thread = threading.Thread(target=watch)
thread.start()
with tempfile.TemporaryDirectory() as out:
    run_sweep(parse_sweep(spec), out, emit=lambda line: None, pack=False)
stop.set()
thread.join()
print(json.dumps({"prestarted": sorted(prestarted), "actors": sorted(actors)}))
"""


def actor_workers(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_trial_actors_run_in_the_prestarted_preloaded_workers():
    seen = actor_workers("on")
    assert len(seen["prestarted"]) == 2, seen  # one per CPU, awaited by start_embedded_ray
    assert seen["actors"] and set(seen["actors"]) <= set(seen["prestarted"]), seen


@pytest.mark.slow
def test_without_it_tune_starts_fresh_workers():
    seen = actor_workers("off")
    assert seen["actors"] and not set(seen["actors"]) & set(seen["prestarted"]), seen
