"""Every cheap `madray reproduce` check FAILs (or says NOT STEADY / INCONCLUSIVE) on a deliberately wrong
implementation, beside a correct run that PASSes.

The wrong implementations are test-only variants swapped into madray's registries for one run:
a Gaussian family that applies λ to the standard deviation (N(μ̂, λ²Σ̂)), a memory loop that always
draws from the newest model, an accumulate loop that drops earlier generations, a synthetic
augmentation loop that draws fresh real data; and too few generations or replicates. The runs
go through `run_trial` (no Ray), shrunk as in tests/test_reproduce.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_reproduce import SHRINK

from madray.analysis.montecarlo import as_results, simulate
from madray.batch import concat
from madray.errors import DataError
from madray.loops import LOOPS
from madray.loops.accumulate import Accumulate
from madray.loops.fresh_data import FreshData
from madray.loops.memory import Memory
from madray.models import FAMILIES
from madray.models.gaussian import Gaussian, sample_gaussian
from madray.models.gmm import GaussianMixture
from madray.reproduce import EXPERIMENTS, experiment_sweep
from madray.reproduce.base import FAIL, INCONCLUSIVE, NOT_STEADY, PASS, Finding, Verdict
from madray.reproduce.gaussian import collapse_drift_bound
from madray.trial import run_trial


class StdLambda(Gaussian):
    """Wrong: λ scales the standard deviation, N(μ̂, λ²Σ̂)."""

    def sample(self, state, n, lam, rng):
        return {"x": sample_gaussian(state["mean"], lam**2 * state["cov"], n, rng)}


class NewestOnly(Memory):
    """Wrong: every synthetic sample from the newest of the K models."""

    @classmethod
    def mix(cls, cfg, draws, rng):
        return draws[0]


class DropsEarlier(Accumulate):
    """Wrong: the real set plus only the previous generation's samples."""

    @classmethod
    def build(cls, cfg, t, data):
        return concat([data.real_initial, data.synthetic[-1]])


class FreshAugmentation(FreshData):
    """Wrong: 'synthetic augmentation' that draws new real samples every generation."""

    name = "synthetic_augmentation"
    needs_synthetic = True


def run(name: str, extra: list[str] | None = None) -> pd.DataFrame:
    sweep = experiment_sweep(EXPERIMENTS[name], overrides=[*SHRINK[name], *(extra or [])])
    return pd.DataFrame([row for cfg in sweep.trials for row in run_trial(cfg)])


def status(name: str, df: pd.DataFrame) -> str:
    return EXPERIMENTS[name].check(df).status


@pytest.fixture
def std_lambda(monkeypatch):
    monkeypatch.setitem(FAMILIES, "gaussian", "test_reproduce_claims:StdLambda")


# --------------------------------------------------------------------------- verdict logic
def test_verdict_takes_the_worst_outcome_and_needs_a_finding():
    ok = Finding("a", 1.0, 0.1, "ref", True)
    bad = Finding("b", 1.0, 0.1, "ref", False)
    unsteady = Finding("c", 9.0, 1.0, "ref", False, outcome=NOT_STEADY)
    small = Finding("d", 0.0, 1.0, "ref", False, outcome=INCONCLUSIVE)
    assert Verdict("x", "c", (ok,)).status == PASS
    assert Verdict("x", "c", ()).status == FAIL
    assert Verdict("x", "c", (ok, small, unsteady)).status == NOT_STEADY
    assert Verdict("x", "c", (ok, small)).status == INCONCLUSIVE
    assert Verdict("x", "c", (unsteady, bad)).status == FAIL
    assert "[NOT STEADY]" in Verdict("x", "c", (unsteady,)).text()


def test_findings_state_reference_se_and_smallest_detectable_effect():
    df = pd.concat([run("mad_gaussian_collapse", ["generations=10", "replicates=50"])])
    for f in EXPERIMENTS["mad_gaussian_collapse"].check(df).findings:
        assert np.isfinite(f.se) and np.isfinite(f.detectable) and "reference" in f.line() and "detects ≥" in f.line()
        assert f.detectable == pytest.approx((4.0 if "closed form" in f.reference else 2.0) * f.se + 0.8416 * f.se, rel=1e-3)


# --------------------------------------------------------------------------- MAD §3 / App. B: collapse
def test_collapse_bound_is_the_isotropic_chi_square_log_mean():
    """k = d(n − 1): E log(χ²_k/k) by simulation matches the bound per generation."""
    d, n = 3, 8
    k = d * (n - 1)
    draws = np.random.default_rng(0).chisquare(k, 400_000) / k
    assert collapse_drift_bound(d, n, 2) == pytest.approx(np.log(draws).mean(), abs=4 * np.log(draws).std() / 630)


