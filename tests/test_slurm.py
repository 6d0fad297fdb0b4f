"""`madray slurm`: the batch script it writes, and a real one-machine Slurm (slurmctld + slurmd + munged,
configured here in a temporary folder) that runs a sweep requeued mid-way by the time limit."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml
from test_s3 import free_port

import madray
from madray.cli.main import main
from madray.cluster.slurm import SlurmJob, default_cpus, parse_time, render
from madray.config import Resources, TrialConfig
from madray.errors import ConfigError
from madray.spec import load_sweep
from madray.trial import run_trial

BIN = Path(sys.executable).parent
BASH = shutil.which("bash")  # tests below hide sbatch by emptying PATH
SWEEP = {"name": "slurmed", "family": "gaussian", "loop": "fully_synthetic", "generations": 4, "replicates": 2,
         "n_ini": 50, "n_s": 50, "params": {"gaussian": {"d": 2}}, "grid": {"lam": [1.0, 0.9]}}


def sweep_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, **changes}))
    return path


# --------------------------------------------------------------------------- the script, without Slurm
@pytest.mark.parametrize("text, seconds", [
    ("1", 60), ("90", 5400), ("5:30", 330), ("2:00:00", 7200), ("24:00:00", 86400), ("1-0", 86400),
    ("2-12", 216000), ("1-2:30", 95400), ("1-2:30:15", 95415),
])
def test_time_formats_are_slurms(text, seconds):  # sbatch(1): M, M:S, H:M:S, D-H, D-H:M, D-H:M:S
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "1h", "1:2:3:4", "-5", "1-", "0:00:00"])
def test_bad_time_is_refused(text):
    with pytest.raises(ConfigError, match="--time"):
        parse_time(text)


def job(**changes) -> SlurmJob:
    return SlurmJob(**{"sweep": "/s/sweep.yaml", "name": "x", "out": "/shared/out", "cpus_per_node": 4,
                       "generations": 8, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"requeue_before_s": 60, "time": "1"}, "--requeue-before = 60 s"),
    ({"requeue_before_s": 5}, "--requeue-before = 5 s"),
    ({"nodes": 0}, "--nodes = 0"),
    ({"cpus_per_node": 0}, "--cpus-per-node = 0"),
    ({"out": "relative/out"}, "an absolute path"),
    ({"sbatch": ("--mem=1G\n#SBATCH --x",)}, "one sbatch option"),
    ({"sbatch": ("mem=1G",)}, "one sbatch option"),
])
def test_bad_job_is_refused(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        job(**changes)


def test_cpus_default_to_what_the_gpu_trials_of_a_node_need():
    half = TrialConfig(family="gaussian", loop="fully_synthetic", resources=Resources(cpu=2, gpu=0.5))
    assert default_cpus((half,), gpus_per_node=4) == 16  # 8 trials of half a GPU, 2 CPUs each
    with pytest.raises(ConfigError, match="--cpus-per-node is required"):
        default_cpus((TrialConfig(family="gaussian", loop="fully_synthetic"),), gpus_per_node=0)


def settings_of(script: str) -> dict[str, str]:
    """Run the script's settings block in bash and read the variables back."""
    block = script.split("\nset -uo pipefail")[0]
    names = ["PY", "SWEEP", "OUT", "ROOT", "GENERATIONS", "NODES", "CPUS", "GPUS", "GRACE"]
    shown = subprocess.run([BASH, "-c", block + "\n" + "".join(f'printf "%s\\0" "${n}"; ' for n in names)
                            + 'printf "%s\\0" "${RUN_ARGS[@]}"'], capture_output=True, text=True, check=True).stdout
    values = shown.split("\0")[:-1]
    return {**dict(zip(names, values)), "RUN_ARGS": values[len(names):]}


def test_print_writes_the_script_and_submits_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch: --print must not need it
    spaced = tmp_path / "my sweeps"
    spaced.mkdir()
    path = sweep_file(spaced)
    args = ["slurm", str(path), "--out", "res", "--nodes", "4", "--gpus-per-node", "4", "--cpus-per-node", "16",
            "--time", "24:00:00", "--partition", "gpu", "--account", "lab", "--sbatch=--mem=63G",
            "--requeue-before", "600", "--set", "generations=6", "--print"]
    assert main(args) == 0
    script = capsys.readouterr().out
    sbatch = re.findall(r"^#SBATCH (.*)$", script, flags=re.MULTILINE)
    assert sbatch == ["--job-name=madray-slurmed", "--nodes=4", "--ntasks-per-node=1", "--cpus-per-task=16",
                      "--gres=gpu:4", "--time=24:00:00", "--partition=gpu", "--account=lab", "--requeue",
                      "--signal=B:USR1@600", "--open-mode=append", f"--output={tmp_path}/madray-slurmed-%j.out",
                      "--mem=63G"]
    values = settings_of(script)
    assert values["SWEEP"] == str(path) and values["OUT"] == str(tmp_path / "res")  # absolute, spaces kept
    assert values["ROOT"] == str(tmp_path / "res" / "slurmed") and values["PY"] == sys.executable
    assert (values["NODES"], values["CPUS"], values["GPUS"], values["GRACE"]) == ("4", "16", "4", "200")
    assert values["GENERATIONS"] == "12"  # 2 trials of 6 generations (the --set is applied)
    assert values["RUN_ARGS"] == ["--set", "generations=6"]  # every run resolves the same sweep
    assert subprocess.run([BASH, "-n"], input=script, text=True, check=False).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my sweeps"]  # nothing written


