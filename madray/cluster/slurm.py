"""A Slurm batch script that runs one sweep on a Ray cluster inside the job, and requeues itself
before the time limit until the sweep is done.

The cluster follows Ray's documented Slurm pattern (docs.ray.io, "Deploying on Slurm": one task per
node, `ray start --head --block` on the first node, `ray start --address <head> --block` on the
others with `srun`, then the driver on the head). Here the head runs in the batch step itself (it
is the first node) in its own process group, so the job stops exactly the Ray processes it started
and never calls `ray stop`, which stops every Ray of the user on the node.

Requeue: `#SBATCH --signal=B:USR1@<s> --requeue` has Slurm signal the batch shell `s` seconds before
the time limit (up to ~30 s earlier: Slurm checks time limits every 30 s). The trap stops the driver
(SIGINT: Tune saves its experiment state), then the Ray processes, then runs `scontrol requeue`;
the next run of the same job runs the same `madray run` on the same --out, which resumes from the
checkpoints (exactly one row per trial, replicate and generation, docs/cluster.md#resuming). After two
runs in a row in which no generation finished the job is not requeued again (the time limit is too
short for one generation); the count lives in the job's Comment field, which survives requeues.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from madray.config import TrialConfig
from madray.errors import ConfigError
from madray.malloc import SETTINGS

REQUEUE_BEFORE_S = 300  # default lead: Ray start-up, a graceful stop and Slurm's 30 s signal jitter
MIN_LEAD_S = 10
MAX_LEAD_S = 65535  # Slurm's limit on --signal's lead time


def parse_time(text: str) -> int:
    """Slurm's --time formats (sbatch(1)): M, M:S, H:M:S, D-H, D-H:M, D-H:M:S -> seconds."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not m:
        raise ConfigError(f"--time = {text!r} is not allowed: use minutes, M:S, H:M:S, D-H, D-H:M or D-H:M:S")
    days, a, b, c = (int(g) if g is not None else None for g in m.groups())
    if days is not None:  # D-H[:M[:S]]
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif c is not None:  # H:M:S
        seconds = a * 3600 + b * 60 + c
    elif b is not None:  # M:S
        seconds = a * 60 + b
    else:  # M
        seconds = a * 60
    if seconds <= 0:
        raise ConfigError(f"--time = {text!r} is not allowed: the time limit must be > 0")
    return seconds


