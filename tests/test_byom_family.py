"""Families from outside madray: the example KDE package by entry point and by import path, the
contract checked at parse time, and a real Ray sweep of it with two workers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

import madray
from madray.errors import ConfigError
from madray.models import _class_at
from madray.spec import parse_sweep
from madray.trial import run_trial
from tests.byom_helpers import REPO, environment, install_example
from tests.helpers import column

D, H, N0, N = 2, 0.5, 40, 40


@pytest.fixture(scope="module")
def kde_installed(tmp_path_factory):
    target = install_example(tmp_path_factory.mktemp("kde-site"))
    sys.path.insert(0, str(target))
    yield target
    sys.path.remove(str(target))
    for name in [m for m in sys.modules if m.startswith("madray_kde")]:
        del sys.modules[name]
    _class_at.cache_clear()


def kde_spec(family="kde", **over):
    return {"name": "kde", "family": family, "loop": "fully_synthetic", "generations": 2, "replicates": 300,
            "n_ini": N0, "n_s": N, "seed": 3, "params": {family: {"d": D, "bandwidth": H, "n_eval": 20}}, **over}


def residual_z(rows, lam, replicates):
    """z-score of generation 2's model trace against its closed form given generation 1's:
    n samples of a KDE on points of biased covariance S have E[biased cov] = (n−1)/n (S + λh²I)."""
    trace = column(rows, "trace_cov", 2, replicates)
    s1, s2 = trace[0] - D * H**2, trace[1] - D * H**2
    res = s2 - (N - 1) / N * (s1 + lam * D * H**2)
    return res.mean() / (res.std(ddof=1) / np.sqrt(replicates)), s1


@pytest.mark.parametrize("lam", [1.0, 0.5])
def test_entry_point_family_samples_with_the_kernel_variance_scaled_by_lambda(kde_installed, lam):
    cfg = parse_sweep(kde_spec(lam=lam)).trials[0]
    rows = run_trial(cfg)
    z, s1 = residual_z(rows, lam, cfg.replicates)
    assert abs(z) < 4
    se = s1.std(ddof=1) / np.sqrt(cfg.replicates)
    assert abs(s1.mean() - (N0 - 1) / N0 * D) < 4 * se  # generation 1: biased covariance of real N(0, I)


def test_import_path_and_entry_point_name_are_the_same_family(kde_installed):
    by_name = run_trial(parse_sweep(kde_spec(replicates=3)).trials[0])
    by_path = run_trial(parse_sweep(kde_spec("madray_kde:KDE", replicates=3)).trials[0])
    assert [r["trace_cov"] for r in by_name] == [r["trace_cov"] for r in by_path]
    assert {r["family"] for r in by_path} == {"madray_kde:KDE"}


def test_family_params_of_an_import_path_can_be_gridded(kde_installed):
    spec = kde_spec("madray_kde:KDE", replicates=2, grid={"madray_kde:KDE.bandwidth": [0.5, 1.0]})
    assert [t.params.bandwidth for t in parse_sweep(spec).trials] == [0.5, 1.0]


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    """A module `user_families` on sys.path, written by each test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda text: (tmp_path / "user_families.py").write_text(textwrap.dedent(text))
    sys.modules.pop("user_families", None)
    _class_at.cache_clear()


GOOD = """
    from dataclasses import dataclass
    import madray

    @dataclass(frozen=True)
    class P:
        d: int = 1

    class Good(madray.Family):
        name = "good"
        Params = P
        metric_names = ("m",)
        def sample_real(self, n, rng): ...
        def fit(self, data, previous, rng): ...
        def sample(self, state, n, lam, rng): ...
        def evaluate(self, state, rng): ...
"""


