"""Fixtures shared by the model tests."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_data():
    """64 random 28x28 images in [-1, 1] with labels 0-3 (one set per test module)."""
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (64, 28, 28, 1)).astype(np.float32)
    labels = np.arange(64) % 4
    return images, labels
