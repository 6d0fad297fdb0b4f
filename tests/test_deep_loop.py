"""Every deep family runs a 3-generation fully synthetic loop through Ray Tune and writes its rows
and sample grids."""

from pathlib import Path

import numpy as np
import pytest
from deep_helpers import TINY, mnist_shared

import madray
from madray.results.folder import SweepFolder
from madray.spec import parse_sweep
from madray.sweep import run_sweep

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"
FAMILIES = ["flow", "ddpm", "wgan_gp", "vae"]


def test_fully_synthetic_loop_of_every_family_through_tune(ray_local, madray_cache, tmp_path):
    mnist_shared(madray_cache)  # train the LeNet here, not once per Ray worker
    params = {f: dict(TINY[f], **({} if f == "flow" else {"cache_dir": madray_cache})) for f in FAMILIES}
    sweep = parse_sweep({
        "name": "deep3", "family": "flow", "loop": "fully_synthetic", "generations": 3, "replicates": 1,
        "n_ini": 100, "n_s": 100, "seed": 0, "lam": 0.8, "params": params, "grid": {"family": FAMILIES},
    })
    outcome = run_sweep(sweep, str(tmp_path / "out"), emit=lambda line: None)
    assert not outcome.failed, outcome.failed
    df = madray.load_results(outcome.root)
    assert len(df) == len(FAMILIES) * 3
    assert sorted(df.groupby("family")["generation"].apply(sorted).to_dict().items()) == [(f, [1, 2, 3]) for f in sorted(FAMILIES)]
    images, flow = df[df["family"] != "flow"], df[df["family"] == "flow"]
    for metric in ("fid", "precision", "recall", "density", "coverage"):
        assert np.isfinite(images[metric]).all()
    for metric in ("wasserstein", "kl", "frechet", "precision", "recall", "density", "coverage"):
        assert np.isfinite(flow[metric]).all()
    assert flow["fid"].isna().all() and images["wasserstein"].isna().all()
    assert (images["fid"] > 0).all() and images["precision"].between(0, 1).all()
    for trial in sweep.trials:
        for g in (1, 2, 3):
            png = Path(SweepFolder(str(tmp_path / "out" / "deep3")).artifact_file(trial.trial_id, g, "samples.png"))
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
