"""The README a newcomer follows works as written: its example sweep, its --set next step, its pandas snippet."""

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from madray.cli.main import main
from madray.spec import dump_sweep, load_sweep, parse_sweep

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def test_the_example_sweep_has_its_own_folder():
    example = next(b for b in blocks("yaml") if b.startswith("name:"))
    sweep = parse_sweep(yaml.safe_load(example))
    shipped = {yaml.safe_load(p.read_text()).get("name") for p in (ROOT / "sweeps").rglob("*.yaml")}
    assert sweep.name not in shipped  # running it does not collide with a ready-made sweep's results
    assert len(sweep.trials) > 1


def test_the_set_next_step_runs_beside_the_quickstart(tmp_path, capsys):
    line = next(x for b in blocks("bash") for x in b.splitlines() if "--set generations=20" in x)
    args = [str(ROOT / a) if a.endswith(".yaml") else a for a in shlex.split(line.split("#")[0])[1:]]  # no "madray"
    out = tmp_path / "madray-results"  # the default --out, holding a quickstart run
    (out / "quickstart").mkdir(parents=True)
    (out / "quickstart" / "sweep.yaml").write_text(dump_sweep(load_sweep(ROOT / "sweeps" / "quickstart.yaml")))
    assert main([*args, "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "warning" not in printed and "results would go to" in printed
    assert main(["run", str(ROOT / "sweeps" / "quickstart.yaml"), "--set", "generations=20", "--out", str(out), "--dry-run"]) == 0
    assert "warning: " in capsys.readouterr().out  # without its own name it would collide, and --dry-run says so


def test_the_pandas_snippet_has_no_nan():
    snippet = next(b for b in blocks("python") if "madray.load_results" in b)
    lines = [x for x in snippet.splitlines() if x and not x.startswith(("import", "df =", "madray."))]
    rng = np.random.default_rng(0)
    df = pd.DataFrame([{"family": f, "loop": lp, "lam": lam, "n_s": 100, "generation": g, "replicate": r,
                        "trace_cov": rng.random() if f == "gaussian" else np.nan}
                       for f in ("gaussian", "gmm") for lp in ("fully_synthetic", "fresh_data") for lam in (1.0, 0.8)
                       for g in (1, 2) for r in range(3)])  # as the quickstart: gmm rows have no trace_cov
    scope = {"df": df}
    exec("\n".join(lines[:-1]), scope)  # noqa: S102 - the README's own snippet
    result = eval(lines[-1], scope)
    assert len(result) == 4 and not result.isna().any().any()
