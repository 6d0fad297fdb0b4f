"""`madray report --html`: one self-contained page, checked by parsing it and in a real headless Chromium.

The page is built from a real sweep run through Ray Tune, with a reproduction page written by
madray.reproduce's own writer, saved sample grids, a failure record and a boundary table beside it.
"""

import base64
import html.parser
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import madray
from madray.cli.main import main
from madray.report.content import REPRODUCE_PAGE
from madray.reproduce import EXPERIMENTS
from madray.reproduce.base import Finding, Verdict
from madray.reproduce.run import PAGE, write_page
from madray.results.folder import SweepFolder
from madray.spec import parse_sweep
from madray.sweep import run_sweep

pytestmark = pytest.mark.slow  # a Ray sweep and a browser

SWEEP = {
    "name": "page", "family": "gaussian", "loop": "fresh_data", "generations": 4, "replicates": 5, "seed": 7,
    "n_ini": 60, "params": {"gaussian": {"d": 2}},
    "grid": {"lam": [1.0, 0.7], "n_r": [20, 60], "n_s": [0, 40, 200]},
}
PNG = b"\x89PNG\r\n\x1a\n"
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def png_bytes(seed):
    buf = io.BytesIO()
    mpimg.imsave(buf, np.random.default_rng(seed).random((12, 12, 3)), format="png")
    return buf.getvalue()


@pytest.fixture(scope="module")
def sweep_root(ray_local, tmp_path_factory):
    outcome = run_sweep(parse_sweep(SWEEP), str(tmp_path_factory.mktemp("html")), emit=lambda line: None)
    assert not outcome.failed
    root = Path(outcome.root)
    df = madray.load_results(str(root))
    first, second = sorted(df.trial_id.unique())[:2]
    for g in range(1, 5):  # what an image family saves per generation
        (root / "artifacts" / first).mkdir(parents=True, exist_ok=True)
        (root / "artifacts" / first / f"gen-{g:06d}-samples.png").write_bytes(png_bytes(g))
    SweepFolder(str(root)).write_failure(second, 3, "diverged", "NaN <in> the fit & more")  # HTML special characters
    exp = EXPERIMENTS["mad_gaussian_collapse"]
    verdict = Verdict(exp.name, exp.claim, (Finding("λ=1: a | b", 1.02, 0.05, "closed form = 1 (within 4 SE)", True),
                                            Finding("λ=0.7: drift", -0.3, 0.1, "direction: > 2 SE above 0", False)))
    figure = root / f"{exp.name}.png"
    figure.write_bytes(png_bytes(99))
    write_page(exp, verdict, str(figure), str(root), "laptop")
    SweepFolder(str(root)).write_boundary(pd.DataFrame({
        "point": ["t0", "t1"], "n_r": [20, 60], "lam": [0.7, 0.7], "knob": "n_s", "statistic": "ratio", "threshold": 1.0,
        "value": [55.0, np.nan], "low": [40.0, np.nan], "high": [70.0, np.nan],
        "status": ["found", "admissible over the whole range"], "evaluations": [6, 2], "trial_generations": [24, 8]}))
    return root


