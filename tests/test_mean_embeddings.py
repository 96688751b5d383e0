"""DP-MERF: random features against the exact kernel, the release against numpy and
dp-accounting, and the generator family (learning, saving, resuming, bad input)."""

import math

import dp_accounting
import keras
import numpy as np
import pytest
from dp_accounting import pld, rdp

from imgenlib.mean_embeddings import (
    EmbeddingRelease,
    RandomFourierFeatures,
    calibrate_gaussian_noise,
    gaussian_mechanism_delta,
    gaussian_mechanism_epsilon,
    release_mean_embeddings,
)
from imgenlib.models import load_model
from imgenlib.models.mean_embedding import MeanEmbeddingGenerator, steps_dataset


def _images(n, shape=(6, 6, 1), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype(np.float32)


# --- features -------------------------------------------------------------------------


def test_features_have_unit_norm_and_approximate_the_mixture_of_gaussian_kernels():
    features = RandomFourierFeatures((6, 6, 1), num_features=40_000, bandwidths=(0.3, 0.6))
    x, y = _images(20, seed=1), _images(20, seed=2)
    x[:5] = y[:5] + 0.05  # some close pairs, where the kernel is far from 0
    phi_x, phi_y = features(x).numpy(), features(y).numpy()
    np.testing.assert_allclose(np.linalg.norm(phi_x, axis=1), 1.0, atol=1e-5)
    exact = features.kernel(x, y)
    assert exact.max() > 0.9 and exact.min() < 0.2  # the check spans the kernel's range
    # the estimate averages F/2 independent terms bounded by 1: error ~ 1/sqrt(F/2) ≈ 0.007
    np.testing.assert_allclose(phi_x @ phi_y.T, exact, atol=0.03)
    np.testing.assert_allclose(features.kernel(x, x).diagonal(), 1.0)


def test_frequencies_come_from_the_seed_alone():
    a = RandomFourierFeatures((4, 4, 3), num_features=60, seed=3)
    b = RandomFourierFeatures((4, 4, 3), num_features=60, seed=3)
    c = RandomFourierFeatures((4, 4, 3), num_features=60, seed=4)
    np.testing.assert_array_equal(a.frequencies, b.frequencies)
    assert not np.allclose(a.frequencies, c.frequencies)
    assert RandomFourierFeatures(**a.get_config()).frequencies.tolist() == a.frequencies.tolist()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_features": 30}, "num_features=30"),
        ({"bandwidths": ()}, "at least one"),
        ({"bandwidths": (0.5, -1.0)}, "-1.0"),
        ({"num_features": 0}, "num_features"),
    ],
)
def test_bad_feature_settings_are_refused_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandomFourierFeatures((4, 4, 1), **{"num_features": 32, "bandwidths": (0.5, 1.0), **kwargs})


# --- the Gaussian mechanism's privacy -------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.7306])
def test_exact_epsilon_matches_dp_accounting_pld_and_is_below_rdp(sigma):
    delta = 1e-5
    event = dp_accounting.GaussianDpEvent(sigma)
    from_pld = pld.PLDAccountant().compose(event).get_epsilon(delta)
    from_rdp = rdp.RdpAccountant().compose(event).get_epsilon(delta)
    exact = gaussian_mechanism_epsilon(sigma, delta)
    assert exact == pytest.approx(from_pld, rel=1e-3)
    assert exact < from_rdp  # RDP is an upper bound
    assert gaussian_mechanism_delta(exact, sigma) == pytest.approx(delta, rel=1e-6)


@pytest.mark.parametrize("target", [1.0, 3.0, 10.0])
def test_calibrated_noise_is_the_smallest_that_meets_the_budget(target):
    delta = 1e-5
    sigma = calibrate_gaussian_noise(target, delta)
    assert gaussian_mechanism_delta(target, sigma) <= delta
    assert gaussian_mechanism_delta(target, sigma * 0.999) > delta
    assert gaussian_mechanism_epsilon(sigma, delta) == pytest.approx(target, abs=1e-6)


def test_delta_closed_form_against_the_privacy_loss_distribution_by_integration():
    # δ(ε) = E_{L ~ N(μ, 2μ)}[(1 − e^{ε − L})_+] with μ = 1/(2σ²): the Gaussian's privacy loss
    sigma, eps = 0.8, 2.0
    mu = 1 / (2 * sigma**2)
    loss = np.linspace(mu - 12 * math.sqrt(2 * mu), mu + 12 * math.sqrt(2 * mu), 400_001)
    density = np.exp(-((loss - mu) ** 2) / (4 * mu)) / math.sqrt(4 * math.pi * mu)
    integral = np.trapezoid(np.maximum(1 - np.exp(eps - loss), 0) * density, loss)
    assert gaussian_mechanism_delta(eps, sigma) == pytest.approx(integral, rel=1e-6)


