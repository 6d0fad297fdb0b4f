"""The deep families' training budget: fixed `steps`, or `epochs` that scale with the training set."""

import math

import pytest
from deep_helpers import TINY
from helpers import trial_config

import madray.models.flow as flow_module
from madray.config import ConfigError
from madray.trial import Trial


def minibatches_per_generation(monkeypatch, **knobs):
    """Run a small accumulate flow trial and count the minibatches each generation's fit really takes."""
    counts = []
    original = flow_module.run_steps

    def counting(step, data, steps, batch_size):
        def counted(batch):
            counts[-1] += 1
            return step(batch)
        counts.append(0)
        return original(counted, data, steps, batch_size)

    monkeypatch.setattr(flow_module, "run_steps", counting)
    params = {**TINY["flow"], **knobs}
    cfg = trial_config(family="flow", loop="accumulate", n_ini=40, n_s=24, generations=4, replicates=1,
                       params={"flow": params})
    trial = Trial(cfg)
    while not trial.done:
        trial.step()
    return counts


@pytest.mark.slow
def test_epochs_scale_steps_with_the_growing_training_set(monkeypatch):
    counts = minibatches_per_generation(monkeypatch, epochs=1.5, batch_size=16)
    sizes = [40 + (t - 1) * 24 for t in range(1, 5)]  # accumulate: n_ini + (t − 1)·n_s
    assert counts == [math.ceil(1.5 * n / 16) for n in sizes] == [4, 6, 9, 11]


def test_default_is_a_fixed_number_of_steps(monkeypatch):
    assert minibatches_per_generation(monkeypatch, steps=5, batch_size=16) == [5, 5, 5, 5]


@pytest.mark.parametrize("epochs", [0, -1.0])
def test_epochs_must_be_positive(epochs):
    with pytest.raises(ConfigError, match=f"params.vae.epochs = {epochs}.*null for a fixed number of steps"):
        trial_config(family="vae", params={"vae": {"epochs": epochs}})
