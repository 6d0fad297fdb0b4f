"""Run a validated sweep on Ray Tune: one Tune trial per distinct trial (or per pack of cheap ones,
see pack.py), replicates batched inside.

The driver never holds result rows: each trial writes its own Parquet files and
checkpoints (trainable.py). Running the same sweep again on the same output
resumes it: `Tuner.restore` re-queues unfinished and crashed trials, and each
continues from its newest checkpoint; finished and failed trials are not re-run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# Ray reads these when ray.tune is imported: plain output, no per-trial loggers.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import psutil  # noqa: E402
import ray  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402  HOOK(slurm)
from ray import tune  # noqa: E402

from madray.config import Resources, TrialConfig  # noqa: E402
from madray.models import FAMILIES, family_class  # noqa: E402
from madray.results.schema import sweep_schema  # noqa: E402
from madray.results.store import (  # noqa: E402
    filesystem,
    join,
    load_failures,
    prepare_output,
    write_failure,
)
from madray.spec import Sweep, dump_sweep  # noqa: E402
from madray.sweep.checkpoint import CheckpointStore  # noqa: E402
from madray.sweep.cost import prior_seconds  # noqa: E402
from madray.sweep.lock import sweep_lock  # noqa: E402
from madray.sweep.pack import make_units, members, unit_config  # noqa: E402
from madray.sweep.progress import Progress  # noqa: E402
from madray.sweep.trainable import REPORT_EVERY_S, tune_trial  # noqa: E402

# madray reads results from its own files, not Tune's per-trial logs (which are switched off above).
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)

TUNE_DIR = "_tune"  # Tune's experiment state, beside the results
EXPERIMENT = "tune"
MAX_CRASHES = 2  # Tune retries a trial whose worker or node died this often (from its checkpoint)


@dataclass
class SweepOutcome:
    root: str  # where the results are
    trials: int
    failed: dict[str, str] = field(default_factory=dict)  # trial_id -> error message
    nodes: dict[str, str] = field(default_factory=dict)  # trial_id -> Ray node id it last ran on
    resumed: bool = False


def sweep_root(out: str, name: str) -> str:
    fs, path = filesystem(out)
    return join(out if "://" in out else path, name)


LOOPBACK = "127.0.0.1"
AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def ensure_ray(address: str | None = None, trials: tuple[TrialConfig, ...] = ()) -> None:
    """Connect to `address` / RAY_ADDRESS, or start an embedded local Ray (loopback only, dashboard off)
    whose workers preload what `trials` import."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        start_embedded_ray(worker_modules(trials))


@contextlib.contextmanager
def _loopback_node_ip():
    """Make `ray.init` keep 127.0.0.1 as the node's address.

    Ray 2.60's `ray.init(_node_ip_address="127.0.0.1")` replaces a loopback address by the machine's
    own (`services.resolve_ip_for_localhost`) unless `ray_constants.ENABLE_RAY_CLUSTER` is off (its
    macOS/Windows default). With the node address 127.0.0.1, the GCS, raylet, core workers, dashboard
    agent and runtime-env agent all bind to loopback (each checks `is_localhost(node ip)`);
    tests/test_network.py lists the sockets and fails if a later Ray stops honouring this.
    """
    constants = ray._private.ray_constants
    before = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before


def _token_in_environment() -> None:
    """Token authentication without writing `~/.ray/auth_token`.

    A plain `ray.init()` writes a fresh token to ~/.ray/auth_token, and every later `ray start --head`
    on the machine then turns token authentication on. Unless the user configured authentication
    (any of AUTH_VARIABLES, or an existing token file), the embedded instance gets a fresh token in
    this process's environment instead: its own processes inherit it and nothing is written.
    """
    if any(v in os.environ for v in AUTH_VARIABLES) or os.path.exists(os.path.expanduser("~/.ray/auth_token")):
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    # Ray read RAY_AUTH_MODE when it was imported; refresh its config and token cache as its own
    # authentication_token_setup._enable_token_auth does.
    ray._raylet.Config.initialize("")
    ray._raylet.AuthenticationTokenLoader.instance().reset_cache()


