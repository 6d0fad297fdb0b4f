"""Analytic families against their BLAS bound, and MAD Fig. 10's largest cell against the plan (a script, not a test).

    python benchmarks/bench_gaussian.py                # everything, about 3 minutes on a quiet 2-core machine
    python benchmarks/bench_gaussian.py --generations 3 --pilot-seconds 30

Prints, in one run (fastest of 2 or 3 repeats), each with one BLAS thread (what Ray gives a 1-CPU trial):
1. Gaussian generation at Fig. 10's largest cell (d = 100, fit on 20,000, draw 10,000, 100 replicates):
   madray's fit and draw against their bound, the same products timed as plain batched BLAS calls
   (Σ = XcᵀXc and Z·rootᵀ) plus the standard-normal draws timed alone.
2. GMM EM (25 components, 2-D, the gmm family's sizes): one E- and M-step against the batched
   products inside it timed alone; linear regression's OLS fit against its Gram matrix and solve.
3. `madray plan` on sweeps/gaussian_phase_transition_paper.yaml (2 workers): CPU-hours and wall
   time; then the largest cell (n_r = n_s = 10⁴, λ = 0.7) run for a few generations, writing its
   rows and checkpoint each generation as a run does, extrapolated to 50 (generations 1 and 2 once,
   the warm ones after them 48 times), and the plan's error for that cell. The process gets the
   Ray workers' malloc settings (madray/malloc.py).
The load average is printed before and after: on a busy machine the ratios drift.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # what Ray gives a 1-CPU trial

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402

from madray.malloc import apply_here  # noqa: E402
from madray.models import em  # noqa: E402
from madray.models.gaussian import fit_gaussian, sample_gaussian  # noqa: E402
from madray.models.linreg import ols  # noqa: E402
from madray.results.folder import SweepFolder  # noqa: E402
from madray.results.schema import (
    file_schema,  # noqa: E402
    sweep_schema,  # noqa: E402
)
from madray.spec import load_sweep  # noqa: E402
from madray.sweep.plan import make_plan  # noqa: E402
from madray.sweep.samples import SampleStore  # noqa: E402
from madray.sweep.trainable import TrialRunner  # noqa: E402
from madray.trial import Trial  # noqa: E402

HERE = os.path.dirname(__file__)
PAPER_SWEEP = os.path.join(HERE, "..", "sweeps", "gaussian_phase_transition_paper.yaml")


def timed(fn, *args, repeat: int = 1):
    """(fastest of `repeat` wall times, the last result)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def ratio_line(label: str, seconds: float, bound: float, detail: str) -> None:
    print(f"{label:<34} {seconds:7.2f} s   bound {bound:6.2f} s ({detail})   ratio {seconds / bound:4.2f} (goal <= 2)")


def gaussian_generation(reps=100, n_fit=20_000, n_draw=10_000, d=100) -> None:
    print(f"\n== Gaussian generation, d = {d}: fit on {n_fit:,}, draw {n_draw:,}, {reps} replicates ==")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((reps, n_fit, d))
    fit_s, (mean, cov) = timed(fit_gaussian, x, repeat=2)
    gram_s, _ = timed(lambda: np.swapaxes(x, 1, 2) @ x, repeat=2)
    draw_s, _ = timed(sample_gaussian, mean, cov, n_draw, np.random.default_rng(1), repeat=2)
    # the bound's arrays are allocated once: it times arithmetic and draws, not page faults
    z, product = np.empty((reps, n_draw, d)), np.empty((reps, n_draw, d))
    normal_s, _ = timed(lambda: np.random.default_rng(1).standard_normal(out=z), repeat=2)
    product_s, _ = timed(lambda: np.matmul(z, cov, out=product), repeat=2)
    ratio_line("fit (mean, covariance)", fit_s, gram_s, f"{2 * reps * n_fit * d * d:.1e} flops of XᵀX")
    ratio_line("draw (eigh, normals, product)", draw_s, normal_s + product_s,
               f"normals {normal_s:.2f} s + product {product_s:.2f} s")
    ratio_line("generation", fit_s + draw_s, gram_s + normal_s + product_s, "the three above")


