"""Each figure carries the data it was given: line counts, labels, and plotted values equal to pandas aggregates."""

import io
import math

import matplotlib.colors as mcolors
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from matplotlib.text import Text

from madray.analysis import (
    effective_sample_size,
    linreg_accumulate_error,
    linreg_replace_error,
)
from madray.analysis import trial_config as rebuilt
from madray.analysis.theory import ols_error
from madray.models.gmm import GaussianMixture
from madray.plots import (
    figures,
    gmm_samples,
    linreg_vs_theory,
    metric_vs_generation,
    phase_diagram,
    precision_recall,
    sample_grids,
    style,
)
from madray.spec import parse_sweep
from madray.trial import run_trial

SPECS = [
    {"name": "gauss", "family": "gaussian", "loop": "fresh_data", "generations": 6, "replicates": 20, "seed": 1,
     "n_ini": 100, "params": {"gaussian": {"d": 2}},
     "grid": {"loop": ["fresh_data", "fully_synthetic"], "lam": [1.0, 0.7], "n_r": [50, 100], "n_s": [20, 300]}},
    {"name": "lin", "family": "linreg", "loop": "replace", "generations": 4, "replicates": 40, "seed": 2,
     "n_ini": 20, "n_s": 20, "params": {"linreg": {"d": 3, "n_test": 20}}, "grid": {"loop": ["replace", "accumulate"]}},
    {"name": "mix", "family": "gmm", "loop": "fully_synthetic", "generations": 3, "replicates": 2, "seed": 3,
     "n_ini": 100, "n_s": 100, "params": {"gmm": {"em_iters": 20, "n_eval": 200}}},
]


@pytest.fixture(scope="module")
def results():
    rows = [row for spec in SPECS for cfg in parse_sweep(spec).trials for row in run_trial(cfg)]
    return pd.DataFrame(rows)


def family(df, name):
    return df[df["family"] == name]


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_metric_vs_generation_draws_means_and_sd_bands(results):
    df = family(results, "gaussian")
    fig = metric_vs_generation(df, "trace_cov")
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 4  # the knobs besides loop and λ that vary: n_r × n_s panels
    assert {ax.get_title() for ax in axes} == {f"n_r={r}, n_s={s}" for r in (50, 100) for s in (20, 300)}
    ax = next(a for a in axes if a.get_title() == "n_r=100, n_s=300")
    lines = lines_by_label(ax)
    labels = {f"loop={lp}, λ={lam:g}" for lp in ("fresh_data", "fully_synthetic") for lam in (1.0, 0.7)}
    assert set(lines) == labels | {f"_median: {label}" for label in labels}
    assert ax.get_xlabel() == "generation t" and ax.get_ylabel() == "tr Σ̂ (data units²)"
    # fully synthetic rows carry n_r = 0 (the loop does not read it) and are drawn in every n_r panel
    assert set(df[df.loop == "fully_synthetic"].n_r) == {0}
    sub = df[(df.n_s == 300) & (df.loop == "fully_synthetic") & (df.lam == 0.7)]
    agg = sub.groupby("generation")["trace_cov"].agg(["mean", "std"])
    line = lines["loop=fully_synthetic, λ=0.7"]
    np.testing.assert_array_equal(line.get_xdata(), agg.index)
    np.testing.assert_allclose(line.get_ydata(), agg["mean"], rtol=1e-12)
    median = lines["_median: loop=fully_synthetic, λ=0.7"]  # dotted, same colour, out of the legend
    np.testing.assert_allclose(median.get_ydata(), sub.groupby("generation")["trace_cov"].median(), rtol=1e-12)
    assert median.get_linestyle() == ":" and median.get_color() == line.get_color()
    band = [c for c in ax.collections if np.allclose(c.get_facecolor()[0][:3], line.get_color()[:3])]
    ys = band[0].get_paths()[0].vertices[:, 1]
    for gen_mean, gen_sd in zip(agg["mean"], agg["std"]):  # ±1 s.d. over replicates at every generation
        assert np.isclose(ys, gen_mean + gen_sd).any() and np.isclose(ys, gen_mean - gen_sd).any()
    title = fig._suptitle.get_text()
    assert "trace_cov vs generation" in title and "n_ini=100" in title and "R=20 replicates" in title
    assert "d=2" not in title  # the Gaussian's default dimension: not worth a title


def test_metric_vs_generation_names_what_is_missing(results):
    with pytest.raises(ValueError, match="metric = 'fid' has no data.*trace_cov"):
        metric_vs_generation(results, "fid")


