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
    ["madray.errors"],
    ["madray.config"],
    ["madray.seeding", "madray.batch", "madray.data", "madray.metrics", "madray.torch_utils", "madray.results"],
    ["madray.features", "madray.loops"],
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
