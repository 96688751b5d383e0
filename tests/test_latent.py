import keras
import numpy as np
import pytest
import scipy.stats

from imgenlib import latent
from imgenlib.models import GANConfig, build_gan


class LinearModel:
    """A "generator" whose output is known in closed form: images = tanh-free W z, reshaped.

    `generate` follows the library's signature; `encode` is the least-squares inverse, so
    the model doubles as a VAE stand-in for `class_means`.
    """

    def __init__(self, weights, image_shape=(4, 4, 1), num_classes=None):
        self.weights = np.asarray(weights, dtype=np.float64)  # (pixels, latent_dim)
        self.latent_dim = self.weights.shape[1]
        self.image_shape = image_shape
        self.num_classes = num_classes
        self.calls = []

    def generate(self, n=None, z=None, seed=None, labels=None):
        self.calls.append({"z": np.array(z), "labels": labels})
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        return (z @ self.weights.T).reshape(len(z), *self.image_shape).astype(np.float32)

    def encode(self, images, labels=None):
        flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        z = np.linalg.lstsq(self.weights, flat.T, rcond=None)[0].T
        return z.astype(np.float32), np.zeros_like(z, dtype=np.float32)


def angle(u, v):
    return np.arccos(np.clip(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)), -1, 1))


# --- lerp / slerp ---------------------------------------------------------------------