def test_phase_diagram_shows_the_n_e_table(results):
    df = family(results, "gaussian")
    fig = phase_diagram(df)
    table = effective_sample_size(df[df.loop == "fresh_data"])
    axes = [ax for ax in fig.get_axes() if ax.get_title().startswith("λ")]
    assert [ax.get_title() for ax in axes] == ["λ=0.7", "λ=1"]
    for ax, (_lam, rows) in zip(axes, table.groupby("lam")):
        mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
        expected = rows.pivot(index="n_r", columns="n_s", values="ratio").sort_index(ascending=False)
        np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(expected.shape), expected.to_numpy())
        assert [t.get_text() for t in ax.get_xticklabels()] == ["20", "300"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["100", "50"]
        assert "n_s (synthetic samples per generation)" == ax.get_xlabel()
        crosses = expected.to_numpy().min() < 1 < expected.to_numpy().max()
        has_contour = any("Contour" in type(c).__name__ for c in ax.collections)
        assert has_contour == crosses
    assert (table[table.lam == 0.7]["ratio"] < 1).any()  # the data cross: λ = 0.7 shows a boundary
    assert "MAD Fig. 10" in fig._suptitle.get_text()


def test_gmm_samples_are_the_points_whose_modes_were_counted(results):
    df = family(results, "gmm")
    fig = gmm_samples(df, generations=[1, 3])
    axes = fig.get_axes()
    assert [ax.get_title().split(":")[0] for ax in axes] == ["t = 1", "t = 3"]

    fam = GaussianMixture(rebuilt(df, df.trial_id.iloc[0]))
    for ax, t in zip(axes, (1, 3)):
        points = ax.collections[1].get_offsets()  # [0]: the true modes, [1]: the samples
        assert len(points) == 200
        covered, _ = fam.mode_stats(np.asarray(points)[None])
        recorded = df[(df.generation == t) & (df.replicate == 0)]["modes_covered"].iloc[0]
        assert covered[0] == recorded
        assert ax.get_title().startswith(f"t = {t}: {recorded:.0f} of 25 modes covered")
    np.testing.assert_allclose(np.asarray(axes[0].collections[0].get_offsets()), fam.modes)


def test_linreg_figure_has_data_and_theory_lines(results):
    df = family(results, "linreg")
    fig = linreg_vs_theory(df)
    (ax,) = fig.get_axes()
    lines = lines_by_label(ax)
    for loop in ("replace", "accumulate"):
        means = df[df.loop == loop].groupby("generation")["test_error"].mean()
        np.testing.assert_allclose(lines[f"loop={loop}"].get_ydata(), means, rtol=1e-12)
    np.testing.assert_allclose(lines["theory replace: Σ σ²d/(T−d−1)"].get_ydata(), linreg_replace_error(4, 3, 1.0, 20, 20))
    np.testing.assert_allclose(lines["theory replace: Σ σ²d/(T−d−1)"].get_ydata(), np.arange(1, 5) * 3 / 16)
    np.testing.assert_allclose(lines["theory accumulate, fixed X: σ²d/(T−d−1)·Σ 1/i²"].get_ydata(), linreg_accumulate_error(4, 3, 1.0, 20))
    np.testing.assert_allclose(lines["bound π²/6 · generation 1"].get_ydata(), math.pi**2 / 6 * ols_error(3, 1.0, 20))
    assert ax.get_ylabel() == "excess test error ‖ŵ − w*‖² (label units²)"


def test_precision_recall_trajectories():
    rng = np.random.default_rng(0)
    df = pd.DataFrame([{"sweep": "s", "trial_id": f"t{lam}", "family": "img", "loop": "fully_synthetic", "lam": lam,
                        "replicate": r, "generation": g, "precision": rng.random(), "recall": rng.random()}
                       for lam in (1.0, 0.5) for r in range(3) for g in (1, 2, 3)])
    fig = precision_recall(df)
    (ax,) = fig.get_axes()
    paths = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    assert set(paths) == {"λ=1", "λ=0.5"}
    means = df[df.lam == 0.5].groupby("generation")[["recall", "precision"]].mean()
    np.testing.assert_allclose(paths["λ=0.5"].get_xdata(), means["recall"])
    np.testing.assert_allclose(paths["λ=0.5"].get_ydata(), means["precision"])
    assert ax.get_xlabel() == "recall (fraction)" and ax.get_ylabel() == "precision (fraction)"
    with pytest.raises(ValueError, match="'precision' and 'recall'"):
        precision_recall(df.drop(columns="recall"))


def test_sample_grids_show_the_saved_artifacts(results, tmp_path):
    df = family(results, "gmm")
    tid = df.trial_id.iloc[0]
    folder = tmp_path / "artifacts" / tid  # the layout of madray.results.store
    folder.mkdir(parents=True)
    images = {}
    for g in (1, 2, 3):
        buf = io.BytesIO()
        mpimg.imsave(buf, np.random.default_rng(g).random((8, 8, 3)), format="png")
        (folder / f"gen-{g:06d}-samples.png").write_bytes(buf.getvalue())
        images[g] = mpimg.imread(io.BytesIO(buf.getvalue()), format="png")
    fig = sample_grids(df, str(tmp_path))
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["generation 1", "generation 2", "generation 3"]
    for ax, g in zip(axes, (1, 2, 3)):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), images[g])
    assert "sample-grids" in figures(df, str(tmp_path))
    with pytest.raises(ValueError, match="no sample grids"):
        sample_grids(df, str(tmp_path / "elsewhere"))