@pytest.mark.slow
def test_collapse_passes_and_fails_with_lambda_on_the_std(monkeypatch):
    assert status("mad_gaussian_collapse", run("mad_gaussian_collapse")) == PASS
    monkeypatch.setitem(FAMILIES, "gaussian", "test_reproduce_claims:StdLambda")
    verdict = EXPERIMENTS["mad_gaussian_collapse"].check(run("mad_gaussian_collapse"))
    assert verdict.status == FAIL
    assert [f.ok for f in verdict.findings if "λ=0.9: mean tr" in f.quantity] == [False]  # λ^(2(t−1)), not λ^(t−1)


def collapse_table(n_fit: int, n_said: int, d: int = 10, generations: int = 30, draws: int = 400) -> pd.DataFrame:
    """A fully synthetic run (Monte Carlo, λ ∈ {1, 0.9}) that refits on n_fit samples per generation but reports n_said."""
    frames = [as_results(simulate("replace", d=d, n_ini=n_said, n_s=n_fit, lam=lam, generations=generations, draws=draws,
                                  seed=3), f"lam{lam}", lam=lam, param_d=d, n_s=n_said, n_ini=n_said)
              for lam in (1.0, 0.9)]
    return pd.concat(frames, ignore_index=True)


def test_collapse_drift_bound_reads_as_a_least_drop_and_fails_a_too_slow_collapse():
    """The drop −mean log(tr Σ_T/(λ^(T−1) tr Σ_1)) must be at least −bound > 0 (equal weights collapse slowest).

    A loop that refits on 10× the samples it reports keeps E tr Σ_t = λ^(t−1) tr Σ (the closed form passes)
    and still drifts down, but by about a tenth of what n samples per generation must: only the bound tells."""
    check = EXPERIMENTS["mad_gaussian_collapse"].check
    good = check(collapse_table(50, 50))
    assert good.status == PASS, good.text()
    drops = [f for f in good.findings if "−mean log" in f.quantity]
    bound = collapse_drift_bound(10, 50, 30)
    assert bound < 0 and all(f.value > -bound and "at least the equal-weight drop" in f.reference
                             and f"= {-bound:.3g}" in f.reference for f in drops)
    wrong = check(collapse_table(500, 50))
    assert wrong.status == FAIL, wrong.text()
    assert all(f.ok for f in wrong.findings if "closed form" in f.reference)
    assert not any(f.ok for f in wrong.findings if "−mean log" in f.quantity)


def test_collapse_is_inconclusive_not_fail_where_the_drift_is_too_small_to_see():
    """d = 20, n = 400, 3 generations: the bound (−0.0003) is far below what 20 replicates detect."""
    df = run("mad_gaussian_collapse", ["params.gaussian.d=20", "n_ini=400", "n_s=400", "generations=3", "replicates=20"])
    assert status("mad_gaussian_collapse", df) == INCONCLUSIVE


# --------------------------------------------------------------------------- Kazdan: accumulate
@pytest.mark.slow
def test_kazdan_accumulate_fails_when_it_drops_earlier_generations(monkeypatch):
    """The PASS of the correct loop: tests/test_reproduce.py::test_kazdan_check_passes_on_madrays_mle_gaussian."""
    monkeypatch.setitem(LOOPS, "accumulate", DropsEarlier)
    verdict = EXPERIMENTS["kazdan_gaussian"].check(run("kazdan_gaussian", ["replicates=2000"]))
    assert verdict.status == FAIL
    assert not next(f for f in verdict.findings if "− 1)²" in f.quantity).ok  # the spread, not the mean, tells


# --------------------------------------------------------------------------- MAD Fig. 10: phase diagram
@pytest.mark.slow
def test_phase_diagram_fails_with_lambda_on_the_std(std_lambda):
    verdict = EXPERIMENTS["mad_phase_diagram"].check(run("mad_phase_diagram"))
    assert verdict.status == FAIL
    assert not all(f.ok for f in verdict.findings if "steady FD" in f.quantity and "λ=1," not in f.quantity)
    assert all(f.ok for f in verdict.findings if "λ=1," in f.quantity)  # λ = 1 is the same under both readings


