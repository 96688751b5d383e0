"""Watching a run: readable logs when piped, a capped sample grid, TensorBoard event files."""

import io
import os
import subprocess
import sys

import pytest

from imgenlib._env import live_progress


def test_live_progress_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert live_progress() is False

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert live_progress() is True


def test_verbose_is_validated(tmp_path):
    from imgenlib.training import train

    with pytest.raises(ValueError, match="Received: verbose=3"):
        train("gan", "digits", tmp_path / "run", preset="tiny", epochs=1, verbose=3)


@pytest.mark.slow
def test_a_log_redirected_to_a_file_has_one_line_per_epoch(tmp_path):
    """``train ... > log 2>&1``: no ANSI codes, no carriage-return redraws, a few lines
    (well under a few KB) per epoch."""
    epochs = 3
    log = tmp_path / "train.log"
    env = {**os.environ, "IMGENLIB_QUICK": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = ["train", "gan", "--data", "digits", "--out", str(tmp_path / "run")]
    with open(log, "wb") as file:
        result = subprocess.run(
            [sys.executable, "-m", "imgenlib", *args, "--preset", "tiny", "--epochs", str(epochs)],
            stdout=file,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=300,
        )
    text = log.read_bytes().decode()
    assert result.returncode == 0, text
    assert "\x1b" not in text and "\r" not in text, text[:2000]
    assert len(text) < 2000 * epochs, text
    assert sum("d_loss" in line for line in text.splitlines()) == epochs, text
    assert f"{epochs}/{epochs} epochs done" in text
