"""Noise schedules and the diffusion update algebra, against closed forms and independent references."""

import math

import numpy as np
import pytest
import tensorflow as tf

from imgenlib.models.schedules import (
    NoiseSchedule,
    ddim_sigma,
    ddim_update,
    ddpm_posterior,
    epsilon_from_prediction,
    noisy,
    predict_x0,
    sampling_timesteps,
    v_target,
)


def test_cosine_alpha_bar_is_the_closed_form():
    schedule = NoiseSchedule("cosine", 1000)
    t = np.arange(1000)
    s = 0.008
    f = lambda u: np.cos((u / 1000 + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    expected = f(t + 1) / f(0)
    unclipped = schedule.betas < 0.999
    np.testing.assert_allclose(schedule.alpha_bars[unclipped], expected[unclipped], rtol=1e-9)
    assert np.all(np.diff(schedule.alpha_bars) < 0)


def test_linear_schedule_is_ho_et_al():
    schedule = NoiseSchedule("linear", 1000)
    np.testing.assert_allclose(schedule.betas[[0, -1]], [1e-4, 0.02])
    assert schedule.alpha_bars[-1] == pytest.approx(4.04e-5, rel=0.01)
    np.testing.assert_allclose(NoiseSchedule("linear", 100).betas[[0, -1]], [1e-3, 0.2])


def test_alpha_bar_lookup_has_one_at_minus_one():
    schedule = NoiseSchedule("cosine", 50)
    values = schedule.alpha_bar(tf.constant([-1, 0, 49])).numpy()
    np.testing.assert_allclose(values, [1.0, *schedule.alpha_bars[[0, 49]]], rtol=1e-6)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_forward_noising_matches_q_xt_given_x0(kind):
    """Mean and variance of x_t over many draws are sqrt(ᾱ)·x_0 and 1 − ᾱ."""
    schedule = NoiseSchedule(kind, 1000)
    x0 = np.linspace(-1, 1, 5, dtype=np.float32)
    for t in (0, 250, 600, 999):
        alpha_bar = schedule.alpha_bar(tf.constant(t))
        noise = tf.random.stateless_normal([40000, 5], seed=[t, 1])
        x_t = noisy(x0[None], alpha_bar, noise).numpy()
        a = schedule.alpha_bars[t]
        np.testing.assert_allclose(x_t.mean(0), np.sqrt(a) * x0, atol=0.02)
        np.testing.assert_allclose(x_t.var(0), 1 - a, rtol=0.03, atol=1e-4)


def test_sampling_timesteps():
    np.testing.assert_array_equal(sampling_timesteps(1000, 1000), np.arange(999, -1, -1))
    grid = sampling_timesteps(1000, 4)
    np.testing.assert_array_equal(grid, [999, 749, 499, 249])
    assert sampling_timesteps(1000, 1).tolist() == [999]
    with pytest.raises(ValueError, match="steps=1001"):
        sampling_timesteps(1000, 1001)
    for timesteps, steps in [(1000, 50), (1000, 7), (20, 20), (37, 5)]:
        expected = np.round(np.arange(1, steps + 1) * timesteps / steps).astype(int)[::-1] - 1
        np.testing.assert_array_equal(sampling_timesteps(timesteps, steps), expected)
        np.testing.assert_array_equal(
            sampling_timesteps(timesteps, steps, start=timesteps - 1), expected
        )
    np.testing.assert_array_equal(sampling_timesteps(1000, 4, start=933), [933, 699, 466, 233])
    with pytest.raises(ValueError, match="steps=11"):
        sampling_timesteps(1000, 11, start=9)
    with pytest.raises(ValueError, match="start=1000"):
        sampling_timesteps(1000, 4, start=1000)


@pytest.mark.parametrize(("kind", "level"), [("cosine", 934), ("linear", 672)])
def test_inversion_level_is_the_last_with_enough_signal(kind, level):
    schedule = NoiseSchedule(kind, 1000)
    assert schedule.inversion_level() == level
    assert schedule.alpha_bars[level] >= 0.01 > schedule.alpha_bars[level + 1]
    assert 1 / np.sqrt(schedule.alpha_bars[level]) <= 10 < 1 / np.sqrt(schedule.alpha_bars[-1])
    assert schedule.inversion_level(1e-9) == 999
    with pytest.raises(ValueError, match="min_alpha_bar=0"):
        schedule.inversion_level(0)
    with pytest.raises(ValueError, match="min_alpha_bar=0.99999"):
        schedule.inversion_level(0.99999)


def test_ddim_eta_zero_step_inverted_returns_the_input():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 4, 1)).astype(np.float32)
    epsilon = rng.standard_normal(x.shape).astype(np.float32)
    schedule = NoiseSchedule("cosine", 1000)
    a_t, a_s = schedule.alpha_bar(tf.constant(700)), schedule.alpha_bar(tf.constant(650))
    earlier = ddim_update(x, epsilon, a_t, a_s)
    back = ddim_update(earlier, epsilon, a_s, a_t)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-5)
    # the step keeps the predicted x_0 and ε: x_s is q(x_s | x_0)'s mean plus sqrt(1 − ᾱ_s)·ε
    x0 = predict_x0(x, epsilon, a_t)
    np.testing.assert_allclose(
        earlier.numpy(), noisy(x0, a_s, epsilon).numpy(), rtol=1e-5, atol=1e-5
    )


