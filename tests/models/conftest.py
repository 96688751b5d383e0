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


@pytest.fixture(scope="session")
def same_weights():
    """``check(model, other, roles, atol=0)``: each role's weights (``model.network``,
    ``model.text_encoder``, ...) equal in `other`, exactly or to `atol`."""

    def check(model, other, roles, atol=0.0):
        for role in roles:
            pairs = zip(getattr(model, role).get_weights(), getattr(other, role).get_weights(),
                        strict=True)  # fmt: skip
            for a, b in pairs:
                if atol:
                    np.testing.assert_allclose(a, b, atol=atol, err_msg=role)
                else:
                    np.testing.assert_array_equal(a, b, err_msg=role)

    return check
