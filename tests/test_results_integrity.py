"""Issue 11, results integrity: a file that is not this sweep's stops load_results, show, plot and report."""

import os
import shutil
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from madray.cli.main import main
from madray.errors import DataError
from madray.results.folder import SCHEMA_FILE, SweepFolder
from madray.results.schema import file_schema, sweep_schema
from madray.results.store import load_results
from madray.spec import dump_sweep, parse_sweep
from madray.trial import run_trial

SWEEP = {"name": "intact", "family": "gaussian", "loop": "fully_synthetic", "generations": 3, "replicates": 2,
         "n_ini": 20, "n_s": 20, "grid": {"lam": [1.0, 0.7]}}


@pytest.fixture()
def results(tmp_path):
    """A sweep folder written as the runner writes one, without Ray: (root, sweep, reference rows)."""
    sweep = parse_sweep(SWEEP)
    root = str(tmp_path / "intact")
    schema = sweep_schema(sweep.name, sweep.param_types(), sweep.metric_names)
    folder = SweepFolder(root)
    folder.prepare(dump_sweep(sweep), schema)
    rows = []
    for cfg in sweep.trials:
        trial_rows = run_trial(cfg)
        rows += trial_rows
        for g in range(1, cfg.generations + 1):
            folder.write_rows(cfg.trial_id, g, [r for r in trial_rows if r["generation"] == g], file_schema(schema))
    return root, sweep, pd.DataFrame(rows)


def test_intact_results_load_exactly(results):
    root, sweep, rows = results
    df = load_results(root)
    assert len(df) == 2 * 2 * 3 and df["generation"].dtype == np.int64
    ref = rows.sort_values(["trial_id", "replicate", "generation"], ignore_index=True)
    np.testing.assert_array_equal(df["trace_cov"].to_numpy(), ref["trace_cov"].to_numpy())


def _first(root, sweep):
    return SweepFolder(root).generation_file(sweep.trials[0].trial_id, 1)


def _foreign(path):
    pq.write_table(pa.table({"x": [1.0, 2.0], "generation": [1.5, 2.5]}), path)


def _truncated(path, source):
    data = open(source, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


def _retyped(path, source):
    table = pq.read_table(source)
    i = table.schema.get_field_index("generation")
    pq.write_table(table.set_column(i, "generation", table["generation"].cast(pa.float64())), path)


def _copy(path, source):
    shutil.copy(source, path)


CASES = {  # name -> (where, how to damage it, what the message says)
    "foreign schema": (lambda r, s: _first(r, s).replace("gen-000001", "gen-000009"),
                       lambda p, src: _foreign(p), "does not have the sweep's schema: columns differ"),
    "truncated": (lambda r, s: _first(r, s), _truncated, "cannot be read as Parquet (truncated"),
    "int turned float": (lambda r, s: _first(r, s), _retyped, "generation is double, not int64"),
    "wrong generation": (lambda r, s: _first(r, s).replace("gen-000001", "gen-000007"), _copy,
                         "its rows have generation 1..1, but it sits where generation 7 belongs"),
    "unknown trial": (lambda r, s: f"{r}/results/trial_id=t999-deadbeef/gen-000001.parquet", _copy,
                      "trial 't999-deadbeef' is not a trial of this sweep"),
    "wrong place": (lambda r, s: f"{r}/results/stray.parquet", _copy, "is not where madray puts results"),
    "not parquet": (lambda r, s: f"{_first(r, s).rsplit('/', 1)[0]}/README.txt",
                    lambda p, src: open(p, "w").write("notes"), "is not where madray puts results"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_file_that_does_not_belong_is_named_with_the_fix(results, tmp_path, case):
    root, sweep, _ = results
    where, damage, fragment = CASES[case]
    path = where(root, sweep)
    source = str(tmp_path / "good.parquet")
    shutil.copy(_first(root, sweep), source)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    damage(path, source)
    with pytest.raises(DataError) as e:
        load_results(root)
    message = str(e.value)
    assert path in message and fragment in message and "--overwrite" in message, message


def test_without_a_stored_schema_the_first_file_must_be_madrays(results):
    root, sweep, _ = results
    os.remove(f"{root}/{SCHEMA_FILE}")  # results of a madray that did not store the schema
    assert len(load_results(root)) == 12
    _foreign(_first(root, sweep))
    with pytest.raises(DataError, match="is not a madray results file .it lacks"):
        load_results(root)


@pytest.mark.parametrize("command", [["show"], ["plot", "--out", "{tmp}/figs"], ["report", "--out", "{tmp}/r.md"]])
def test_show_plot_report_print_the_message_and_exit_non_zero(results, tmp_path, capsys, command):
    root, sweep, _ = results
    _foreign(_first(root, sweep).replace("gen-000001", "gen-000009"))
    argv = [command[0], root, *[a.format(tmp=tmp_path) for a in command[1:]]]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "madray: error:" in captured.err and "gen-000009.parquet" in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out


def test_an_unfinished_trial_is_named_by_load_results_and_show(results, capsys):
    from pathlib import Path

    from madray.errors import IncompleteWarning

    root, sweep, _ = results
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_results(root)  # complete: no warning
    stopped = sweep.trials[1].trial_id
    Path(SweepFolder(root).generation_file(stopped, 3)).unlink()  # its run was interrupted after generation 2
    with pytest.warns(IncompleteWarning, match=rf"1 trial\(s\) have not finished \({stopped}\)"):
        assert len(load_results(root)) == 2 * 2 * 3 - 2
    assert main(["show", root]) == 0
    assert f"1 trial(s) have not finished ({stopped})" in capsys.readouterr().out