TRAINABLE_MODULES = ("madray.sweep.trainable",)


def worker_modules(trials: tuple[TrialConfig, ...] = ()) -> list[str]:
    """What a trial's worker imports before its first generation: the trainable (Ray Tune included) and
    the trials' family modules (deep ones bring torch)."""
    families = {FAMILIES[c.family].partition(":")[0] for c in trials}
    return [*TRAINABLE_MODULES, *sorted(families)]


def start_embedded_ray(preload: list[str] | None = None, **kwargs) -> None:
    """A new local Ray instance for this process only ("local": never attach to another Ray on the
    machine), listening on 127.0.0.1 only, without a dashboard.

    Its worker processes, which Ray starts with the instance, import `preload` (default
    `worker_modules()`) before they take work: ~2 s of imports per worker (Ray Tune, SciPy, POT) that
    the first trial would otherwise wait for, done while Ray and the Tuner start.
    """
    _token_in_environment()
    config = {"preload_python_modules": list(preload if preload is not None else worker_modules())}
    with _loopback_node_ip():
        ray.init(address="local", _node_ip_address=LOOPBACK, include_dashboard=False,
                 logging_level=logging.WARNING, _system_config=config, **kwargs)
    _EMBEDDED.add(ray.get_runtime_context().gcs_address)
    _await_prestarted_workers(int(ray.cluster_resources().get("CPU", 0)))


def _await_prestarted_workers(count: int, timeout_s: float = 15.0) -> None:
    """Wait until Ray's `count` prestarted workers have registered (they rename themselves ray::IDLE;
    their preload runs after that). A trial actor asked for before then gets a fresh, unloaded worker."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        idle = 0
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error, IndexError):
                idle += child.cmdline()[0] == "ray::IDLE"
        if idle >= count:
            return
        time.sleep(0.05)


_EMBEDDED: set[str] = set()  # GCS addresses of the Ray instances start_embedded_ray started


@contextlib.contextmanager
def preloaded_actors():
    """Let Tune's trial actors start in the embedded Ray's prestarted, preloaded workers.

    Ray reuses an idle prestarted worker for an actor only if their runtime environments match, and
    Tune gives its actors one (`tune/execution/class_cache.py`: PL_DISABLE_FORK for PyTorch Lightning,
    plus the driver's AWS variables). So every trial actor started a fresh worker that imported Ray
    Tune and the families again, ~3-4 s per worker slot before the first generation, while the
    preloaded workers sat idle (measured with psutil). On the embedded instance the workers already
    inherit the driver's environment, so the actors get an empty environment there; elsewhere (a
    cluster) Tune's is kept. tests/test_runner_workers.py fails if the actors stop landing in them.
    """
    from ray.tune.execution import class_cache

    if ray.get_runtime_context().gcs_address not in _EMBEDDED:
        yield
        return
    defaults, propagate = class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE
    class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE = {}, set()
    try:
        yield
    finally:
        class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE = defaults, propagate


def trial_labels(sweep: Sweep) -> dict[str, str]:
    return {
        row.pop("trial_id"): " ".join(f"{k}={v}" for k, v in row.items())
        for row in sweep.grid_table()
    }


def _resources(config: dict) -> tune.PlacementGroupFactory:
    # One bundle: the trainable actor runs the Trial itself (see trainable.py).
    res = config["trial"]["resources"]
    bundle = {"CPU": res["cpu"], **({"GPU": res["gpu"]} if res["gpu"] else {})}
    return tune.PlacementGroupFactory([bundle])


def put_shared_inputs(trials: tuple[TrialConfig, ...]) -> dict[str, ray.ObjectRef]:
    """`Family.shared_inputs` computed once per distinct `shared_key` and put in the object store.

    Trials receive references, so a large input travels to each node once, not per trial or generation.
    """
    by_key: dict[Any, ray.ObjectRef] = {}
    refs = {}
    for cfg in trials:
        cls = family_class(cfg.family)
        key = cls.shared_key(cfg)
        if key not in by_key:
            by_key[key] = ray.put(cls.shared_inputs(cfg))
        refs[cfg.trial_id] = by_key[key]
    return refs


def _warn_if_local_storage(out: str) -> None:
    if "://" not in out and len([n for n in ray.nodes() if n["Alive"]]) > 1:
        warnings.warn(f"--out {out!r} is a local path on a multi-node cluster: every node must see it "
                      f"(a shared filesystem), or use s3://bucket/path", stacklevel=3)


def tune_dir(root: str) -> tuple[Any, str]:
    """The filesystem and path of Tune's experiment folders beside the results."""
    fs, path = filesystem(join(root, TUNE_DIR))
    return fs, path