def test_sweep_and_fit_are_checked_before_submitting(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    big = sweep_file(tmp_path, resources={"cpu": 1, "gpu": 2})
    assert main(["slurm", str(big), "--out", str(tmp_path), "--gpus-per-node", "1", "--cpus-per-node", "4"]) == 2
    assert "resources.gpu = 2.0, more than one node has" in capsys.readouterr().err
    assert main(["slurm", str(sweep_file(tmp_path, n_ini=0)), "--cpus-per-node", "2", "--print"]) == 2
    assert "n_ini = 0" in capsys.readouterr().err
    assert main(["slurm", str(sweep_file(tmp_path)), "--cpus-per-node", "2"]) == 2  # no sbatch on the PATH
    assert "sbatch is not on the PATH" in capsys.readouterr().err


def test_multi_node_script_binds_ray_to_the_node_and_single_node_to_loopback():
    one, four = render(job()), render(job(nodes=4))
    assert "srun --nodes=$((NODES - 1))" in one  # the same body: NODES decides at run time
    assert 'if [ "$NODES" -gt 1 ]; then head_ip=$(node_ip); else head_ip=127.0.0.1; fi' in four
    assert "ray stop" not in one  # only the job's own process groups are stopped
    assert "NODES=4" in four and "NODES=1" in one


@pytest.mark.slow
def test_a_run_stopped_before_tunes_first_snapshot_resumes(ray_local, tmp_path):
    """A requeue can stop the driver after Tune wrote tuner.pkl but before its first experiment_state-*.json:
    Tuner.restore then fails ("no experiment state file"); the next run must start Tune afresh and resume
    from madray's checkpoints."""
    from madray.spec import parse_sweep
    from madray.sweep import run_sweep

    sweep = parse_sweep(SWEEP)
    run_sweep(sweep, str(tmp_path), emit=lambda line: None)
    experiment = tmp_path / "slurmed" / "_tune" / "tune"
    states = list(experiment.glob("experiment_state-*.json"))
    assert states and (experiment / "tuner.pkl").exists()
    for state in states:
        state.unlink()
    outcome = run_sweep(sweep, str(tmp_path), emit=lambda line: None)
    assert outcome.resumed and not outcome.failed
    df = madray.load_results(str(tmp_path / "slurmed"))
    assert len(df) == 2 * 2 * 4 and not df.duplicated(["trial_id", "replicate", "generation"]).any()


# --------------------------------------------------------------------------- a real Slurm
def _install_slurm() -> str | None:
    """None when slurmctld, slurmd and munged are there (installing them with apt-get if we can), else why not."""
    needed = ["slurmctld", "slurmd", "munged", "sbatch", "scontrol"]
    if all(shutil.which(b) for b in needed):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "slurm-wlm and munge are not installed and cannot be (apt-get as root)"
    done = subprocess.run(["apt-get", "install", "-y", "slurm-wlm", "munge"], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, check=False)
    if done.returncode != 0 or not all(shutil.which(b) for b in needed):
        return f"apt-get install slurm-wlm munge failed: {done.stderr.strip()[-300:]}"
    return None


SLURM_CONF = """ClusterName=madraytest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits this long before it may start again (default 120 s)
AuthInfo=socket={dir}/munge.socket,cred_expire=5
SlurmUser=root
SlurmdUser=root
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
JobRequeue=1
PlugStackConfig={dir}/plugstack.conf
NodeName=localhost CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _wait(what: str, ok, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def slurm():
    """munged, slurmctld and slurmd of this test only (own key, socket, ports, state); everything stopped after."""
    reason = _install_slurm()
    if reason:
        pytest.skip(reason)
    if os.geteuid() != 0:
        pytest.skip("a one-machine slurmd launches jobs as root here; not root")
    folder = Path(tempfile.mkdtemp(prefix="mslurm-", dir="/tmp"))  # short: Unix socket paths
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    (folder / "plugstack.conf").write_text("")
    (folder / "cgroup.conf").write_text("")  # no cgroup settings: proctrack/linuxproc, task/none
    (folder / "munge.key").write_bytes(os.urandom(1024))
    (folder / "munge.key").chmod(0o600)
    conf = folder / "slurm.conf"
    conf.write_text(SLURM_CONF.format(dir=folder, ctld_port=free_port(), slurmd_port=free_port(), cpus=os.cpu_count(),
                                      memory_mb=int(psutil.virtual_memory().total / 2**20 * 0.8)))
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    log = open(folder / "daemons.log", "w")
    daemons = []
    try:
        daemons.append(subprocess.Popen(
            ["munged", "-F", "-f", f"--socket={folder}/munge.socket", f"--key-file={folder}/munge.key",
             f"--pid-file={folder}/munged.pid", f"--seed-file={folder}/munged.seed", f"--log-file={folder}/munged.log"],
            stdout=log, stderr=log))
        _wait("munged's socket", lambda: (folder / "munge.socket").exists(), 30)
        daemons.append(subprocess.Popen(["slurmctld", "-D", "-i"], env=env, stdout=log, stderr=log))
        daemons.append(subprocess.Popen(["slurmd", "-D", "-N", "localhost"], env=env, stdout=log, stderr=log))
        _wait("an idle Slurm node", lambda: subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True,
                                                           text=True, check=False).stdout.strip() == "idle", 60)
        yield env, folder
    finally:
        subprocess.run(["scancel", "--full", "--partition=debug"], env=env, capture_output=True, check=False)
        time.sleep(2)  # slurmd stops the job's processes
        for proc in reversed(daemons):
            _stop(proc)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def job_fields(env: dict, job_id: str) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True,
                           check=False).stdout
    return dict(re.findall(r"(\w+)=(\S*)", shown))


def generations_lasting(seconds: float, tmp_path: Path) -> int:
    """Generations per trial of SWEEP's two that take about `seconds` one after another in one worker on
    this machine now: the job's per-generation work (trainable.run_config) timed over 300 generations."""
    from madray.results.folder import SweepFolder
    from madray.results.schema import file_schema
    from madray.sweep.experiment import results_schema
    from madray.sweep.trainable import TrialRunner

    sweep = load_sweep(str(sweep_file(tmp_path, generations=300)))
    start = time.perf_counter()
    runner = TrialRunner(SweepFolder(str(tmp_path / "timing")), file_schema(results_schema(sweep)))
    runner.run(sweep.trials[0], lambda trial, summary: None)
    per_generation = (time.perf_counter() - start) / 300
    shutil.rmtree(tmp_path / "timing")
    return int(min(15000, max(1500, seconds / per_generation / 2)))


@pytest.mark.slow
def test_a_sweep_requeued_by_its_time_limit_resumes_exactly(slurm, tmp_path):
    """time 2 min, requeue 50 s before: Slurm signals the job 40-70 s after it starts (it checks time limits
    every 30 s), after Ray's and the driver's start-up even on a loaded machine, mid-sweep; the job stops,
    requeues itself and its next run resumes. The sweep is sized to about 80 s of work on this machine
    (measured first), so that the first run cannot finish it. Once the job
    has been requeued, the test raises its time limit so that the next run finishes the sweep rather than take
    several more minute-long runs (Slurm cannot set a limit under a minute)."""
    env, _ = slurm
    generations = generations_lasting(80, tmp_path)
    path = sweep_file(tmp_path, generations=generations)
    out, log = tmp_path / "out", tmp_path / "job-%j.out"
    submitted = subprocess.run(
        [str(BIN / "madray"), "slurm", str(path), "--out", str(out), "--cpus-per-node", "1", "--time", "2",
         "--requeue-before", "50", "--log", str(log)], env=env, capture_output=True, text=True, timeout=120,
        check=False)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    job_id = re.search(r"submitted batch job (\d+)", submitted.stdout).group(1)
    log = tmp_path / f"job-{job_id}.out"
    try:
        _wait("the first requeue", lambda: int(job_fields(env, job_id).get("Restarts", 0)) >= 1, 150)
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "TimeLimit=10"], env=env, check=True)
        fields = _wait("the job's end", lambda: (f := job_fields(env, job_id))["JobState"] not in
                       ("PENDING", "RUNNING", "REQUEUED", "COMPLETING", "CONFIGURING") and f, 300, every=2)
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{log.read_text() if log.exists() else ''}\n{job_fields(env, job_id)}") from None
    text = log.read_text()
    assert fields["JobState"] == "COMPLETED" and fields["ExitCode"] == "0:0", text[-4000:]
    assert int(fields["Restarts"]) >= 1 and "requeueing job" in text
    written = [int(n) for n in re.findall(r"\((\d+) generation files written in this run\)", text)]
    assert 0 < written[0] and sum(written) < 2 * generations  # the first requeue came mid-sweep
    df = madray.load_results(str(out / "slurmed"))
    assert len(df) == 2 * 2 * generations and not df.duplicated(["trial_id", "replicate", "generation"]).any()
    for cfg in load_sweep(str(path)).trials:  # identical to an uninterrupted run
        ref = sorted(run_trial(cfg), key=lambda r: (r["generation"], r["replicate"]))
        got = df[df["trial_id"] == cfg.trial_id].sort_values(["generation", "replicate"])
        for metric in ("mean_error", "trace_cov", "frechet"):
            np.testing.assert_array_equal(got[metric].to_numpy(), [r[metric] for r in ref])
    assert not list(Path("/tmp").glob(f"madray-ray-{job_id}-*"))  # the job removed its Ray temp folders
