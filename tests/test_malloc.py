"""madray.malloc: trial processes keep freed arrays, so a generation's arrays reuse the last one's pages."""

import os
import subprocess
import sys

import ray

from madray import malloc

FAULTS = """
import resource, numpy as np
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
counts = []
for _ in range(3):  # a generation: two 200 MB arrays drawn, joined, freed
    before = faults()
    a = np.ones((100, 250_000)); b = np.ones((100, 250_000)); c = np.concatenate([a, b], axis=1)
    del a, b, c
    counts.append(faults() - before)
print(counts[0], counts[2])
"""


def plain_environment() -> dict:
    return {k: v for k, v in os.environ.items() if k not in malloc.SETTINGS}


def faults(env: dict, code: str = FAULTS) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    first, last = map(int, out.stdout.split())
    return first, last


def test_the_settings_make_later_generations_reuse_pages():
    first, last = faults(plain_environment())
    assert last > 0.5 * first  # glibc's default: every generation touches fresh pages again
    first, last = faults({**plain_environment(), **malloc.SETTINGS})
    assert first > 0 and last < 0.05 * first  # the freed pages come back without faults


def test_ray_workers_start_with_them(ray_local):
    """What glibc reads is the environment the worker was started with (Ray once cut values at ':')."""
    @ray.remote
    def started_with() -> dict:
        with open("/proc/self/environ", "rb") as f:
            pairs = [item.decode().partition("=") for item in f.read().split(b"\0") if item]
        return {k: v for k, _, v in pairs if k in malloc.SETTINGS}

    assert ray.get(started_with.remote()) == malloc.SETTINGS


def test_defaults_leave_the_users_settings_alone():
    env = {}
    malloc.set_default(env)
    assert env == malloc.SETTINGS
    mine = {"MALLOC_TRIM_THRESHOLD_": "0"}
    malloc.set_default(mine)
    assert mine == {"MALLOC_TRIM_THRESHOLD_": "0"}
    assert malloc.without_ours({**malloc.SETTINGS, "A": "1"}) == {"A": "1"}
    assert malloc.without_ours(mine) == mine  # a user's program keeps the user's own settings


def test_the_pilot_child_applies_them_in_process():
    code = FAULTS.replace("counts = []", "from madray.malloc import apply_here; apply_here()\ncounts = []")
    first, last = faults(plain_environment(), code)
    assert last < 0.05 * first
