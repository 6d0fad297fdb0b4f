"""Issue 26.3: each generation's samples are written once; checkpoints refer to them by key and SHA-256."""

import os

import numpy as np
import pytest

from madray.results.folder import SweepFolder
from madray.results.schema import file_schema
from madray.spec import dump_sweep, parse_sweep
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.experiment import results_schema
from madray.sweep.trainable import TrialRunner
from madray.trial import run_trial

SPEC = {"name": "pool", "family": "gaussian", "loop": "accumulate", "generations": 6, "replicates": 3,
        "n_ini": 200, "n_s": 200, "params": {"gaussian": {"d": 10}}}


def runner_for(tmp_path, spec=SPEC):
    sweep = parse_sweep(spec)
    folder = SweepFolder(str(tmp_path / sweep.name))
    folder.prepare(dump_sweep(sweep), results_schema(sweep))
    return sweep, folder, TrialRunner(folder, file_schema(results_schema(sweep)))


def rows_of(folder, trial_id):
    from madray.results.store import load_trial

    return load_trial(folder, trial_id).drop(columns="trial_id")


def test_a_checkpoint_holds_references_not_the_pool(tmp_path):
    sweep, folder, runner = runner_for(tmp_path)
    cfg = sweep.trials[0]
    assert runner.run(cfg, lambda trial, summary: None) is None
    saved = CheckpointStore(folder).load_latest(cfg.trial_id)
    assert saved["synthetic"] == [] and saved["real_initial"] == {}
    assert list(saved["refs"]["synthetic_keys"]) == [f"gen-{g:06d}" for g in range(1, 6)]
    files = sorted(os.listdir(folder.samples(cfg.trial_id)))
    assert files == [f"gen-{g:06d}.npz" for g in range(1, 6)] + ["real-initial.npz"]
    # the rows equal the plain function's: the pool read back from the files is the pool
    want = sorted(run_trial(cfg), key=lambda r: (r["replicate"], r["generation"]))
    np.testing.assert_array_equal(rows_of(folder, cfg.trial_id)["trace_cov"], [r["trace_cov"] for r in want])


def _written_bytes(tmp_path, monkeypatch, generations):
    """Bytes madray writes into the sweep folder over a whole accumulate trial, counted per write
    (results, samples and checkpoints all go through atomic_write)."""
    import madray.results.folder as folder_module
    import madray.sweep.checkpoint as checkpoint_module
    from madray.results import files

    sweep, folder, runner = runner_for(tmp_path / str(generations), {**SPEC, "generations": generations})
    written = []

    def counting(fs, path, content):
        written.append(len(content))
        return files.atomic_write(fs, path, content)

    monkeypatch.setattr(folder_module, "atomic_write", counting)
    monkeypatch.setattr(checkpoint_module, "atomic_write", counting)
    runner.run(sweep.trials[0], lambda trial, summary: None)
    return sum(written)


def test_bytes_written_by_an_accumulate_loop_grow_linearly(tmp_path, monkeypatch):
    # per generation: one samples file (n_s points) + a checkpoint of constant size + the rows.
    # With the pool inside each checkpoint the total grew with generations²: 30/10 would be ~7.7.
    ratio = _written_bytes(tmp_path, monkeypatch, 30) / _written_bytes(tmp_path, monkeypatch, 10)
    assert 2.7 < ratio < 3.3, ratio


def test_an_altered_samples_file_is_refused_and_the_trial_starts_again(tmp_path):
    sweep, folder, runner = runner_for(tmp_path)
    cfg = sweep.trials[0]
    stop = {"after": 3}

    class Stop(Exception):
        pass

    def interrupt(trial, summary):
        if trial.generation == stop["after"]:
            raise Stop

    with pytest.raises(Stop):
        runner.run(cfg, interrupt)
    reference = rows_of(folder, cfg.trial_id)
    path = folder.samples_file(cfg.trial_id, "gen-000002")
    data = bytearray(open(path, "rb").read())
    data[-10] ^= 0xFF
    open(path, "wb").write(bytes(data))
    caught = []
    assert runner.run(cfg, lambda trial, summary: None, caught.append) is None
    assert any("gen-000002.npz is altered" in w and "starts again from generation 1" in w for w in caught), caught
    rows = rows_of(folder, cfg.trial_id)
    assert len(rows) == cfg.replicates * cfg.generations
    np.testing.assert_array_equal(rows[rows.generation <= 3]["trace_cov"], reference["trace_cov"])
