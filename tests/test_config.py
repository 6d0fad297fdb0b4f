"""Bad sweeps are rejected before Ray starts and before anything is written."""

import pytest

from madray.cli.main import main
from madray.config import ConfigError
from madray.spec import apply_overrides, load_sweep, parse_sweep

BASE = {"name": "bad", "family": "gaussian", "loop": "fully_synthetic", "generations": 2, "replicates": 2}

CASES = [
    ({"lamda": 0.5}, ["unknown key 'lamda'", "allowed keys", "lam"]),
    ({"n_s": "many"}, ["n_s = 'many'", "expected int"]),
    ({"lam": 0}, ["lam = 0", "must be > 0"]),
    ({"lam": -0.5}, ["lam = -0.5", "must be > 0"]),
    ({"n_s": 0}, ["n_s = 0", "fully_synthetic", "n_s >= 1"]),
    ({"n_ini": 1}, ["n_ini = 1", "'gaussian' needs at least 2"]),
    ({"loop": "fresh_data", "n_r": 1, "n_s": 0}, ["generation 2", "1 samples", "needs at least 2"]),
    ({"loop": "memory", "K": 0}, ["K = 0", ">= 1"]),
    ({"loop": "mixture", "p": 1.5}, ["p = 1.5", "[0, 1]"]),
    ({"family": "stylegan9"}, ["family = 'stylegan9'", "known: gaussian"]),
    ({"loop": "recycle"}, ["loop = 'recycle'", "known: fully_synthetic"]),
    ({"params": {"gaussian": {"dim": 3}}}, ["params.gaussian", "unknown key 'dim'", "allowed keys: d"]),
    ({"params": {"gaussian": {"d": 0}}}, ["params.gaussian.d = 0"]),
    ({"grid": {"lam": [1.0, -1.0]}}, ["grid point 1", "lam=-1.0", "must be > 0"]),
    ({"grid": {"lambda": [1.0]}}, ["grid: unknown key 'lambda'"]),
    ({"grid": {"lam": []}}, ["grid.lam", "non-empty list"]),
    ({"metrics": ["fid"]}, ["metrics", "'fid' is not one of them"]),
    ({"loop": "synthetic_augmentation", "n_r": 500, "n_ini": 100}, ["n_r = 500", "n_r <= n_ini"]),
    ({"loop": "synthetic_augmentation", "n_r": 0}, ["n_r = 0", "'synthetic_augmentation'", "n_r >= 1"]),
    ({"loop": "fresh_data", "n_r": 0}, ["n_r = 0", "'fresh_data'", "n_r >= 1", "'fully_synthetic'"]),
    ({"loop": "memory", "n_r": 0, "K": 2}, ["n_r = 0", "'memory'", "n_r >= 1"]),
    ({"loop": "fresh_data"}, ["n_r = 0", "'fresh_data'"]),  # the default n_r = 0 is not a fresh-data loop
    ({"params": {"gaussian": {"estimator": "biased"}}}, ["params.gaussian.estimator = 'biased'", "unbiased, mle"]),
    ({"family": "linreg", "params": {"linreg": {"design": "random"}}}, ["params.linreg.design = 'random'", "fixed, fresh"]),
    ({"family": "gmm", "params": {"gmm": {"n_ref": 5}}}, ["params.gmm.n_ref = 5", "exceed k = 5"]),
]


@pytest.mark.parametrize("change, fragments", CASES, ids=[str(c[0]) for c in CASES])
def test_rejected_with_message_and_nothing_written(tmp_path, capsys, change, fragments):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, **change}))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not out.exists()


