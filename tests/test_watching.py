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
            [sys.executable, "-m", "imgenlib", *args, "--preset", "tiny", "--epochs", str(epochs)]
            + ["--tensorboard"],
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
    assert f"tensorboard --logdir {tmp_path / 'run' / 'logs'}" in text
    assert list((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))


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
def test_cli_sample_10000_writes_a_64_tile_grid_and_every_sample(tmp_path, run_cli, capsys):
    """Also: TensorBoard is off by default (the run is trained without it: no DIR/logs)."""
    from imgenlib.cli import main
    from imgenlib.runs import RunConfig
    from imgenlib.training import train

    out = tmp_path / "run"
    config = RunConfig.tiny(out)
    assert config.tensorboard is False
    train(config, verbose=0)  # in process: the CLI's own train is tested elsewhere
    assert not (out / "logs").exists()
    png, npy = tmp_path / "grid.png", tmp_path / "all.npy"
    result = run_cli("sample", str(out), "--n", "10000", "--out", str(png), "--npy", str(npy))
    assert result.returncode == 0, result.stderr
    assert "a grid of the first 64" in result.stdout
    samples = np.load(npy)
    assert samples.shape[0] == 10000
    tile = samples.shape[1]
    assert Image.open(png).size == (_grid_side(8, tile), _grid_side(8, tile))
    assert main(["sample", str(out), "--n", "100", "--grid", "4", "--out", str(png)]) == 0
    assert Image.open(png).size == (_grid_side(2, tile), _grid_side(2, tile))
    capsys.readouterr()
    assert main(["sample", str(out), "--grid", "0", "--out", str(png)]) == 2
    assert "--grid=0" in capsys.readouterr().err


def _events(log_dir):
    """{tag: {step: (plugin, value)}} of every event file under `log_dir`; duplicates fail."""
    import tensorflow as tf

    found = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                steps = found.setdefault(value.tag, {})
                assert event.step not in steps, f"duplicate step {event.step} of {value.tag}"
                steps[event.step] = (
                    value.metadata.plugin_data.plugin_name,
                    tf.make_ndarray(value.tensor),
                )
    return found


def test_tensorboard_logs_scalars_samples_and_settings_across_a_resume(tmp_path):
    """Every history metric and both learning rates per epoch, a PNG grid per epoch, the
    settings; a resumed session continues at the restored epoch without duplicate steps."""
    import dataclasses
    import json

    from imgenlib.runs import RunConfig
    from imgenlib.training import train

    out = tmp_path / "run"
    config = dataclasses.replace(RunConfig.tiny(out), tensorboard=True)
    train(config, verbose=0)
    train(dataclasses.replace(config, epochs=2), verbose=0)  # resumes at epoch 1

    events = _events(out / "logs")
    history = json.loads((out / "history.json").read_text())
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(history)
    for name, values in history.items():
        assert events[name].keys() == {1, 2}, name
        for step, (plugin, value) in events[name].items():
            assert plugin == "scalars"
            np.testing.assert_allclose(value, values[step - 1], rtol=1e-6)
    for optimizer in ("g_optimizer", "d_optimizer"):
        plugin, rate = events[f"learning_rate/{optimizer}"][2]
        assert plugin == "scalars" and 0 < rate < 1
    assert events["samples"].keys() == {1, 2}
    plugin, (width, height, png) = events["samples"][2]
    assert plugin == "images"
    picture = Image.open(io.BytesIO(png))
    assert picture.size == (int(width), int(height)) == (8 * 29 - 1, 8 * 29 - 1)
    assert events["run_config"].keys() == {0, 1}  # one per session, at its first step
    plugin, text = events["run_config"][0]
    assert plugin == "text" and "| kind | 'gan' |" in text.item().decode()
    assert "tensorboard" not in RunConfig.IDENTITY
    try:
        import tensorboard.plugins.hparams.api  # noqa: F401
    except ImportError:  # not a dependency: the settings are still in run_config
        return
    assert events["_hparams_/session_start_info"].keys() == {0}  # once per run