# --- the release ----------------------------------------------------------------------


def test_noiseless_release_is_each_class_mean_of_the_features():
    images, labels = _images(90), np.repeat([0, 1, 2], 30)
    features = RandomFourierFeatures((6, 6, 1), num_features=102)
    release = release_mean_embeddings(images, labels, noise_multiplier=0, features=features)
    phi = features(images).numpy()
    expected = np.stack([phi[labels == k].mean(0) for k in range(3)])
    np.testing.assert_allclose(release.means, expected, atol=1e-6)
    np.testing.assert_allclose(release.counts, [30, 30, 30])
    assert release.epsilon == math.inf


def test_release_noise_has_the_stated_standard_deviation_on_the_unit_norm_sum():
    images, labels = _images(400), np.repeat([0, 1], 200)
    features = RandomFourierFeatures((6, 6, 1), num_features=18_000)
    exact = release_mean_embeddings(images, labels, noise_multiplier=0, features=features)
    noisy = release_mean_embeddings(
        images, labels, noise_multiplier=2.0, features=features, seed=5, label_weight=0.1
    )
    # undo the division: noise on block c of the sum, divided by a = sqrt(1 - b²)
    a = math.sqrt(1 - 0.1**2)
    noise = (noisy.means * noisy.counts[:, None] - exact.means * 200) * a
    assert noise.std() == pytest.approx(2.0, rel=0.02)
    assert np.abs(noise.mean()) < 0.05
    assert np.all(np.abs(noisy.counts - 200) < 6 * 2.0 / 0.1)
    assert noisy.noise_multiplier == 2.0
    assert noisy.epsilon == pytest.approx(gaussian_mechanism_epsilon(2.0, 1e-5))


def test_release_for_a_budget_spends_it_and_fresh_noise_differs_unless_seeded():
    images, labels = _images(200), np.repeat([0, 1], 100)
    features = RandomFourierFeatures((6, 6, 1), num_features=60)
    one = release_mean_embeddings(images, labels, epsilon=3.0, features=features, label_weight=0.3)
    two = release_mean_embeddings(images, labels, epsilon=3.0, features=features, label_weight=0.3)
    assert one.epsilon == pytest.approx(3.0, abs=1e-6) and one.epsilon <= 3.0 + 1e-9
    assert one.noise_multiplier == pytest.approx(calibrate_gaussian_noise(3.0, 1e-5))
    assert not np.allclose(one.means, two.means)  # seed=None: OS entropy
    seeded = [
        release_mean_embeddings(
            images, labels, epsilon=3.0, features=features, seed=7, label_weight=0.3
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(seeded[0].means, seeded[1].means)
    record = one.privacy()
    assert record["epsilon"] == one.epsilon and record["delta"] == 1e-5


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({}, ValueError, "exactly one of epsilon and noise_multiplier"),
        ({"epsilon": 1.0, "noise_multiplier": 1.0}, ValueError, "noise_multiplier=1.0"),
        ({"epsilon": -2.0}, ValueError, "-2.0"),
        ({"epsilon": 1.0, "delta": 1.5}, ValueError, "1.5"),
        ({"epsilon": 1.0, "labels": np.full(10, 4), "num_classes": 2}, ValueError, r"\[4, 4\]"),
        ({"epsilon": 1.0, "labels": np.zeros(3, int)}, ValueError, r"shape=\(3,\)"),
        ({"epsilon": 1.0, "features": "rff"}, TypeError, "str"),
        (
            {"epsilon": 1.0, "features": RandomFourierFeatures((5, 5, 1), 36)},
            ValueError,
            r"\(10, 6, 6, 1\)",
        ),
    ],
)
def test_bad_release_input_is_refused_naming_the_value(kwargs, error, message):
    kwargs = {"labels": np.zeros(10, int), **kwargs}
    with pytest.raises(error, match=message):
        release_mean_embeddings(_images(10), **kwargs)


# --- the generator ----------------------------------------------------------------------


def _two_constant_classes():
    images = np.concatenate([np.full((50, 4, 4, 1), -0.6), np.full((50, 4, 4, 1), 0.5)])
    labels = np.repeat([0, 1], 50)
    features = RandomFourierFeatures((4, 4, 1), num_features=2000, bandwidths=(0.25,))
    return release_mean_embeddings(
        images.astype(np.float32), labels, noise_multiplier=0, features=features
    )


