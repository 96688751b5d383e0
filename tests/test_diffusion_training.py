"""`train("diffusion", ...)`: the run driver, presets and CLI know the diffusion family."""

import json

import keras
import numpy as np
import pytest

from imgenlib import presets
from imgenlib.models import Diffusion, load_model
from imgenlib.runs import KINDS
from imgenlib.sampling_options import DEFAULT_STEPS
from imgenlib.training import train


def test_diffusion_presets_and_kind():
    assert "diffusion" in KINDS
    assert set(presets.available("diffusion")["diffusion"]) >= {"default", "tiny"}
    model = presets.build("diffusion", presets.get("diffusion", "tiny").model, (28, 28, 1))
    assert isinstance(model, Diffusion) and model.latent_dim == 784


def test_fashion_mnist_preset_is_recommended_and_fits_the_zoo():
    """The tuned preset is what `train diffusion --data fashion_mnist` picks, and its
    float16 sampling weights (the EMA network) stay under the zoo's 5 MB limit."""
    assert presets.choose_preset("diffusion", "fashion_mnist")[0] == "fashion_mnist"
    preset = presets.get("diffusion", "fashion_mnist")
    model = presets.build("diffusion", preset.model, (28, 28, 1), num_classes=10)
    assert preset.batch_size == 64 and model.num_classes == 10
    assert 2 * model.sampler().count_params() < 5e6


@pytest.mark.slow
def test_train_conditional_diffusion_writes_outputs_and_resumes(tmp_path):
    out = tmp_path / "run"
    settings = {"preset": "tiny", "conditional": True, "batch_size": 128, "verbose": 0}
    settings["image_size"] = 16  # a quarter of 28x28's work: what is checked is the run's files
    summary = train("diffusion", "digits", out, epochs=1, eval_every=1, eval_n=20, **settings)
    # how samples.png and the --eval-every FID were drawn (the tiny preset's T is 20)
    expected = {"sampler": "ddim", "steps": min(DEFAULT_STEPS, 20), "eta": 0.0, "guidance": 1.0}
    assert summary["sampling"] == expected and np.isfinite(summary["best"]["fid"])
    assert json.loads((out / "metrics.json").read_text())["sampling"] == expected
    for name in ("model.keras", "samples.png", "history.json", "metrics.json", "run.json"):
        assert (out / name).is_file(), name
    assert set(json.loads((out / "history.json").read_text())) == {"loss", "fid", "kid"}
    model = load_model(out / "model.keras")
    assert isinstance(model, Diffusion) and model.num_classes == 10
    samples = model.generate(4, seed=0, labels="balanced", steps=5, guidance=2.0)
    assert samples.shape == (4, 16, 16, 1) and np.all(np.isfinite(samples))
    summary = train("diffusion", "digits", out, epochs=2, **settings)
    assert summary["steps_this_session"] == 1797 // 128 and summary["epochs_completed"] == 2


@pytest.mark.slow
def test_cli_trains_diffusion_in_mixed_bfloat16_and_records_it(tmp_path):
    from imgenlib.cli import main  # in process: no second Python + TensorFlow start

    out = tmp_path / "run"
    args = ["train", "diffusion", "--data", "digits", "--preset", "tiny", "--out", str(out)]
    # 16x16: bfloat16 is emulated (about 10x slower than float32) on CPUs without AVX512_BF16
    args += ["--image-size", "16", "--epochs", "1", "--batch-size", "512"]
    assert main([*args, "--precision", "mixed_bfloat16"]) == 0
    assert keras.mixed_precision.global_policy().name == "float32"  # not leaked
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["precision"] == "mixed_bfloat16" and np.isfinite(metrics["final"]["loss"])
    assert json.loads((out / "run.json").read_text())["precision"] == "mixed_bfloat16"
    model = load_model(out / "model.keras")
    assert model.network.get_layer("down0_0_conv1").dtype_policy.name == "mixed_bfloat16"
    assert model.network.get_layer("out_conv").dtype_policy.name == "float32"
    assert {v.dtype for v in model.sampler().weights} == {"float32"}
    samples = model.generate(2, seed=0, steps=3)
    assert samples.dtype == np.float32 and np.all(np.abs(samples) <= 1)
