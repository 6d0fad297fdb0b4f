"""Trackers (W&B offline, MLflow file store, TensorBoard event files), read back with each library's own
reader: one run per trial, one point per generation per metric equal to the Parquet rows, and a killed
trial resumes the same run without duplicated steps."""

import glob
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

import madray
from madray.config import ConfigError
from madray.results.folder import SweepFolder
from madray.results.schema import sweep_schema
from madray.spec import dump_sweep, parse_sweep, read_spec
from madray.tracking import check_local
from madray.tracking.base import flat
from madray.tracking.mlflow_tracker import FAILURE_TAG, absolute_uri
from madray.tracking.session import (
    MEDIAN,
    SETTINGS_FILE,
    metric_values,
    open_trackers,
    prepare_tracking,
)

G, KILLED_AT = 6, 3
BASE = {"name": "trk", "family": "gaussian", "loop": "fully_synthetic", "generations": G, "replicates": 3,
        "n_ini": 40, "n_s": 40, "seed": 1, "params": {"gaussian": {"d": 2}}}
METRICS = ("mean_error", "trace_cov", "frechet")


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """W&B never reaches the network nor the tester's home; MLflow's file store is allowed."""
    home = tmp_path / "wandb-home"
    for var, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": home / "dir",
                       "WANDB_CONFIG_DIR": home / "config", "WANDB_CACHE_DIR": home / "cache",
                       "WANDB_DATA_DIR": home / "data", "MLFLOW_ALLOW_FILE_STORE": "true"}.items():
        monkeypatch.setenv(var, str(value))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def tracked(tmp_path, **extra):
    return {**BASE, "tracking": {"mlflow": {"tracking_uri": (tmp_path / "mlruns").as_uri()},
                                 "wandb": {"mode": "offline"}, "tensorboard": {}}, **extra}


# --------------------------------------------------------------------------- readers, one per library
def wandb_records(path):
    """The protobuf records of a W&B transaction log (.wandb: a LevelDB-style log of 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2 as pb

    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b":W&B"
    pos, block, chunks = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is zero padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            break
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def wandb_runs(root):
    """W&B offline runs under the sweep's tracking folder: [(run record, history rows, exit code)] in order."""
    out = []
    for path in sorted(glob.glob(f"{root}/tracking/wandb/wandb/offline-run-*/run-*.wandb")):
        run, history, exit_code = None, [], None
        for r in wandb_records(path):
            kind = r.WhichOneof("record_type")
            if kind == "run":
                run = r.run
            elif kind == "history":
                history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item})
            elif kind == "exit":
                exit_code = r.exit.exit_code
        out.append((run, history, exit_code))
    return out


def mlflow_client(tmp_path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())


def tb_events(root, trial_id):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(os.path.join(root, "tracking", "tensorboard", trial_id), size_guidance={"images": 0})
    acc.Reload()
    return acc


def record(root, tracker, trial_id):
    return json.loads(open(os.path.join(root, "tracking", tracker, f"{trial_id}.json")).read())


def parquet_means(root, trial_id):
    df = madray.load_results(root)
    return df[df.trial_id == trial_id].groupby("generation")[list(METRICS)]


# --------------------------------------------------------------------------- parsing (fast)
def test_tracking_section_errors_name_the_key_and_the_extra(monkeypatch):
    def bad(tracking):
        with pytest.raises(ConfigError) as e:
            parse_sweep({**BASE, "tracking": tracking}, "s.yaml")
        return str(e.value)

    assert "unknown tracker 'neptune'; known: wandb, mlflow, tensorboard" in bad({"neptune": {}})
    assert "s.yaml: tracking.mlflow: unknown key 'uri'; allowed keys: tracking_uri, experiment" in bad({"mlflow": {"uri": "x"}})
    assert "tracking.wandb.mode" in bad({"wandb": {"mode": "sometimes"}})
    assert "expected a mapping of tracker -> settings" in bad(["mlflow"])
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert "the 'mlflow' package is not installed; install it with: pip install 'madray[mlflow]'" in bad({"mlflow": {}})