def tune_config(reuse_actors: bool = True, **kwargs: Any) -> tune.TuneConfig:  # HOOK(slurm): reuse_actors
    """What every madray Tuner shares: reused actors, Tune trials named after madray's trial ids."""
    return tune.TuneConfig(
        reuse_actors=reuse_actors,
        trial_name_creator=lambda t: t.config["trial"]["trial_id"],
        trial_dirname_creator=lambda t: t.config["trial"]["trial_id"],
        **kwargs,
    )


def run_config(root: str, name: str, callbacks: list[tune.Callback]) -> tune.RunConfig:
    fs, path = tune_dir(root)
    return tune.RunConfig(name=name, storage_path=path, storage_filesystem=fs, verbose=0, callbacks=callbacks,
                          failure_config=tune.FailureConfig(max_failures=MAX_CRASHES))


def results_schema(sweep: Sweep) -> pa.Schema:
    return sweep_schema(sweep.name, sweep.param_types(), sweep.metric_names)


def make_trainable(sweep: Sweep, root: str, shared: Mapping[str, ray.ObjectRef] | None,
                   report_every: float = REPORT_EVERY_S):
    """`tune_trial` bound to the sweep's output and schema, with per-trial resources."""
    bound = tune.with_parameters(tune_trial, root=root, schema=results_schema(sweep), shared=shared,
                                 report_every=report_every)
    return tune.with_resources(bound, _resources)