@pytest.fixture(scope="module")
def page(sweep_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "report.html"
    assert main(["report", str(sweep_root), "--html", "--out", str(out)]) == 0
    return out


class Page(html.parser.HTMLParser):
    """Tags with their attributes, the page's text, and its tables as lists of rows of cell texts."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.text, self.tables = [], [], []
        self._cell = None
        self.feed(text)

    @property
    def cells(self):
        return [cell for table in self.tables for row in table for cell in row]

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def images(parsed):
    return [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]


def test_the_page_is_self_contained(page):
    text = page.read_text()
    parsed = Page(text)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    for tag, attrs in parsed.tags:  # nothing to fetch: images are data: URIs, links stay in the page
        for key in ("src", "href", "srcset", "poster", "data"):
            if key in attrs:
                assert attrs[key].startswith("data:image/png;base64," if key == "src" else "#"), (tag, key, attrs[key][:40])
    policy = next(a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy and "img-src data:" in policy
    for src in images(parsed):
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG


def test_the_page_shows_the_sweep(page, sweep_root):
    parsed = Page(page.read_text())
    words = "".join(parsed.text)
    df = madray.load_results(str(sweep_root))
    assert f"{df.trial_id.nunique()} trials (12 grid points), {len(df)} result rows" in words
    assert "n_s:\n  - 0\n  - 40\n  - 200" in words  # the sweep file as run
    # the reproduction: verdict, claim and findings as madray.reproduce wrote them
    exp = EXPERIMENTS["mad_gaussian_collapse"]
    assert f"FAIL: {exp.name} ({exp.paper})" in words and exp.claim in words
    assert "λ=1: a | b" in parsed.cells and "FAIL" in parsed.cells
    assert "NaN <in> the fit & more" in parsed.cells  # the failure, escaped and read back intact
    assert "admissible over the whole range" in parsed.cells  # the boundary table
    assert "ratio_high" in parsed.cells and "admissible" in parsed.cells  # n_e table
    # the final table: mean, Student-t interval and median of each trial's last generation
    last = df[df.generation == 4]
    tid = sorted(df.trial_id.unique())[3]
    values = last[last.trial_id == tid]["frechet"]
    header, *rows = next(t for t in parsed.tables if "frechet 95% CI" in t[0])
    row = next(r for r in rows if r[0] == tid)
    assert len(rows) == df.trial_id.nunique()
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    column = header.index("frechet")
    assert float(row[column]) == pytest.approx(values.mean(), rel=1e-3)
    assert row[column + 1] == f"[{low:.4g}, {high:.4g}]"
    assert float(row[column + 2]) == pytest.approx(values.median(), rel=1e-3)


def test_the_page_holds_every_figure_and_grid(page, sweep_root):
    parsed = Page(page.read_text())
    srcs = [base64.b64decode(s.split(",", 1)[1]) for s in images(parsed)]
    first = min((sweep_root / "artifacts").iterdir())
    grids = [(first / f"gen-{g:06d}-samples.png").read_bytes() for g in range(1, 5)]
    assert all(g in srcs for g in grids)  # each saved grid, byte for byte
    assert (sweep_root / "mad_gaussian_collapse.png").read_bytes() in srcs
    figures = {a["id"] for t, a in parsed.tags if t == "figure" and "id" in a}
    assert {"fig-phase-diagram", "fig-frechet-vs-generation", "fig-sample-grids"} <= figures
    assert len(srcs) == len(figures) + len(grids) + 1


# --------------------------------------------------------------------------- a real browser
def chromium():
    """Debian's Chromium, installed with apt-get when missing; a skip with the reason where it cannot be."""
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("no Chromium and no way to install it here (needs root and apt-get: apt-get install -y chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "chromium"]
    done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:  # a stale package list: update it once
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
        done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if shutil.which("chromium") is None:
        pytest.skip(f"Chromium could not be installed (apt-get install -y chromium): {done.stderr.strip()[-300:]}")
    return shutil.which("chromium")


# Appended to a copy of the page: after load, every image's decoded width goes into the DOM.
PROBE = ('<script>window.addEventListener("load", () => document.body.setAttribute("data-widths", '
         '[...document.images].map(i => i.naturalWidth).join(",")));</script></body>')


def browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"  # a fresh profile per run
    cmd = [chromium(), *BROWSER_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=10000", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)  # callers read its output


def in_browser(page: Path, tmp_path: Path) -> tuple[list[int], list[str]]:
    """(decoded width of each image, console messages) of `page` loaded in headless Chromium."""
    probe = tmp_path / f"probe-{page.name}"
    text = page.read_text().replace("</body>", PROBE)
    probe.write_text(text.replace("style-src 'unsafe-inline'", "style-src 'unsafe-inline'; script-src 'unsafe-inline'"))
    done = browse(probe, tmp_path, "--dump-dom")
    widths = re.search(r'data-widths="([^"]*)"', done.stdout)
    assert widths, f"the probe did not run: {done.stderr[-2000:]}"
    console = re.findall(r":CONSOLE[^\]]*\] (.*)", done.stderr)
    return [int(w) for w in widths.group(1).split(",") if w], console


def test_the_browser_check_can_fail(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                   "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\"></head><body>"
                   f'<img src="data:image/png;base64,{base64.b64encode(png_bytes(1)).decode()}">'
                   '<img src="data:image/png;base64,AAAA"><img src="http://example.invalid/x.png"></body></html>')
    widths, console = in_browser(bad, tmp_path)
    assert widths[0] == 12 and widths[1:] == [0, 0]  # a corrupt image and a refused one do not decode
    assert any("Content Security Policy" in line and "example.invalid" in line for line in console)


def test_the_page_in_a_real_browser(page, tmp_path):
    widths, console = in_browser(page, tmp_path)
    assert console == []
    assert len(widths) == len(images(Page(page.read_text()))) and min(widths) > 0  # every image decodes
    shot = tmp_path / "shot.png"
    done = browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,1800")
    assert shot.is_file(), done.stderr[-2000:]
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (1800, 1280) and pixels[..., :3].std() > 0.05  # a page was drawn, not a blank


def test_the_reproduce_page_name_is_shared():
    assert REPRODUCE_PAGE == PAGE  # madray.report reads what madray.reproduce writes (it sits below it)
