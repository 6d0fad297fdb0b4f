"""A diverging trial fails alone, with its generation and error recorded; the others finish."""

import math

import numpy as np
import pytest
import torch
import yaml

import madray
from madray.cli.main import main
from madray.results.store import load_failures
from madray.sweep.divergence import divergence, is_finite

# λ = 1e300 makes the next generation's noise scale √λ·σ = 1e160: linreg's squared errors overflow to inf at
# generation 2 (metrics non-finite, no exception); the Gaussian's λΣ overflows at generation 3 and its metrics
# refuse the inf mean (an exception). λ = 1 trials of both families run all generations.
SWEEP = {
    "name": "diverge", "family": "gaussian", "loop": "replace", "generations": 4, "replicates": 3,
    "n_ini": 20, "n_s": 20, "params": {"gaussian": {"d": 2}, "linreg": {"d": 3, "sigma": 1e10, "n_test": 50}},
    "grid": {"family": ["gaussian", "linreg"], "lam": [1.0, 1e300]},
}


def test_divergence_names_state_entries_and_metrics():
    rows = [{"replicate": r, "a": 1.0, "b": v} for r, v in enumerate([0.5, math.inf, math.nan])]
    assert divergence({"m": np.zeros(3)}, rows, ["a", "b"]) == "non-finite b in replicate(s) 1, 2 of 3"
    assert divergence({"m": np.zeros(3)}, rows, ["a"]) is None
    assert divergence({"m": np.array([0.0, np.nan]), "w": np.ones(2)}, rows, ["a"]) == \
        "non-finite values in the fitted state (m)"
    assert not is_finite({"net": torch.tensor([1.0, float("inf")])}) and is_finite({"n": torch.arange(3)})
    assert not is_finite([{"x": np.array([np.nan + 1j])}]) and is_finite(np.array([1, 2]))


@pytest.fixture()
def diverging_run(ray_local, tmp_path, capsys):
    path = tmp_path / "diverge.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out)])
    return code, path, out, out / "diverge", capsys.readouterr().out


@pytest.mark.slow
def test_failed_trials_are_recorded_and_the_rest_complete(diverging_run, capsys):
    code, path, out, root, printed = diverging_run
    assert code == 1 and "2 trial(s) failed" in printed
    df = madray.load_results(str(root))
    gens = df.groupby(["family", "lam"])["generation"].max().to_dict()
    assert gens == {("gaussian", 1.0): 4, ("linreg", 1.0): 4, ("gaussian", 1e300): 2, ("linreg", 1e300): 2}
    assert len(df) == 3 * (4 + 4 + 2 + 2)
    # the diverged generation's rows are kept: they show the overflow
    bad = df[(df["family"] == "linreg") & (df["lam"] == 1e300) & (df["generation"] == 2)]
    assert np.isinf(bad["test_error"]).all()
    failures = load_failures(str(root)).set_index("kind")
    assert sorted(failures.index) == ["diverged", "exception"]
    assert failures.loc["diverged", "generation"] == 2 and "non-finite test_error" in failures.loc["diverged", "error"]
    assert failures.loc["exception", "generation"] == 3 and "ValueError" in failures.loc["exception", "error"]
    assert main(["show", str(root)]) == 0
    shown = capsys.readouterr().out
    assert "2 failed trial(s)" in shown and "diverged" in shown and "non-finite test_error" in shown

    # re-running resumes: nothing is left to do, failed trials are final and their records unchanged
    stamps = {p: p.stat().st_mtime_ns for p in root.glob("failures/*.json")}
    assert main(["run", str(path), "--out", str(out)]) == 1
    assert "resuming" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in root.glob("failures/*.json")} == stamps
    assert len(madray.load_results(str(root))) == len(df)
