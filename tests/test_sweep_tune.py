"""A grid through Ray Tune writes exactly one row per (trial, replicate, generation)."""

import numpy as np
import pytest
import yaml

import madray
from madray.cli.main import main
from madray.spec import load_sweep
from madray.sweep import run_sweep
from madray.trial import run_trial

SWEEP = {
    "name": "grid2x2", "family": "gaussian", "loop": "fresh_data", "generations": 3, "replicates": 4,
    "n_ini": 20, "n_r": 10, "n_s": 10, "seed": 1, "params": {"gaussian": {"d": 3}},
    "grid": {"loop": ["fresh_data", "accumulate"], "lam": [1.0, 0.5]},
}


@pytest.fixture()
def sweep_file(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    return path


@pytest.mark.slow
def test_grid_through_tune_rows_and_columns(ray_local, sweep_file, tmp_path):
    sweep = load_sweep(sweep_file)
    lines = []
    outcome = run_sweep(sweep, str(tmp_path / "out"), emit=lines.append, verbose=True)
    df = madray.load_results(outcome.root)
    assert len(df) == 4 * 4 * 3 and not outcome.failed
    # verbose: every generation is reported to Tune and gets its line; each trial's last says "finished"
    assert sum(" gen " in line and "trials" not in line for line in lines) == 4 * 3
    assert sum(" finished " in line for line in lines) == 4
    assert sorted(df.groupby(["loop", "lam"]).size().items()) == [
        (("accumulate", 0.5), 12), (("accumulate", 1.0), 12), (("fresh_data", 0.5), 12), (("fresh_data", 1.0), 12)]
    assert set(df["sweep"]) == {"grid2x2"} and set(df["family"]) == {"gaussian"}
    assert set(df["param_d"]) == {3} and set(df["seed"]) == {1}
    assert df.groupby("loop")["n_r"].unique().map(list).to_dict() == {"fresh_data": [10], "accumulate": [0]}  # unread: default
    assert not df.duplicated(["trial_id", "replicate", "generation"]).any()
    # the rows equal run_trial's, computed without Ray
    for cfg in sweep.trials:
        ref = run_trial(cfg)
        got = df[df["trial_id"] == cfg.trial_id].sort_values(["generation", "replicate"])
        want = sorted(ref, key=lambda r: (r["generation"], r["replicate"]))
        np.testing.assert_array_equal(got["trace_cov"].to_numpy(), [r["trace_cov"] for r in want])
    assert (tmp_path / "out" / "grid2x2" / "sweep.yaml").is_file()
    resolved = yaml.safe_load((tmp_path / "out" / "grid2x2" / "sweep.yaml").read_text())
    assert len(resolved["trials"]) == 4


@pytest.mark.slow
def test_cli_run_and_show(ray_local, sweep_file, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["run", str(sweep_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "48 rows from 4 trials written to" in printed and str(out / "grid2x2") in printed
    assert "4 grid points, 4 distinct trials" in printed
    # no terminal: one line per finished trial (generations are ~ms: one throttled report each), no per-generation lines
    assert sum(" finished " in line for line in printed.splitlines()) == 4 and " gen 2/3" not in printed
    # a run of a different sweep refuses to mix results; --overwrite replaces them
    assert main(["run", str(sweep_file), "--out", str(out), "--set", "generations=2"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["show", str(out / "grid2x2")]) == 0
    shown = capsys.readouterr().out
    assert "48 rows, 4 trials" in shown and "trace_cov" in shown


def test_load_results_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        madray.load_results(str(tmp_path / "nothing"))