def test_tracking_is_not_the_sweeps_identity_and_track_adds_defaults(tmp_path):
    plain, with_trackers = parse_sweep(BASE), parse_sweep(tracked(tmp_path, grid={"lam": [1.0, 0.9]}))
    assert dump_sweep(plain) == dump_sweep(parse_sweep(BASE))
    assert "tracking" not in dump_sweep(with_trackers)  # a run may be resumed with or without trackers
    assert with_trackers.tracking.names == ("mlflow", "wandb", "tensorboard")
    assert with_trackers.tracking.axes == ("lam",) and not plain.tracking
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "tracking": {"mlflow": {"experiment": "mine"}}}))
    spec = read_spec(path, [], ["tensorboard", "mlflow"])
    assert spec["tracking"] == {"tensorboard": {}, "mlflow": {"experiment": "mine"}}  # the file's settings win


def test_a_search_tags_its_knob_and_keeps_tracking_out_of_its_spec():
    from madray.search.spec import load_search

    plan = load_search("sweeps/gaussian_boundary.yaml", [], ["tensorboard"])
    assert plan.sweep.tracking.names == ("tensorboard",) and "tracking" not in plan.sweep.spec
    assert plan.sweep.tracking.axes == (*plan.sweep.spec["grid"], plan.search.knob)


def test_object_store_out_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="must be a local or shared filesystem path"):
        check_local(parse_sweep(tracked(tmp_path)).tracking, "s3://bucket/runs")
    check_local(parse_sweep(BASE).tracking, "s3://bucket/runs")  # nothing tracked: no objection


def test_metric_values_are_replicate_means_and_medians():
    rows = [{"sweep": "s", "lam": 0.5, "replicate": r, "generation": 2, "param_d": 3, "a": a, "b": b, "ok": True}
            for r, (a, b) in enumerate([(1.0, np.nan), (2.0, np.nan), (6.0, np.nan), (np.nan, np.nan)])]
    assert metric_values(rows) == {"a": 3.0, MEDIAN + "a": 2.0}  # NaN replicates skipped; all-NaN b left out
    assert metric_values(rows[:1]) == {"a": 1.0}  # one replicate: no median


def test_uris_are_made_absolute_and_configs_flat(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_uri("file:./mlruns") == (tmp_path / "mlruns").as_uri()
    assert absolute_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path}/mlflow.db"
    assert absolute_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert flat({"params": {"d": 2}, "metrics": [], "x": None}) == {"params.d": "2", "metrics": "[]", "x": "null"}


def test_a_run_without_trackers_removes_the_earlier_settings(tmp_path):
    folder = SweepFolder(str(tmp_path / "trk"))
    prepare_tracking(folder, parse_sweep({**BASE, "tracking": {"tensorboard": {}}}).tracking)
    settings = folder.tracking(SETTINGS_FILE)
    assert os.path.exists(settings)
    prepare_tracking(folder, parse_sweep(BASE).tracking)
    assert not os.path.exists(settings)
    assert open_trackers(folder, parse_sweep(BASE).trials[0], 0).runs == []


# --------------------------------------------------------------------------- a trial, killed and resumed
CHILD = textwrap.dedent("""
    import os, signal, sys
    import yaml
    from madray.spec import parse_sweep
    from madray.results.folder import SweepFolder
    from madray.results.schema import file_schema, sweep_schema
    from madray.sweep.trainable import TrialRunner
    import madray.models.gaussian as gaussian
    from tests_png import png
    gaussian.Gaussian.artifacts = lambda self, state, rng: {"samples.png": png(1)}
    sweep = parse_sweep(yaml.safe_load(sys.argv[1]))
    schema = sweep_schema(sweep.name, sweep.param_types(), sweep.metric_names)
    kill_at = int(sys.argv[3])
    def on_generation(trial, summary):
        if trial.generation == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # as a lost node would: no cleanup, no tracker closed
    TrialRunner(SweepFolder(sys.argv[2]), file_schema(schema)).run(sweep.trials[0], on_generation)
""")
PNG = textwrap.dedent("""
    import io
    from PIL import Image
    def png(value):
        buf = io.BytesIO()
        Image.new("RGB", (8, 6), (40 * value % 256, 0, 0)).save(buf, format="PNG")
        return buf.getvalue()
""")


