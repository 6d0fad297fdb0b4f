"""Small shared helpers for the tests."""

import dataclasses
import ipaddress

import numpy as np
import psutil

from madray.spec import parse_sweep


def trial_config(**overrides):
    """A single validated TrialConfig from sweep-style keys."""
    spec = {"name": "t", "family": "gaussian", "loop": "fully_synthetic", **overrides}
    return parse_sweep(spec).trials[0]


def column(rows, metric, generations, replicates):
    """Rows -> array (generations, replicates) of one metric."""
    out = np.full((generations, replicates), np.nan)
    for r in rows:
        out[r["generation"] - 1, r["replicate"]] = r[metric]
    return out


def replace(cfg, **kw):
    return dataclasses.replace(cfg, **kw)


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)  # gRPC's dual-stack sockets report ::ffff:127.0.0.1
    return (mapped or address).is_loopback


def listening(proc: psutil.Process) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket of `proc` and its descendants."""
    found = []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            found += [(p.name(), c.laddr.ip, c.laddr.port) for c in p.net_connections(kind="inet")
                      if c.status == psutil.CONN_LISTEN]
        except psutil.Error:  # a worker that ended meanwhile
            pass
    return found
class TrialActors:
    """While active, watches this process's Ray trial actors (process title ray::ImplicitFunc): every
    pid seen, and the most alive at once. A `python -c` script imports it after Ray started (Ray hands the
    driver's sys.path at ray.init to its workers, and tests/ there keeps the prestarted ones from being used)."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.pids, self.most = every, set(), 0

    def _watch(self) -> None:
        import psutil

        while not self._stop.is_set():
            now = set()
            for p in psutil.Process().children(recursive=True):
                try:
                    if p.cmdline()[0].startswith("ray::ImplicitFunc"):
                        now.add(p.pid)
                except (psutil.Error, IndexError):
                    pass
            self.pids |= now
            self.most = max(self.most, len(now))
            self._stop.wait(self.every)

    def __enter__(self) -> "TrialActors":
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

