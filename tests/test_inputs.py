"""Issue 11, inputs: every hostile or costly sweep is refused at parse time, with a message and no traceback."""

import dataclasses
import itertools
import random
import time
import tracemalloc

import pytest
import yaml

from madray.cli.main import main
from madray.config import ConfigError, TrialConfig
from madray.loops import LOOPS, loop_class
from madray.models import family_class
from madray.spec import NAME_RULE, load_sweep, parse_sweep, trial_memory
from madray.trial import run_trial

BASE = {"name": "s", "family": "gaussian", "loop": "fully_synthetic", "generations": 2, "replicates": 2}


def run_cli(tmp_path, capsys, text, *extra, dry_run=True):
    """`madray run [--dry-run]` on a sweep file holding `text` (str or bytes): exit status, stderr."""
    path = tmp_path / "s.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    status = main(["run", str(path), "--out", str(tmp_path / "out"), *extra, *(["--dry-run"] if dry_run else [])])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize("name", [".", "..", ".hidden", "a/b", "../up", "", "x" * 101, "a b", "é"])
def test_unsafe_sweep_names_are_refused_and_nothing_is_deleted(tmp_path, capsys, name):
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "results").mkdir()  # looked like a run to the old --overwrite
    (out / "user.txt").write_text("mine")
    (tmp_path / "above.txt").write_text("mine too")
    status, err = run_cli(tmp_path, capsys, yaml.safe_dump({**BASE, "name": name}), "--overwrite", dry_run=False)
    assert status == 2 and NAME_RULE in err, err
    assert (out / "user.txt").read_text() == "mine" and (tmp_path / "above.txt").exists() and (out / "keep").is_dir()


def test_safe_names_are_accepted():
    for name in ("quickstart", "gaussian_d100", "run-2.v3", "_x", "A" * 100):
        assert parse_sweep({**BASE, "name": name}).name == name


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("text, fragment", [
    ("lam: .inf", "lam = inf: expected a finite number"),
    ("lam: 1.0e+400", "lam = inf: expected a finite number"),  # overflows to inf when parsed
    ("lam: 1e400", "lam = '1e400': expected float"),  # YAML 1.1 reads a float without '.' as a string
    ("lam: -.inf", "lam = -inf"),
    ("lam: .nan", "lam = nan: expected a finite number"),
    ("p: .nan", "p = nan"),
    ("resources: {cpu: .inf}", "resources.cpu = inf"),
    ("n_s: 1.0e+400", "n_s = inf: expected int"),
])
def test_non_finite_numbers_are_refused(tmp_path, capsys, text, fragment):
    status, err = run_cli(tmp_path, capsys, yaml.safe_dump(BASE) + text + "\n")
    assert status == 2 and fragment in err, err


# --------------------------------------------------------------------------- files
def test_non_utf8_file_directory_and_missing_file(tmp_path, capsys):
    status, err = run_cli(tmp_path, capsys, b"name: s\nfamily: gaussian\n# caf\xe9\n")
    assert status == 2 and "not UTF-8 text (byte 0xe9 at offset" in err, err
    with pytest.raises(ConfigError, match="is a directory"):
        load_sweep(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_sweep(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, fragment", [
    ("name: a\nfamily: gaussian\nloop: replace\nname: b\n", "duplicate key 'name' (first on line 1)"),
    ("name: a\nfamily: gaussian\nloop: replace\nparams:\n  gaussian: {d: 2, d: 3}\n", "duplicate key 'd'"),
    ("name: a\nfamily: gaussian\nloop: replace\ngrid:\n  lam: [1.0]\n  lam: [0.5]\n", "duplicate key 'lam'"),
])
def test_duplicate_yaml_keys_are_refused(tmp_path, capsys, text, fragment):
    status, err = run_cli(tmp_path, capsys, text)
    assert status == 2 and fragment in err, err


