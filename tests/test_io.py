import json
import os
import subprocess
import sys

import numpy as np
import pytest

from imgenlib.io import atomic_path, ensure_writable_dir, load_json, save_json


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".keras" and tmp.parent == tmp_path
        tmp.write_text("half-written")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.keras"]  # no temporary file left behind
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_atomic_path_keeps_every_suffix(tmp_path):
    with atomic_path(tmp_path / "classifier.weights.h5") as tmp:
        assert tmp.name.endswith(".weights.h5") and tmp.name.startswith(".classifier.")
        tmp.write_bytes(b"x")
    assert (tmp_path / "classifier.weights.h5").read_bytes() == b"x"


def test_save_json_handles_numpy_and_creates_parents(tmp_path):
    path = save_json(
        {"a": np.float32(1.5), "b": np.arange(3), "c": [np.int64(2)]}, tmp_path / "x" / "m.json"
    )
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": [2]}
    assert load_json(path)["a"] == 1.5
    with pytest.raises(TypeError, match="not JSON serialisable"):
        save_json({"bad": object()}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_ensure_writable_dir(tmp_path):
    assert ensure_writable_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="must be a directory.*file"):
        ensure_writable_dir(tmp_path / "file")


def test_unwritable_location_is_a_value_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="Cannot write to output directory"):
        ensure_writable_dir(tmp_path / "file" / "sub")


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    """A SIGKILL inside `atomic_path` leaves its temporary file; the next run removes it,
    but never a file that a live process (here: this one) is still writing."""
    from imgenlib.io import remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".model.{dead_pid}-0123abcd.tmp.keras"
    live = tmp_path / f".history.{os.getpid()}-89abcdef.tmp.json"
    unrelated = tmp_path / ".hidden.tmp.keras"
    for path in (stale, live, unrelated):
        path.write_text("x")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, unrelated.name])
    assert remove_stale_temporaries(tmp_path / "missing") == 0
