"""madray.malloc: trial processes keep freed arrays, so a generation's arrays reuse the last one's pages."""

import os
import subprocess
import sys

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


def faults(env: dict) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True)
    first, last = map(int, out.stdout.split())
    return first, last


def test_the_settings_make_later_generations_reuse_pages():
    plain = {k: v for k, v in os.environ.items() if k != malloc.VARIABLE}
    first, last = faults(plain)
    assert last > 0.5 * first  # glibc's default: every generation touches fresh pages again
    first, last = faults({**plain, malloc.VARIABLE: malloc.TUNABLES})
    assert first > 0 and last < 0.05 * first  # the freed pages come back without faults


def test_defaults_leave_the_users_tunables_alone():
    env = {}
    malloc.set_default(env)
    assert env == {malloc.VARIABLE: malloc.TUNABLES}
    mine = {malloc.VARIABLE: "glibc.malloc.arena_max=2"}
    malloc.set_default(mine)
    assert mine == {malloc.VARIABLE: "glibc.malloc.arena_max=2"}
    assert malloc.without_ours({malloc.VARIABLE: malloc.TUNABLES, "A": "1"}) == {"A": "1"}
    assert malloc.without_ours(mine) == mine  # a user's program keeps the user's own settings


def test_the_pilot_child_applies_them_in_process():
    code = FAULTS.replace("counts = []", "from madray.malloc import apply_here; apply_here()\ncounts = []")
    plain = {k: v for k, v in os.environ.items() if k != malloc.VARIABLE}
    out = subprocess.run([sys.executable, "-c", code], env=plain, capture_output=True, text=True, check=True)
    first, last = map(int, out.stdout.split())
    assert last < 0.05 * first