def test_merge_keys_still_parse(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nfamily: gaussian\nloop: replace\nparams:\n  gaussian:\n    <<: {d: 2}\n    d: 3\n")
    assert load_sweep(path).trials[0].params.d == 3  # an explicit key overrides a merged one, as YAML says


def test_malformed_yaml(tmp_path, capsys):
    status, err = run_cli(tmp_path, capsys, "name: [unclosed\nfamily: gaussian\n")
    assert status == 2 and "not valid YAML" in err and "line" in err, err


def test_duplicate_keys_in_a_set_value(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(BASE))
    with pytest.raises(ConfigError, match="--set.*duplicate key 'd'"):
        load_sweep(path, ["params={gaussian: {d: 2, d: 3}}"])


# --------------------------------------------------------------------------- grids
@pytest.mark.parametrize("grid, fragment", [
    ({"lam": [1.0, 0.5, 1]}, "1.0 (item 0) and 1 (item 2) are the same value"),
    ({"n_s": [1e3, 1000]}, "are the same value"),
    ({"metrics": [["trace_cov"], ["trace_cov"]]}, "are the same value"),
    ({"gmm.n_eval": [100, 200]}, "grid.gmm.n_eval: the sweep runs family 'gaussian', not 'gmm'"),
    ({"gaussian.dim": [2, 3]}, "family 'gaussian' has no parameter 'dim'; allowed: d"),
])
def test_grid_axes_that_only_repeat_trials_are_refused(grid, fragment):
    with pytest.raises(ConfigError) as e:
        parse_sweep({**BASE, "grid": grid})
    assert fragment in str(e.value), str(e.value)


def test_grid_axis_of_a_gridded_family_is_accepted():
    sweep = parse_sweep({**BASE, "grid": {"family": ["gaussian", "gmm"], "gmm.n_eval": [100, 200]}})
    assert {(t.family, getattr(t.params, "n_eval", None)) for t in sweep.trials} >= {("gmm", 100), ("gmm", 200)}


def test_a_billion_point_grid_is_counted_not_expanded():
    grid = {"lam": [1 + i / 1000 for i in range(1000)], "n_s": list(range(10, 1010)), "seed": list(range(1000))}
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"1,000,000,000 points \(1000 lam × 1000 n_s × 1000 seed\).*--max-trials = 100,000"):
        parse_sweep({**BASE, "grid": grid})
    elapsed, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 2 and peak < 20e6, (elapsed, peak)  # expanding would take minutes and ~5.5 GB


def test_max_trials_on_the_command_line(tmp_path, capsys):
    text = yaml.safe_dump({**BASE, "grid": {"lam": [1.0, 0.9, 0.8], "seed": [0, 1]}})
    status, err = run_cli(tmp_path, capsys, text, "--max-trials", "5")
    assert status == 2 and "6 points" in err
    assert run_cli(tmp_path, capsys, text, "--max-trials", "6")[0] == 0


# --------------------------------------------------------------------------- generations and memory
def _brute_force_check(cfg):
    """The check madray made before issue 11: one training-set size per generation."""
    family = family_class(cfg.family)
    loop = loop_class(cfg.loop)
    minimum = family.min_train_size(cfg.params)
    return cfg.n_ini >= minimum and all(loop.train_size(cfg, t) >= minimum for t in range(2, cfg.generations + 1))


def test_closed_form_training_set_bounds_match_every_generation():
    rng = random.Random(11)
    for name, loop in LOOPS.items():
        for _ in range(40):
            knobs = {"generations": rng.randint(1, 7), "n_ini": rng.randint(30, 60), "n_r": rng.randint(0, 30),
                     "n_s": rng.randint(0, 20), "K": rng.randint(1, 4), "p": rng.choice([0.0, 0.3, 1.0])}
            cfg = TrialConfig(family="gaussian", loop=name, **knobs)  # sizes only: no parse-time checks
            sizes = [loop.train_size(cfg, t) for t in range(2, cfg.generations + 1)]
            assert sizes == sorted(sizes), (name, knobs)  # the monotonicity the closed form relies on
            expected = min(((t, s) for t, s in zip(itertools.count(2), sizes)), key=lambda x: x[1], default=None)
            assert loop.smallest_train_set(cfg) == expected, (name, knobs)
            assert loop.largest_train_set(cfg) == max([cfg.n_ini, *sizes]), (name, knobs)


