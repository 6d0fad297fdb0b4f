"""A deep family's state after one generation is a plain dict of tensors: `torch.save` it, load it
with weights_only=True in a fresh family instance, and the same seed gives the same samples."""

import numpy as np
import pytest
import torch
from deep_helpers import TINY, deep_config, mnist_shared

from madray.models import make_family
from madray.seeding import Stream, rng
from madray.trial import Trial

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"


@pytest.mark.parametrize("family", list(TINY))
def test_checkpoint_loads_weights_only_and_reproduces_samples(family, madray_cache, tmp_path):
    mnist_shared(madray_cache)  # the LeNet is trained once, before anything is timed here
    cfg = deep_config(family, madray_cache, replicates=2, n_ini=64, n_s=64, lam=0.5, params=TINY[family])
    trial = Trial(cfg)
    rows = trial.step()
    assert len(rows) == 2 and all(np.isfinite(r[m]) for r in rows for m in trial.family.metric_names)
    artifact = trial.artifacts["samples.txt" if family == "lm" else "samples.png"]
    assert artifact.decode().strip() if family == "lm" else artifact[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(isinstance(v, torch.Tensor) and v.shape[0] == 2 for v in trial.state.values())

    path = tmp_path / "state.pt"
    torch.save(trial.state, path)
    loaded = torch.load(path, weights_only=True)
    fresh = make_family(cfg, trial.family.shared)  # as a resumed worker would
    before = trial.family.sample(trial.state, 16, 0.5, rng(7, 2, Stream.SYNTHETIC))
    after = fresh.sample(loaded, 16, 0.5, rng(7, 2, Stream.SYNTHETIC))
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    other = fresh.sample(loaded, 16, 0.5, rng(8, 2, Stream.SYNTHETIC))
    key = next(iter(before))  # "x": points or images; token ids for the lm
    assert not np.array_equal(before[key], other[key])
    assert not np.array_equal(before[key][0], before[key][1])  # replicates are independent models and draws


def test_fit_is_a_function_of_the_seed(madray_cache):
    cfg = deep_config("vae", madray_cache, replicates=1, n_ini=64, n_s=64, params=TINY["vae"])
    family = make_family(cfg, mnist_shared(madray_cache, n_ref=50))
    data = family.sample_real(64, rng(0, 1, Stream.REAL_INITIAL))
    fits = [family.fit(data, None, rng(0, 1, Stream.FIT)) for _ in range(2)] + [family.fit(data, None, rng(1, 1, Stream.FIT))]
    for key in fits[0]:
        torch.testing.assert_close(fits[0][key], fits[1][key], rtol=0, atol=0)
    assert any(not torch.equal(fits[0][k], fits[2][k]) for k in fits[0])


def test_warm_start_begins_from_the_previous_generation(madray_cache):
    """With a vanishing learning rate a warm-started fit returns the previous weights; from scratch it does not."""
    shared = mnist_shared(madray_cache, n_ref=50)
    base = dict(TINY["vae"], steps=1, lr=1e-12)
    warm = make_family(deep_config("vae", madray_cache, n_ini=64, n_s=64, params=dict(base, warm_start=True)), shared)
    cold = make_family(deep_config("vae", madray_cache, n_ini=64, n_s=64, params=base), shared)
    data = warm.sample_real(64, rng(0, 1, Stream.REAL_INITIAL))
    previous = cold.fit(data, None, rng(0, 1, Stream.FIT))
    again_warm = warm.fit(data, previous, rng(0, 2, Stream.FIT))
    again_cold = cold.fit(data, previous, rng(0, 2, Stream.FIT))
    for key in previous:
        torch.testing.assert_close(again_warm[key], previous[key], rtol=0, atol=1e-9)
    assert any(not torch.allclose(again_cold[k], previous[k]) for k in previous)
