"""Private training runs (imgenlib.private_runs): ε as dp-accounting computes it for the
steps actually taken, the budget, resume (refused with other settings, exact after a
kill), and the CLI's DP options.

Training runs use 64 digits (QUICK_MAX_IMAGES patched), batch 32: q = 0.5, two
Poisson-sampled steps per epoch; the per-example gradients make even that slow here.
"""

import dataclasses
import json

import dp_accounting
import keras
import numpy as np
import pytest
from dp_accounting import rdp

import imgenlib.training
from imgenlib.cli import main
from imgenlib.io import save_json
from imgenlib.private_runs import PLAN_FILE, PrivacyPlan
from imgenlib.runs import RunConfig, load_run_model
from imgenlib.training import train

N, BATCH, SIGMA, DELTA = 64, 32, 1.5, 1e-5


def independent_epsilon(steps, sigma=SIGMA, q=BATCH / N, delta=DELTA):
    """dp-accounting called directly: T Poisson-subsampled Gaussian steps, RDP."""
    step = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    event = dp_accounting.SelfComposedDpEvent(step, steps)
    return rdp.RdpAccountant().compose(event).get_epsilon(delta)


BUDGET = (independent_epsilon(5) + independent_epsilon(6)) / 2  # room for 5 steps, not 6
SETTINGS = {
    "preset": "tiny", "image_size": 16, "conditional": True, "epochs": 3, "dp_sigma": SIGMA,
    "dp_epsilon": BUDGET,
}  # fmt: skip


