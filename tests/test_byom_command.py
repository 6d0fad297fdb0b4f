"""The command family: the user's programs (tiny numpy Gaussian train/sample scripts) in the loop."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

import madray
from madray.config import ConfigError
from madray.data import sources
from madray.models.steps import StepFailed
from madray.seeding import Stream, rng
from madray.spec import parse_sweep
from madray.trial import run_trial
from tests.byom_helpers import environment

PROGRAMS = Path(__file__).parent / "byom_programs"
N_S, N_EVAL, N_REF, K = 30, 40, 200, 5


def command_spec(counter: Path, train_extra=(), sample_extra=(), **over):
    train = [sys.executable, str(PROGRAMS / "gauss_train.py"), "--data", "{train_data}", "--out", "{model_dir}",
             "--init", "{previous_model_dir}", "--lam", "{lam}", "--counter", str(counter), *train_extra]
    sample = [sys.executable, str(PROGRAMS / "gauss_sample.py"), "--model", "{model_dir}", "--n", "{n}", "--lam",
              "{lam}", "--seed", "{seed}", "--out", "{samples}", "--counter", str(counter), *sample_extra]
    params = {"train": train, "sample": sample, "format": "array", "real": "gaussian:2", "features": "identity",
              "n_eval": N_EVAL, "n_ref": N_REF, "k": K, "timeout": 60}
    spec = {"name": "cmd", "family": "command", "loop": "fully_synthetic", "generations": 2, "replicates": 2,
            "n_ini": 25, "n_s": N_S, "seed": 4, "lam": 0.7, "params": {"command": params}}
    for key, value in over.items():
        (params if key in params else spec)[key] = value
    return spec


def trial(counter, **over):
    return parse_sweep(command_spec(counter, **over)).trials[0]


def frechet_scipy(a: np.ndarray, b: np.ndarray) -> float:
    """Squared Fréchet distance of two samples by scipy's sqrtm (the FID formula)."""
    ma, mb, ca, cb = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(np.sum((ma - mb) ** 2) + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real))


