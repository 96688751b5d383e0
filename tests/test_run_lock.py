"""One writer per run directory: `imgenlib.io.lock_directory` around `train`."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from imgenlib.cli import main
from imgenlib.io import DirectoryInUse, lock_directory
from imgenlib.runs import RunConfig
from imgenlib.training import train


def test_the_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    with lock_directory(tmp_path, purpose="training") as path:
        record = json.loads(path.read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        with pytest.raises(DirectoryInUse, match=rf"training by pid {os.getpid()} on .* since "):
            with lock_directory(tmp_path):
                pass
    with lock_directory(tmp_path):  # released at the end of the block
        pass


def test_train_into_a_locked_directory_is_refused_before_writing_anything(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with lock_directory(out, purpose="training"):
        with pytest.raises(DirectoryInUse, match="in use: training by pid"):
            train(RunConfig.tiny(out), verbose=0)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def _wait_for_lock(out, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert process.poll() is None, "the first train ended early"
        lock = out / ".lock"
        if lock.exists() and lock.read_text():
            return json.loads(lock.read_text())
        time.sleep(0.05)
    pytest.fail("the first train never took the lock")


@pytest.mark.slow
def test_second_train_is_refused_and_a_sigkilled_holder_never_blocks_the_resume(tmp_path, capsys):
    """The holder is a CLI subprocess; the second and the resumed train run `main` in process
    (the same command code, without two more Python + TensorFlow starts)."""
    out = tmp_path / "run"
    args = ["train", "gan", "--data", "digits", "--out", str(out), "--preset", "tiny"]
    env = {**os.environ, "IMGENLIB_QUICK": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen(
        [sys.executable, "-m", "imgenlib", *args, "--epochs", "200"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        holder = _wait_for_lock(out, first)
        assert holder["pid"] == first.pid

        capsys.readouterr()
        assert main([*args, "--epochs", "1"]) == 2
        assert first.poll() is None, "the first train must still be running"
        error = capsys.readouterr().err
        lines = error.strip().splitlines()
        assert len(lines) == 1, error
        assert f"pid {first.pid} on {socket.gethostname()} since {holder['since']}" in lines[0]

        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait(timeout=30)
    assert json.loads((out / ".lock").read_text())["pid"] == first.pid  # left behind
    assert main([*args, "--epochs", "1"]) == 0
    assert "epochs done" in capsys.readouterr().out
    assert (out / "model.keras").is_file()