class Crash(keras.callbacks.Callback):
    """Die after step 3 (inside epoch 2), as a kill would."""

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.d_optimizer.iterations.numpy()) == 3:
            raise KeyboardInterrupt("killed")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A private conditional GAN whose ε budget ends it after 5 of its 6 planned steps."""
    out = tmp_path_factory.mktemp("dp") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(imgenlib.training, "QUICK_MAX_IMAGES", N)
        summary = train("gan", "digits", out, verbose=0, **SETTINGS)
    return out, summary


def _weights(run_dir):
    model = load_run_model(run_dir)
    return [np.asarray(v) for v in model.weights], int(model.d_optimizer.iterations.numpy())


@pytest.mark.slow
def test_epsilon_is_dp_accounting_on_the_recorded_steps_and_the_budget_stops(uninterrupted):
    out, summary = uninterrupted
    privacy = json.loads((out / "metrics.json").read_text())["privacy"]
    assert privacy == summary["privacy"]
    assert privacy["steps"] == 5 and privacy["budget_spent"]  # step 6 would overspend
    assert independent_epsilon(6) > BUDGET >= privacy["epsilon"]
    recorded = independent_epsilon(
        privacy["steps"], privacy["noise_multiplier"], privacy["sampling_rate"], privacy["delta"]
    )
    assert privacy["epsilon"] == pytest.approx(recorded, abs=1e-6)
    assert (privacy["noise_multiplier"], privacy["sampling_rate"]) == (SIGMA, BATCH / N)
    assert (privacy["sampling"], privacy["accountant"], privacy["clip_norm"]) == (
        "poisson", "rdp", 1.0,
    )  # fmt: skip
    assert privacy["private_part"] == "discriminator" and not privacy["calibrated"]
    assert _weights(out)[1] == 5  # the steps the discriminator's optimiser took
    epsilons = json.loads((out / "history.json").read_text())["epsilon"]
    np.testing.assert_allclose(epsilons, [independent_epsilon(t) for t in (2, 4, 5)], atol=1e-9)
    assert summary["epochs_completed"] == 3  # the third epoch ended after its first step
    with pytest.MonkeyPatch.context() as patch:  # resumed for longer: the budget still holds
        patch.setattr(imgenlib.training, "QUICK_MAX_IMAGES", N)
        again = train("gan", "digits", out, verbose=0, **{**SETTINGS, "epochs": 6})
    assert again["steps_this_session"] == 0 and again["privacy"] == privacy


@pytest.mark.slow
def test_a_killed_and_resumed_run_spends_what_an_uninterrupted_one_does(
    uninterrupted, tmp_path, monkeypatch
):
    monkeypatch.setattr(imgenlib.training, "QUICK_MAX_IMAGES", N)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train("gan", "digits", out, callbacks=[Crash()], verbose=0, **SETTINGS)
    assert len(json.loads((out / "history.json").read_text())["epsilon"]) == 1
    resumed = train("gan", "digits", out, verbose=0, **SETTINGS)
    reference, expected = uninterrupted
    assert resumed["steps_this_session"] == 3  # epoch 2 redone from its start, then 1 step
    assert resumed["privacy"] == expected["privacy"]
    assert json.loads((out / "history.json").read_text()) == json.loads(
        (reference / "history.json").read_text()
    )
    (got, steps), (want, want_steps) = _weights(out), _weights(reference)
    assert steps == want_steps == 5 and len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _recorded_run(out):
    """A run directory as a private run's first session leaves it (no training needed)."""
    config = RunConfig(kind="gan", data="digits", out=out, **SETTINGS)
    save_json(config.resolved().to_json(), out / "run.json")
    plan = PrivacyPlan(
        SIGMA, 1.0, DELTA, BATCH / N, N, BATCH, "rdp", target_epsilon=BUDGET,
    )  # fmt: skip
    save_json(plan.to_json(), out / PLAN_FILE)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dp_clip": 2.0}, r"other settings \(dp_clip: 1\.0 → 2\.0\)"),
        ({"dp_sigma": 2.0}, r"other settings \(dp_sigma: 1\.5 → 2\.0\)"),
        (
            {"dp_epsilon": None, "dp_sigma": None},
            r"dp_epsilon: [\d.]+ → None; dp_clip: 1\.0 → None; dp_sigma: 1\.5 → None",
        ),
        ({"dp_accountant": "pld"}, r"dp_accountant: 'rdp' → 'pld'"),
        ({"images": 96}, r"privacy\.json' records .*dataset_size: 64 → 96"),
    ],
)
def test_resuming_with_other_dp_settings_is_refused_naming_them(
    tmp_path, monkeypatch, changes, message
):
    images = changes.pop("images", N)
    monkeypatch.setattr(imgenlib.training, "QUICK_MAX_IMAGES", images)
    _recorded_run(tmp_path)
    with pytest.raises(ValueError, match=message):
        train("gan", "digits", tmp_path, verbose=0, **{**SETTINGS, **changes})
    assert not (tmp_path / "backup").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dp-epsilon", "-1"], "dp_epsilon must be > 0. Received: dp_epsilon=-1.0"),
        (["--dp-epsilon", "abc"], "argument --dp-epsilon: invalid float value: 'abc'"),
        (["--dp-epsilon", "10", "--dp-delta", "1"], "dp_delta must be < 1"),
        (["--dp-sigma", "0"], "dp_sigma must be > 0. Received: dp_sigma=0.0"),
        (
            ["--dp-clip", "2"],
            "dp_clip needs dp_epsilon or dp_sigma (a private run). Received: dp_clip=2.0",
        ),
        (["--dp-epsilon", "10", "--dp-accountant", "moments"], "invalid choice: 'moments'"),
        (
            ["--dp-epsilon", "10", "--max-minutes", "5"],
            "give epochs too (max_minutes may still stop earlier), or dp_sigma. "
            "Received: epochs=None, max_minutes=5.0",
        ),
        (["--dp-epsilon", "10", "--strategy", "mirrored"], "Received: strategy='mirrored'"),
        (["--dp-epsilon", "10", "--batch-size", "16"], "Received: batch_size=16"),
        (
            ["--dp-epsilon", "0.01", "--dp-sigma", "0.5"],
            "dp_sigma=0.5 spends ε=",
        ),
    ],
)
def test_bad_dp_options_give_one_line_naming_the_value(tmp_path, capsys, args, fragment):
    out = tmp_path / "run"
    code = main(["train", "gan", "--data", "digits", "--preset", "tiny", "--out", str(out), *args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and fragment in lines[0], lines
    assert not (out / "run.json").exists() and not (out / PLAN_FILE).exists()


def test_diffusion_is_refused_with_dp(tmp_path, capsys):
    code = main(
        ["train", "diffusion", "--data", "digits", "--out", str(tmp_path), "--dp-epsilon", "1"]
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "GANs and VAEs, not for diffusion. Received: kind='diffusion'" in lines[0]


def test_a_batch_norm_network_gets_group_norm_and_the_plan_reaches_the_model():
    from imgenlib import presets

    plan = PrivacyPlan(SIGMA, 0.5, DELTA, BATCH / N, N, BATCH, "rdp")
    gan, note = plan.model_config(presets.get("gan", "fashion_mnist").model, seed=3)
    assert gan.discriminator_norm() == "group" and note.startswith("d_norm='group'")
    assert (gan.dp.clip_norm, gan.dp.noise_multiplier, gan.dp.expected_batch_size) == (
        0.5, SIGMA, BATCH,
    )  # fmt: skip
    vae, note = plan.model_config(presets.get("vae", "fashion_mnist").model, seed=3)
    assert vae.network_norm() == "none" and note is None and vae.dp.seed == 3


def test_max_steps_is_the_last_step_within_the_budget():
    plan = PrivacyPlan(SIGMA, 1.0, DELTA, BATCH / N, N, BATCH, "rdp", target_epsilon=BUDGET)
    assert plan.max_steps() == 5
    assert plan.fit_epochs(3, 2, 5) == 3 and plan.fit_epochs(10, 2, 5) == 3
    assert dataclasses.replace(plan, target_epsilon=None).max_steps() is None


@pytest.mark.slow
def test_cli_trains_a_private_vae_with_calibrated_noise(tmp_path, run_cli):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "run"
    args = ["train", "vae", "--data", str(folder), "--preset", "tiny", "--image-size", "16"]
    args += ["--epochs", "1", "--dp-epsilon", "10", "--dp-delta", "1e-5", "--out", str(out)]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "calibrated for ε=10 over 2 steps" in result.stdout
    assert "Privacy: epsilon" in result.stdout and "of 10 spent" in result.stdout
    privacy = json.loads((out / "metrics.json").read_text())["privacy"]
    assert privacy["calibrated"] and privacy["steps"] == privacy["planned_steps"] == 2
    assert 9.9 < privacy["epsilon"] <= 10  # calibrated from below
    assert privacy["private_part"] == "whole model"
    recorded = independent_epsilon(2, privacy["noise_multiplier"], 0.5, 1e-5)
    assert privacy["epsilon"] == pytest.approx(recorded, abs=1e-6)


def test_poisson_batches_are_keyed_on_the_step_and_keep_labels_with_images():
    from imgenlib.resume import poisson_batches

    images = np.arange(N, dtype=np.float32).reshape(N, 1, 1, 1)
    labels = np.arange(N) % 10
    stream = [
        (x.numpy().ravel(), y.numpy())
        for x, y in poisson_batches(images, labels, sampling_rate=0.5, seed=3, steps=(0, 6))
    ]
    tail = poisson_batches(images, labels, sampling_rate=0.5, seed=3, steps=(4, 6))
    for (x, y), (want_x, want_y) in zip(tail, stream[4:], strict=True):
        np.testing.assert_array_equal(x.numpy().ravel(), want_x)
        np.testing.assert_array_equal(y.numpy(), want_y)
    assert len({len(x) for x, _ in stream}) > 1  # sizes vary: Binomial(64, 0.5)
    for x, y in stream:
        np.testing.assert_array_equal(y, x.astype(int) % 10)
    with pytest.raises(ValueError, match="sampling_rate=1.5"):
        poisson_batches(images, sampling_rate=1.5, seed=0, steps=(0, 1))