def test_not_yaml_mapping_and_missing_file(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="is not a sweep file .a regular file of 8 bytes.: its YAML is a list of 2 items"):
        load_sweep(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_sweep(tmp_path / "nope.yaml")


def test_unsafe_yaml_is_not_executed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_sweep(path)


def test_grid_expands_to_product_with_stable_ids():
    sweep = parse_sweep({**BASE, "grid": {"lam": [1.0, 0.5], "n_s": [10, 20, 30], "gaussian.d": [2, 3]}})
    assert len(sweep.trials) == 12
    combos = {(t.lam, t.n_s, t.params.d) for t in sweep.trials}
    assert combos == {(lam, n, d) for lam in (1.0, 0.5) for n in (10, 20, 30) for d in (2, 3)}
    again = parse_sweep({**BASE, "grid": {"lam": [1.0, 0.5], "n_s": [10, 20, 30], "gaussian.d": [2, 3]}})
    assert [t.trial_id for t in sweep.trials] == [t.trial_id for t in again.trials]
    assert len({t.trial_id for t in sweep.trials}) == 12


def test_int_accepted_for_float_and_yaml_exponent_for_int():
    sweep = parse_sweep({**BASE, "lam": 1, "n_s": 1e3})
    assert sweep.trials[0].lam == 1.0 and isinstance(sweep.trials[0].lam, float)
    assert sweep.trials[0].n_s == 1000 and isinstance(sweep.trials[0].n_s, int)


def test_trial_config_round_trips_through_dict():
    from madray.spec import trial_from_dict

    t = parse_sweep({**BASE, "params": {"gaussian": {"d": 7}}, "metrics": ["trace_cov"]}).trials[0]
    assert trial_from_dict(t.to_dict()) == t


def test_overrides_apply_before_validation():
    spec = apply_overrides(dict(BASE), ["generations=5", "params.gaussian.d=4", "lam=0.5"])
    t = parse_sweep(spec).trials[0]
    assert (t.generations, t.params.d, t.lam) == (5, 4, 0.5)
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(dict(BASE), ["generations"])


@pytest.mark.parametrize("item, message", [
    ("generatoins=20", "--set 'generatoins=20': unknown key 'generatoins' (did you mean 'generations'?); allowed keys: "),
    ("params.gausian.d=3", "unknown key 'params.gausian' (did you mean 'params.gaussian'?); allowed after 'params.': gaussian,"),
    ("params.gaussian.dd=3", ("unknown key 'params.gaussian.dd' (did you mean 'params.gaussian.d'?); allowed after "
                              "'params.gaussian.': d, estimator")),
    ("curate.kindd=verify", "unknown key 'curate.kindd' (did you mean 'curate.kind'?)"),
    ("zzz=1", "--set 'zzz=1': unknown key 'zzz'; allowed keys: name,"),  # nothing close: no suggestion
])
def test_a_set_typo_is_blamed_on_the_option(tmp_path, item, message):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nfamily: gaussian\nloop: fully_synthetic\ngenerations: 2\n")
    with pytest.raises(ConfigError) as e:
        load_sweep(path, [item])
    assert message in str(e.value) and str(path) not in str(e.value)
    assert load_sweep(path, ["generations=3"]).trials[0].generations == 3  # a known key still applies


def test_dry_run_prints_grid_and_writes_nothing(tmp_path, capsys):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "grid": {"loop": ["fully_synthetic", "accumulate"], "lam": [1.0, 0.9]}}))
    assert main(["run", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "4 grid points, 4 distinct trials" in out and "accumulate" in out and "0.9" in out
    assert not (tmp_path / "out").exists()


def test_dry_run_warns_when_the_folder_holds_another_sweep(tmp_path, capsys):
    import re

    from madray.results.folder import SweepFolder
    from madray.spec import dump_sweep

    path = tmp_path / "s.yaml"
    path.write_text("name: s\nfamily: gaussian\nloop: fully_synthetic\ngenerations: 2\nreplicates: 2\n")
    folder = tmp_path / "out" / "s"
    folder.mkdir(parents=True)
    (folder / "sweep.yaml").write_text(dump_sweep(load_sweep(path)))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    assert f"{folder} holds a run of this sweep: running it resumes that run" in capsys.readouterr().out
    longer = load_sweep(path, ["generations=20"])
    with pytest.raises(FileExistsError) as refused:  # what the run itself would say
        SweepFolder(str(folder)).prepare(dump_sweep(longer))
    difference = re.search(r"different sweep \((.*?)\);", str(refused.value)).group(1)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run", "--set", "generations=20"]) == 0
    out = capsys.readouterr().out
    assert f"warning: {folder} holds a run of a different sweep ({difference}): `madray run` would refuse it" in out
    assert sorted(p.name for p in folder.iterdir()) == ["sweep.yaml"]  # nothing written
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run", "--set", "name=s-20"]) == 0
    assert "warning" not in capsys.readouterr().out  # its own folder