@pytest.mark.slow
def test_phase_diagram_is_not_steady_with_too_few_generations():
    assert status("mad_phase_diagram", run("mad_phase_diagram", ["generations=30", "replicates=60"])) == NOT_STEADY


@pytest.mark.slow
def test_phase_diagram_tests_the_shrinking_ratio():
    """Two n_r: n_s*/n_r is read off each and compared; the correct run passes it."""
    df = run("mad_phase_diagram", ["grid.n_r=[25,100]", "grid.lam=[1.0,0.8]", "grid.n_s=[50,200,500]", "replicates=60"])
    verdict = EXPERIMENTS["mad_phase_diagram"].check(df)
    shrink = [f for f in verdict.findings if "n_s*/n_r" in f.quantity]
    assert len(shrink) == 1 and shrink[0].ok and verdict.status == PASS, verdict.text()


# --------------------------------------------------------------------------- MAD Fig. 33: memory K
@pytest.mark.slow
def test_memory_fails_when_it_always_draws_from_the_newest_model(monkeypatch):
    monkeypatch.setitem(LOOPS, "memory", NewestOnly)
    assert status("mad_memory_k", run("mad_memory_k")) == FAIL


@pytest.mark.slow
def test_memory_is_not_steady_after_too_few_generations():
    """The issue's case: the paper's n_s/n_r = 10 and 30 generations; K = 4 still drifts."""
    assert status("mad_memory_k", run("mad_memory_k", ["n_s=500", "generations=30"])) == NOT_STEADY


# --------------------------------------------------------------------------- MAD Fig. 9: n_ini
@pytest.mark.slow
def test_n_ini_passes_and_is_inconclusive_when_too_noisy():
    assert status("mad_fresh_n_ini", run("mad_fresh_n_ini")) == PASS
    assert status("mad_fresh_n_ini", run("mad_fresh_n_ini", ["replicates=20"])) == INCONCLUSIVE


# --------------------------------------------------------------------------- MAD App. H.2 and App. I
@pytest.fixture(scope="module")
def augmentation() -> pd.DataFrame:
    """The shrunk correct run of mad_synthetic_augmentation (n_r ∈ {3, 12} around d = 5, two n_s, λ ∈ {1, 0.7})."""
    return run("mad_synthetic_augmentation")


@pytest.mark.slow
def test_augmentation_passes_and_fails_when_its_real_set_is_fresh(augmentation, monkeypatch):
    assert status("mad_synthetic_augmentation", augmentation) == PASS
    monkeypatch.setitem(LOOPS, "synthetic_augmentation", FreshAugmentation)
    assert status("mad_synthetic_augmentation", run("mad_synthetic_augmentation")) == FAIL


def test_augmentation_reads_both_regimes_of_app_h2(augmentation):
    """n_r > d: n_e < n_r; n_r < d: λ < 1 lifts n_e above n_r (App. H.2), n_e < d; Fig. 31's faster decay at λ < 1."""
    verdict = EXPERIMENTS["mad_synthetic_augmentation"].check(augmentation)
    assert verdict.status == PASS, verdict.text()
    kinds = {k: [f for f in verdict.findings if k in f.quantity] for k in ("> d=", "largest n_e/n_r", "< d,", "decay", "steady FD")}
    assert [len(v) for v in kinds.values()] == [4, 1, 4, 1, 8]
    assert kinds["largest n_e/n_r"][0].value > 0 and "λ=0.7" in kinds["largest n_e/n_r"][0].quantity


def test_augmentation_fails_when_lambda_is_ignored(augmentation):
    """A sampler that ignores λ (the Gaussian's 'guidance switched off'): λ = 0.7's cells are λ = 1's."""
    unbiased = augmentation[augmentation["lam"] == 1.0]
    ignored = pd.concat([unbiased, unbiased.assign(lam=0.7, trial_id=unbiased["trial_id"] + "-ignored")])
    verdict = EXPERIMENTS["mad_synthetic_augmentation"].check(ignored)
    failed = {f.quantity.split(" (")[0].split(":")[0] for f in verdict.findings if not f.ok}
    assert verdict.status == FAIL and {"n_r < d", "n_r=12"} <= failed, verdict.text()


@pytest.mark.slow
def test_augmentation_fails_with_lambda_on_the_std(std_lambda):
    verdict = EXPERIMENTS["mad_synthetic_augmentation"].check(run("mad_synthetic_augmentation"))
    assert verdict.status == FAIL
    assert not all(f.ok for f in verdict.findings if "steady FD" in f.quantity and "λ=1," not in f.quantity)
    assert all(f.ok for f in verdict.findings if "steady FD" in f.quantity and "λ=1," in f.quantity)


