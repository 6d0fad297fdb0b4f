"""notebooks/analysis.ipynb runs top to bottom (nbclient) against a small quickstart sweep made here."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from madray.spec import load_sweep
from madray.sweep import run_sweep

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"
# the quickstart itself, shrunk: 2 families × 2 loops × 2 λ, one n_r and n_s, a few generations
SMALLER = ["generations=3", "replicates=3", "n_ini=60", "grid.n_r=[30]", "grid.n_s=[30]",
           "params.gmm.em_iters=10", "params.gmm.n_eval=100"]


@pytest.fixture(scope="module")
def quickstart_results(ray_local, tmp_path_factory):
    sweep = load_sweep(ROOT / "sweeps" / "quickstart.yaml", SMALLER)
    outcome = run_sweep(sweep, str(tmp_path_factory.mktemp("nb")), emit=lambda line: None)
    assert not outcome.failed and len(sweep.trials) == 8
    return outcome.root


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_top_to_bottom(quickstart_results, monkeypatch, tmp_path):
    monkeypatch.setenv("MADRAY_RESULTS", quickstart_results)  # the kernel inherits the environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "72 rows, 8 trials, families ['gaussian', 'gmm']" in text  # 8 trials × 3 replicates × 3 generations
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 5  # trace_cov, frechet, modes_covered, the phase diagram, the GMM samples
    tables = "".join(o["data"].get("text/html", "") for o in outputs if o.output_type in ("execute_result", "display_data"))
    assert "admissible" in tables and "theory (mean, λ=1)" in tables
    final = nb.cells[-1].outputs[0]["data"]["text/plain"]
    assert "phase-diagram" in final and "gmm-samples" in final
