"""Issue 30, faults outside the runner: hostile YAML, huge files, system files, unreadable folders, a
damaged newest checkpoint and a run with no results yet each end in a madray message, never a traceback."""

import io
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from madray.cli.main import build_parser, main
from madray.config import ConfigError
from madray.errors import BRIEF_LIMIT, brief
from madray.results.folder import SweepFolder
from madray.results.schema import file_schema
from madray.results.store import load_trial
from madray.spec import NAME_RULE, dump_sweep, load_sweep, parse_sweep
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.experiment import results_schema
from madray.sweep.trainable import TrialRunner
from madray.sweepfile import ALIAS_BUDGET, MAX_BYTES_ENV, expanded_size
from madray.trial import run_trial

BASE = {"name": "s", "family": "gaussian", "loop": "fully_synthetic", "generations": 2, "replicates": 2}
REPO = Path(__file__).parents[1]


def bomb(levels: int = 9, width: int = 9) -> str:
    """"Billion laughs" as one flow value: level k is an anchor holding level k-1 and width-1 aliases of it,
    so the value expands to width**levels scalars from a few hundred bytes."""
    value = "&a0 [" + ", ".join(["1.0"] * width) + "]"
    for k in range(1, levels):
        value = f"&a{k} [{value}, " + ", ".join([f"*a{k - 1}"] * (width - 1)) + "]"
    return value


@pytest.fixture(scope="module", autouse=True)
def commands_imported():
    """The CLI imports its subcommands (matplotlib, Ray Tune) on first use: not part of any refusal's time."""
    build_parser()


def run_cli(tmp_path, capsys, text, *extra):
    """`madray run --dry-run` on a sweep file holding `text`: exit status, stderr (never a traceback)."""
    path = tmp_path / "s.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    status = main(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run", *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


# --------------------------------------------------------------------------- alias bombs
PLACES = {
    "name": lambda b: f"name: {b}\nfamily: gaussian\nloop: replace\n",
    "params.gaussian.d": lambda b: f"name: s\nfamily: gaussian\nloop: replace\nparams:\n  gaussian:\n    d: {b}\n",
    "resources.cpu": lambda b: f"name: s\nfamily: gaussian\nloop: replace\nresources: {{cpu: {b}}}\n",
    "grid.lam": lambda b: f"name: s\nfamily: gaussian\nloop: replace\ngrid:\n  lam: {b}\n",
}


@pytest.mark.parametrize("place", PLACES)
def test_an_alias_bomb_is_refused_while_loading(tmp_path, capsys, place):
    start = time.perf_counter()
    status, err = run_cli(tmp_path, capsys, PLACES[place](bomb()))
    assert status == 2 and "its aliases (*name) would repeat" in err and f"more than the {ALIAS_BUDGET:,}" in err, err
    assert len(err) < 1000 and time.perf_counter() - start < 2, (len(err), time.perf_counter() - start)


def test_an_alias_bomb_in_a_set_value_and_a_recursive_alias(tmp_path, capsys):
    status, err = run_cli(tmp_path, capsys, yaml.safe_dump(BASE), "--set", f"grid.lam={bomb()}")
    assert status == 2 and "--set" in err and "its aliases (*name) would repeat" in err and len(err) < 1000, err
    status, err = run_cli(tmp_path, capsys, yaml.safe_dump(BASE) + "grid:\n  lam: &r [1.0, *r]\n")
    assert status == 2 and "inside the node it names" in err, err


def test_aliases_within_the_budget_still_work(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(BASE) + "params:\n  gaussian: &g {d: 3}\n  gmm: {n_eval: 300}\n"
                    "grid:\n  lam: &l [1.0, 0.5]\n  seed: [0, 1]\n")
    assert {t.params.d for t in load_sweep(path).trials} == {3}