def test_lerp_by_hand():
    path = latent.lerp([0.0, 2.0, -4.0], [2.0, 0.0, 4.0], 5)
    assert path.shape == (5, 3) and path.dtype == np.float32
    np.testing.assert_allclose(path[2], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(path[1], [0.5, 1.5, -2.0])
    np.testing.assert_array_equal(path[0], [0, 2, -4])
    np.testing.assert_array_equal(path[-1], [2, 0, 4])


def test_slerp_orthogonal_unit_vectors_stay_on_the_sphere_with_equal_angles(rng):
    q, _ = np.linalg.qr(rng.standard_normal((16, 2)))
    z0, z1 = q[:, 0], q[:, 1]
    path = latent.slerp(z0, z1, 7).astype(np.float64)
    np.testing.assert_allclose(path[0], z0, atol=1e-7)
    np.testing.assert_allclose(path[-1], z1, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-6)
    steps = [angle(path[i], path[i + 1]) for i in range(6)]
    np.testing.assert_allclose(steps, np.pi / 2 / 6, atol=1e-6)
    np.testing.assert_allclose(
        [angle(z0, p) for p in path], np.linspace(0, np.pi / 2, 7), atol=1e-6
    )
    # lerp's midpoint of the same vectors falls inside the sphere: norm 1/sqrt(2)
    assert np.linalg.norm(latent.lerp(z0, z1, 3)[1]) == pytest.approx(2**-0.5, abs=1e-6)


def test_slerp_equal_norms_is_shoemakes_formula(rng):
    z0 = rng.standard_normal(12)
    z1 = rng.standard_normal(12)
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
    omega = np.arccos(z0 @ z1 / (z0 @ z0))
    t = np.linspace(0, 1, 6)[:, None]
    expected = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
    np.testing.assert_allclose(latent.slerp(z0, z1, 6), expected, rtol=1e-5, atol=1e-6)


def test_slerp_different_norms_matches_rotation_in_the_plane(rng):
    z0 = 3.0 * rng.standard_normal(10)
    z1 = 0.5 * rng.standard_normal(10)
    steps = 9
    path = latent.slerp(z0, z1, steps).astype(np.float64)
    # independent reference: 2-D coordinates in an orthonormal basis (e1, e2) of the plane,
    # rotate e1 by t * theta, scale by the linearly interpolated norm
    e1 = z0 / np.linalg.norm(z0)
    e2 = z1 - (z1 @ e1) * e1
    e2 /= np.linalg.norm(e2)
    theta = np.arctan2(z1 @ e2, z1 @ e1)
    for k, t in enumerate(np.linspace(0, 1, steps)):
        radius = (1 - t) * np.linalg.norm(z0) + t * np.linalg.norm(z1)
        expected = radius * (np.cos(t * theta) * e1 + np.sin(t * theta) * e2)
        np.testing.assert_allclose(path[k], expected, atol=1e-5)
    np.testing.assert_allclose(path[0], z0, rtol=1e-6)
    np.testing.assert_allclose(path[-1], z1, rtol=1e-6)


def test_slerp_nearly_parallel_and_degenerate_fall_back_to_lerp(rng):
    z0 = rng.standard_normal(8)
    for z1 in (z0 * (1 + 1e-12), 2.0 * z0, -z0, np.zeros(8)):
        path = latent.slerp(z0, z1, 5)
        assert np.all(np.isfinite(path))
        np.testing.assert_allclose(path, latent.lerp(z0, z1, 5), rtol=1e-6, atol=1e-6)
    # small but valid angle: still the exact slerp, finite
    z1 = z0 + 1e-4 * rng.standard_normal(8)
    np.testing.assert_allclose(latent.slerp(z0, z1, 4), latent.lerp(z0, z1, 4), atol=1e-5)


@pytest.mark.parametrize("function", [latent.lerp, latent.slerp])
def test_interpolation_bad_input(function):
    with pytest.raises(ValueError, match=r"steps must be an int >= 2.*steps=1"):
        function([1.0, 0.0], [0.0, 1.0], 1)
    with pytest.raises(TypeError, match="steps must be an int"):
        function([1.0, 0.0], [0.0, 1.0], 2.5)
    with pytest.raises(ValueError, match=r"z0 and z1 must have the same latent size.*z0: 2, z1: 3"):
        function([1.0, 0.0], [0.0, 1.0, 2.0], 3)
    with pytest.raises(ValueError, match=r"z0 must be one latent vector.*shape=\(2, 2\)"):
        function(np.eye(2), [0.0, 1.0], 3)
    with pytest.raises(ValueError, match="NaN or Inf"):
        function([np.nan, 0.0], [0.0, 1.0], 3)
    with pytest.raises(TypeError, match="numeric"):
        function(["a", "b"], [0.0, 1.0], 3)


def test_interpolate_passes_the_path_and_labels_to_generate(rng):
    model = LinearModel(rng.standard_normal((16, 5)), num_classes=3)
    z0, z1 = rng.standard_normal(5), rng.standard_normal(5)
    images = latent.interpolate(model, z0, z1, steps=6, method="lerp", labels=2)
    assert images.shape == (6, 4, 4, 1)
    np.testing.assert_allclose(model.calls[-1]["z"], latent.lerp(z0, z1, 6))
    assert model.calls[-1]["labels"] == 2
    latent.interpolate(model, z0, z1, steps=3)
    np.testing.assert_allclose(model.calls[-1]["z"], latent.slerp(z0, z1, 3))
    with pytest.raises(ValueError, match=r"Unknown method 'cubic'"):
        latent.interpolate(model, z0, z1, method="cubic")
    with pytest.raises(
        ValueError, match=r"z0 must be one latent vector of shape \(latent_dim=5,\)"
    ):
        latent.interpolate(model, np.zeros(4), z1)
    with pytest.raises(TypeError, match="model must have an int latent_dim"):
        latent.interpolate(object(), z0, z1)


def test_interpolate_with_a_real_gan():
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    z = gan.sample_latent(2, seed=3)
    images = latent.interpolate(gan, z[0], z[1], steps=5)
    assert images.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(images[0], gan.generate(z=z[:1])[0], atol=1e-6)
    np.testing.assert_allclose(images[-1], gan.generate(z=z[1:])[0], atol=1e-6)


# --- traversal, attribute vectors, arithmetic -----------------------------------------


def test_traversal_sets_a_dimension_or_moves_along_a_direction():
    z = np.array([1.0, 2.0, 3.0])
    latents = latent.traversal_latents(z, 1, [-1.0, 0.0, 5.0])
    np.testing.assert_array_equal(latents, [[1, -1, 3], [1, 0, 3], [1, 5, 3]])
    latents = latent.traversal_latents(z, -1, [7.0])
    np.testing.assert_array_equal(latents, [[1, 2, 7]])
    direction = np.array([0.0, 0.6, 0.8])
    latents = latent.traversal_latents(z, direction, [0.0, 10.0])
    np.testing.assert_allclose(latents, [[1, 2, 3], [1, 8, 11]])


def test_traverse_bad_input(rng):
    model = LinearModel(rng.standard_normal((16, 3)))
    z = np.zeros(3)
    with pytest.raises(ValueError, match=r"dim must be an int <= 2.*dim=3"):
        latent.traverse(model, z, 3, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"dim must be an int >= -3.*dim=-4"):
        latent.traverse(model, z, -4, [0.0, 1.0])
    with pytest.raises(TypeError, match="dim must be an int or a direction vector"):
        latent.traverse(model, z, True, [0.0])
    with pytest.raises(ValueError, match=r"dim must be one latent vector.*latent_dim=3"):
        latent.traverse(model, z, np.ones(2), [0.0])
    with pytest.raises(ValueError, match=r"values must be a non-empty 1-D sequence"):
        latent.traverse(model, z, 0, [])
    with pytest.raises(ValueError, match=r"z must be one latent vector.*shape=\(4,\)"):
        latent.traverse(model, np.zeros(4), 0, [0.0])
    images = latent.traverse(model, z, 2, [0.0, 1.0])
    np.testing.assert_allclose(images[1].ravel(), model.weights[:, 2], rtol=1e-6)


def test_attribute_vector_points_from_one_class_mean_to_the_other(rng):
    center_a, center_b = np.array([4.0, 0.0, 1.0, 0.0]), np.array([-2.0, 3.0, 1.0, 0.0])
    z_a = center_a + 0.1 * rng.standard_normal((500, 4))
    z_b = center_b + 0.1 * rng.standard_normal((300, 4))
    vector = latent.attribute_vector(z_a, z_b)
    np.testing.assert_allclose(vector, center_a - center_b, atol=0.05)
    # adding it to the mean of B lands on the mean of A
    np.testing.assert_allclose(z_b.mean(0) + vector, z_a.mean(0), atol=1e-5)
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same latent size"):
        latent.attribute_vector(z_a, z_b[:, :3])
    with pytest.raises(ValueError, match=r"z_a must have shape \(n, latent_dim\)"):
        latent.attribute_vector(np.zeros((0, 4)), z_b)


def test_class_means_via_encode_and_arithmetic(rng):
    weights = rng.standard_normal((16, 3))
    model = LinearModel(weights)
    centers = np.array([[2.0, 0.0, 0.0], [0.0, -2.0, 1.0], [1.0, 1.0, 1.0]])
    labels = np.repeat([0, 1, 2], 40)
    z = centers[labels] + 0.05 * rng.standard_normal((120, 3))
    scale = 1.2 * np.abs(z @ weights.T).max()
    model.weights = weights / scale  # keep images in [-1, 1]
    images = model.generate(z=z)
    means = latent.class_means(model, images, labels, batch_size=32)
    assert sorted(means) == [0, 1, 2]
    for k in range(3):
        np.testing.assert_allclose(means[k], z[labels == k].mean(0), atol=1e-4)
    vector = means[0] - means[1]
    np.testing.assert_allclose(vector, centers[0] - centers[1], atol=0.05)
    moved = latent.latent_arithmetic(means[2], means[1], means[0])
    np.testing.assert_allclose(moved, means[2] - means[1] + means[0], rtol=1e-6)
    with pytest.raises(TypeError, match="labels must be integers"):
        latent.class_means(model, images, labels.astype(float))
    with pytest.raises(ValueError, match=r"one entry per image \(120\)"):
        latent.class_means(model, images, labels[:10])


def test_encode_needs_an_encoder():
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    with pytest.raises(TypeError, match="a GAN has no encoder"):
        latent.class_means(gan, np.zeros((2, 28, 28, 1), np.float32), [0, 1])


def test_latent_arithmetic_by_hand_and_bad_shapes():
    a, b, c = np.array([1.0, 2.0]), np.array([0.5, 0.5]), np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(latent.latent_arithmetic(a, b, c), [[0.5, 2.5], [1.5, 1.5]])
    with pytest.raises(ValueError, match="same latent size"):
        latent.latent_arithmetic(a, b, np.zeros(3))
    with pytest.raises(ValueError, match="must broadcast together"):
        latent.latent_arithmetic(np.zeros((2, 2)), np.zeros((3, 2)), a)
    with pytest.raises(ValueError, match=r"c must be a latent vector.*shape=\(1, 1, 2\)"):
        latent.latent_arithmetic(a, b, np.zeros((1, 1, 2)))


# --- manifold grid --------------------------------------------------------------------


def test_manifold_grid_coordinates_are_normal_quantiles(rng):
    model = LinearModel(0.05 * rng.standard_normal((16, 4)))
    images, coords = latent.manifold_grid(model, n=5, dims=(2, 0), span=0.9)
    expected = scipy.stats.norm.ppf(np.linspace(0.1, 0.9, 5))
    assert images.shape == (25, 4, 4, 1) and coords.shape == (5, 5, 2)
    np.testing.assert_allclose(coords[0, :, 0], expected, rtol=1e-12)  # x along columns
    np.testing.assert_allclose(coords[:, 0, 1], expected[::-1], rtol=1e-12)  # y up the rows
    z = model.calls[-1]["z"]
    np.testing.assert_allclose(z[:, 2], coords[..., 0].ravel(), rtol=1e-6)
    np.testing.assert_allclose(z[:, 0], coords[..., 1].ravel(), rtol=1e-6)
    np.testing.assert_array_equal(z[:, [1, 3]], 0.0)
    _, coords = latent.manifold_grid(model, n=3, span=(0.2, 0.7), z=np.ones(4))
    np.testing.assert_allclose(coords[0, :, 0], scipy.stats.norm.ppf([0.2, 0.45, 0.7]))
    np.testing.assert_array_equal(model.calls[-1]["z"][:, 2:], 1.0)


def test_manifold_grid_bad_input(rng):
    model = LinearModel(rng.standard_normal((16, 3)))
    with pytest.raises(
        ValueError, match=r"dims must be two different dimensions in \[0, 3\).*\(0, 3\)"
    ):
        latent.manifold_grid(model, dims=(0, 3))
    with pytest.raises(ValueError, match="two different"):
        latent.manifold_grid(model, dims=(1, 1))
    with pytest.raises(TypeError, match="dims must be a pair of ints"):
        latent.manifold_grid(model, dims=0)
    with pytest.raises(ValueError, match=r"n must be an int >= 2.*n=1"):
        latent.manifold_grid(model, n=1)
    with pytest.raises(ValueError, match=r"span must be > 0.5.*span=0.3"):
        latent.manifold_grid(model, span=0.3)
    with pytest.raises(ValueError, match=r"low < high"):
        latent.manifold_grid(model, span=(0.8, 0.2))
    with pytest.raises(ValueError, match=r"span\[0\] must be > 0"):
        latent.manifold_grid(model, span=(0.0, 0.5))
    with pytest.raises(TypeError, match=r"span must be a float"):
        latent.manifold_grid(model, span="wide")


# --- truncation -----------------------------------------------------------------------


def test_truncated_normal_bounds_and_distribution():
    z = latent.truncated_normal(4000, 16, truncation=0.8, seed=0)
    assert z.shape == (4000, 16) and z.dtype == np.float32
    assert np.abs(z).max() <= 0.8
    reference = scipy.stats.truncnorm(-0.8, 0.8)
    assert abs(z.mean()) < 4 * reference.std() / np.sqrt(z.size)
    assert z.var() == pytest.approx(reference.var(), rel=0.02)
    # BigGAN's definition, done independently: normal draws, keep those inside the threshold.
    draws = np.random.default_rng(1).standard_normal(200_000)
    kept = draws[np.abs(draws) <= 0.8]
    assert scipy.stats.ks_2samp(z[:, 3], kept).pvalue > 1e-3
    np.testing.assert_array_equal(z, latent.truncated_normal(4000, 16, 0.8, seed=0))


def test_truncated_normal_wide_threshold_is_the_normal_and_tiny_threshold_works():
    wide = latent.truncated_normal(4000, 4, truncation=50.0, seed=5)
    assert scipy.stats.kstest(wide.ravel(), scipy.stats.norm.cdf).pvalue > 1e-3
    tiny = latent.truncated_normal(200, 8, truncation=1e-4, seed=1)
    assert np.abs(tiny).max() <= 1e-4 and tiny.std() > 3e-5
    with pytest.raises(ValueError, match=r"truncation must be > 0.*truncation=0.0"):
        latent.truncated_normal(2, 4, truncation=0.0)
    with pytest.raises(ValueError, match=r"n must be a positive int.*n=0"):
        latent.truncated_normal(0, 4)


def test_truncate_psi(rng):
    z, mean = rng.standard_normal((5, 3)), np.array([1.0, -1.0, 0.5])
    np.testing.assert_allclose(latent.truncate(z, 1.0, mean), z, rtol=1e-6)
    np.testing.assert_allclose(latent.truncate(z, 0.0, mean), np.tile(mean, (5, 1)), rtol=1e-6)
    np.testing.assert_allclose(latent.truncate(z, 0.5), 0.5 * z, rtol=1e-6)
    np.testing.assert_allclose(
        latent.truncate(z[0], 0.25, mean), mean + 0.25 * (z[0] - mean), rtol=1e-6
    )
    with pytest.raises(
        ValueError, match=r"mean must be one latent vector of shape \(latent_dim=3,\)"
    ):
        latent.truncate(z, 0.5, mean=np.zeros(2))
    with pytest.raises(ValueError, match="psi must be finite"):
        latent.truncate(z, float("nan"))


# --- PCA directions -------------------------------------------------------------------


def test_pca_directions_recover_known_directions_of_a_linear_generator(rng):
    latent_dim, pixels = 6, 16
    basis, _ = np.linalg.qr(rng.standard_normal((latent_dim, 2)))
    v, w = basis[:, 0], basis[:, 1]  # orthonormal z-directions
    a, b = np.linalg.qr(rng.standard_normal((pixels, 2)))[0].T  # orthonormal image patterns
    weights = (
        3.0 * np.outer(a, v)
        + 1.5 * np.outer(b, w)
        + 0.05 * rng.standard_normal((pixels, latent_dim))
    )
    model = LinearModel(weights)
    result = latent.pca_directions(model, n_samples=1500, n_components=4, seed=0)
    assert isinstance(result, latent.LatentDirections) and len(result) == 4
    assert result.directions.shape == (4, latent_dim) and result.layer is None
    assert abs(result.directions[0] @ v) > 0.99
    assert abs(result.directions[1] @ w) > 0.99
    # exact reference for a linear generator: the right singular vectors of W
    right = np.linalg.svd(weights)[2]
    for k in range(2):
        assert abs(result.directions[k] @ right[k]) > 0.99
    np.testing.assert_allclose(result.directions @ result.directions.T, np.eye(4), atol=1e-5)
    assert np.all(np.diff(result.explained_variance) <= 0)
    assert np.all(np.diff(result.explained_variance_ratio) <= 0)
    assert 0.9 < result.explained_variance_ratio[:2].sum() <= 1.0
    # the image-space variance along component 1 is that of (W z)'s top singular direction
    top = np.linalg.svd(weights, compute_uv=False)[0] ** 2
    assert result.explained_variance[0] == pytest.approx(top, rel=0.15)
    # sign convention: moving along +direction increases the feature's PCA coordinate
    moved = model.generate(z=np.stack([np.zeros(latent_dim), result.directions[0]]))
    delta = (moved[1] - moved[0]).ravel()
    top_u = np.linalg.svd(weights)[0][:, 0]
    assert np.sign(delta @ top_u) == np.sign(top_u @ weights @ result.directions[0])


class KerasGeneratorModel:
    """A model whose generator is a Keras network with a known linear first layer."""

    def __init__(self, kernel):
        self.latent_dim = kernel.shape[0]
        self.num_classes = None
        z = keras.Input((self.latent_dim,))
        hidden = keras.layers.Dense(kernel.shape[1], use_bias=False, name="hidden")
        out = keras.layers.Dense(16, activation="tanh", name="out")
        x = out(hidden(z))
        self.generator = keras.Model(z, keras.layers.Reshape((4, 4, 1))(x))
        hidden.set_weights([kernel])

    def generate(self, n=None, z=None, seed=None, labels=None):
        return np.asarray(self.generator(np.asarray(z, np.float32)))


def test_pca_directions_of_an_intermediate_layer_match_the_kernel_svd(rng):
    left, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    right, _ = np.linalg.qr(rng.standard_normal((12, 5)))
    singular = np.array([5.0, 3.0, 1.5, 0.7, 0.3])
    kernel = (left * singular) @ right.T  # (latent_dim=5, features=12)
    model = KerasGeneratorModel(kernel)
    result = latent.pca_directions(model, n_samples=2000, n_components=3, layer="hidden")
    # features z @ K: their PCA coordinates are z @ left * s, so directions = left's columns
    for k in range(3):
        assert abs(result.directions[k] @ left[:, k]) > 0.99
    np.testing.assert_allclose(result.explained_variance, singular[:3] ** 2, rtol=0.1)
    with pytest.raises(ValueError, match=r"Unknown layer 'nope'.*'hidden'"):
        latent.pca_directions(model, n_samples=50, n_components=2, layer="nope")


def test_pca_directions_on_a_tiny_gan_and_bad_input():
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=3)
    result = latent.pca_directions(gan, n_samples=100, n_components=4, layer="g_dense")
    assert result.directions.shape == (4, 8) and result.layer == "g_dense"
    np.testing.assert_allclose(result.directions @ result.directions.T, np.eye(4), atol=1e-5)
    assert np.all(np.diff(result.explained_variance) <= 0)
    with pytest.raises(ValueError, match=r"n_components must be an int <= 8.*n_components=9"):
        latent.pca_directions(gan, n_samples=100, n_components=9)
    with pytest.raises(TypeError, match="layer must be a layer name"):
        latent.pca_directions(gan, n_samples=100, layer=3)
    linear = LinearModel(np.ones((16, 2)) * 0.1)
    with pytest.raises(TypeError, match="generator .* is a Keras model"):
        latent.pca_directions(linear, n_samples=10, n_components=1, layer="x")
    with pytest.raises(ValueError, match="do not vary"):
        latent.pca_directions(LinearModel(np.zeros((16, 2))), n_samples=10, n_components=1)
