"""The latent arguments of ``generate``, checked without a model (duck typing)."""

import types

import numpy as np
import pytest

from imgenlib.models.latents import draw_latents, resolve_latents


def fake_model(latent_dim=3):
    model = types.SimpleNamespace(latent_dim=latent_dim)
    model.sample_latent = lambda n, seed: draw_latents(n, latent_dim, seed)
    return model


def test_draw_latents_is_numpys_standard_normal():
    expected = np.random.default_rng(7).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(draw_latents(4, 3, seed=7), expected)
    assert draw_latents(4, 3, seed=7).dtype == np.float32


def test_given_z_is_kept_and_a_vector_becomes_one_row():
    z = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(resolve_latents(fake_model(), None, z, None, None), z)
    assert resolve_latents(fake_model(), None, z[0], None, None).shape == (1, 3)


def test_n_comes_from_an_array_of_labels_but_not_from_one_label():
    assert resolve_latents(fake_model(), None, None, 0, [2, 0, 1]).shape == (3, 3)
    with pytest.raises(ValueError, match="Give the number of images n"):
        resolve_latents(fake_model(), None, None, 0, 2)


@pytest.mark.parametrize(
    "n, z, error, fragment",
    [
        (3, np.zeros((2, 3)), ValueError, "n=3, len\\(z\\)=2"),
        (None, np.zeros((2, 4)), ValueError, "z.shape=\\(2, 4\\)"),
        (None, np.array([[np.nan, 0, 0]]), ValueError, "NaN"),
        (None, np.array([["a", "b", "c"]]), TypeError, "dtype"),
        (0, None, ValueError, "n"),
    ],
)
def test_bad_latent_arguments_name_the_received_value(n, z, error, fragment):
    with pytest.raises(error, match=fragment):
        resolve_latents(fake_model(), n, z, 0, None)
