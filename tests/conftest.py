"""Shared test setup: quick mode, quiet TensorFlow, the TensorFlow backend, seeded RNGs."""

import os

os.environ.setdefault("IMGENLIB_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, fresh for each test."""
    return np.random.default_rng(1234)


@pytest.fixture
def keras_seed():
    """Seed Keras, TensorFlow, NumPy and Python's `random` for one test."""
    import keras

    keras.utils.set_random_seed(1234)
    yield 1234


@pytest.fixture
def run_cli():
    """Run ``python -m imgenlib ARGS`` in quick mode; returns the CompletedProcess."""

    def run(*args, timeout=300):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "IMGENLIB_QUICK": "1"}
        return subprocess.run(
            [sys.executable, "-m", "imgenlib", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def randomised():
    """A function giving a diffusion model's zero-initialised output convolutions (in both
    copies) random weights, so that an untrained network's prediction depends on its inputs."""
    import keras

    def randomise(model, scale=0.1):
        rng = np.random.default_rng(0)
        for network in (model.network, model.sampler()):
            for variable in network.weights:
                value = keras.ops.convert_to_numpy(variable)
                if value.ndim == 4 and not value.any():
                    variable.assign(scale * rng.standard_normal(value.shape).astype(np.float32))
        return model

    return randomise
