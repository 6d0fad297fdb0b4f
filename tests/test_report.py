"""`madray plot` and `madray report` on a fresh small sweep run through Ray Tune write the files they print."""

import re
import shutil
from pathlib import Path

import pytest

import madray
from madray.cli.main import main
from madray.plots import figures
from madray.results.folder import SweepFolder
from madray.spec import parse_sweep
from madray.sweep import run_sweep

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"

SWEEP = {
    "name": "small", "family": "gaussian", "loop": "fresh_data", "generations": 3, "replicates": 4, "seed": 4,
    "n_ini": 50, "n_r": 30, "n_s": 30,
    "params": {"gaussian": {"d": 2}, "linreg": {"d": 3, "n_test": 50}},
    "grid": {"family": ["gaussian", "linreg"], "loop": ["fresh_data", "fully_synthetic"]},  # gmm: test_plots.py
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep_root(ray_local, tmp_path_factory):
    outcome = run_sweep(parse_sweep(SWEEP), str(tmp_path_factory.mktemp("report")), emit=lambda line: None)
    assert not outcome.failed
    return outcome.root


def printed_paths(text):
    return [Path(line) for line in text.splitlines() if line.strip()]


def test_plot_writes_the_files_it_prints(sweep_root, tmp_path, capsys):
    assert main(["plot", sweep_root, "--out", str(tmp_path / "figs"), "--pdf"]) == 0
    paths = printed_paths(capsys.readouterr().out)
    stems = set(figures(madray.load_results(sweep_root), sweep_root))
    assert {"phase-diagram", "linreg-replace-vs-accumulate", "frechet-vs-generation"} <= stems
    assert sorted(p.name for p in paths) == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "pdf"))
    for p in paths:
        assert p.parent == tmp_path / "figs" and p.stat().st_size > 1000
        assert p.read_bytes()[:8] == PNG_MAGIC if p.suffix == ".png" else p.read_bytes()[:5] == b"%PDF-"


def test_report_embeds_figures_summary_and_failures(sweep_root, tmp_path, capsys):
    root = tmp_path / "small"
    shutil.copytree(sweep_root, root)
    df = madray.load_results(str(root))
    ids = sorted(df.trial_id.unique())
    Path(SweepFolder(str(root)).generation_file(ids[0], 3)).unlink()  # a trial that stopped early
    SweepFolder(str(root)).write_failure(ids[1], 2, "diverged", "NaN in the fit")  # a recorded failure
    assert main(["report", str(root)]) == 0
    paths = printed_paths(capsys.readouterr().out)
    report = root / "report" / "report.md"
    assert paths[-1] == report and all(p.is_file() for p in paths)
    text = report.read_text()
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert sorted((report.parent / link).resolve() for link in links) == sorted(p.resolve() for p in paths[:-1])
    failed = text.split("## Failed trials")[1].split("##")[0]
    assert f"| {ids[0]} | 2 | incomplete | 2 of 3 generations in the results |" in failed
    assert f"| {ids[1]} | 2 | diverged | NaN in the fit |" in failed
    assert all(f"| {tid} |" in text for tid in ids)  # every trial in the summary tables
    assert "## Effective sample size" in text and "| admissible |" in text


def test_bad_input_is_reported(sweep_root, tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", sweep_root, "--steady", "7", "--out", str(tmp_path / "r.md")]) == 2
    assert "steady = 7 generations is not allowed" in capsys.readouterr().err