def precision_recall_brute(gen: np.ndarray, real: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al.: radius = distance to the k-th nearest other point; <= on squared distances."""
    def radii(x):
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        return np.sort(d, axis=1)[:, k]
    cross = ((gen[:, None] - real[None]) ** 2).sum(-1)  # (gen, real)
    precision = np.mean((cross <= radii(real)[None]).any(1))
    recall = np.mean((cross.T <= radii(gen)[None]).any(1))
    return float(precision), float(recall)


def test_programs_get_the_loops_training_sets_and_the_metrics_match_references(tmp_path):
    cfg = trial(tmp_path / "count.txt")
    rows = run_trial(cfg, workdir=str(tmp_path / "work"))
    work = tmp_path / "work"
    assert sorted((r["generation"], r["replicate"]) for r in rows) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    real = sources.load("gaussian:2", "array").draw(2, 25, rng(4, 1, Stream.REAL_INITIAL))["x"]
    reference = sources.load("gaussian:2", "array").reference(N_REF)["x"]
    for r in range(2):
        rep = lambda t: work / f"gen-{t:06d}" / f"rep-{r:03d}"  # noqa: E731
        np.testing.assert_array_equal(np.load(rep(1) / "train_data.npy"), real[r])  # n_ini real
        loop_samples = list(rep(1).glob(f"sample-n{N_S}-seed*.npy"))
        assert len(loop_samples) == 1  # fully synthetic: generation 2 trains on generation 1's n_s samples
        np.testing.assert_array_equal(np.load(rep(2) / "train_data.npy"), np.load(loop_samples[0]))
        for t in (1, 2):
            (evaluated,) = rep(t).glob(f"sample-n{N_EVAL}-seed*.npy")
            row = next(x for x in rows if (x["generation"], x["replicate"]) == (t, r))
            gen = np.load(evaluated)
            assert row["fid"] == pytest.approx(frechet_scipy(gen, reference), rel=1e-6, abs=1e-9)
            assert (row["precision"], row["recall"]) == pytest.approx(precision_recall_brute(gen, reference, K))
    starts = Counter((tmp_path / "count.txt").read_text().splitlines())
    assert len(starts) == 2 * 2 * 3 - 2 and set(starts.values()) == {1}  # train + 2 samples; none after the last
    assert (work / "gen-000001" / "rep-000" / "train.log").exists()


def test_a_finished_step_is_not_run_again(tmp_path):
    cfg = trial(tmp_path / "count.txt", replicates=1)
    first = run_trial(cfg, workdir=str(tmp_path / "work"))
    lines = (tmp_path / "count.txt").read_text()
    again = run_trial(cfg, workdir=str(tmp_path / "work"))
    assert (tmp_path / "count.txt").read_text() == lines and again == first
    model = tmp_path / "work" / "gen-000002" / "rep-000" / "model" / "gaussian.npz"
    model.write_bytes(model.read_bytes() + b"x")  # an output that changed since: the step runs again
    run_trial(cfg, workdir=str(tmp_path / "work"))
    assert (tmp_path / "count.txt").read_text().count(f"start {model.parent}\n") == 2


@pytest.mark.parametrize("over, message", [
    ({"train_extra": ["--fail-lam", "0.7"]}, "exited with status 3"),
    ({"sample_extra": ["--bad", "short"]}, f"holds {N_EVAL - 1} samples, {N_EVAL} were asked for"),
    ({"train_extra": ["--sleep", "30"], "timeout": 0.5}, "timed out after 0.5 s"),
])
def test_a_failing_step_raises_with_the_log_tail(tmp_path, over, message):
    cfg = trial(tmp_path / "count.txt", replicates=1, **over)
    start = time.monotonic()
    with pytest.raises(StepFailed, match=message) as e:
        run_trial(cfg, workdir=str(tmp_path / "work"))
    assert time.monotonic() - start < 10
    if "train_extra" in over and "--fail-lam" in over["train_extra"]:
        assert "refusing this lambda on purpose" in str(e.value) and "train.log" in str(e.value)


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["sample"].append("{nope}"), "unknown placeholder for sample"),
    (lambda p: p["train"].append("{samples}"), "unknown placeholder for train"),
    (lambda p: p["sample"].__setitem__(p["sample"].index("{samples}"), "--out={samples}"), "must be a whole argument"),
    (lambda p: p["sample"].__setitem__(p["sample"].index("{samples}"), "{model_dir}/../../x"), "must be a whole argument"),
    (lambda p: p["train"].remove("{model_dir}"), "the train program must be given {model_dir}"),
    (lambda p: p.update(format="images"), "the gaussian source is written as format 'array'"),
    (lambda p: p.update(real="/no/such/data.npy"), "neither a built-in source"),
    (lambda p: p.update(features="lenet"), "lenet embeds 28×28 images"),
    (lambda p: p.update(features="no_such_mod:f"), "cannot import it"),
    (lambda p: p.update(train=[]), "the program's argv as a list"),
])
def test_a_bad_command_spec_is_refused_at_parse_time(tmp_path, edit, message):
    spec = command_spec(tmp_path / "count.txt")
    edit(spec["params"]["command"])
    with pytest.raises(ConfigError, match="params.command") as e:
        parse_sweep(spec)
    assert message in str(e.value)
    assert not (tmp_path / "count.txt").exists()


def test_relative_programs_become_absolute_when_parsed(tmp_path, monkeypatch):
    monkeypatch.chdir(PROGRAMS)
    spec = command_spec(tmp_path / "c.txt")
    spec["params"]["command"]["train"][1] = "gauss_train.py"
    assert parse_sweep(spec).trials[0].params.train[1] == str(PROGRAMS / "gauss_train.py")


def _run_in_a_process(cfg, work: Path) -> subprocess.Popen:
    code = ("import sys, json; from madray.spec import trial_from_dict; from madray.trial import run_trial; "
            "run_trial(trial_from_dict(json.loads(sys.argv[1])), workdir=sys.argv[2])")
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(cfg.to_dict()), str(work)],
                            start_new_session=True, env=environment())


def finished_outputs(work: Path) -> set[str]:
    """The outputs of every step with a manifest: train's model folder, a sample step's file."""
    out = set()
    for manifest in work.rglob("*.json"):
        name = manifest.stem
        out.add(str(manifest.parent / ("model" if name == "train" else f"{name}.npy")))
    return out


@pytest.mark.slow
def test_kill_mid_run_then_rerun_runs_no_finished_step_twice(tmp_path):
    counter, work = tmp_path / "count.txt", tmp_path / "work"
    cfg = trial(counter, generations=3, replicates=1, train_extra=["--sleep", "0.2"], sample_extra=["--sleep", "0.2"])
    proc = _run_in_a_process(cfg, work)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not counter.exists() or len(counter.read_text().splitlines()) < 4):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the step in flight got SIGKILL with its parent (PR_SET_PDEATHSIG)
    done_before = finished_outputs(work)
    before = Counter(line.split()[1] for line in counter.read_text().splitlines())
    assert 3 <= len(done_before) < 3 * 3 - 1
    rows = run_trial(cfg, workdir=str(work))
    assert len(rows) == 3
    after = Counter(line.split()[1] for line in counter.read_text().splitlines())
    assert all(after[path] == 1 for path in done_before)  # finished before the kill: never run again
    assert set(after) == finished_outputs(work) and max(after.values()) <= 2
    assert sum(after.values()) - sum(before.values()) == len(after) - len(done_before)


@pytest.mark.slow
def test_command_sweep_through_ray_fails_only_the_failing_trial(ray_local, tmp_path):
    from madray.results.store import load_failures
    from madray.sweep import run_sweep

    spec = command_spec(tmp_path / "count.txt", train_extra=["--fail-lam", "0.5"], replicates=2)
    spec["grid"] = {"lam": [1.0, 0.5]}
    sweep = parse_sweep(spec)
    outcome = run_sweep(sweep, str(tmp_path / "out"), emit=lambda line: None)
    df = madray.load_results(outcome.root)
    good, bad = sweep.trials
    assert set(df.trial_id) == {good.trial_id} and len(df) == 2 * 2
    failures = load_failures(outcome.root)
    (error,) = failures[failures.trial_id == bad.trial_id]["error"]
    assert "exited with status 3" in error
    details = Path(outcome.root, "failures", f"{bad.trial_id}.json").read_text()
    assert "refusing this lambda on purpose" in details
    assert (Path(outcome.root) / "work" / good.trial_id / "gen-000002" / "rep-001" / "train.json").is_file()
    from madray.cli.main import main

    assert main(["report", outcome.root]) == 0  # the report reads a command sweep's results (argv as JSON text)


@pytest.mark.slow
def test_the_command_family_reads_only_what_it_declares(tmp_path, monkeypatch):
    from tests.test_distinct import BASE, assert_undeclared_knobs_change_nothing

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # each run_trial's own temporary trial folder
    cfg = trial(tmp_path / "count.txt", loop="memory", generations=4, replicates=1, n_r=BASE["n_r"])  # K = 3 shows at t = 4
    assert_undeclared_knobs_change_nothing(dataclasses.replace(cfg, **BASE))


def story_features(batch):
    """Features of one replicate's stories (a feature function named by import path): words, sentences."""
    text = batch["text"]
    return np.stack([[len(t.split()), t.count("."), t.count(",")] for t in text]).astype(float)


def test_text_format_with_the_story_source_and_a_feature_function_by_import_path(tmp_path):
    program = [sys.executable, str(PROGRAMS / "text_resample.py")]
    counter = str(tmp_path / "count.txt")
    spec = command_spec(tmp_path / "count.txt", replicates=1, format="text", real="stories",
                        features="tests.test_byom_command:story_features")
    spec["params"]["command"].update(
        train=[*program, "train", "--data", "{train_data}", "--out", "{model_dir}", "--counter", counter],
        sample=[*program, "sample", "--model", "{model_dir}", "--n", "{n}", "--seed", "{seed}", "--out", "{samples}",
                "--counter", counter])
    cfg = parse_sweep(spec).trials[0]
    rows = run_trial(cfg, workdir=str(tmp_path / "work"))
    rep = tmp_path / "work" / "gen-000001" / "rep-000"
    (loop_samples,) = rep.glob(f"sample-n{N_S}-seed*.jsonl")
    assert (tmp_path / "work" / "gen-000002" / "rep-000" / "train_data.jsonl").read_text() == loop_samples.read_text()
    stories = sources.load("stories", "text").draw(1, 25, rng(4, 1, Stream.REAL_INITIAL))["text"][0]
    assert [json.loads(line)["text"] for line in (rep / "train_data.jsonl").read_text().splitlines()] == list(stories)
    (evaluated,) = rep.glob(f"sample-n{N_EVAL}-seed*.jsonl")
    generated = np.array([json.loads(line)["text"] for line in evaluated.read_text().splitlines()])
    reference = sources.load("stories", "text").reference(N_REF)
    want = frechet_scipy(story_features({"text": generated}), story_features(reference))
    assert rows[0]["fid"] == pytest.approx(want, rel=1e-6)