def test_monte_carlo_synthetic_augmentation_keeps_the_first_n_r_real_samples():
    """The simulation's loop against madray's (run_trial): steady means within 4 SE, and n_ini ≥ n_r is required."""
    sweep = experiment_sweep(EXPERIMENTS["mad_synthetic_augmentation"], overrides=[
        "grid={}", "n_r=4", "n_s=8", "n_ini=10", "lam=0.8", "generations=12", "replicates=1500"])
    last = pd.DataFrame(run_trial(sweep.trials[0])).query("generation == 12")["frechet"].to_numpy()
    sim = simulate("synthetic_augmentation", d=5, n_ini=10, n_r=4, n_s=8, lam=0.8, generations=12, draws=6000)["frechet"][:, -1]
    se = np.hypot(last.std() / np.sqrt(len(last)), sim.std() / np.sqrt(len(sim)))
    assert abs(last.mean() - sim.mean()) < 4 * se, (last.mean(), sim.mean())
    with pytest.raises(DataError, match="n_r"):
        simulate("synthetic_augmentation", d=2, n_ini=5, n_r=6, generations=2)


def test_mixture_is_not_steady_after_two_generations():
    assert status("mad_mixture_p", run("mad_mixture_p", ["generations=4"])) in (NOT_STEADY, FAIL)


# --------------------------------------------------------------------------- MAD App. C.1, Fig. 12: diversity measures
class PooledModal(GaussianMixture):
    """Wrong: 'average modal variance' computed over all samples (the total variance divided by the 25 modes)."""

    def variances(self, x):
        total, _ = super().variances(x)
        return total, total / 25


def gmm_table(modes, recall, total, modal) -> pd.DataFrame:
    """Rows of a fully synthetic GMM run from arrays (replicates, generations)."""
    R, G = modes.shape
    return pd.DataFrame({"trial_id": "gmm", "replicate": np.repeat(np.arange(R), G), "generation": np.tile(np.arange(1, G + 1), R),
                         "modes_covered": modes.ravel(), "recall": recall.ravel(), "total_variance": total.ravel(),
                         "modal_variance": modal.ravel()})


def test_gmm_check_reads_fig_12s_comparison_on_tables():
    """Modes fall; recall follows them (or not); total variance is noise around its start; modal variance rises."""
    rng = np.random.default_rng(0)
    R, G = 16, 10
    modes = 25 - np.cumsum(rng.poisson(0.7, (R, G)), axis=1) + rng.poisson(0.7, (R, 1))
    modes = np.minimum(modes, 25).astype(float)
    noise = lambda scale: rng.normal(0, scale, (R, G))  # noqa: E731
    recall, total, modal = modes / 26 + noise(0.01), 16 + noise(0.4), 0.005 + 0.004 * (25 - modes) + noise(0.004)
    check = EXPERIMENTS["mad_gmm_modes"].check
    assert check(gmm_table(modes, recall, total, modal)).status == PASS
    # a recall that follows the total variance, not the modes (a recall that merely falls with time would pass:
    # over generations, anything monotone follows the modes)
    blind = (total - total.mean()) / 40 + 0.9
    verdict = check(gmm_table(modes, blind, total, modal))
    assert verdict.status == FAIL and [f.ok for f in verdict.findings if "|ρ(" in f.quantity] == [False]
    # a modal variance that stays where it started
    verdict = check(gmm_table(modes, recall, total, 0.005 + noise(0.004)))
    assert verdict.status == FAIL and [f.ok for f in verdict.findings if "modal_variance" in f.quantity] == [False]
    # no mode lost in any replicate: nothing to track
    flat = np.full((R, G), 25.0)
    assert not check(gmm_table(flat, recall, total, modal)).passed


@pytest.mark.slow
def test_gmm_passes_and_fails_when_modal_variance_pools_every_mode(monkeypatch):
    assert status("mad_gmm_modes", run("mad_gmm_modes")) == PASS
    monkeypatch.setitem(FAMILIES, "gmm", "test_reproduce_claims:PooledModal")
    verdict = EXPERIMENTS["mad_gmm_modes"].check(run("mad_gmm_modes"))
    assert verdict.status == FAIL and [f.ok for f in verdict.findings if "modal_variance" in f.quantity] == [False]


