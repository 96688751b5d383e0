"""Watching a run: readable logs when piped, a capped sample grid, TensorBoard event files."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

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


class _Stub:
    """A model whose ``generate`` returns `n` random images in [-1, 1]."""

    def generate(self, n, seed=0, labels=None):
        return np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 1)).astype("float32")


def _grid_side(tiles_per_row, tile, scale=2):
    return scale * (tiles_per_row * (tile + 1) - 1)


@pytest.mark.parametrize(("n", "grid", "per_row"), [(10000, 64, 8), (10000, 9, 3), (5, 64, 3)])
def test_the_png_shows_at_most_grid_tiles_and_the_npy_every_sample(tmp_path, n, grid, per_row):
    from imgenlib.demo import save_samples

    images = save_samples(
        _Stub(), n, tmp_path / "grid.png", seed=1, npy=tmp_path / "all.npy", grid=grid
    )
    assert len(images) == n
    assert np.load(tmp_path / "all.npy").shape == (n, 8, 8, 1)
    width, height = Image.open(tmp_path / "grid.png").size
    assert width == _grid_side(per_row, 8)
    assert height == _grid_side(-(-min(n, grid) // per_row), 8)


def test_grid_must_be_positive(tmp_path):
    from imgenlib.demo import save_samples

    with pytest.raises(ValueError, match="Received: grid=0"):
        save_samples(_Stub(), 10, tmp_path / "grid.png", grid=0)


@pytest.mark.slow
def test_cli_sample_10000_writes_a_64_tile_grid_and_every_sample(tmp_path, run_cli):
    out = tmp_path / "run"
    trained = run_cli("train", "gan", "--data", "digits", "--out", str(out), "--preset", "tiny")
    assert trained.returncode == 0, trained.stderr
    png, npy = tmp_path / "grid.png", tmp_path / "all.npy"
    result = run_cli("sample", str(out), "--n", "10000", "--out", str(png), "--npy", str(npy))
    assert result.returncode == 0, result.stderr
    assert "a grid of the first 64" in result.stdout
    samples = np.load(npy)
    assert samples.shape[0] == 10000
    tile = samples.shape[1]
    assert Image.open(png).size == (_grid_side(8, tile), _grid_side(8, tile))
    result = run_cli("sample", str(out), "--n", "100", "--grid", "4", "--out", str(png))
    assert result.returncode == 0, result.stderr
    assert Image.open(png).size == (_grid_side(2, tile), _grid_side(2, tile))
    refused = run_cli("sample", str(out), "--grid", "0", "--out", str(png))
    assert refused.returncode == 2 and "--grid=0" in refused.stderr
