"""The Ray session: the only module in madray that touches Ray's non-public names.

`ray_session(address, trials)` starts or joins Ray for a sweep. Joined (an `--address`, RAY_ADDRESS
or a Ray this process already started) it is left as it is; started here it is *embedded*: a new
local instance for this process only, every listener on 127.0.0.1, no dashboard, a token in the
environment instead of `~/.ray/auth_token`, and workers that preload the trials' modules. It stays up
until the process ends, so that several sweeps in one process pay its start-up once.

Three of those need Ray internals, each checked against the Ray versions they were read and tested
on (TESTED_RAY): the loopback address (security) refuses to start on any other Ray, with a message
saying what to pin; the token refresh and the preloaded trial actors (start-up speed only) warn once
and step aside. Why each is needed, with the Ray source it relies on: docs/cluster.md#the-embedded-ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Ray reads these when ray.tune is imported or a Tuner runs: plain output, no per-trial loggers, no usage
# prompt; madray handles SIGINT itself (experiment.py) and prints trial errors in a line (progress.py).
ENVIRONMENT_DEFAULTS = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
                        "RAY_USAGE_STATS_ENABLED": "0", "TUNE_DISABLE_SIGINT_HANDLER": "1",
                        "TUNE_PRINT_ALL_TRIAL_ERRORS": "0"}
for _name, _value in ENVIRONMENT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

import psutil  # noqa: E402
import ray  # noqa: E402

from madray.errors import ConfigError  # noqa: E402
from madray.malloc import set_default  # noqa: E402

TESTED_RAY = ("2.60",)  # minor versions whose internals this module was read against; pyproject caps Ray to them
PIN = "pip install 'ray[tune,default]>=2.60,<2.61'"
LOOPBACK = "127.0.0.1"
AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
TRAINABLE_MODULES = ("madray.sweep.trainable",)
PRESTART_TIMEOUT_S = 15.0

_embedded: set[str] = set()  # GCS addresses of the instances this process started
_warned: set[str] = set()


class UntestedRayError(ConfigError):
    """The installed Ray is not one madray's loopback guarantee was tested on."""


@dataclass(frozen=True)
class Session:
    embedded: bool  # started here (loopback only), not joined
    address: str  # its GCS address


def ray_minor() -> str:
    return ".".join(ray.__version__.split(".")[:2])


def _tested() -> bool:
    return ray_minor() in TESTED_RAY


def _step_aside(what: str, error: Exception | None = None) -> bool:
    """Whether a speed-only use of Ray internals may run; warns once per `what` when it may not."""
    if _tested() and error is None:
        return True
    if what not in _warned:
        _warned.add(what)
        why = f"it failed ({type(error).__name__}: {error})" if error else \
            f"it was tested on Ray {', '.join(TESTED_RAY)}, this is Ray {ray.__version__}"
        warnings.warn(f"madray skips {what}: {why}; sweeps run correctly but start more slowly ({PIN})",
                      RuntimeWarning, stacklevel=3)
    return False


# ---------------------------------------------------------------------------- environment
def prepare_environment() -> None:
    """The process environment every Ray instance of this process inherits: the defaults above, glibc
    malloc settings that keep freed memory in the workers (unless MALLOC_* is set), and a
    token for authentication unless the user configured one (then no ~/.ray/auth_token is written:
    a plain `ray.init()` writes one, and every later `ray start --head` on the machine turns token
    authentication on). Tests call this before they start Ray clusters of their own."""
    for name, value in ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    set_default()  # the workers' big arrays reuse freed pages (madray/malloc.py)
    if any(v in os.environ for v in AUTH_VARIABLES) or os.path.exists(os.path.expanduser("~/.ray/auth_token")):
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    _refresh_auth_config()


def _refresh_auth_config() -> None:
    # Ray read RAY_AUTH_MODE when it was imported; refresh as its authentication_token_setup does.
    if not _step_aside("refreshing Ray's authentication config"):
        return
    try:
        ray._raylet.Config.initialize("")
        ray._raylet.AuthenticationTokenLoader.instance().reset_cache()
    except AttributeError as e:
        _step_aside("refreshing Ray's authentication config", e)


# ---------------------------------------------------------------------------- starting or joining
def worker_modules(family_modules: Iterable[str] = ()) -> list[str]:
    """What a trial's worker imports before its first generation: the trainable and the families' modules."""
    return [*TRAINABLE_MODULES, *sorted(set(family_modules))]