def run_child(tmp_path, spec, root, kill_at):
    (tmp_path / "tests_png.py").write_text(PNG)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", CHILD, yaml.safe_dump(spec), root, str(kill_at)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_killed_trial_resumes_each_trackers_run_without_duplicated_steps(tmp_path):
    spec = tracked(tmp_path)
    sweep, root = parse_sweep(spec), str(tmp_path / "out" / "trk")
    os.makedirs(root)
    prepare_tracking(SweepFolder(root), sweep.tracking)
    tid = sweep.trials[0].trial_id
    killed = run_child(tmp_path, spec, root, KILLED_AT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    first = {t: record(root, t, tid) for t in ("mlflow", "wandb", "tensorboard")}
    assert all(r["logged"] == KILLED_AT and r["state"] == "running" for r in first.values()), first
    resumed = run_child(tmp_path, spec, root, 0)
    assert resumed.returncode == 0, resumed.stderr
    again = {t: record(root, t, tid) for t in first}
    assert all(again[t]["run_id"] == first[t]["run_id"] and again[t]["logged"] == G for t in first)
    assert all(r["state"] == "finished" for r in again.values())
    means = parquet_means(root, tid).mean()
    steps = list(range(1, G + 1))

    client = mlflow_client(tmp_path)  # MLflow: one run, one point per generation per metric
    runs = client.search_runs([client.get_experiment_by_name("trk").experiment_id])
    assert [(r.info.run_id, r.info.run_name, r.info.status) for r in runs] == [(first["mlflow"]["run_id"], tid, "FINISHED")]
    for m in METRICS:
        history = client.get_metric_history(first["mlflow"]["run_id"], m)
        assert [h.step for h in history] == steps
        np.testing.assert_allclose([h.value for h in history], means[m].to_numpy(), rtol=1e-12)
    images = [a.path for a in client.list_artifacts(first["mlflow"]["run_id"], "images")]
    assert sorted(int(p.split("+step+")[1].split("+")[0]) for p in images if p.endswith(".png")) == steps

    # W&B: the killed process's offline run (its service had buffered it: often just the header) and the
    # resumed one, under one id; the resumed one sends every generation, W&B keeps a step's first point
    (killed_run, killed_history, _), (run, history, exit_code) = wandb_runs(root)
    assert killed_run is None or killed_run.run_id == first["wandb"]["run_id"]
    assert [h["_step"] for h in killed_history] == steps[:len(killed_history)]
    assert run.run_id == first["wandb"]["run_id"] and run.display_name == tid and exit_code == 0
    assert [h["_step"] for h in history] == steps
    np.testing.assert_allclose([h["trace_cov"] for h in history], means["trace_cov"].to_numpy(), rtol=1e-12)
    assert all(h["samples/_type"] == "image-file" and (h["samples/width"], h["samples/height"]) == (8, 6)
               for h in history)

    acc = tb_events(root, tid)  # TensorBoard: the resumed writer purges nothing it should keep
    for m in METRICS:
        assert [e.step for e in acc.Scalars(m)] == steps
        np.testing.assert_allclose([e.value for e in acc.Scalars(m)], means[m].to_numpy(), rtol=1e-6)
    assert [e.step for e in acc.Images("samples")] == steps


@pytest.mark.slow
def test_failed_trial_marks_each_run_failed_with_the_message(tmp_path, monkeypatch):
    from madray.results.schema import file_schema
    from madray.sweep.trainable import TrialRunner
    from madray.trial import Trial

    spec = tracked(tmp_path)
    sweep, root = parse_sweep(spec), str(tmp_path / "out" / "trk")
    os.makedirs(root)
    prepare_tracking(SweepFolder(root), sweep.tracking)
    step = Trial.step

    def failing(self):
        if self.generation == 2:
            raise RuntimeError("the fit exploded")
        return step(self)

    monkeypatch.setattr(Trial, "step", failing)
    schema = sweep_schema(sweep.name, sweep.param_types(), sweep.metric_names)
    failed = TrialRunner(SweepFolder(root), file_schema(schema)).run(sweep.trials[0], lambda trial, summary: None)
    message = "exception at generation 3: RuntimeError: the fit exploded"
    assert failed["failed"] == message
    tid = sweep.trials[0].trial_id
    assert {t: (r["state"], r["failure"], r["logged"]) for t in ("mlflow", "wandb", "tensorboard")
            for r in [record(root, t, tid)]} == {t: ("failed", message, 2) for t in ("mlflow", "wandb", "tensorboard")}
    run = mlflow_client(tmp_path).get_run(record(root, "mlflow", tid)["run_id"])
    assert run.info.status == "FAILED" and run.data.tags[FAILURE_TAG] == message
    ((_, history, exit_code),) = wandb_runs(root)
    assert exit_code == 1 and [h["_step"] for h in history] == [1, 2]
    texts = tb_events(root, tid).Tensors("failure/text_summary")
    assert [t.tensor_proto.string_val[0].decode() for t in texts] == [message]


# --------------------------------------------------------------------------- a real sweep on Ray Tune
@pytest.mark.slow
def test_sweep_logs_every_generation_of_every_trial(ray_local, tmp_path):
    from madray.sweep import run_sweep

    spec = {**BASE, "grid": {"lam": [1.0, 0.8]},
            "tracking": {"mlflow": {"tracking_uri": (tmp_path / "mlruns").as_uri(), "experiment": "collapse"},
                         "tensorboard": {}}}  # W&B: run_config above (Ray's workers do not get this test's env)
    sweep = parse_sweep(spec)
    outcome = run_sweep(sweep, str(tmp_path / "out"), emit=lambda line: None)
    assert not outcome.failed
    client = mlflow_client(tmp_path)
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("collapse").experiment_id])}
    assert sorted(runs) == sorted(t.trial_id for t in sweep.trials)
    for cfg in sweep.trials:
        run, means = runs[cfg.trial_id], parquet_means(outcome.root, cfg.trial_id)
        assert run.info.status == "FINISHED" and float(run.data.tags["lam"]) == cfg.lam
        assert run.data.params["lam"] == str(cfg.lam) and run.data.params["params.d"] == "2"
        for m in METRICS:
            history = client.get_metric_history(run.info.run_id, m)
            assert [h.step for h in history] == list(range(1, G + 1))
            np.testing.assert_allclose([h.value for h in history], means.mean()[m].to_numpy(), rtol=1e-12)
            medians = client.get_metric_history(run.info.run_id, MEDIAN + m)
            np.testing.assert_allclose([h.value for h in medians], means.median()[m].to_numpy(), rtol=1e-12)
        acc = tb_events(outcome.root, cfg.trial_id)
        assert [e.step for e in acc.Scalars("trace_cov")] == list(range(1, G + 1))
        np.testing.assert_allclose([e.value for e in acc.Scalars("trace_cov")], means.mean()["trace_cov"], rtol=1e-6)