def test_ddpm_posterior_is_gaussian_conditioning():
    """q(x_s | x_t, x_0) ∝ q(x_t | x_s)·q(x_s | x_0), computed by precision-weighting."""
    schedule = NoiseSchedule("linear", 1000)
    a_t, a_s = schedule.alpha_bars[400], schedule.alpha_bars[380]
    alpha = a_t / a_s
    x0, x_t = np.array([0.3, -0.7]), np.array([1.1, 0.2])
    precision = 1 / (1 - a_s) + alpha / (1 - alpha)
    expected_mean = (np.sqrt(a_s) * x0 / (1 - a_s) + np.sqrt(alpha) * x_t / (1 - alpha)) / precision
    mean, variance = ddpm_posterior(
        tf.constant(x0),
        tf.constant(x_t),
        tf.constant(a_t, tf.float64),
        tf.constant(a_s, tf.float64),
    )
    np.testing.assert_allclose(mean.numpy(), expected_mean, rtol=1e-10)
    assert float(variance) == pytest.approx(1 / precision, rel=1e-10)


def test_ddim_with_eta_one_is_the_ddpm_posterior():
    rng = np.random.default_rng(1)
    x_t = rng.standard_normal((2, 3)).astype(np.float64)
    epsilon = rng.standard_normal((2, 3))
    noise = rng.standard_normal((2, 3))
    schedule = NoiseSchedule("cosine", 1000)
    a_t, a_s = (tf.constant(schedule.alpha_bars[i], tf.float64) for i in (500, 450))
    x0 = predict_x0(x_t, epsilon, a_t)
    mean, variance = ddpm_posterior(x0, x_t, a_t, a_s)
    sigma = ddim_sigma(a_t, a_s, 1.0)
    np.testing.assert_allclose(float(sigma) ** 2, float(variance), rtol=1e-10)
    np.testing.assert_allclose(
        ddim_update(x_t, epsilon, a_t, a_s, sigma, noise).numpy(),
        (mean + tf.sqrt(variance) * noise).numpy(),
        rtol=1e-9,
    )


def test_v_prediction_round_trip():
    rng = np.random.default_rng(2)
    x0, epsilon = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    a = tf.constant(0.3, tf.float64)
    x_t = noisy(x0, a, epsilon)
    v = v_target(x0, a, epsilon)
    np.testing.assert_allclose(epsilon_from_prediction(v, x_t, a, "v").numpy(), epsilon)
    with pytest.raises(ValueError, match="'x0'"):
        epsilon_from_prediction(v, x_t, a, "x0")


def test_bad_schedule_arguments_name_the_value():
    with pytest.raises(ValueError, match="'quadratic'"):
        NoiseSchedule("quadratic")
    with pytest.raises(ValueError, match="timesteps=1"):
        NoiseSchedule("cosine", 1)
    with pytest.raises(ValueError, match="noise=None"):
        ddim_update(np.zeros(2), np.zeros(2), 0.5, 0.6, sigma=0.1)