# --------------------------------------------------------------------------- the Monte Carlo reference itself
def test_monte_carlo_matches_closed_forms():
    """Replace (unbiased): E tr Σ_t = λ^(t−1) d; MLE d = 1: ((n−1)/n)^t; fresh data: E‖μ̂‖² at the steady state."""
    from madray.analysis.theory import mean_ne_ratio

    tr = simulate("replace", d=4, n_ini=10, n_s=10, lam=0.8, generations=6, draws=20_000)["trace_cov"][:, -1]
    assert tr.mean() == pytest.approx(4 * 0.8**5, abs=4 * tr.std() / np.sqrt(len(tr)))
    tr = simulate("replace", d=1, n_ini=20, n_s=20, generations=10, estimator="mle", draws=20_000)["trace_cov"][:, -1]
    assert tr.mean() == pytest.approx((19 / 20) ** 10, abs=4 * tr.std() / np.sqrt(len(tr)))
    m = simulate("fresh_data", d=2, n_ini=50, n_r=20, n_s=30, generations=40, draws=4000)["mean_error"][:, 20:] ** 2
    per_draw = m.mean(axis=1)
    ratio = 2 / per_draw.mean() / 20
    assert ratio == pytest.approx(mean_ne_ratio(20, 30), rel=4 * per_draw.std() / np.sqrt(len(per_draw)) / per_draw.mean())


def test_monte_carlo_matches_madrays_memory_and_accumulate_loops():
    """The same knobs through run_trial and through sufficient statistics: means within 4 SE (both sides' SE)."""
    for loop, extra in (("memory", {"K": 3, "n_r": 10}), ("accumulate", {})):
        sweep = experiment_sweep(EXPERIMENTS["mad_memory_k"], overrides=[
            f"loop={loop}", "grid={}", "generations=8", "replicates=1500", "n_ini=10", "n_s=20", "params.gaussian.d=2",
            *(f"{k}={v}" for k, v in extra.items()), "metrics=[trace_cov, frechet]"])
        df = pd.DataFrame(run_trial(sweep.trials[0]))
        last = df[df["generation"] == 8]
        sim = simulate(loop, d=2, n_ini=10, n_s=20, generations=8, draws=6000, **extra)
        for metric in ("trace_cov", "frechet"):
            a, b = last[metric].to_numpy(), sim[metric][:, -1]
            se = np.hypot(a.std() / np.sqrt(len(a)), b.std() / np.sqrt(len(b)))
            assert abs(a.mean() - b.mean()) < 4 * se, (loop, metric, a.mean(), b.mean())


# --------------------------------------------------------------------------- the reviewers' loop: real data accumulate too
class ForgetsRealHistory(FreshData):
    """Wrong: accumulate_real that keeps only this generation's fresh real samples beside all synthetic ones."""

    name = "accumulate_real"
    keep = None
    uses = ("n_r", "n_s")

    @classmethod
    def build(cls, cfg, t, data):
        return concat([data.real_initial, data.fresh_real(cfg.n_r), *data.synthetic])


ACCUMULATE_REAL = ["replicates=400", "generations=6"]


def test_accumulate_real_passes_and_fails_when_it_forgets_earlier_real_data(monkeypatch):
    sweep = experiment_sweep(EXPERIMENTS["gerstgrasser_accumulate_real"], overrides=ACCUMULATE_REAL)
    rows = lambda: pd.DataFrame([r for cfg in sweep.trials for r in run_trial(cfg)])  # noqa: E731
    assert EXPERIMENTS["gerstgrasser_accumulate_real"].check(rows()).status == PASS
    monkeypatch.setitem(LOOPS, "accumulate_real", ForgetsRealHistory)
    verdict = EXPERIMENTS["gerstgrasser_accumulate_real"].check(rows())
    failed = {f.quantity.split(" at ")[0] for f in verdict.findings if not f.ok}
    assert verdict.status == FAIL and {"gaussian: mean frechet", "linreg: mean test error"} <= failed


def test_accumulate_real_pool_holds_every_generations_real_samples():
    """Generation t trains on n_ini + (t−1)(n_r + n_s) samples, and its real part is each generation's own draw."""
    from madray.loops.accumulate_real import AccumulateReal

    sweep = experiment_sweep(EXPERIMENTS["gerstgrasser_accumulate_real"], overrides=["generations=4", "replicates=2"])
    cfg = sweep.trials[0]
    assert [AccumulateReal.train_size(cfg, t) for t in (2, 4)] == [150, 350]
    from madray.trial import Trial

    trial = Trial(cfg)
    trial.step(), trial.step(), trial.step()
    pool = trial._training_set(4)["x"]
    fresh_3 = trial._training_set(3)["x"][:, 50:100]  # generation 2's fresh draw, seen again at generation 4
    assert pool.shape[1] == 350 and np.array_equal(pool[:, 50:100], fresh_3)