def test_cli_track_flag(tmp_path, capsys):
    from madray.cli.main import main

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert main(["run", str(path), "--track", "tensorboard", "--track", "mlflow", "--dry-run"]) == 0
    assert "tracked with tensorboard, mlflow: one run per trial" in capsys.readouterr().out
    assert main(["run", str(path), "--track", "mlflow", "--out", "s3://bucket/runs"]) == 2
    assert "must be a local or shared filesystem path" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", str(path), "--track", "neptune"])
    assert "invalid choice: 'neptune'" in capsys.readouterr().err


def test_online_wandb_without_a_login_is_refused_on_the_driver(tmp_path, monkeypatch):
    from madray.tracking.wandb_tracker import WandbConfig, WandbTracker

    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: no key
    with pytest.raises(ConfigError, match="W&B login failed.*or use mode: offline"):
        WandbTracker.resolve(WandbConfig(), str(tmp_path / "wandb"), "s")
    assert WandbTracker.resolve(WandbConfig(mode="offline"), "w", "s")["project"] == "s"  # no login needed


@pytest.mark.slow
def test_an_untracked_trial_imports_no_tracker(tmp_path):
    code = ("import sys; import madray.sweep.trainable; from madray.spec import parse_sweep;"
            "from madray.results.folder import SweepFolder;"
            "from madray.tracking.session import open_trackers; import yaml;"
            f"open_trackers(SweepFolder({str(tmp_path)!r}), parse_sweep(yaml.safe_load(sys.argv[1])).trials[0], 0);"
            "print(sorted(m for m in ('wandb', 'mlflow', 'tensorboard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, yaml.safe_dump(BASE)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