def start_or_join(address: str | None = None, preload: Iterable[str] = (), **init_kwargs) -> Session:
    """Join `address`, RAY_ADDRESS or this process's Ray if there is one, else start an embedded Ray
    (module docstring). `preload`: modules the embedded workers import first; `init_kwargs` go to
    `ray.init` when it starts here (num_cpus, ...)."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        if address and _is_loopback(address):  # a Ray on 127.0.0.1: this driver must stay on loopback too
            with _loopback_node_ip():
                ray.init(address=address, logging_level=logging.WARNING)
        elif address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            start_embedded(worker_modules(preload), **init_kwargs)
    gcs = ray.get_runtime_context().gcs_address
    return Session(embedded=gcs in _embedded, address=gcs)


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost")


@contextlib.contextmanager
def ray_session(address: str | None = None, preload: Iterable[str] = (), **init_kwargs) -> Iterator[Session]:
    """Ray for the block (`start_or_join`); an embedded Ray stays up for the process's next sweep."""
    yield start_or_join(address, preload, **init_kwargs)


def start_embedded(preload: list[str], **init_kwargs) -> None:
    """A new local Ray for this process only ("local": never another Ray on the machine), on 127.0.0.1."""
    prepare_environment()
    config = {"preload_python_modules": preload}
    with _loopback_node_ip():
        # log_to_driver off: what the trials have to say reaches the driver in their reports (progress.py);
        # otherwise the workers' exit tracebacks when the run stops would be printed after madray's last line
        ray.init(address="local", _node_ip_address=LOOPBACK, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, _system_config=config, **{**init_kwargs})
    _embedded.add(ray.get_runtime_context().gcs_address)
    _await_prestarted_workers(int(ray.cluster_resources().get("CPU", 0)))


@contextlib.contextmanager
def _loopback_node_ip() -> Iterator[None]:
    """Keep 127.0.0.1 as the node's address: Ray replaces a loopback node address by the machine's own
    unless `ray_constants.ENABLE_RAY_CLUSTER` is off (tests/test_network.py checks every listener)."""
    try:
        constants = ray._private.ray_constants
        before = constants.ENABLE_RAY_CLUSTER
    except AttributeError:
        constants = None
    if not _tested() or constants is None:
        raise UntestedRayError(
            f"madray's embedded Ray listens on 127.0.0.1 only, which was tested on Ray {', '.join(TESTED_RAY)}; "
            f"this is Ray {ray.__version__}, on which it cannot promise that. Install a tested Ray ({PIN}), "
            f"or run against a Ray cluster you started yourself (--address)")
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before


def _await_prestarted_workers(count: int, timeout_s: float = PRESTART_TIMEOUT_S) -> None:
    """Wait until Ray's prestarted workers registered (they rename themselves ray::IDLE): an actor asked
    for before then gets a fresh worker that has not preloaded anything."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        idle = 0
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error, IndexError):
                idle += child.cmdline()[0] == "ray::IDLE"
        if idle >= count:
            return
        time.sleep(0.05)


@contextlib.contextmanager
def tune_actor_environment(session: Session) -> Iterator[None]:
    """While a Tuner starts its actors: on the embedded instance, give them no runtime environment, so
    that Ray runs them in its prestarted, preloaded workers (Tune's class cache gives every trial actor
    one, and an actor whose environment differs from an idle worker's gets a fresh worker). The
    workers inherit the driver's environment already. Elsewhere (a cluster) Tune's is kept."""
    cache = _class_cache() if session.embedded else None
    if cache is None:
        yield
        return
    saved = cache.DEFAULT_ENV_VARS, cache.ENV_VARS_TO_PROPAGATE
    cache.DEFAULT_ENV_VARS, cache.ENV_VARS_TO_PROPAGATE = {}, set()
    try:
        yield
    finally:
        cache.DEFAULT_ENV_VARS, cache.ENV_VARS_TO_PROPAGATE = saved


def _class_cache():
    what = "running Tune's trial actors in the preloaded workers"
    if not _step_aside(what):
        return None
    try:
        from ray.tune.execution import class_cache

        class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE  # noqa: B018 (both must exist)
    except (ImportError, AttributeError) as e:
        _step_aside(what, e)
        return None
    return class_cache


__all__ = ["Session", "UntestedRayError", "prepare_environment", "ray_session", "start_or_join",
           "tune_actor_environment", "worker_modules"]
