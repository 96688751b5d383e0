"""RunConfig (imgenlib.run_config): validation, normalisation, presets and overrides.

The run.json record, resume checks and the default split are in tests/test_runs.py.
"""

import dataclasses

import pytest

from imgenlib.run_config import RunConfig


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"kind": "flow"}, ValueError, "Unknown model kind 'flow'"),
        ({"data": 3}, TypeError, "Received: data=3"),
        ({"out": None}, TypeError, "Received: out=None"),
        ({"preset": "huge"}, ValueError, "Unknown preset 'huge'"),
        ({"epochs": 0}, ValueError, "Received: epochs=0"),
        ({"max_minutes": 0}, ValueError, "Received: max_minutes=0"),
        ({"conditional": "yes"}, TypeError, "Received: conditional='yes'"),
        ({"loss": "wgan"}, ValueError, "Unknown loss 'wgan'"),
        ({"batch_size": 2.5}, TypeError, "Received: batch_size=2.5"),
        ({"seed": -1}, ValueError, "Received: seed=-1"),
        ({"image_size": 0}, ValueError, "Received: image_size=0"),
        ({"learning_rate": "fast"}, TypeError, "Received: learning_rate='fast'"),
        ({"learning_rate": -1.0}, ValueError, "Received: learning_rate=-1.0"),
        ({"strategy": "tpu"}, ValueError, "Unknown strategy 'tpu'"),
        ({"deterministic": 1}, TypeError, "Received: deterministic=1"),
        ({"eval_every": 0}, ValueError, "Received: eval_every=0"),
        ({"patience": 2}, ValueError, "patience needs eval_every.*Received: patience=2"),
        ({"eval_n": 5}, ValueError, "Received: eval_n=5"),
        ({"precision": "float16"}, ValueError, "Unknown precision 'float16'"),
        (
            {"kind": "vae", "precision": "mixed_float16"},
            ValueError,
            "GANs and diffusion models only.*for a vae",
        ),
        ({"kind": "vae", "loss": "hinge"}, ValueError, "Received: loss='hinge' for a vae"),
        ({"data": "some/folder", "eval_every": 1}, ValueError, "Received: data='some/folder'"),
    ],
)
def test_bad_values_are_refused_naming_the_received_value(tmp_path, changes, error, message):
    with pytest.raises(error, match=message):
        dataclasses.replace(RunConfig.tiny(tmp_path), **changes)


def test_mixed_bfloat16_is_accepted_for_every_kind_and_float16_refused_for_vaes(tmp_path):
    for kind in ("gan", "vae", "diffusion"):
        config = RunConfig(kind, "digits", tmp_path, precision="mixed_bfloat16")
        assert config.to_json()["precision"] == "mixed_bfloat16"
    with pytest.raises(ValueError, match="Received: precision='mixed_float16' for a vae"):
        RunConfig("vae", "digits", tmp_path, precision="mixed_float16")


def test_config_is_frozen_normalised_and_varied_with_replace(tmp_path):
    config = RunConfig.tiny(str(tmp_path))
    assert config.out == tmp_path and config == RunConfig.tiny(tmp_path)
    assert RunConfig("gan", tmp_path, tmp_path).data == str(tmp_path)  # a folder, as a str
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    longer = dataclasses.replace(config, epochs=3)
    assert longer.epochs == 3 and config.epochs == 1


def test_resolved_fills_in_the_preset_and_model_config_applies_overrides(tmp_path):
    config = RunConfig(kind="gan", data="digits", out=tmp_path)
    resolved = config.resolved()
    assert (resolved.preset, resolved.batch_size, resolved.epochs) == ("demo", 64, 30)
    assert dataclasses.replace(config, batch_size=16).resolved().batch_size == 16
    model = dataclasses.replace(config, loss="hinge", learning_rate=1e-3).model_config()
    assert (model.loss, model.g_learning_rate, model.d_learning_rate) == ("hinge", 1e-3, 1e-3)


def test_precision_defaults_to_auto(tmp_path):
    """The default decided from three seeds per precision (`imgenlib.precision`'s docstring)."""
    assert RunConfig("gan", "digits", tmp_path).precision == "auto"
    assert RunConfig("vae", "digits", tmp_path).precision == "auto"  # resolves to float32
