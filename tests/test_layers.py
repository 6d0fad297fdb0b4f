"""The packages stack: each imports only from layers below it, and the config columns have one source."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import madray
from madray.config import CONFIG_COLUMNS, KNOB_COLUMNS, ROW_COLUMNS, Curate, TrialConfig

ROOT = Path(madray.__file__).parent

# Bottom to top; a unit may import only units of strictly lower layers (README's "Layers" list).
LAYERS = [
    ["madray.errors", "madray.malloc"],
    ["madray.config", "madray.sweepfile"],
    ["madray.seeding", "madray.batch", "madray.data", "madray.metrics", "madray.torch_utils", "madray.results"],
    ["madray.features", "madray.loops", "madray.tracking"],
    ["madray.models"],
    ["madray.curate"],
    ["madray.spec"],
    ["madray.trial", "madray.analysis"],
    ["madray.sweep", "madray.plots", "madray.cluster"],
    ["madray.report", "madray.search"],
    ["madray.reproduce"],
    ["madray.cli"],
    ["madray"],  # the package's own __init__: load_results
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def unit(module: str) -> str:
    """madray.models.gmm -> madray.models; madray.trial -> madray.trial."""
    return ".".join(module.split(".")[:2])


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every madray module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m == "madray" or m.startswith("madray.")}


def edges() -> set[tuple[str, str]]:
    out = set()
    for path in ROOT.rglob("*.py"):
        src = module_name(path)
        for target in imports(path):
            if unit(target) != unit(src):
                out.add((unit(src), unit(target)))
    return out


def test_every_unit_has_a_layer():
    units = {unit(module_name(p)) for p in ROOT.rglob("*.py")}
    assert units - set(RANK) == set(), "add new packages/modules to LAYERS (and README's layer list)"


def test_imports_only_go_down():
    upward = sorted((a, b) for a, b in edges() if RANK[b] >= RANK[a])
    assert upward == [], f"imports that do not go to a lower layer: {upward}"


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for a, b in edges():
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in list(graph):
        if node not in state:
            visit(node, [])


def test_the_layer_check_can_fail(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from madray.cli import main\n")
    assert imports(bad) == {"madray.cli"}  # imports inside functions count


def test_config_columns_follow_trial_config():
    scalar = {f.name for f in dataclasses.fields(TrialConfig)} - {"params", "metrics", "resources", "curate"}
    curate = {f"curate_{f.name}" for f in dataclasses.fields(Curate)}  # the curation knobs, flattened
    assert set(CONFIG_COLUMNS) == scalar | curate and len(CONFIG_COLUMNS) == len(scalar) + len(curate)
    assert set(KNOB_COLUMNS) <= set(CONFIG_COLUMNS)
    assert not set(ROW_COLUMNS) & set(CONFIG_COLUMNS)


def test_no_hand_written_column_lists():
    """The config column names appear as a list literal nowhere but madray/config.py."""
    names = set(CONFIG_COLUMNS)
    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.name == "config.py" and path.parent == ROOT:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.List, ast.Tuple)):
                strings = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if len(strings & names) >= 6:  # a sort key or a panel list is not a column list
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"hand-written config column lists: {offenders}"


def test_schema_and_rows_use_the_same_columns():
    from helpers import trial_config

    from madray.results.schema import CONFIG_FIELDS
    from madray.trial import config_columns

    assert [f.name for f in CONFIG_FIELDS] == [*CONFIG_COLUMNS, *ROW_COLUMNS]
    assert list(config_columns(trial_config()))[: len(CONFIG_COLUMNS)] == list(CONFIG_COLUMNS)


# ---------------------------------------------------------------------------- one Ray boundary, one sweep folder
RAY_INTERNALS = ("ray._private", "ray._raylet", "class_cache", "ENABLE_RAY_CLUSTER")
RAY_SESSION = ROOT / "sweep" / "ray_session.py"
TESTS = Path(__file__).parent


def _sources(*roots: Path) -> list[Path]:
    return [p for r in roots for p in sorted(r.rglob("*.py"))]


def names_in(path: Path) -> set[str]:
    """Dotted names and identifiers the code uses (not its comments or docstrings)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            found.add(node.attr)
            parts, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                found.add(".".join([inner.id, *reversed(parts)]))
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def uses_ray_internals(path: Path) -> list[str]:
    names = names_in(path)
    return sorted(i for i in RAY_INTERNALS if any(n == i or n.startswith(i + ".") or n.endswith("." + i) for n in names))


def test_only_the_ray_session_touches_ray_internals():
    offenders = {str(p.relative_to(ROOT.parent)): used for p in _sources(ROOT, TESTS, ROOT.parent / "benchmarks")
                 if p != RAY_SESSION and p != Path(__file__) and (used := uses_ray_internals(p))}
    assert offenders == {}, f"Ray internals outside madray/sweep/ray_session.py: {offenders}"
    assert uses_ray_internals(RAY_SESSION) == sorted(RAY_INTERNALS)  # the check can see them


# Names of the sweep folder's layout: only results/folder.py may build paths from them.
LAYOUT_NAMES = ("RESULTS_DIR", "ARTIFACTS_DIR", "CHECKPOINTS_DIR", "SAMPLES_DIR", "FAILURES_DIR", "WORK_DIR", "TRACKING_DIR", "TUNE_DIR",
                "SWEEP_FILE", "BOUNDARY_FILE", "OWNER_FILE", "LOCK_FILE", "STOP_FILE", "SCHEMA_FILE")
FOLDER = ROOT / "results" / "folder.py"
LAYOUT_STRINGS = ("results", "artifacts", "checkpoints", "samples", "failures", "tracking", "_tune", "sweep.yaml", "boundary.parquet",
                  ".madray-owner.json", ".madray-lock", "results-schema.arrow")


def builds_folder_paths(path: Path) -> list[str]:
    """Uses of the layout's names, and joins or f-strings with a layout folder's name as one part."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Name) and node.id in LAYOUT_NAMES:
            found.append(f"{node.id}:{node.lineno}")
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("join", "path"):
            parts = [a.value for a in node.args if isinstance(a, ast.Constant)]
            found += [f"join({p!r}):{node.lineno}" for p in parts if p in LAYOUT_STRINGS]
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            found += [f"f-string {text!r}:{node.lineno}" for s in LAYOUT_STRINGS if f"/{s}/" in text]
    return found


def test_only_the_sweep_folder_builds_paths_inside_a_sweep_folder():
    # the readers may name the files they read (imported from folder.py), not build paths
    allowed = {FOLDER: None, ROOT / "results" / "store.py": {"SWEEP_FILE", "BOUNDARY_FILE"}}
    offenders = {}
    for p in _sources(ROOT):
        found = builds_folder_paths(p)
        if p in allowed:
            found = [] if allowed[p] is None else [f for f in found if f.split(":")[0] not in allowed[p]]
        if found:
            offenders[str(p.relative_to(ROOT.parent))] = found
    assert offenders == {}, f"paths inside a sweep folder built outside results/folder.py: {offenders}"


def test_the_folder_checks_can_fail(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("import ray\nfrom x import join, CHECKPOINTS_DIR\n"
                   "def f(root, t):\n    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False\n"
                   "    return join(root, 'checkpoints', t), join(root, CHECKPOINTS_DIR), f'{root}/results/{t}'\n")
    assert uses_ray_internals(bad) == ["ENABLE_RAY_CLUSTER", "ray._private"]
    assert len(builds_folder_paths(bad)) == 3
