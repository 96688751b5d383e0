"""The resumable training driver and its CLI: outputs, resume (also after SIGKILL), errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from imgenlib.training import train


def test_train_writes_every_output_and_resumes(tmp_path):
    out = tmp_path / "run"
    summary = train("gan", "digits", out, preset="tiny", epochs=1, verbose=0)
    for name in (
        "model.keras",
        "samples.png",
        "history.json",
        "metrics.json",
        "run.json",
        "samples/epoch_001.png",
    ):
        assert (out / name).is_file(), name
    assert summary["epochs_completed"] == 1 and summary["train_images"] == 1797
    steps_per_epoch = 1797 // 32
    assert summary["steps_this_session"] == steps_per_epoch
    summary = train("gan", "digits", out, preset="tiny", epochs=3, verbose=0)
    history = json.loads((out / "history.json").read_text())
    assert {len(v) for v in history.values()} == {3}
    assert summary["steps_this_session"] == 2 * steps_per_epoch  # only the two missing epochs ran
    assert not [p for p in out.rglob("*.tmp*")]


def test_time_budget_stops_early(tmp_path):
    summary = train(
        "gan", "digits", tmp_path / "run", preset="tiny", epochs=50, max_minutes=0.05, verbose=0
    )
    assert summary["stopped_by_time_budget"] and summary["epochs_completed"] < 50


def test_other_settings_are_refused(tmp_path):
    train("gan", "digits", tmp_path / "run", preset="tiny", epochs=1, verbose=0)
    with pytest.raises(
        ValueError, match=r"holds a run with other settings \(loss: None → 'hinge'\)"
    ):
        train("gan", "digits", tmp_path / "run", preset="tiny", epochs=1, loss="hinge", verbose=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"kind": "diffusion"}, ValueError, "Unknown model kind 'diffusion'"),
        ({"data": "imagenet"}, ValueError, "Unknown dataset 'imagenet'"),
        ({"preset": "huge"}, ValueError, "Unknown preset 'huge'"),
        ({"loss": "wgan"}, ValueError, "Unknown loss 'wgan'"),
        ({"epochs": 0}, ValueError, "epochs must be a positive int"),
        ({"batch_size": 5000}, ValueError, "must not exceed the number of training images"),
    ],
)
def test_bad_settings(tmp_path, kwargs, error, pattern):
    settings = {
        "kind": "gan",
        "data": "digits",
        "out": tmp_path / "run",
        "preset": "tiny",
        "epochs": 1,
        **kwargs,
    }
    with pytest.raises(error, match=pattern):
        train(verbose=0, **settings)
    assert not (tmp_path / "run" / "run.json").exists()  # a refused run leaves no record behind


def test_conditional_needs_labels(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (i * 60, 0, 0)).save(folder / f"{i}.png")
    with pytest.raises(ValueError, match="needs a labelled dataset"):
        train(
            "gan",
            str(folder),
            tmp_path / "run",
            preset="tiny",
            conditional=True,
            batch_size=2,
            verbose=0,
        )


def test_cli_train_and_sample(tmp_path, run_cli):
    out = tmp_path / "run"
    result = run_cli(
        "train",
        "gan",
        "--data",
        "digits",
        "--out",
        str(out),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--conditional",
    )
    assert result.returncode == 0, result.stderr
    assert "1/1 epochs done" in result.stdout
    grid, npy = tmp_path / "g.png", tmp_path / "g.npy"
    result = run_cli(
        "sample",
        str(out),
        "--n",
        "10",
        "--seed",
        "2",
        "--out",
        str(grid),
        "--npy",
        str(npy),
        "--label",
        "3",
    )
    assert result.returncode == 0, result.stderr
    import numpy as np

    images = np.load(npy)
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    again = tmp_path / "again.png"
    assert (
        run_cli(
            "sample", str(out), "--n", "10", "--seed", "2", "--out", str(again), "--label", "3"
        ).returncode
        == 0
    )
    assert again.read_bytes() == grid.read_bytes()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--loss", "wgan"],
            "Unknown loss 'wgan'",
        ),
        (["train", "gan", "--data", "nowhere", "--out", "{tmp}/r"], "Unknown dataset 'nowhere'"),
        (
            ["train", "gan", "--data", "digits", "--out", "/proc/r"],
            "Cannot write to output directory",
        ),
        (["sample", "{tmp}/missing", "--out", "{tmp}/x.png"], "Run directory does not exist"),
        (["sample", "{tmp}", "--out", "{tmp}/x.png"], "No model.keras"),
        (["sample", "{tmp}", "--out", "{tmp}/x.png", "--n", "0"], "--n=0"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, fragment, run_cli):
    result = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def _weights_and_optimiser_state(run_dir):
    from imgenlib.training import load_run_model

    model = load_run_model(run_dir)
    optimisers = [model.g_optimizer, model.d_optimizer]
    state = {v.path: np.asarray(v) for v in model.weights}
    state |= {f"{o.name}/{v.path}": np.asarray(v) for o in optimisers for v in o.variables}
    return state


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path, run_cli):
    """Kill -9 inside epoch 2 of 3, re-run: history, weights (G, D, BatchNorm statistics),
    both optimisers' state (step counters, Adam moments) and hence the stateless noise
    (keyed on the step) and the data order (keyed on the epoch) end bit-identical to a run
    that was never interrupted (same machine, so no float tolerance is needed)."""
    out = tmp_path / "run"
    args = ["train", "gan", "--data", "digits", "--out", str(out), "--preset", "tiny"]
    args += ["--epochs", "3"]
    env = {**os.environ, "IMGENLIB_QUICK": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "imgenlib", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = out / "backup" / "state.json"
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if state.exists() and json.loads(state.read_text() or "{}").get("epoch", 0) >= 1:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no epoch finished in time")
        time.sleep(0.3)  # now inside epoch 2
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    finished = json.loads(state.read_text())["epoch"]
    assert 1 <= finished < 3
    history = json.loads((out / "history.json").read_text())
    assert {len(v) for v in history.values()} == {finished}

    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps_this_session"] == (3 - finished) * (1797 // 32)
    assert not [p for p in out.rglob("*.tmp*")]

    reference = tmp_path / "uninterrupted"
    train("gan", "digits", reference, preset="tiny", epochs=3, verbose=0)
    assert json.loads((out / "history.json").read_text()) == json.loads(
        (reference / "history.json").read_text()
    )
    resumed, expected = _weights_and_optimiser_state(out), _weights_and_optimiser_state(reference)
    assert resumed.keys() == expected.keys() and len(expected) > 20
    for name, value in expected.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
