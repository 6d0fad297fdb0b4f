"""Issue 11, data loss: madray deletes only what it created, only inside <out>/<name>, one run at a time."""

import hashlib
import json
import os
import socket
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import yaml

from madray.cli.main import main
from madray.errors import BusyError
from madray.results.files import delete_within, is_within
from madray.results.folder import LOCK_FILE, OWNER_FILE, SweepFolder
from madray.spec import dump_sweep, parse_sweep


def prepare_output(root, sweep_yaml, **kwargs):
    return SweepFolder(root).prepare(sweep_yaml, **kwargs)


def sweep_lock(root):
    return SweepFolder(root).lock()

SWEEP = {"name": "quick", "family": "gaussian", "loop": "accumulate", "generations": 3, "replicates": 2,
         "n_ini": 20, "n_s": 10, "params": {"gaussian": {"d": 2}}, "grid": {"lam": [1.0, 0.5]}}
SWEEP_YAML = dump_sweep(parse_sweep(SWEEP))


def user_files(base: Path) -> dict[str, tuple[bytes, int]]:
    """Files beside and above the sweep folder, including look-alikes a string-prefix check would hit."""
    files = {
        base / "above.txt": b"above",
        base / "out" / "beside.txt": b"beside",
        base / "out" / ".tmp-not-madrays": b"looks like a temporary",
        base / "out" / "quick2" / "results" / "trial_id=x" / "gen-000001.parquet": b"a neighbour's run",
        base / "out" / "quick.bak" / OWNER_FILE: b'{"created_by": "madray"}',
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return snapshot(base, exclude=base / "out" / "quick")


def snapshot(base: Path, exclude: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in base.rglob("*")
            if p.is_file() and not is_within(str(exclude), str(p))}


def test_overwrite_refuses_a_folder_madray_did_not_create(tmp_path):
    root = tmp_path / "quick"
    (root / "results").mkdir(parents=True)  # the only sign the old --overwrite looked for
    (root / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match=rf"{root} was not created by madray \(it has no {OWNER_FILE}\)"):
        prepare_output(str(root), SWEEP_YAML, overwrite=True)
    assert (root / "thesis.tex").read_text() == "years of work"


def test_overwrite_refuses_a_symbolic_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / OWNER_FILE).write_text('{"created_by": "madray"}')
    (target / "data.csv").write_text("1,2")
    os.symlink(target, tmp_path / "quick")
    with pytest.raises(FileExistsError, match="symbolic link"):
        prepare_output(str(tmp_path / "quick"), SWEEP_YAML, overwrite=True)
    assert (target / "data.csv").exists()


def test_new_folder_is_marked_with_hash_and_version_and_overwrite_keeps_the_lock(tmp_path):
    root = tmp_path / "quick"
    assert prepare_output(str(root), SWEEP_YAML) is False
    owner = json.loads((root / OWNER_FILE).read_text())
    assert owner["created_by"] == "madray" and owner["madray_version"] == "0.1.0"
    assert owner["sweep_sha256"] == hashlib.sha256(SWEEP_YAML.encode()).hexdigest()
    (root / LOCK_FILE).write_text("held")
    (root / "results" / "trial_id=a").mkdir(parents=True)
    other = dump_sweep(parse_sweep({**SWEEP, "generations": 4}))
    assert prepare_output(str(root), other, overwrite=True) is False
    assert sorted(p.name for p in root.iterdir()) == sorted([LOCK_FILE, OWNER_FILE, "sweep.yaml"])
    assert json.loads((root / OWNER_FILE).read_text())["sweep_sha256"] == hashlib.sha256(other.encode()).hexdigest()


def test_a_folder_that_existed_with_files_is_never_marked(tmp_path):
    root = tmp_path / "quick"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    assert prepare_output(str(root), SWEEP_YAML) is False  # runs, beside the user's file
    assert not (root / OWNER_FILE).exists()
    with pytest.raises(FileExistsError, match="not created by madray"):
        prepare_output(str(root), dump_sweep(parse_sweep({**SWEEP, "generations": 4})), overwrite=True)


@pytest.mark.parametrize("path", ["/r/quick/../quick2/x", "/r/quick2", "/r", "/r/quick", "/r/quick/./.."])
def test_delete_within_refuses_everything_outside_the_sweep_folder(path):
    with pytest.raises(ValueError, match="not inside the sweep folder"):
        delete_within(pafs.LocalFileSystem(), "/r/quick", path)


@pytest.mark.slow
def test_every_delete_path_of_real_runs_stays_inside_the_sweep_folder(ray_local, tmp_path, capsys):
    """Run (checkpoint rotation, temporary-file clean-up, failure clearing), resume, overwrite, refused
    runs: the files beside and above <out>/quick are byte-for-byte and mtime the same afterwards."""
    before = user_files(tmp_path)
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    run = ["run", str(path), "--out", str(tmp_path / "out")]
    assert main(run) == 0
    root = tmp_path / "out" / "quick"
    trial = next(root.glob("results/trial_id=*")).name.split("=")[1]
    # the clean-ups a crashed trial triggers when it runs again, called as its worker calls them
    (root / "results" / f"trial_id={trial}" / ".tmp-left-by-a-killed-writer").write_bytes(b"x")
    folder = SweepFolder(str(root))
    folder.remove_temporaries(trial)
    folder.write_failure(trial, 2, "crashed", "worker died")
    folder.clear_failure(trial)
    assert not list(root.glob("results/*/.tmp-*")) and not list(root.glob("failures/*"))
    assert main(run + ["--resume"]) == 0
    assert main(run + ["--overwrite"]) == 0
    assert sorted(p.name for p in root.glob("checkpoints/*/*")) == ["gen-000002.npz"] * 2 + ["gen-000003.npz"] * 2  # gen 1 rotated out, 2 kept as the fallback
    path.write_text(yaml.safe_dump({**SWEEP, "generations": 4}))
    assert main(run) == 2  # a different sweep: refused, nothing deleted
    assert "different sweep" in capsys.readouterr().err
    assert snapshot(tmp_path, exclude=root) == {**before, str(path): snapshot(tmp_path, root)[str(path)]}


def test_a_second_run_on_the_same_folder_is_refused_at_once(tmp_path, capsys):
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    root = tmp_path / "out" / "quick"
    with sweep_lock(str(root)):
        assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert f"in use by another madray run (host {socket.gethostname()}, pid {os.getpid()}, since" in err, err
        with pytest.raises(BusyError):
            with sweep_lock(str(root)):
                pass
    with sweep_lock(str(root)):  # released when the first run ends
        pass
    assert not root.exists()  # nothing was written: no folder is left behind


def test_refused_resume_leaves_no_folder(tmp_path, capsys):
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert not (tmp_path / "out" / "quick").exists()