def _model(release, seed=0):
    keras.utils.set_random_seed(seed)
    model = MeanEmbeddingGenerator.from_release(release, latent_dim=4, samples_per_class=32)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


@pytest.mark.slow
def test_generator_learns_each_class_from_the_release_alone():
    model = _model(_two_constant_classes())
    before = model.generate(64, seed=1, labels=np.repeat([0, 1], 32))
    history = model.fit(steps_dataset(300), verbose=0).history
    after = model.generate(64, seed=1, labels=np.repeat([0, 1], 32))
    assert history["mmd2"][0] > 0
    for k, value in enumerate([-0.6, 0.5]):
        rows = slice(32 * k, 32 * (k + 1))
        assert abs(after[rows].mean() - value) < 0.1, (k, after[rows].mean())
        assert abs(after[rows].mean() - value) < abs(before[rows].mean() - value)


def test_saved_model_keeps_target_privacy_and_samples(tmp_path):
    release = _two_constant_classes()
    model = _model(release)
    model.fit(steps_dataset(5), verbose=0)
    path = tmp_path / "merf.keras"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.target.numpy(), release.means)
    assert loaded.privacy == release.privacy()
    np.testing.assert_array_equal(
        loaded.generate(6, seed=2, labels="balanced"), model.generate(6, seed=2, labels="balanced")
    )


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    release = _two_constant_classes()
    straight = _model(release)
    straight.fit(steps_dataset(6), epochs=2, verbose=0)
    first = _model(release)
    first.fit(steps_dataset(6), epochs=1, verbose=0)
    first.save(tmp_path / "half.keras")
    resumed = load_model(tmp_path / "half.keras")
    resumed.fit(steps_dataset(6), epochs=1, verbose=0)
    for a, b in zip(straight.generator.weights, resumed.generator.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_generator_must_fit_the_release():
    release = _two_constant_classes()
    with pytest.raises(TypeError, match="dict"):
        MeanEmbeddingGenerator.from_release({"means": release.means})
    wrong = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(25), keras.layers.Reshape((5, 5, 1))]
    )
    with pytest.raises(ValueError, match=r"\(5, 5, 1\)"):
        MeanEmbeddingGenerator(wrong, features=release.features, target=release.means, latent_dim=4)
    assert isinstance(release, EmbeddingRelease)


# --- the run directory ------------------------------------------------------------------


@pytest.mark.slow
def test_run_releases_once_resumes_from_the_file_and_refuses_other_privacy(tmp_path):
    from imgenlib.mean_embedding_runs import load_release, train_mean_embedding

    options = {"num_features": 600, "samples_per_class": 8, "steps_per_epoch": 5, "verbose": 0}
    first = train_mean_embedding("digits", tmp_path, epsilon=2.0, steps=10, **options)
    assert first["privacy"]["epsilon"] == pytest.approx(2.0, abs=1e-6)
    assert first["epochs_completed"] == 2 and first["steps_this_session"] == 10
    release, settings = load_release(tmp_path / "release.npz")
    assert settings["epsilon"] == 2.0 and release.means.shape == (10, 600)
    assert release.counts.sum() == pytest.approx(1797, abs=6 * 10 * release.noise_multiplier / 0.05)

    more = train_mean_embedding("digits", tmp_path, epsilon=2.0, steps=15, **options)
    assert more["release_seconds"] == 0 and more["steps_this_session"] == 5
    assert more["epochs_completed"] == 3
    np.testing.assert_array_equal(load_release(tmp_path / "release.npz")[0].means, release.means)
    np.testing.assert_array_equal(
        load_model(tmp_path / "model.keras").target.numpy(), release.means
    )
    assert (tmp_path / "samples.png").stat().st_size > 0

    with pytest.raises(ValueError, match=r"spend privacy again.*epsilon=3.0; stored: epsilon=2.0"):
        train_mean_embedding("digits", tmp_path, epsilon=3.0, steps=15, **options)
    with pytest.raises(ValueError, match="steps=12"):
        train_mean_embedding("digits", tmp_path / "other", epsilon=2.0, steps=12, **options)


def test_a_class_too_small_for_the_budget_is_warned_about_not_divided_by_a_negative_count():
    images, labels = _images(40), np.repeat([0, 1], 20)
    features = RandomFourierFeatures((6, 6, 1), num_features=60)
    with pytest.warns(UserWarning, match=r"below 3 noise standard deviations.*epsilon=0.1"):
        release = release_mean_embeddings(
            images, labels, epsilon=0.1, features=features, seed=0, label_weight=0.05
        )
    assert np.all(np.isfinite(release.means)) and np.all(np.linalg.norm(release.means, axis=1) > 0)