@pytest.mark.slow
def test_figures_pick_what_applies(results):
    names = set(figures(family(results, "linreg")))
    assert names == {"test_error-vs-generation", "heldout_mse-vs-generation", "linreg-replace-vs-accumulate"}
    gauss = set(figures(family(results, "gaussian")))
    assert gauss == {"mean_error-vs-generation", "trace_cov-vs-generation", "frechet-vs-generation", "phase-diagram"}


# --------------------------------------------------------------------------- figures fit to publish
def text_outside(fig, monkeypatch):
    """Every non-empty text the renderer draws whose extent leaves the figure's canvas (a Text.draw
    wrapper sees exactly what is drawn: tick labels beyond an axis' view are never drawn)."""
    drawn = []
    original = Text.draw

    def draw(text, renderer):
        original(text, renderer)
        if text.get_visible() and text.get_text().strip():
            drawn.append((text.get_text(), text.get_window_extent(renderer)))

    with monkeypatch.context() as patch:
        patch.setattr(Text, "draw", draw)
        fig.canvas.draw()
    canvas = fig.bbox
    assert drawn  # the wrapper saw the texts
    return [t for t, box in drawn if box.x0 < canvas.x0 - 0.5 or box.y0 < canvas.y0 - 0.5
            or box.x1 > canvas.x1 + 0.5 or box.y1 > canvas.y1 + 0.5]


def legend_styles(ax):
    """(colour, dash pattern, marker) of each legend entry of `ax`."""
    legend = ax.get_legend()
    return [(mcolors.to_hex(h.get_color()), str(h.get_linestyle()), str(h.get_marker())) for h in legend.legend_handles]


def long_config(df):
    """`df` with a long sweep name and every curate_* column, as a sweep that curates nothing has them."""
    return df.assign(sweep="a_sweep_with_a_rather_long_name_for_a_figure_title", curate_kind="none",
                     **{f"curate_{k}": 1.0 for k in ("threshold", "keep", "noise", "flip", "cap", "candidates", "beta")})


@pytest.mark.slow
def test_every_text_stays_inside_the_canvas(results, monkeypatch):
    df = long_config(results)
    figs = {"curves": metric_vs_generation(family(df, "gaussian"), "trace_cov"), "phase": phase_diagram(family(df, "gaussian")),
            "linreg": linreg_vs_theory(family(df, "linreg")), "gmm": gmm_samples(family(df, "gmm"), generations=[1, 2, 3]),
            "precision-recall": precision_recall(pr_table(12)), "one panel": metric_vs_generation(family(df, "gmm"), "recall")}
    for name, fig in figs.items():
        assert text_outside(fig, monkeypatch) == [], name
        title = fig._suptitle.get_text()
        assert "curate_" not in title and "seed=" not in title, (name, title)  # knobs that do not matter here


def test_an_overlong_title_would_be_caught(monkeypatch):
    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    fig.suptitle("quickstart: family=gmm, seed=0, n_ini=500, K=1, p=0.5, curate_kind=none, curate_threshold=-inf")
    assert text_outside(fig, monkeypatch) == [fig._suptitle.get_text()]


def test_the_caption_keeps_what_matters():
    df = pd.DataFrame({"sweep": "s", "trial_id": "t", "family": "gaussian", "loop": "fully_synthetic", "seed": 3,
                       "n_ini": 50, "n_r": 7, "n_s": 50, "lam": 0.9, "K": 1, "p": 0.5, "curate_kind": "none",
                       "curate_keep": 1.0, "param_d": [10.0, 10.0], "param_estimator": "unbiased",
                       "replicate": [0, 1], "generation": 1, "trace_cov": [1.0, 2.0]})
    caption = style.describe(df)
    # n_r, K and p are not read by the fully synthetic loop; d=10 is not the Gaussian's default, the estimator is
    assert caption == "sweep s: family=gaussian, loop=fully_synthetic, n_ini=50, n_s=50, λ=0.9, d=10; R=2 replicates"


