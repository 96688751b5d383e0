"""A preset's image size (the emoji diffusion preset trains at 32x32) and evaluating a model
whose images are smaller than its dataset's feature extractor's (upsampled, recorded)."""

import dataclasses
import json

import numpy as np
import pytest

from imgenlib import presets
from imgenlib.evaluation import evaluate, evaluate_images, format_report
from imgenlib.features import FeatureExtractor
from imgenlib.models import GANConfig
from imgenlib.presets import Preset
from imgenlib.run_config import RunConfig
from imgenlib.training import train


@pytest.fixture
def tiny_at_16(monkeypatch):
    """The tiny GAN preset, meant for 16x16: digits (28x28) are resized to it."""
    preset = dataclasses.replace(presets.get("gan", "tiny"), image_size=16)
    monkeypatch.setitem(presets.PRESETS["gan"], "tiny16", preset)
    return "tiny16"


def test_the_preset_image_size_is_used_when_none_is_given_and_an_explicit_one_wins(
    tiny_at_16, tmp_path
):
    config = RunConfig(kind="gan", data="digits", out=tmp_path, preset=tiny_at_16)
    assert config.resolved().image_size == 16
    assert dataclasses.replace(config, image_size=28).resolved().image_size == 28
    assert RunConfig(kind="gan", data="digits", out=tmp_path).resolved().image_size is None
    assert all(
        preset.image_size is None
        for kind, named in presets.PRESETS.items()
        for name, preset in named.items()
        if (kind, name)
        not in {("diffusion", "emoji"), ("diffusion", "text"), ("gan", "text"), ("gan", tiny_at_16)}
    )


def test_a_preset_image_size_the_networks_cannot_build_is_refused():
    with pytest.raises(ValueError, match="Received: image_size=20"):
        Preset(GANConfig.tiny(), 8, 1, "bad", image_size=20)


def test_emoji_diffusion_preset_is_recommended_at_32_and_fits_the_zoo():
    assert presets.choose_preset("diffusion", "emoji")[0] == "emoji"
    preset = presets.get("diffusion", "emoji")
    assert (preset.image_size, preset.batch_size) == (32, 64)
    assert preset.model == presets.EMOJI_DIFFUSION
    model = presets.build("diffusion", preset.model, (32, 32, 3))
    assert model.generate(2, seed=0, steps=2).shape == (2, 32, 32, 3)
    assert 2 * model.sampler().count_params() < 5e6  # float16 sampling weights


@pytest.mark.slow
def test_the_preset_image_size_is_recorded_and_kept_on_resume(tiny_at_16, tmp_path):
    out = tmp_path / "run"
    train("gan", "digits", out, preset=tiny_at_16, epochs=1, verbose=0)
    assert json.loads((out / "run.json").read_text())["image_size"] == 16
    train("gan", "digits", out, preset=tiny_at_16, epochs=2, verbose=0)  # resumes
    record = json.loads((out / "run.json").read_text())
    assert (record["image_size"], record["epochs"]) == (16, 2)
    from imgenlib.runs import load_run_data, load_run_model

    assert load_run_model(out).generate(2, seed=0).shape == (2, 16, 16, 1)
    assert load_run_data(out, "train", n=2)[0].shape == (2, 16, 16, 1)
    with pytest.raises(ValueError, match="image_size: 16 → 28"):
        train("gan", "digits", out, preset=tiny_at_16, image_size=28, epochs=3, verbose=0)


def test_evaluate_upsamples_smaller_samples_and_records_it():
    """A 16x16 colour model measured with the 32x32 shapes extractor."""
    model = presets.build("gan", GANConfig.tiny(), (16, 16, 3))
    result = evaluate(model, "shapes", n=20, seed=0)
    assert result["resized_from"] == [16, 16]
    assert np.isfinite(result["fid"]) and result["n"] == 20
    report = format_report({**result, "run": "RUN", "data": "shapes", "seed": 0, "seconds": 1})
    assert "upsampled from 16x16" in report
    some = evaluate(model, "shapes", n=20, seed=0, metrics=("kid", "fid"))  # only these
    assert (some["fid"], some["kid"]) == (result["fid"], result["kid"])
    assert "precision" not in some and "density" not in some and some["resized_from"] == [16, 16]


def test_evaluate_images_upsamples_smaller_images_as_evaluate_does():
    """A benchmark scoring its own 16x16 samples gets the numbers `evaluate` would give."""
    model = presets.build("gan", GANConfig.tiny(), (16, 16, 3))
    by_model = evaluate(model, "shapes", n=20, seed=0, metrics=("fid", "kid"))
    by_images = evaluate_images(
        model.generate(20, seed=0), "shapes", seed=0, metrics=("fid", "kid")
    )
    assert by_images["resized_from"] == [16, 16]
    assert (by_images["fid"], by_images["kid"]) == (by_model["fid"], by_model["kid"])
    full_size = evaluate_images(np.zeros((10, 32, 32, 3), np.float32), "shapes", metrics="fid")
    assert "resized_from" not in full_size
    with pytest.raises(ValueError, match=r"Received: images.shape=\(10, 64, 64, 3\)"):
        evaluate_images(np.zeros((10, 64, 64, 3), np.float32), "shapes", metrics="fid")


def test_upsampled_keeps_matching_images_and_clips_resized_ones():
    extractor = FeatureExtractor("shapes")
    images = np.zeros((2, 32, 32, 3), np.float32)
    assert extractor.upsampled(images)[1] is None
    small = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    resized, resized_from = extractor.upsampled(small)
    assert resized.shape == (2, 32, 32, 3) and resized_from == [8, 8]
    assert resized.min() >= -1 and resized.max() <= 1


@pytest.mark.parametrize("shape", [(2, 16, 16, 1), (2, 64, 64, 3), (2, 16, 8, 3)])
def test_other_mismatches_are_refused_naming_both_shapes(shape):
    with pytest.raises(ValueError, match=r"\(n, 32, 32, 3\).*Received: images.shape=\(2, "):
        FeatureExtractor("shapes").upsampled(np.zeros(shape, np.float32))


def test_evaluate_refuses_a_model_with_other_channels():
    model = presets.build("gan", GANConfig.tiny(), (16, 16, 1))
    with pytest.raises(ValueError, match=r"Received: images.shape=\(20, 16, 16, 1\)"):
        evaluate(model, "shapes", n=20, seed=0)


def test_the_quality_monitor_upsamples_smaller_samples_too():
    """`--eval-every` on a run below its extractor's size (the 32x32 emoji preset) works."""
    from imgenlib.monitoring import QualityMonitor

    monitor = QualityMonitor("shapes", n=20, metrics=("fid",))
    monitor.set_model(presets.build("gan", GANConfig.tiny(), (16, 16, 3)))
    assert np.isfinite(monitor.evaluate()["fid"])