def test_new_validation_accepts_and_refuses_what_the_old_loop_did():
    rng = random.Random(12)
    for _ in range(300):
        spec = {**BASE, "loop": rng.choice(list(LOOPS)), "generations": rng.randint(1, 6), "n_ini": rng.randint(1, 4),
                "n_r": rng.randint(0, 3), "n_s": rng.randint(0, 3), "K": rng.randint(1, 3), "p": rng.choice([0.0, 0.5, 1.0])}
        try:
            cfg = parse_sweep(spec).trials[0]
        except ConfigError as e:
            if "training set" in str(e) or "needs at least" in str(e):  # the size check refused it
                valid = parse_sweep({**spec, "n_ini": 10, "n_r": 10, "n_s": 10}).trials[0]
                cfg = dataclasses.replace(valid, **{k: v for k, v in spec.items() if k not in ("name", "family")})
                assert not _brute_force_check(cfg), spec
            continue
        assert _brute_force_check(cfg), spec


def test_a_trillion_generations_dry_run_is_instant_and_memory_is_estimated(tmp_path, capsys):
    text = yaml.safe_dump({**BASE, "generations": 10**12})
    start = time.perf_counter()
    status, _ = run_cli(tmp_path, capsys, text)
    assert status == 0 and time.perf_counter() - start < 5
    # accumulate keeps every generation: 10^12 of them cannot fit
    status, err = run_cli(tmp_path, capsys, yaml.safe_dump({**BASE, "loop": "accumulate", "generations": 10**12}))
    assert status == 2 and "GiB, more than this machine's" in err and "--force" in err, err
    status, _ = run_cli(tmp_path, capsys, yaml.safe_dump({**BASE, "loop": "accumulate", "generations": 10**12}),
                        "--force")
    assert status == 0


MEASURED = [  # family, loop, params: the estimate must bound the measured peak, and not by much
    ("gaussian", "accumulate", {"gaussian": {"d": 20}}),
    ("gaussian", "fully_synthetic", {"gaussian": {"d": 50}}),
    ("gmm", "fresh_data", {"gmm": {"n_eval": 100, "em_iters": 3}}),
    ("gmm", "accumulate", {"gmm": {"n_eval": 100, "em_iters": 3}}),
    ("linreg", "memory", {"linreg": {"d": 20, "n_test": 100}}),
    ("linreg", "mixture", {"linreg": {"d": 20, "n_test": 100}}),
]


@pytest.mark.parametrize("family, loop, params", MEASURED, ids=[f"{m[0]}-{m[1]}" for m in MEASURED])
def test_memory_estimate_bounds_the_measured_peak(family, loop, params):
    cfg = parse_sweep({"name": "m", "family": family, "loop": loop, "generations": 4, "replicates": 4,
                       "n_ini": 1000, "n_s": 500, "n_r": 250, "K": 2, "params": params}).trials[0]
    tracemalloc.start()
    run_trial(cfg)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= trial_memory(cfg) <= 3 * peak, (peak, trial_memory(cfg))


def test_knobs_whose_infinity_means_something_still_accept_it():
    sweep = parse_sweep({**BASE, "curate": {"kind": "select", "beta": float("inf")}})
    assert sweep.trials[0].curate.beta == float("inf")
    with pytest.raises(ConfigError, match="curate.beta = nan"):
        parse_sweep({**BASE, "curate": {"kind": "select", "beta": float("nan")}})