# --------------------------------------------------------------------------- deep entries: what the loop does, on synthetic tables
def deep_table(recall: dict[float, np.ndarray]) -> pd.DataFrame:
    """Rows of a fully synthetic deep run: recall[λ] is an array (replicates, generations)."""
    frames = []
    for lam, values in recall.items():
        R, G = values.shape
        frames.append(pd.DataFrame({"trial_id": f"lam{lam}", "lam": lam, "replicate": np.repeat(np.arange(R), G),
                                    "generation": np.tile(np.arange(1, G + 1), R), "recall": values.ravel()}))
    return pd.concat(frames, ignore_index=True)


def trajectories(start, slope, generations=4, replicates=3, seed=0):
    noise = np.random.default_rng(seed).normal(0, 0.01, (replicates, generations))
    return start - slope * np.arange(generations) + noise


@pytest.mark.parametrize("name", ["mad_rosenbrock_flow", "mad_mnist_ddpm"])
def test_deep_checks_read_the_loop_not_the_sampler(name):
    check = EXPERIMENTS[name].check
    # the paper's picture: both fall, the guided one faster
    assert check(deep_table({1.0: trajectories(0.95, 0.03), 0.5: trajectories(0.90, 0.15, seed=1)})).status == PASS
    # guidance switched off: λ < 1 behaves as λ = 1 (same trajectories), so the loop shows no extra loss
    same = trajectories(0.95, 0.03)
    assert check(deep_table({1.0: same, 0.5: same + 1e-4})).status == FAIL
    # a λ gap already at generation 1 that the loop does not widen (the DDPM case) is the sampler's, not the loop's
    assert check(deep_table({1.0: trajectories(0.98, 0.05), 0.5: trajectories(0.93, 0.05, seed=1)})).status == FAIL
    # one generation: nothing to read
    assert check(deep_table({1.0: trajectories(0.95, 0.03, 1), 0.5: trajectories(0.9, 0.15, 1, seed=1)})).status != PASS
    # one replicate: no spread to compare with, INCONCLUSIVE whatever the sign
    one = deep_table({1.0: trajectories(0.95, 0.03, replicates=1), 0.5: trajectories(0.90, 0.15, replicates=1, seed=1)})
    assert check(one).status == INCONCLUSIVE


@pytest.mark.parametrize("outcome, code", [(PASS, 0), (FAIL, 1), (NOT_STEADY, 3), (INCONCLUSIVE, 3)])
def test_reproduce_exit_status_follows_the_verdict(monkeypatch, capsys, outcome, code):
    """The command's exit status: 0 only on PASS; 3 for NOT STEADY and INCONCLUSIVE, which print their label."""
    import madray.cli.reproduce as cli
    from madray.reproduce import Outcome

    findings = {PASS: (Finding("q", 1.0, 0.1, "r", True),), FAIL: (Finding("q", 1.0, 0.1, "r", False),),
                NOT_STEADY: (Finding("q", 9.0, 1.0, "r", False, outcome=NOT_STEADY),),
                INCONCLUSIVE: (Finding("q", 0.0, 1.0, "r", False, outcome=INCONCLUSIVE),)}[outcome]
    monkeypatch.setattr(cli, "run_experiment", lambda *a, **k: Outcome(Verdict("x", "c", findings), "page", "fig", {}))
    from madray.cli.main import main

    assert main(["reproduce", "mad_memory_k"]) == code
    assert capsys.readouterr().out.startswith(f"{outcome}: x")


@pytest.mark.slow
def test_mixture_slope_passes_and_fails_when_lambda_is_ignored():
    """Fig. 34 right: λ = 0.9's log-log slope in n is shallower; a sampler that ignores λ gives λ = 1's slope."""
    df = run("mad_mixture_p")
    assert status("mad_mixture_p", df) == PASS
    unbiased = df[df["lam"] == 1.0]
    ignored = pd.concat([unbiased, unbiased.assign(lam=0.9, trial_id=unbiased["trial_id"] + "-ignored")])
    verdict = EXPERIMENTS["mad_mixture_p"].check(ignored)
    assert verdict.status == FAIL and not any(f.ok for f in verdict.findings if "slope" in f.quantity)