@dataclass(frozen=True)
class SlurmJob:
    """What `madray slurm` puts in the batch script (paths absolute: the job runs elsewhere)."""

    sweep: str  # the sweep file
    name: str  # the sweep's name: job name, and the results folder <out>/<name>
    out: str  # results: a path every node sees (a shared filesystem) or s3://...
    cpus_per_node: int
    generations: int  # trial-generations of the sweep: with that many result files it is done
    nodes: int = 1
    gpus_per_node: int = 0
    time: str = "24:00:00"
    partition: str | None = None
    account: str | None = None
    sbatch: tuple[str, ...] = ()  # extra #SBATCH options, e.g. "--mem=63G"
    requeue_before_s: int = REQUEUE_BEFORE_S
    log: str = ""  # Slurm's output file (default: madray-<name>-<job id>.out in the submit directory)
    run_args: tuple[str, ...] = ()  # passed on to `madray run` (--set, --max-trials, --force)
    python: str = field(default_factory=lambda: sys.executable)

    def __post_init__(self) -> None:
        limit = parse_time(self.time)
        if self.nodes < 1:
            raise ConfigError(f"--nodes = {self.nodes} is not allowed: must be >= 1")
        if self.cpus_per_node < 1:
            raise ConfigError(f"--cpus-per-node = {self.cpus_per_node} is not allowed: must be >= 1")
        if self.gpus_per_node < 0:
            raise ConfigError(f"--gpus-per-node = {self.gpus_per_node} is not allowed: must be >= 0")
        if not MIN_LEAD_S <= self.requeue_before_s <= min(MAX_LEAD_S, limit - 1):
            raise ConfigError(f"--requeue-before = {self.requeue_before_s} s is not allowed: between {MIN_LEAD_S} s "
                              f"and {min(MAX_LEAD_S, limit - 1)} s (the time limit {self.time!r} is {limit} s)")
        for line in self.sbatch:
            if not line.startswith("-") or "\n" in line:
                raise ConfigError(f"--sbatch = {line!r} is not allowed: one sbatch option, e.g. --mem=63G")
        if "://" not in self.out and not os.path.isabs(self.out):
            raise ConfigError(f"out = {self.out!r} is not allowed: an absolute path (the job may run elsewhere)")

    @property
    def grace_s(self) -> int:
        """Seconds the driver gets to stop after SIGINT: a third of the lead, the rest is for Ray and the requeue."""
        return max(5, self.requeue_before_s // 3)


def default_cpus(trials: tuple[TrialConfig, ...], gpus_per_node: int) -> int:
    """CPUs per node when --cpus-per-node is not given: what the trials that fill the node's GPUs need."""
    gpu_trials = [t for t in trials if t.resources.gpu > 0]
    if not gpus_per_node or not gpu_trials:
        raise ConfigError("--cpus-per-node is required (without GPU trials there is nothing to derive it from)")
    widest = max(gpu_trials, key=lambda t: t.resources.cpu / t.resources.gpu).resources
    return max(1, math.ceil(math.floor(gpus_per_node / widest.gpu + 1e-9) * widest.cpu))


def check_fits(job: SlurmJob, trials: tuple[TrialConfig, ...]) -> None:
    """Every trial must fit on one node, or Ray would queue it forever."""
    for t in trials:
        if t.resources.cpu > job.cpus_per_node or t.resources.gpu > job.gpus_per_node:
            raise ConfigError(f"trial {t.trial_id} asks for resources.cpu = {t.resources.cpu}, resources.gpu = "
                              f"{t.resources.gpu}, more than one node has (--cpus-per-node {job.cpus_per_node}, "
                              f"--gpus-per-node {job.gpus_per_node})")


def header(job: SlurmJob) -> list[str]:
    log = job.log or os.path.join(os.getcwd(), f"madray-{job.name}-%j.out")
    options = [
        f"--job-name=madray-{job.name}", f"--nodes={job.nodes}", "--ntasks-per-node=1",
        f"--cpus-per-task={job.cpus_per_node}", *([f"--gres=gpu:{job.gpus_per_node}"] if job.gpus_per_node else []),
        f"--time={job.time}", *([f"--partition={job.partition}"] if job.partition else []),
        *([f"--account={job.account}"] if job.account else []),
        "--requeue", f"--signal=B:USR1@{job.requeue_before_s}", "--open-mode=append", f"--output={log}",
        *job.sbatch,
    ]
    return [f"#SBATCH {o}" for o in options]


def settings(job: SlurmJob) -> list[str]:
    """The job's values as shell variables, read by the fixed script body below."""
    bindir = os.path.dirname(job.python)
    ray = os.path.join(bindir, "ray")
    root = "" if "://" in job.out else os.path.join(job.out, job.name)
    values = {"PY": job.python, "RAY": ray if os.path.exists(ray) else "ray", "SWEEP": job.sweep, "OUT": job.out,
              "ROOT": root, "GENERATIONS": job.generations, "NODES": job.nodes, "CPUS": job.cpus_per_node, "GPUS": job.gpus_per_node,
              "GRACE": job.grace_s}
    lines = [f"{k}={shlex.quote(str(v))}" for k, v in values.items()]
    unset = " && ".join(f"[ -z \"${{{name}:-}}\" ]" for name in SETTINGS)
    malloc = f"if {unset}; then export {' '.join(f'{k}={v}' for k, v in SETTINGS.items())}; fi  # madray/malloc.py"
    return [*lines, f"RUN_ARGS=({' '.join(shlex.quote(a) for a in job.run_args)})", malloc]


def render(job: SlurmJob) -> str:
    """The whole batch script."""
    return "\n".join(["#!/bin/bash", *header(job), f"# Written by `madray slurm` for {job.sweep}: docs/cluster.md#slurm",
                      *settings(job), BODY])


def submit(script: str) -> str:
    """`sbatch --parsable` with the script on stdin (Slurm keeps its own copy for every requeue); the job id."""
    if shutil.which("sbatch") is None:
        raise ConfigError("sbatch is not on the PATH: run `madray slurm` on a Slurm login node, or use --print")
    done = subprocess.run(["sbatch", "--parsable"], input=script, text=True, capture_output=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"sbatch refused the job: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]


# The fixed part of the script. `set -m`: every background command gets its own process group (and,
# unlike in a plain script, does not ignore SIGINT), so the trap can stop the driver and each Ray
# node by signalling their groups.
BODY = r"""
set -uo pipefail
set -m
log() { echo "madray-slurm: $(date -u +%FT%TZ) $*"; }
read -r -d '' COMMON <<'EOF'
free_ports() { "$PY" -c 'import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
[x.bind(("", 0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"; }
node_ip() {
  local ip
  for ip in $(hostname --ip-address) $(hostname -I 2>/dev/null); do
    case "$ip" in 127.*|*:*) ;; *) echo "$ip"; return ;; esac
  done
  echo 127.0.0.1
}
# Ports of our own for every Ray listener that has a fixed default (jobs may share a node).
node_options() {
  local p; read -r -a p <<< "$(free_ports 6)"
  echo "--num-cpus=$CPUS --num-gpus=$GPUS --temp-dir=$MADRAY_RAY_TMP --node-ip-address=$1" \
       "--dashboard-agent-listen-port=${p[0]} --dashboard-agent-grpc-port=${p[1]}" \
       "--metrics-export-port=${p[2]} --runtime-env-agent-port=${p[3]}" \
       "--node-manager-port=${p[4]} --object-manager-port=${p[5]}"
}
EOF
eval "$COMMON"
export PY RAY CPUS GPUS COMMON RAY_USAGE_STATS_ENABLED=0
export MADRAY_RAY_TMP="/tmp/madray-ray-${SLURM_JOB_ID}-${SLURM_RESTART_COUNT:-0}"

# Token authentication with a fresh token per run, unless the user configured Ray's own.
if [ -z "${RAY_AUTH_MODE:-}${RAY_AUTH_TOKEN:-}${RAY_AUTH_TOKEN_PATH:-}" ] && [ ! -e "$HOME/.ray/auth_token" ]; then
  export RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$("$PY" -c 'import secrets; print(secrets.token_hex(32))')"
fi

stop=""  # requeue (time limit near) or cancel (SIGTERM)
driver="" head="" workers=""
stop_driver() {
  [ -n "$driver" ] || return 0
  kill -INT -- "-$driver" 2>/dev/null
  ( sleep "$GRACE"; kill -KILL -- "-$driver" 2>/dev/null ) &
}
on_usr1() {  # once the driver has exited by itself, the sweep ended before the time limit: no requeue
  if [ -z "$driver" ] || kill -0 "$driver" 2>/dev/null; then
    stop=requeue; log "time limit near: stopping the sweep to requeue the job"; stop_driver
  fi
}
trap on_usr1 USR1
trap 'stop=${stop:-cancel}; log "SIGTERM: stopping the sweep"; stop_driver' TERM
stop_group() {  # SIGINT stops `ray start --block` and its processes in seconds; KILL what is left after 30 s
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -INT -- "-$pid" 2>/dev/null
  for i in $(seq 60); do kill -0 -- "-$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null
}
results() { { [ -n "$ROOT" ] && find "$ROOT/results" -name 'gen-*.parquet' 2>/dev/null || true; } | wc -l; }

log "job ${SLURM_JOB_ID} run $(( ${SLURM_RESTART_COUNT:-0} + 1 )) on ${SLURM_JOB_NODELIST}"
before=$(results)
read -r -a hosts <<< "$(scontrol show hostnames "$SLURM_JOB_NODELIST" | tr '\n' ' ')"
if [ "$NODES" -gt 1 ]; then head_ip=$(node_ip); else head_ip=127.0.0.1; fi
if [ "$head_ip" = 127.0.0.1 ]; then export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0; fi  # keep Ray on loopback
read -r gcs client dashboard <<< "$(free_ports 3)"
mkdir -p "$MADRAY_RAY_TMP"
# shellcheck disable=SC2046
"$RAY" start --head --block --port="$gcs" --ray-client-server-port="$client" --include-dashboard=false \
  --dashboard-port="$dashboard" \
  $(node_options "$head_ip") > "$MADRAY_RAY_TMP/head.log" 2>&1 &
head=$!
address="$head_ip:$gcs"
for i in $(seq 240); do
  "$PY" -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)' "$head_ip" "$gcs" \
    2>/dev/null && break
  kill -0 "$head" 2>/dev/null || break
  sleep 0.5
done
if [ "$NODES" -gt 1 ]; then
  srun --nodes=$((NODES - 1)) --ntasks=$((NODES - 1)) --ntasks-per-node=1 --cpus-per-task="$CPUS" \
    --exclude="${hosts[0]}" bash -c "$COMMON"'
mkdir -p "$MADRAY_RAY_TMP"; set -m
"$RAY" start --address="$1" --block $(node_options "$(node_ip)") & pid=$!
trap "kill -INT -- -$pid" TERM INT; wait $pid; wait $pid; rm -rf "$MADRAY_RAY_TMP"' madray-worker "$address" &
  workers=$!
  "$PY" -c 'import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR")
deadline = time.monotonic() + 300
while sum(n["Alive"] for n in ray.nodes()) < int(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(2)' "$address" "$NODES"
fi

log "Ray: $NODES node(s), head at $address"
status=0
if [ -z "$stop" ]; then
  "$PY" -m madray.cli.main run "$SWEEP" --out "$OUT" --address "$address" "${RUN_ARGS[@]}" &
  driver=$!
  while :; do
    wait "$driver"; status=$?
    kill -0 "$driver" 2>/dev/null || break  # wait returned for a trap, not for the driver's exit
  done
fi
[ -n "$workers" ] && kill -TERM "$workers" 2>/dev/null && wait "$workers"
stop_group "$head"
log "Ray stopped"
[ "$status" -eq 0 ] || [ -n "$stop" ] || tail -n 40 "$MADRAY_RAY_TMP/head.log"
rm -rf "$MADRAY_RAY_TMP"

if [ "$stop" = requeue ] && [ -n "$ROOT" ] && [ "$(results)" -ge "$GENERATIONS" ]; then
  log "every trial-generation is written: the sweep is done, no requeue"
  exit 0
fi
if [ "$stop" = requeue ]; then
  # Two runs in a row without a finished generation: the time limit is too short for one; stop.
  after=$(results) stalls=$(scontrol show job "$SLURM_JOB_ID" | grep -o 'Comment=madray-stalls:[0-9]*' | cut -d: -f2)
  if [ -n "$ROOT" ] && [ "$after" -le "$before" ]; then
    if [ "${stalls:-0}" -ge 1 ]; then
      log "no generation finished in this run nor in the one before: not requeueing (raise --time)"
      exit 1
    fi
    scontrol update JobId="$SLURM_JOB_ID" Comment="madray-stalls:$(( ${stalls:-0} + 1 ))"
  elif [ "${stalls:-0}" -gt 0 ]; then
    scontrol update JobId="$SLURM_JOB_ID" Comment="madray-stalls:0"
  fi
  log "requeueing job ${SLURM_JOB_ID} ($((after - before)) generation files written in this run)"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
log "madray run ended with status $status"
exit "$status"
"""