def pr_table(n_trials):
    rng = np.random.default_rng(5)
    return pd.DataFrame([{"sweep": "s", "trial_id": f"t{i:02d}", "family": "img", "loop": "fully_synthetic",
                          "lam": [1.0, 0.8, 0.6][i % 3], "n_s": [100, 200, 300, 400][i // 3], "replicate": r,
                          "generation": g, "precision": rng.random(), "recall": rng.random()}
                         for i in range(n_trials) for r in range(2) for g in (1, 2)])


@pytest.mark.parametrize("n_trials", [6, 12])
def test_legend_entries_are_distinguishable(n_trials):
    fig = precision_recall(pr_table(n_trials))
    entries = [s for ax in fig.get_axes() for s in legend_styles(ax)]
    assert len(entries) == n_trials  # every trajectory has its entry
    for ax in fig.get_axes():
        styles = legend_styles(ax)
        assert len(styles) <= style.MAX_COLOURS and len(set(styles)) == len(styles)
    assert len(fig.get_axes()) == (1 if n_trials <= style.MAX_COLOURS else 3)  # 12 lines: one panel per λ


def test_line_styles_are_distinct_past_the_palette():
    styles = style.line_styles(32)
    assert len({(mcolors.to_hex(s["color"]), str(s["linestyle"]), s["marker"]) for s in styles}) == 32
    assert len({mcolors.to_hex(s["color"]) for s in styles}) == style.MAX_COLOURS


def test_curve_legends_are_distinguishable(results):
    fig = metric_vs_generation(family(results, "gaussian"), "trace_cov")
    styles = legend_styles(fig.get_axes()[0])
    assert len(styles) == 4 and len(set(styles)) == 4  # 2 loops x 2 λ
    assert len({c for c, _, _ in styles}) == 2 and len({(d, m) for _, d, m in styles}) == 2  # colour: loop; dashes, marker: λ


def test_no_boundary_where_the_ratio_is_one_by_definition():
    # n_s = 0 column scatters around 1 (n_e = n_r by definition) in both panels; the n_s > 0 cells of λ = 0.7 cross 1
    ratios = {1.0: [[1.02, 1.3, 1.2], [0.98, 1.1, 1.05]], 0.7: [[0.99, 1.4, 0.6], [1.01, 0.8, 0.5]]}
    table = pd.DataFrame([{"lam": lam, "n_r": n_r, "n_s": n_s, "ratio": grid[i][j], "steady_from": 3, "steady_to": 6,
                           "distance": "frechet", "param_d": 2, "n_ini": 100, "K": 1, "p": 0.5, "seed": 0}
                          for lam, grid in ratios.items() for i, n_r in enumerate([100, 50]) for j, n_s in enumerate([0, 50, 200])])
    rows = pd.DataFrame({"sweep": "s", "family": "gaussian", "loop": "fresh_data", "n_r": [50, 100], "n_s": 50,
                         "lam": 1.0, "replicate": 0, "generation": 1})
    fig = phase_diagram(rows, table=table)
    for ax in fig.get_axes():
        if not ax.get_title().startswith("λ"):
            continue
        contours = [c for c in ax.collections if "Contour" in type(c).__name__]
        vertices = np.concatenate([p.vertices for c in contours for p in c.get_paths()] or [np.empty((0, 2))])
        if ax.get_title() == "λ=1":
            assert len(vertices) == 0  # every n_s > 0 cell is above 1: no boundary, though the n_s = 0 cells cross 1
        else:
            assert len(vertices) > 0 and vertices[:, 0].min() >= 1.5  # the boundary starts at the n_s = 50 column's centre


def test_log_axes_get_quantile_bands():
    rng = np.random.default_rng(1)
    # a collapsing positive metric whose replicate s.d. exceeds its mean: mean − s.d. < 0
    df = pd.DataFrame([{"sweep": "s", "trial_id": "t", "family": "gaussian", "loop": "fully_synthetic", "lam": 0.9,
                        "replicate": r, "generation": g, "trace_cov": float(np.exp(-0.3 * g + 1.5 * rng.normal()))}
                       for r in range(40) for g in range(1, 31)])
    fig = metric_vs_generation(df, "trace_cov")
    (ax,) = fig.get_axes()
    assert ax.get_yscale() == "log"
    agg = df.groupby("generation")["trace_cov"]
    assert ((agg.mean() - agg.std()) < 0).any()  # a ±1 s.d. band would fall off the log axis
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert ys.min() > 0
    for q in (0.16, 0.84):
        for value in agg.quantile(q):
            assert np.isclose(ys, value).any()
    assert "16–84 % quantiles" in fig._suptitle.get_text()