def _brute_force_size(obj, depth=0) -> int:
    """Nodes of a constructed document written out: every alias counted again in full."""
    assert depth < 50
    if isinstance(obj, dict):
        return 1 + sum(_brute_force_size(k, depth + 1) + _brute_force_size(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, list):
        return 1 + sum(_brute_force_size(v, depth + 1) for v in obj)
    return 1


def _random_document(rng: random.Random) -> str:
    """A YAML flow sequence of random anchors, aliases (to earlier anchors only) and nested lists."""
    anchors, items = [], []
    for i in range(rng.randint(1, 12)):
        roll = rng.random()
        if anchors and roll < 0.4:
            items.append(f"*{rng.choice(anchors)}")
        elif roll < 0.7:
            inner = [str(rng.randint(0, 9)) for _ in range(rng.randint(0, 4))]
            inner += [f"*{a}" for a in rng.sample(anchors, min(len(anchors), rng.randint(0, 2)))]
            items.append(f"&n{i} [{', '.join(inner)}]")
            anchors.append(f"n{i}")
        else:
            items.append(f"{{k{i}: {rng.randint(0, 9)}}}")
    return f"[{', '.join(items)}]"


def test_expanded_size_matches_brute_force_on_random_documents():
    rng = random.Random(0)
    for _ in range(300):
        text = _random_document(rng)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        assert expanded_size(node) == _brute_force_size(yaml.safe_load(text)), text


def test_expanded_size_of_the_bomb_in_closed_form():
    """Level k has width-1 aliases of level k-1 plus level k-1 itself: S_k = 1 + width * S_(k-1), S_0 = 1 + width."""
    for levels, width in [(1, 3), (4, 5), (9, 9)]:
        size = 1 + width
        for _ in range(1, levels):
            size = 1 + width * size
        assert expanded_size(yaml.compose(bomb(levels, width), Loader=yaml.SafeLoader)) == size


@pytest.mark.slow
def test_an_alias_bomb_is_refused_under_a_memory_limit(tmp_path):
    """The CLI in a child limited to 3 GiB of address space, of which its imports (torch, SciPy, Ray Tune)
    map 2.2 GB (the unpatched loader grew to 3.4 GB and a MemoryError after 40 s): every placement is
    refused at once with exit 2."""
    paths = []
    for place, make in PLACES.items():
        paths.append(tmp_path / f"{place}.yaml")
        paths[-1].write_text(make(bomb()))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    argvs = [["run", str(p), "--dry-run"] for p in paths]
    argvs.append(["run", str(tmp_path / "base.yaml"), "--dry-run", "--set", f"grid.lam={bomb()}"])
    child = (f"import sys, time\nfrom madray.cli.main import build_parser, main\nbuild_parser()\nfor argv in {argvs!r}:\n"
             f"    t = time.perf_counter(); status = main(argv)\n"
             f"    print('RESULT', status, round(time.perf_counter() - t, 3), flush=True)\n")
    limit = 3 * 2 ** 30
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    results = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert proc.returncode == 0 and len(results) == len(argvs), proc.stderr[-3000:]
    assert all(status == "2" and float(seconds) < 2 for status, seconds in results), results
    assert "Traceback" not in proc.stderr and proc.stderr.count("would repeat") == len(argvs), proc.stderr[-3000:]


# --------------------------------------------------------------------------- sizes and echoed values
def test_a_50_mb_sweep_file_is_refused_unread(tmp_path, capsys):
    path = tmp_path / "big.yaml"
    with path.open("w") as f:
        f.write(yaml.safe_dump(BASE) + "grid:\n  lam:\n")
        f.writelines(f"  - {i + 1}.0\n" for i in range(5_000_000))  # ~50 MB
    assert path.stat().st_size > 50e6
    tracemalloc.start()
    start = time.perf_counter()
    status = main(["run", str(path), "--dry-run"])
    seconds, (_, peak) = time.perf_counter() - start, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert status == 2 and "is larger than 1,048,576 bytes" in err and "--max-sweep-bytes" in err, err
    assert MAX_BYTES_ENV in err and "- 1.0" not in err and len(err) < 1000
    assert seconds < 1 and peak < 5e6, (seconds, peak)


def test_the_size_limit_can_be_raised_or_lowered(tmp_path, capsys, monkeypatch):
    text = yaml.safe_dump(BASE)
    size = len(text.encode())
    assert run_cli(tmp_path, capsys, text, "--max-sweep-bytes", str(size))[0] == 0
    status, err = run_cli(tmp_path, capsys, text, "--max-sweep-bytes", str(size - 1))
    assert status == 2 and f"a regular file of {size:,} bytes) is larger than {size - 1:,} bytes" in err, err
    monkeypatch.setenv(MAX_BYTES_ENV, str(size - 1))
    assert run_cli(tmp_path, capsys, text)[0] == 2
    assert run_cli(tmp_path, capsys, text, "--max-sweep-bytes", str(size))[0] == 0  # the flag wins
    monkeypatch.setenv(MAX_BYTES_ENV, "lots")
    with pytest.raises(ConfigError, match=f"{MAX_BYTES_ENV} = 'lots': expected a number of bytes"):
        load_sweep(tmp_path / "s.yaml")


def test_a_pipe_is_read_only_up_to_the_limit(tmp_path):
    fifo = tmp_path / "sweep.fifo"
    os.mkfifo(fifo)

    def feed():
        try:
            with open(fifo, "w") as f:
                f.write(yaml.safe_dump(BASE) + "#" * 100_000 + "\n")
        except BrokenPipeError:  # the reader stopped at the limit, as it should
            pass

    writer = threading.Thread(target=feed)
    writer.start()
    with pytest.raises(ConfigError, match=r"\(a pipe\) is larger than 1,000 bytes"):
        load_sweep(fifo, max_bytes=1000)
    writer.join(timeout=10)


def test_devices_are_refused_unread(capsys):
    assert main(["run", "/dev/zero", "--dry-run"]) == 2
    assert "/dev/zero is a character device, not a sweep file" in capsys.readouterr().err


@pytest.mark.parametrize("text, fragment", [
    (yaml.safe_dump({**BASE, "name": "x" * 300_000}), NAME_RULE),
    (yaml.safe_dump({**BASE, "family": "f" * 300_000}), "is not a known model family"),
    (yaml.safe_dump({**BASE, "grid": {"lam": [1.0 + i for i in range(5000)] + [1.0]}}), "are the same value"),
    (yaml.safe_dump({**BASE, "lam": list(range(5000))}), "expected float"),
    (yaml.safe_dump({**BASE, "z" * 300_000: 1}), "unknown key"),
])
def test_echoed_values_are_cut(tmp_path, capsys, text, fragment):
    status, err = run_cli(tmp_path, capsys, text)
    assert status == 2 and fragment in err and len(err) < 3 * BRIEF_LIMIT + 600, (len(err), err[:500])


def test_brief_is_repr_when_short_and_bounded_when_not():
    for value in (1.5, "abc", None, True, [1, 2], {"a": 1}, float("inf"), -3):
        assert brief(value) == repr(value)
    assert len(brief("x" * 10 ** 7)) <= BRIEF_LIMIT and len(brief(list(range(10 ** 6)))) <= BRIEF_LIMIT
    assert brief(10 ** 5000) == "<an integer of 16,610 bits>"  # repr() itself raises ValueError


def test_deep_nesting_and_a_huge_integer_are_messages(tmp_path, capsys):
    status, err = run_cli(tmp_path, capsys, yaml.safe_dump(BASE) + "n_s: " + "[" * 5000 + "\n")
    assert status == 2 and "nested deeper than" in err, err
    status, err = run_cli(tmp_path, capsys, yaml.safe_dump(BASE) + "n_s: " + "9" * 5000 + "\n")
    assert status == 2 and "not valid YAML" in err and len(err) < 1000, err


# --------------------------------------------------------------------------- files that are not sweep files
@pytest.mark.parametrize("target", ["/etc/shadow", "/etc/passwd", "/etc/group"])
def test_a_symlinked_system_file_is_described_never_quoted(tmp_path, capsys, target):
    if not os.access(target, os.R_OK):
        pytest.skip(f"{target} is not readable here")
    link = tmp_path / "sweep.yaml"
    link.symlink_to(target)
    status = main(["run", str(link), "--dry-run"])
    err = capsys.readouterr().err
    assert status == 2 and f"a symbolic link to {target}" in err, err
    assert "is not a sweep file (a symbolic link" in err or "not valid YAML" in err, err
    lines = [line for line in Path(target).read_text().splitlines() if len(line) >= 8]
    assert lines and not any(line[:12] in err for line in lines), err


def test_a_yaml_error_in_a_foreign_file_does_not_quote_it(tmp_path, capsys):
    status, err = run_cli(tmp_path, capsys, "secret: value\n  bad indent: [unclosed SECRET-LINE\n")
    assert status == 2 and "not valid YAML" in err and "line 2" in err and "SECRET-LINE" not in err, err


# --------------------------------------------------------------------------- permissions
SETPRIV = shutil.which("setpriv")


def run_without_file_capabilities(*argv: str) -> subprocess.CompletedProcess:
    """The CLI in a child without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (root ignores file modes otherwise;
    `setpriv --bounding-set=-all` drops them for the exec'd program, also under a non-root user)."""
    cmd = [SETPRIV, "--inh-caps=-all", "--bounding-set=-all", "--", sys.executable, "-m", "madray.cli.main", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


@pytest.mark.slow
@pytest.mark.skipif(SETPRIV is None, reason="needs setpriv (util-linux) to drop root's file capabilities")
def test_unreadable_and_unwritable_paths_are_a_message_naming_them(tmp_path):
    locked, read_only = tmp_path / "locked", tmp_path / "read-only"
    locked.mkdir()
    read_only.mkdir()
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump(BASE))
    secret = tmp_path / "secret.yaml"
    secret.write_text(yaml.safe_dump(BASE))
    for path, mode in ((locked, 0o000), (read_only, 0o555), (secret, 0o000)):
        path.chmod(mode)
    try:
        cases = [(["show", str(locked)], f"{locked}/"), (["run", str(sweep), "--out", str(read_only)], str(read_only)),
                 (["run", str(secret), "--dry-run"], f"{secret}: cannot be read: Permission denied")]
        for argv, fragment in cases:
            proc = run_without_file_capabilities(*argv)
            assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert not any(read_only.iterdir())
    finally:
        for path in (locked, read_only, secret):
            path.chmod(0o755)


# --------------------------------------------------------------------------- a damaged newest checkpoint
class Stop(Exception):
    """Stands in for a kill after a generation's checkpoint."""


def prepare_output(root, sweep_yaml, schema=None):
    return SweepFolder(root).prepare(sweep_yaml, schema)


def run_config(cfg, root, schema, shared, on_generation, warn=print):
    """One trial run into the sweep folder `root`, as a Ray worker runs it."""
    return TrialRunner(SweepFolder(root), file_schema(schema)).run(cfg, on_generation, warn)


def _run_until(cfg, root, schema, generations):
    def on_generation(trial, summary):
        if trial.generation == generations:
            raise Stop

    with pytest.raises(Stop):
        run_config(cfg, root, schema, None, on_generation)


@pytest.mark.parametrize("damage", ["truncated", "random bytes"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys, damage):
    sweep = parse_sweep({**BASE, "loop": "accumulate", "generations": 6, "replicates": 3, "n_ini": 40, "n_s": 30,
                         "seed": 3})
    cfg, root, schema = sweep.trials[0], str(tmp_path / "s"), results_schema(sweep)
    prepare_output(root, dump_sweep(sweep), schema=schema)
    _run_until(cfg, root, schema, 4)
    store = CheckpointStore(SweepFolder(root))
    assert store.generations(cfg.trial_id) == [4, 3]
    newest = Path(store.path(cfg.trial_id, 4))
    data = newest.read_bytes()
    if damage == "truncated":
        newest.write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        newest.write_bytes(data[:middle] + random.Random(0).randbytes(64) + data[middle + 64:])
    kept = {g: os.stat(Path(root) / "results" / f"trial_id={cfg.trial_id}" / f"gen-{g:06d}.parquet").st_mtime_ns
            for g in (1, 2, 3)}
    warnings = []
    assert run_config(cfg, root, schema, None, lambda trial, summary: None, warnings.append) is None
    err = "\n".join(warnings)
    assert f"checkpoint {newest}" in err and "resuming from generation 3's checkpoint" in err, err
    rows = load_trial(SweepFolder(root), cfg.trial_id).to_dict("records")
    want = sorted(run_trial(cfg), key=lambda r: (r["replicate"], r["generation"]))
    assert [{k: r[k] for k in w} for r, w in zip(rows, want)] == want and len(rows) == len(want)
    for g, mtime in kept.items():  # generations 1-3 were not recomputed
        assert os.stat(Path(root) / "results" / f"trial_id={cfg.trial_id}" / f"gen-{g:06d}.parquet").st_mtime_ns == mtime
    assert store.generations(cfg.trial_id) == [6, 5]


class _ShortReads:
    """A pyarrow filesystem whose reads lose the last 10 bytes (a full disk, a broken mount)."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def open_input_stream(self, path):
        with self.inner.open_input_stream(path) as f:
            return io.BytesIO(f.read()[:-10])


def test_a_checkpoint_that_reads_back_wrong_keeps_the_previous_one(tmp_path):
    store = CheckpointStore(SweepFolder(str(tmp_path)))
    saved = {"generation": 1, "state": {"m": np.ones(2)}, "real_initial": {}, "synthetic": []}
    store.save("t", saved)
    store.save("t", {**saved, "generation": 2})
    store.fs = _ShortReads(store.fs)
    with pytest.raises(OSError, match="reads back as .* bytes that differ .* the previous checkpoint is kept"):
        store.save("t", {**saved, "generation": 3})
    assert store.generations("t") == [3, 2, 1]  # nothing deleted after a failed check


# --------------------------------------------------------------------------- a run with no results yet
@pytest.mark.parametrize("stage", ["no results folder", "an empty results folder"])
def test_show_on_a_run_with_no_results_yet_says_how_to_resume(tmp_path, capsys, stage):
    sweep = parse_sweep(BASE)
    root = tmp_path / "out" / "s"
    prepare_output(str(root), dump_sweep(sweep), schema=results_schema(sweep))  # what a run writes first
    if stage == "an empty results folder":
        (root / "results" / "trial_id=x").mkdir(parents=True)
        (root / "results" / "trial_id=x" / ".tmp-0123").write_bytes(b"half")  # killed mid-write
    for path in (root, root / "results") if stage != "no results folder" else (root,):
        assert main(["show", str(path)]) == 2
        err = capsys.readouterr().err
        assert "holds no results yet" in err and f"madray run <sweep file> --out {tmp_path / 'out'}" in err, err
        assert "start again" not in err and "--overwrite is not needed" in err
