"""The resumable training driver and its CLI: outputs, resume (also after SIGKILL), errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imgenlib.cli import main
from imgenlib.precision import choose_precision
from imgenlib.training import train

# The precision tests check policies, dtypes, loss scaling and resumes, not image quality:
# 16x16 digits take a quarter of 28x28's work per step.
TINY_16 = {"preset": "tiny", "image_size": 16}


@pytest.mark.slow
def test_train_writes_every_output_resumes_and_refuses_other_settings(tmp_path):
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
    with pytest.raises(
        ValueError, match=r"holds a run with other settings \(loss: None → 'hinge'\)"
    ):
        train("gan", "digits", out, preset="tiny", epochs=4, loss="hinge", verbose=0)
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 3


def test_time_budget_stops_early(tmp_path):
    summary = train(
        "gan", "digits", tmp_path / "run", preset="tiny", epochs=50, max_minutes=0.05, verbose=0
    )
    assert summary["stopped_by_time_budget"] and summary["epochs_completed"] < 50


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"kind": "flow"}, ValueError, "Unknown model kind 'flow'"),
        ({"data": "imagenet"}, ValueError, "Unknown dataset 'imagenet'"),
        ({"preset": "huge"}, ValueError, "Unknown preset 'huge'"),
        ({"loss": "wgan"}, ValueError, "Unknown loss 'wgan'"),
        ({"epochs": 0}, ValueError, "epochs must be a positive int"),
        ({"batch_size": 5000}, ValueError, "must not exceed the number of training images"),
        ({"patience": 3}, ValueError, r"patience needs eval_every.*patience=3"),
        ({"eval_every": 0}, ValueError, "eval_every must be a positive int"),
        ({"precision": "float16"}, ValueError, "Unknown precision 'float16'"),
        (
            {"kind": "vae", "precision": "mixed_float16"},
            ValueError,
            "for GANs and diffusion models only.*mixed_bfloat16 trains a VAE.*for a vae",
        ),
        ({"eval_every": 1, "eval_n": 5}, ValueError, "eval_n"),
        (
            {"callbacks": ["not a callback"]},
            TypeError,
            "keras.callbacks.Callback.*'not a callback'",
        ),
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


@pytest.mark.slow
def test_eval_every_logs_quality_keeps_the_best_model_and_stops_early(tmp_path):
    import keras

    out = tmp_path / "run"
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    summary = train(
        "gan", "digits", out, preset="tiny", epochs=8, eval_every=1, eval_n=100,
        patience=2, callbacks=[Spy()], verbose=0,
    )  # fmt: skip
    history = json.loads((out / "history.json").read_text())
    fids = history["fid"]
    assert len(fids) == summary["epochs_completed"] == len(seen) and len(history["kid"]) == len(
        fids
    )
    assert all(np.isfinite(fids)) and min(fids) > 0
    assert [round(logs["fid"], 6) for logs in seen] == [
        round(f, 6) for f in fids
    ]  # extra callbacks see them
    best = int(np.argmin(fids))
    assert summary["best"] == {
        "epoch": best + 1,
        "fid": round(fids[best], 4),
        "file": "best.keras",
        "eval_n": 100,
    }
    # Early stopping: either all 8 epochs ran, or it stopped exactly 2 epochs after the best.
    assert summary["epochs_completed"] == 8 or summary["epochs_completed"] == best + 1 + 2
    # best.keras holds the model of the best epoch: re-measuring it gives that FID again.
    from imgenlib.models import load_model
    from imgenlib.monitoring import QualityMonitor

    monitor = QualityMonitor("digits", n=100, metrics=("fid",), seed=0)
    monitor.set_model(load_model(out / "best.keras"))
    assert monitor.evaluate()["fid"] == pytest.approx(fids[best], rel=1e-4)


@pytest.mark.slow
def test_mixed_bfloat16_trains_saves_and_restores_the_global_policy(tmp_path):
    import keras

    from imgenlib.models import load_model

    out = tmp_path / "run"
    summary = train(
        "gan", "digits", out, **TINY_16, epochs=1, precision="mixed_bfloat16", verbose=0
    )
    assert keras.mixed_precision.global_policy().name == "float32"  # not leaked to later code
    assert summary["precision"] == "mixed_bfloat16" and np.isfinite(summary["final"]["d_loss"])
    model = load_model(out / "model.keras")
    policies = {layer.dtype_policy.name for layer in model.generator.layers if layer.weights}
    assert policies == {"mixed_bfloat16"}
    assert {v.dtype for v in model.generator.weights} == {"float32"}  # variables stay float32
    images = model.generate(8, seed=0)
    assert images.dtype == np.float32 and np.all(np.abs(images) <= 1)
    # Resuming in another precision continues the same run (the weights are float32 either
    # way); "auto" resolves to this machine's choice and records why.
    again = train("gan", "digits", out, **TINY_16, epochs=2, precision="auto", verbose=0)
    assert again["epochs_completed"] == 2
    chosen = choose_precision("gan")
    assert again["precision"] == chosen.policy and again["precision_choice"] == chosen.reason
    assert json.loads((out / "run.json").read_text())["precision"] == chosen.policy


def test_a_vae_trains_in_mixed_bfloat16_and_is_evaluated_in_float32(tmp_path):
    from imgenlib.models import load_model

    summary = train("vae", "digits", tmp_path / "run", **TINY_16, epochs=1, precision="mixed_bfloat16", verbose=0)  # fmt: skip
    assert summary["precision"] == "mixed_bfloat16" and np.isfinite(summary["final"]["loss"])
    assert np.isfinite(summary["evaluation"]["negative_elbo_nats"])
    model = load_model(tmp_path / "run" / "model.keras")
    assert {layer.dtype_policy.name for layer in model.decoder.layers if layer.weights} == {
        "mixed_bfloat16"
    }
    images = model.generate(4, seed=0)
    assert images.dtype == np.float32 and np.all(np.abs(images) <= 1)


@pytest.mark.slow
def test_mixed_float16_trains_with_loss_scaling_saves_and_resumes(tmp_path):
    """The GPU path for float16 tensor cores, run on the CPU for correctness: both GAN
    optimisers wrapped in a LossScaleOptimizer, finite losses, float32 variables and
    samples, the wrapper and its loss scale kept through save/load and a resume."""
    import keras

    from imgenlib.models import load_model

    out = tmp_path / "run"
    summary = train("gan", "digits", out, **TINY_16, epochs=1, precision="mixed_float16", verbose=0)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert summary["precision"] == "mixed_float16" and np.isfinite(summary["final"]["g_loss"])
    model = load_model(out / "model.keras")
    for optimizer in (model.g_optimizer, model.d_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        assert 1 <= float(optimizer.dynamic_scale) <= 2**15  # halved on overflow, never grown yet
    assert {layer.dtype_policy.name for layer in model.generator.layers if layer.weights} == {
        "mixed_float16"
    }
    assert {v.dtype for v in model.generator.weights} == {"float32"}
    images = model.generate(8, seed=0)
    assert images.dtype == np.float32 and np.all(np.isfinite(images))
    again = train("gan", "digits", out, **TINY_16, epochs=2, precision="mixed_float16", verbose=0)
    assert again["epochs_completed"] == 2 and np.isfinite(again["final"]["d_loss"])
    # float32 would silently restart Adam without its moments and step count: refused.
    with pytest.raises(ValueError, match=r"precision: 'mixed_float16' → 'float32' \(loss scaling"):
        train("gan", "digits", out, **TINY_16, epochs=3, precision="float32", verbose=0)


def test_eval_every_needs_a_dataset_with_an_extractor(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (i * 60, 0, 0)).save(folder / f"{i}.png")
    with pytest.raises(ValueError, match=r"shipped feature extractor.*Received: data='.*imgs'"):
        train(
            "gan",
            str(folder),
            tmp_path / "run",
            preset="tiny",
            batch_size=2,
            eval_every=1,
            verbose=0,
        )
    assert not (tmp_path / "run" / "run.json").exists()


def test_save_best_only_replaces_the_file_with_a_better_model(tmp_path):
    import keras

    from imgenlib.callbacks import SaveBest
    from imgenlib.io import save_json

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best, history = tmp_path / "best.keras", tmp_path / "history.json"
    save_json({"fid": [3.0, 2.0, float("nan")]}, history)  # an earlier session reached 2.0
    best.write_bytes(b"earlier best")
    saver = SaveBest(best, history, "fid")
    saver.set_model(model)
    saver.on_train_begin()
    saver.on_epoch_end(3, {"fid": 2.5})  # worse than the earlier session's best: kept
    assert best.read_bytes() == b"earlier best"
    saver.on_epoch_end(4, {"fid": float("nan")})
    assert best.read_bytes() == b"earlier best"
    saver.on_epoch_end(5, {"fid": 1.5})
    assert keras.saving.load_model(best).count_params() == 3 and saver.best == 1.5
    saver.on_epoch_end(6, {"fid": 1.7})
    assert saver.best == 1.5


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


@pytest.mark.slow
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
    # sampling in process: the train subprocess already pays for one Python + TF start
    grid, npy = tmp_path / "g.png", tmp_path / "g.npy"
    sample = ["sample", str(out), "--n", "10", "--seed", "2", "--label", "3"]
    assert main([*sample, "--out", str(grid), "--npy", str(npy)]) == 0
    images = np.load(npy)
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    again = tmp_path / "again.png"
    assert main([*sample, "--out", str(again)]) == 0
    assert again.read_bytes() == grid.read_bytes()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--loss", "wgan"],
            "invalid choice: 'wgan'",
        ),
        (["train", "gan", "--data", "nowhere", "--out", "{tmp}/r"], "Unknown dataset 'nowhere'"),
        (
            ["train", "gan", "--data", "digits", "--out", "/proc/r"],
            "Cannot write to output directory",
        ),
        (["sample", "{tmp}/missing", "--out", "{tmp}/x.png"], "Run directory does not exist"),
        (["sample", "{tmp}", "--out", "{tmp}/x.png"], "No model.keras"),
        (["sample", "{tmp}", "--out", "{tmp}/x.png", "--n", "0"], "--n=0"),
        (
            ["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--patience", "3"],
            "patience needs eval_every",
        ),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, fragment, run_cli):
    result = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def _weights_and_optimiser_state(run_dir):
    from imgenlib.runs import load_run_model

    model = load_run_model(run_dir)
    state = {f"weights/{i}/{v.path}": np.asarray(v) for i, v in enumerate(model.weights)}
    for role in ("g_optimizer", "d_optimizer"):  # optimiser names vary within a process
        state |= {
            f"{role}/{i}": np.asarray(v) for i, v in enumerate(getattr(model, role).variables)
        }
    return state


@pytest.mark.slow
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


def test_epoch_batches_depend_on_the_epoch_only():
    """A stream started at epoch 2 yields exactly epoch 2 of a stream started at 0; batches
    never straddle epochs (25 images, batch 10: 5 images dropped per epoch)."""
    from imgenlib.resume import epoch_batches

    images = np.arange(25, dtype=np.float32).reshape(25, 1, 1, 1)
    full = [b.numpy().ravel() for b in epoch_batches(images, batch_size=10, seed=3, epochs=(0, 3))]
    late = [b.numpy().ravel() for b in epoch_batches(images, batch_size=10, seed=3, epochs=(2, 3))]
    assert len(full) == 6 and len(late) == 2
    np.testing.assert_array_equal(np.concatenate(full[4:]), np.concatenate(late))
    for epoch in range(3):
        seen = np.concatenate(full[2 * epoch : 2 * epoch + 2])
        assert len(set(seen)) == 20  # no repeats inside an epoch
    assert not np.array_equal(full[0], full[2])  # reshuffled every epoch


@pytest.mark.slow
def test_nan_stops_with_exit_1_and_the_last_good_epoch_survives(tmp_path, capsys):
    """An absurd learning rate in epoch 2 makes the losses NaN: exit code 1, one line naming
    the epoch, the step and the likely cause; epoch 1's model.keras, backup and history stay
    and load; re-running with a sane rate resumes from epoch 1 with that rate."""
    from imgenlib.runs import load_run_model

    out = tmp_path / "run"
    args = ["train", "gan", "--data", "digits", "--out", str(out), "--preset", "tiny"]
    assert main([*args, "--epochs", "1"]) == 0
    good = (out / "model.keras").read_bytes()
    capsys.readouterr()
    assert main([*args, "--epochs", "2", "--learning-rate", "1e30"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert "Training diverged at epoch 2, step " in err[0] and "is nan" in err[0]
    assert "learning rate too high" in err[0]
    assert (out / "model.keras").read_bytes() == good
    assert json.loads((out / "backup" / "state.json").read_text())["epoch"] == 1
    assert {len(v) for v in json.loads((out / "history.json").read_text()).values()} == {1}
    model = load_run_model(out)
    assert np.isfinite(model.generate(4, seed=0)).all()
    assert all(np.isfinite(np.asarray(w)).all() for w in model.weights)

    assert main([*args, "--epochs", "2", "--learning-rate", "1e-4"]) == 0
    resumed = load_run_model(out)
    assert int(resumed.g_optimizer.iterations) == 2 * (1797 // 32)
    assert float(resumed.g_optimizer.learning_rate) == pytest.approx(1e-4)


@pytest.mark.parametrize("target", ["model.keras", "history.json", "samples.png"])
def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch, target):
    """A writer dying halfway (as under a kill) never truncates an output: the file of the
    last finished epoch stays byte for byte, and no temporary file is left behind."""
    import keras

    from imgenlib.callbacks import HistoryJSON, SaveModel
    from imgenlib.plotting import save_grid

    path = tmp_path / target
    if target == "model.keras":
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        callback = SaveModel(path)
        callback.set_model(model)
        callback.on_epoch_end(0)
        write = lambda: callback.on_epoch_end(1)  # noqa: E731
    elif target == "history.json":
        callback = HistoryJSON(path)
        callback.on_epoch_end(0, {"loss": 1.0})
        write = lambda: callback.on_epoch_end(1, {"loss": 0.5})  # noqa: E731
    else:
        save_grid(np.zeros((4, 4, 4, 1), np.float32), path)
        write = lambda: save_grid(np.ones((4, 4, 4, 1), np.float32), path)  # noqa: E731
    before = path.read_bytes()

    def half_then_die(self_or_path, *args, **kwargs):
        destination = args[0] if target == "model.keras" else self_or_path
        with open(destination, "wb") as file:
            file.write(before[: len(before) // 2])
        raise KeyboardInterrupt("killed mid-write")

    if target == "model.keras":
        monkeypatch.setattr(type(model), "save", half_then_die)
    else:
        monkeypatch.setattr(Path, "write_text" if target == "history.json" else "write_bytes",
                            half_then_die)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        write()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target]


@pytest.mark.slow
def test_deterministic_runs_are_bit_identical(tmp_path):
    """Same seed + op determinism: two runs give bit-identical weights; another seed does not
    (so the comparison can fail)."""
    from tensorflow.python.framework import config  # the public API has no "disable"

    try:
        states = []
        for name, seed in (("a", 0), ("b", 0), ("c", 1)):
            train("gan", "digits", tmp_path / name, preset="tiny", epochs=1, seed=seed,
                  deterministic=True, verbose=0)  # fmt: skip
            assert config.is_op_determinism_enabled()
            states.append(_weights_and_optimiser_state(tmp_path / name))
    finally:
        config.disable_op_determinism()  # keep the rest of the session as it was
    a, b, c = states
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert any(not np.array_equal(a[n], c[n]) for n in a if "kernel" in n)
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["deterministic"] is True


@pytest.mark.slow
def test_train_vae_writes_outputs_evaluation_and_resumes(tmp_path):
    out = tmp_path / "run"
    summary = train("vae", "digits", out, preset="tiny", epochs=1, verbose=0)
    for name in ("model.keras", "samples.png", "history.json", "metrics.json", "run.json"):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss"}
    evaluation = json.loads((out / "metrics.json").read_text())["evaluation"]
    assert evaluation["split"] == "train"  # digits has no test split, and the file says so
    assert evaluation["images"] == 512 and evaluation["likelihood"] == "bernoulli"
    # An untrained Bernoulli decoder costs about 784 * log(2) = 543 nats per image; one epoch beats it.
    assert 0 < evaluation["negative_elbo_nats"] < 784 * np.log(2)
    assert 0 < evaluation["reconstruction_mse"] < 0.25
    summary = train("vae", "digits", out, preset="tiny", epochs=2, verbose=0)
    assert summary["steps_this_session"] == 1797 // 32 and summary["epochs_completed"] == 2


def test_loss_is_for_gans_only(tmp_path):
    with pytest.raises(
        ValueError, match="loss applies to GANs only. Received: loss='hinge' for a vae"
    ):
        train("vae", "digits", tmp_path / "run", preset="tiny", loss="hinge", verbose=0)


@pytest.mark.slow
def test_cli_train_vae_sample_and_reconstruct(tmp_path, run_cli, capsys):
    import keras
    from PIL import Image

    from imgenlib.models import GANConfig, build_gan

    out = tmp_path / "run"
    args = ["train", "vae", "--data", "digits", "--out", str(out), "--preset", "tiny"]
    result = run_cli(*args, "--epochs", "1", "--conditional")
    assert result.returncode == 0, result.stderr
    assert "1/1 epochs done" in result.stdout
    assert main(["sample", str(out), "--n", "10", "--out", str(tmp_path / "s.png")]) == 0
    grid = tmp_path / "r.png"
    assert main(["reconstruct", str(out), "--n", "20", "--out", str(grid), "--scale", "1"]) == 0
    assert "20 train images above their reconstructions" in capsys.readouterr().out
    assert Image.open(grid).size == (
        16 * 29 - 1,
        4 * 29 - 1,
    )  # 2 rows of originals, 2 of reconstructions

    gan_run = tmp_path / "gan"
    gan_run.mkdir()
    build_gan(GANConfig.tiny(), (28, 28, 1)).build_for_training().save(gan_run / "model.keras")
    for bad, fragment in [
        (["reconstruct", str(gan_run), "--out", str(grid)], "reconstruct needs a VAE run"),
        (["reconstruct", str(out), "--out", str(grid), "--n", "0"], "--n=0"),
        (["reconstruct", str(out), "--out", str(grid), "--split", "test"], "Unknown split 'test'"),
        (["reconstruct", str(out), "--out", str(tmp_path / "r.jpg")], "--out must be a .png"),
        (
            ["reconstruct", str(tmp_path / "none"), "--out", str(grid)],
            "Run directory does not exist",
        ),
    ]:
        assert main(bad) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], lines
    keras.backend.clear_session()