@pytest.mark.parametrize("family, text, message", [
    ("no_such_module_xyz:Fam", GOOD, "cannot import module 'no_such_module_xyz'"),
    ("user_families:Missing", GOOD, "module 'user_families' has no attribute 'Missing'"),
    ("user_families:P", GOOD, "is not a subclass of madray.Family"),
    ("user_families:Bad", GOOD + "\n    class Bad(Good):\n        metric_names = ()\n",
     "`metric_names` must be declared"),
    ("user_families:Bad", GOOD + "\n    @dataclass\n    class Q:\n        d: int = 1\n\n    class Bad(Good):\n        Params = Q\n",
     "`Params` must be a frozen dataclass"),
    ("user_families:Bad", GOOD.replace("def evaluate(self, state, rng): ...", "pass").replace("Good", "Bad"),
     "methods not implemented: evaluate"),
    ("nosuchfamily", GOOD, "is not a known model family"),
])
def test_a_family_that_breaks_the_contract_is_refused_at_parse_time(user_module, family, text, message):
    user_module(text)
    with pytest.raises(ConfigError, match="not a madray model family|cannot import|has no attribute|not a known") as e:
        parse_sweep({"name": "x", "family": family, "loop": "fully_synthetic"})
    assert message in str(e.value) and repr(family) in str(e.value)


def test_a_complete_user_family_is_accepted(user_module):
    user_module(GOOD)
    assert parse_sweep({"name": "x", "family": "user_families:Good", "loop": "fully_synthetic"}).trials[0].params.d == 1


def test_the_example_of_docs_families_runs_and_shrinks_the_covariance(tmp_path, monkeypatch):
    """docs/families.md's ~40-line family, as written there, by import path with a gridded parameter."""
    doc = (REPO / "docs" / "families.md").read_text()
    code = "# mypkg/shrink.py" + doc.split("# mypkg/shrink.py")[1].split("```")[0]
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "shrink.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = yaml.safe_load(doc.split("name: shrunk")[0].rsplit("```yaml", 1)[1] + "name: shrunk" +
                          doc.split("name: shrunk")[1].split("```")[0])
    assert spec["family"] == "mypkg.shrink:Shrunk" and spec["grid"]["lam"] == [1.0, 0.9]
    spec.update(generations=1, replicates=2000, n_ini=20)
    del spec["grid"]["lam"]  # generation 1 is fitted to real data: λ shows only from generation 2 on
    sweep = parse_sweep(spec)
    assert [t.params.alpha for t in sweep.trials] == [0.0, 0.1]
    for cfg in sweep.trials:
        trace = column(run_trial(cfg), "trace_cov", 1, cfg.replicates)[0]
        a = cfg.params.alpha  # E tr((1 - a) S + a I) = d for unbiased S of N(0, I_2)
        assert abs(trace.mean() - 2) < 4 * trace.std(ddof=1) / np.sqrt(cfg.replicates)
        assert trace.std() == pytest.approx((1 - a) * column(run_trial(sweep.trials[0]), "trace_cov", 1, cfg.replicates)[0].std())
    sys.modules.pop("mypkg.shrink", None)
    sys.modules.pop("mypkg", None)
    _class_at.cache_clear()


@pytest.mark.slow
def test_entry_point_family_in_a_real_ray_sweep_with_two_workers(kde_installed, tmp_path):
    """`madray run` in a fresh process whose Ray workers find the package only through PYTHONPATH."""
    spec = kde_spec(replicates=200, resources={"cpu": 1}, grid={"lam": [1.0, 0.5]})
    path = tmp_path / "kde.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "madray.cli.main", "run", str(path), "--out", str(out)],
                         env=environment(kde_installed), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    df = madray.load_results(str(out / "kde"))
    assert len(df) == 2 * 200 * 2 and not df.duplicated(["trial_id", "replicate", "generation"]).any()
    for cfg in parse_sweep(spec).trials:  # the workers' numbers are the driver's own, and the closed form's
        got = df[df.trial_id == cfg.trial_id].sort_values(["generation", "replicate"])
        want = sorted(run_trial(cfg), key=lambda r: (r["generation"], r["replicate"]))
        np.testing.assert_array_equal(got["trace_cov"].to_numpy(), [r["trace_cov"] for r in want])
        assert abs(residual_z(want, cfg.lam, cfg.replicates)[0]) < 4