def worker_slots(resources: Resources) -> int:
    """How many trials of this shape the connected Ray cluster runs at once (now: an autoscaler may add more)."""
    total = ray.cluster_resources()
    slots = int(total.get("CPU", 0) // resources.cpu)
    return min(slots, int(total.get("GPU", 0) // resources.gpu)) if resources.gpu else slots


def tune_units(sweep: Sweep, pack: bool = True) -> list[dict]:
    """The Tune trials' `config["trial"]`: cheap trials in packs (pack.py), longest first."""
    if not pack:
        return [t.to_dict() for t in sweep.trials]
    units = make_units(sweep.trials, worker_slots, prior_seconds)
    return [unit_config(u, i) for i, u in enumerate(units)]


def _has_state(fs, experiment: str) -> bool:  # HOOK(slurm)
    # A driver stopped before Tune's first snapshot leaves tuner.pkl without experiment_state-*.json: restore fails.
    return any(i.base_name.startswith("experiment_state-") for i in fs.get_file_info(pafs.FileSelector(experiment)))


def _tuner(sweep: Sweep, root: str, trainable, progress: Progress, resume: bool, pack: bool) -> tune.Tuner:
    fs, path = tune_dir(root)
    experiment = join(path, EXPERIMENT)
    if resume and tune.Tuner.can_restore(experiment, storage_filesystem=fs) and _has_state(fs, experiment):  # HOOK(slurm)
        return tune.Tuner.restore(experiment, trainable, resume_errored=True, storage_filesystem=fs)
    return tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(tune_units(sweep, pack))},
        tune_config=tune_config(not any(t.resources.fresh_process for t in sweep.trials)),  # HOOK(slurm)
        run_config=run_config(root, EXPERIMENT, [progress]),
    )


def record_crashes(root: str, results: tune.ResultGrid) -> None:
    """Trials Tune gave up on (worker or node lost more than MAX_CRASHES times) get a failure record too."""
    checkpoints = CheckpointStore(root)
    failed = set(load_failures(root)["trial_id"])
    for result in results:
        if result.error is not None:
            message = str(result.error).strip().splitlines()[-1]
            for member in members(result.config["trial"]):  # a pack: the configs it had not finished
                tid = member["trial_id"]
                done = max(checkpoints.generations(tid), default=0)
                if "pack" not in result.config["trial"] or (tid not in failed and done < member["generations"]):
                    write_failure(root, tid, done + 1, "crashed", message, str(result.error))


def _progress(sweep: Sweep, root: str, resuming: bool, emit: Callable[[str], None],
              live: bool, verbose: bool) -> Progress:
    progress = Progress(trial_labels(sweep), sweep.metric_names, {t.trial_id: t.generations for t in sweep.trials},
                        emit, live=live, verbose=verbose)
    if resuming:
        checkpoints = CheckpointStore(root)
        done = {t.trial_id: max(checkpoints.generations(t.trial_id), default=0) for t in sweep.trials}
        failures = load_failures(root)
        progress.resumed(done, set(failures[failures["kind"] != "crashed"]["trial_id"]))  # crashed ones re-run
    return progress


def run_sweep(
    sweep: Sweep,
    out: str,
    *,
    address: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    emit: Callable[[str], None] = print,
    live: bool = False,
    verbose: bool = False,
    pack: bool = True,
) -> SweepOutcome:
    """Run every trial of `sweep`; results go to `<out>/<sweep name>/`.

    If that folder holds an interrupted run of the same sweep, it is resumed (`resume=True`
    requires one); a different sweep there is refused unless `overwrite`. A resumed run's
    progress lines are printed (Tune restores its callbacks without `emit`). Progress: one
    live status line if `live` (a terminal), else a line per finished trial and a status line
    every ~10 s; `verbose` adds a line per generation (each generation is then reported to Tune).
    `pack`: cheap trials run in packs (pack.py; a resumed run keeps its first run's Tune trials).
    """
    root = sweep_root(out, sweep.name)
    with sweep_lock(root):
        return _run_locked(sweep, out, root, address, overwrite, resume, emit, live, verbose, pack)


def _run_locked(sweep: Sweep, out: str, root: str, address: str | None, overwrite: bool, resume: bool,
                emit: Callable[[str], None], live: bool, verbose: bool, pack: bool) -> SweepOutcome:
    resuming = prepare_output(root, dump_sweep(sweep), overwrite=overwrite, resume=resume, schema=results_schema(sweep))
    ensure_ray(address, sweep.trials)
    _warn_if_local_storage(out)
    if resuming:
        emit(f"resuming the run in {root}")
    progress = _progress(sweep, root, resuming, emit, live, verbose)
    trainable = make_trainable(sweep, root, put_shared_inputs(sweep.trials), 0.0 if verbose else REPORT_EVERY_S)
    with preloaded_actors():
        results = _tuner(sweep, root, trainable, progress, resuming, pack).fit()
    record_crashes(root, results)
    failures = load_failures(root)
    return SweepOutcome(
        root=root,
        trials=len(sweep.trials),
        failed={r.trial_id: f"{r.kind} at generation {r.generation}: {r.error}" for r in failures.itertuples()},
        nodes={m["trial_id"]: r.metrics.get("node_id") for r in results if r.metrics for m in members(r.config["trial"])},
        resumed=resuming,
    )