def gmm_em(reps=20, n=1000, k=25, dim=2) -> None:
    print(f"\n== GMM EM, {k} components, {dim}-d, {n:,} samples, {reps} replicates: one E- and M-step ==")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((reps, n, dim))
    mix = em.initial_mixture(x, k, rng, 1e-6)
    step_s, _ = timed(lambda: em.m_step(x, em.e_step(x, mix)[0], 1e-6), repeat=3)
    prec = np.swapaxes(np.linalg.inv(np.linalg.cholesky(mix["covs"])), -1, -2)
    resp = np.full((reps, n, k), 1.0 / k)
    diff = x[:, None] - mix["means"][:, :, None, :]
    blas_s, _ = timed(lambda: (x[:, None] @ prec, np.swapaxes(resp, 1, 2) @ x, np.swapaxes(diff, -1, -2) @ diff), repeat=3)
    ratio_line("EM step", step_s, blas_s, "its batched products alone")


def linreg_fit(reps=100, n=10_000, d=100) -> None:
    print(f"\n== linear regression OLS, d = {d}, {n:,} samples, {reps} replicates ==")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((reps, n, d)), rng.standard_normal((reps, n))
    fit_s, _ = timed(ols, x, y, repeat=2)
    pinv_s, _ = timed(lambda: np.einsum("rdn,rn->rd", np.linalg.pinv(x), y))
    gram_s, _ = timed(lambda: np.swapaxes(x, 1, 2) @ x, repeat=2)
    ratio_line("OLS fit (normal equations)", fit_s, gram_s, "the Gram matrix XᵀX alone")
    print(f"{'  before: pinv, one SVD each':<34} {pinv_s:7.2f} s   ratio {pinv_s / gram_s:4.1f}")


def paper_cell(generations: int, pilot_s: float) -> None:
    sweep = load_sweep(PAPER_SWEEP)
    print(f"\n== {sweep.name}: {sweep.size_line()} ==")
    plan = make_plan(sweep, workers=2, pilot_s=pilot_s)
    print(f"plan (2 workers, pilot {plan.pilot_s:.0f} s): {plan.cpu_hours:.2f} CPU-hours, wall {plan.wall_s / 60:.1f} min "
          f"(goal <= 45 min)")
    cell = max(sweep.trials, key=lambda c: (c.n_r + c.n_s, -c.lam))
    predicted = next(t["seconds"] for t in plan.dominant if t["trial_id"] == cell.trial_id) if any(
        t["trial_id"] == cell.trial_id for t in plan.dominant) else float("nan")
    trial = Trial(replace(cell, generations=generations + 1))
    with tempfile.TemporaryDirectory() as out:  # rows and checkpoint every generation, as a run (and the pilot) does
        folder = SweepFolder(out)
        schema = file_schema(sweep_schema(sweep.name, sweep.param_types(), sweep.metric_names))
        runner, samples = TrialRunner(folder, schema), SampleStore(folder, cell.trial_id)

        def generation() -> None:
            folder.write_rows(cell.trial_id, trial.generation + 1, trial.step(), schema)
            runner.save(trial, samples)

        seconds = [timed(generation)[0] for _ in range(generations + 1)]  # generation 1 trains on n_ini only
    # generation 2 is the first to touch its arrays (later ones reuse its pages, madray/malloc.py): once per run
    cold, warm = seconds[:2], seconds[2:] or seconds[1:]
    measured = sum(cold) + (cell.generations - len(cold)) * float(np.mean(warm))
    print(f"largest cell {cell.trial_id} (n_r = {cell.n_r}, n_s = {cell.n_s}, λ = {cell.lam}): generations "
          + ", ".join(f"{s:.2f}" for s in seconds) + " s")
    print(f"  {cell.generations} generations: measured {measured / 60:.1f} min (extrapolated), "
          f"plan {predicted / 60:.1f} min, plan error {(predicted - measured) / measured:+.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=4, help="full generations of the largest cell to time")
    parser.add_argument("--pilot-seconds", type=float, default=60.0, help="madray plan's pilot time box")
    args = parser.parse_args()
    apply_here()  # the malloc settings of the Ray workers that run trials
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; BLAS threads 1")
    gaussian_generation()
    gmm_em()
    linreg_fit()
    paper_cell(args.generations, args.pilot_seconds)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
