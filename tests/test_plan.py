"""`madray plan`: the cost model's arithmetic, the CLI, and its prediction against a real run."""

import json
from pathlib import Path

import pytest
import yaml

from madray.cli.main import main
from madray.cli.plan import workers
from madray.config import ConfigError
from madray.spec import load_sweep, parse_sweep
from madray.sweep.plan import (
    FamilyCost,
    Measured,
    fit_family,
    makespan,
    memory_bytes,
    pilot_trials,
    work,
)

SPEC = {"name": "planned", "family": "gaussian", "loop": "accumulate", "generations": 6, "replicates": 10,
        "n_ini": 500, "n_s": 500, "grid": {"gaussian.d": [40, 80], "lam": [1.0, 0.9]}}


def test_fit_recovers_a_line_and_makespan_fills_slots_in_order():
    warm_up = Measured("t", 0, 100.0, 9.0)  # the first point pays the process's first calls: left out
    points = [warm_up] + [Measured("t", g, w, 0.5 + 2e-3 * w) for g, w in enumerate([100.0, 400.0, 900.0])]
    cost = fit_family(points)
    assert cost.a == pytest.approx(0.5) and cost.b == pytest.approx(2e-3) and cost.points == 3
    assert fit_family(points[1:2]) == FamilyCost(0.0, 0.7 / 100, 1)  # one work value: proportional
    assert makespan([4, 1, 1, 1, 1], 2) == 4 and makespan([1, 1, 4], 2) == 5 and makespan([3, 3], 1) == 6


def test_warm_generations_alone_set_the_cost_when_they_span_two_work_values():
    """A generation that first touches its arrays pays their page faults; the fit uses warm ones."""
    cold = [Measured("a", 1, 100.0, 5.0), Measured("b", 1, 900.0, 30.0)]
    warm = [Measured("a", 2, 100.0, 0.5 + 2e-3 * 100, warm=True), Measured("b", 2, 900.0, 0.5 + 2e-3 * 900, warm=True)]
    cost = fit_family(cold + warm)
    assert cost.a == pytest.approx(0.5) and cost.b == pytest.approx(2e-3) and cost.points == 2
    assert fit_family(cold + warm[:1]).points == 2  # one warm work value: all points but the first


def test_work_follows_the_loop_and_memory_counts_the_kept_pool():
    cfg = parse_sweep(SPEC).trials[0]  # d = 40, accumulate: generation t trains on 500 + 500 (t - 1)
    d = 40
    assert work(cfg, 1) == 10 * ((500 + 500) * d * d + d**3)  # trains on n_ini, draws n_s for generation 2
    assert work(cfg, 6) == 10 * (3000 * d * d + d**3)  # the last generation draws nothing
    # 8-byte samples of d floats: n_ini + the largest training set + the 5 synthetic generations kept
    # when generation 6 trains (generations 1-5 drew them)
    assert memory_bytes(cfg, 8 * d) == 10 * 8 * d * (500 + 3000 + 5 * 500)
    mixed = parse_sweep({**SPEC, "grid": {"family": ["gaussian", "linreg"], "gaussian.d": [40, 80]}})
    assert len(mixed.trials) == 3  # linreg ignores gaussian.d
    # the cheapest of each family, then the dearest: linreg has one trial, piloted once
    assert [(c.family, c.params.d) for c in pilot_trials(mixed)] == [("gaussian", 40), ("linreg", 10), ("gaussian", 80)]


def test_cli_plan_json_and_worker_arithmetic(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "generations": 2, "replicates": 2, "n_ini": 50, "n_s": 50}))
    assert main(["plan", str(path), "--json", "--nodes", "3", "--cpus-per-node", "4", "--pilot-seconds", "20"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["workers"] == 12 and plan["trials"] == 4 and plan["trial_generations"] == 8
    # each trial's second generation is warm (no more work than its first): the fit uses those two
    assert plan["pilot_complete"] and plan["families"]["gaussian"]["pilot_generations"] == 2
    assert plan["cpu_hours"] > 0 and len(plan["dominant"]) == 4
    assert main(["plan", str(path), "--nodes", "3"]) == 2
    assert "--nodes and --cpus-per-node go together" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        workers(type("A", (), {"workers": 0, "nodes": None, "cpus_per_node": None})(), 1)


SHIPPED = sorted(p for p in (Path(__file__).parent.parent / "sweeps").rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_plan_every_shipped_sweep(path, capsys):
    """Every shipped sweep plans (search sweeps as a bound); a pilot too short to price a family says
    the prediction is a lower bound instead of printing a total that leaves those trials out."""
    assert main(["plan", str(path), "--json", "--pilot-seconds", "0.5"]) == 0
    plan = json.loads(capsys.readouterr().out)
    spec = yaml.safe_load(path.read_text())
    if "search" in spec:
        bound = plan["search"]
        assert bound["knob"] == spec["search"].get("knob", "n_s") and bound["priced_at"] == max(spec["search"]["range"])
        assert bound["cpu_hours_at_most"] == pytest.approx(plan["cpu_hours"] * bound["max_evaluations"])
    else:
        sweep = load_sweep(path)
        assert (plan["grid_points"], plan["trials"]) == (sweep.n_grid_points, len(sweep.trials))
        assert plan["trial_generations"] == sum(c.generations for c in sweep.trials)
    assert set(plan["unpriced"]) | set(plan["families"]) == {f for f in plan_families(path, spec)}
    assert main(["plan", str(path), "--pilot-seconds", "0.5"]) == 0
    text = capsys.readouterr().out
    assert ("predicted (priced trials only: a lower bound)" in text) == ("not priced" in text)  # the same pilot


def plan_families(path, spec):
    if "search" in spec:
        from madray.search.spec import load_search
        return load_search(path).sweep.families
    return load_sweep(path).families


def test_pilot_steps_cheap_trials_until_the_trial_time_box(monkeypatch):
    """Cheap generations are too noisy to fit from two: a pilot trial steps on until it has run
    PILOT_TRIAL_S (or has no generation left), never fewer than PILOT_GENERATIONS."""
    from madray.sweep import plan

    monkeypatch.setattr(plan, "PILOT_TRIAL_S", 0.3)
    sweep = parse_sweep({**SPEC, "generations": 400, "replicates": 2, "n_ini": 20, "n_s": 20,
                         "loop": "fresh_data", "n_r": 20, "grid": {"gaussian.d": [2, 3]}})
    measured, _, finished = plan.run_pilot(sweep, seconds=30)
    assert finished
    for cfg in plan.pilot_trials(sweep):
        mine = [m for m in measured if m.trial_id == cfg.trial_id]
        assert [m.generation for m in mine] == list(range(1, len(mine) + 1))
        before_last = sum(m.seconds for m in mine[:-1])
        assert len(mine) > plan.PILOT_GENERATIONS and before_last < 0.3 <= before_last + mine[-1].seconds
