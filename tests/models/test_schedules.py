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
    distinct_levels,
    epsilon_from_prediction,
    min_snr_weight,
    noisy,
    predict_x0,
    sampling_timesteps,
    v_target,
)
from imgenlib.sampling_options import SPACINGS


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


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize(
    ("timesteps", "steps", "start"),
    [(1000, 2, None), (1000, 10, None), (1000, 50, None), (1000, 100, None), (1000, 999, None),
     (1000, 1000, None), (20, 7, None), (1000, 5, 933), (1000, 4, 9), (1000, 10, 9), (2, 2, 1)],
)  # fmt: skip
def test_every_spacing_gives_distinct_descending_levels_from_the_start(
    spacing, timesteps, steps, start
):
    grid = sampling_timesteps(timesteps, steps, start, spacing)
    top = timesteps - 1 if start is None else start
    assert grid.dtype == np.int32 and grid.shape == (steps,)
    assert grid[0] == top and grid[-1] >= 0 and (np.diff(grid) < 0).all()
    assert sampling_timesteps(timesteps, 1, start, spacing).tolist() == [top]
    if steps == top + 1:
        np.testing.assert_array_equal(grid, np.arange(top, -1, -1))


def test_uniform_spacing_is_the_default_grid():
    """The grid every FID so far was measured with: spacing="uniform" must not move it."""
    for timesteps, steps, start in [(1000, 50, None), (1000, 7, None), (37, 5, None), (1000, 4, 933)]:  # fmt: skip
        old = np.round(np.arange(1, steps + 1) * ((start or timesteps - 1) + 1) / steps)
        old = old.astype(int)[::-1] - 1
        for grid in (sampling_timesteps(timesteps, steps, start),
                     sampling_timesteps(timesteps, steps, start, "uniform")):  # fmt: skip
            np.testing.assert_array_equal(grid, old)


@pytest.mark.parametrize(("timesteps", "steps", "start"),
                         [(1000, 2, 999), (1000, 5, 999), (1000, 10, 999), (1000, 31, 999),
                          (37, 6, 36), (1000, 5, 933), (1000, 3, 99)])  # fmt: skip
def test_quadratic_spacing_is_the_ddim_papers_sub_sequence(timesteps, steps, start):
    """Song et al. 2021, appendix D.2: τ_i = ⌊c·i²⌋ (levels counted from 1), c with τ_K at
    the start; where c ≥ 1 no level repeats and nothing is moved."""
    from fractions import Fraction

    c = Fraction(start + 1, steps**2)
    paper = [math.floor(c * i * i) - 1 for i in range(steps, 0, -1)]
    assert sampling_timesteps(timesteps, steps, start, "quadratic").tolist() == paper
    assert sampling_timesteps(1000, 2, spacing="quadratic").tolist() == [999, 249]


def test_quadratic_levels_that_would_repeat_move_to_the_nearest_free_ones():
    """K = 100 of T = 1000: c = 0.1, so ⌊c·i²⌋ − 1 repeats (and is −1) for small i; those
    levels become 0, 1, 2, ... until the formula climbs faster than one a step."""
    grid = sampling_timesteps(1000, 100, spacing="quadratic")[::-1]
    paper = np.array([(i * i) // 10 - 1 for i in range(1, 101)])
    assert len(set(paper.tolist())) < 100 and paper[0] == -1
    np.testing.assert_array_equal(grid[:10], np.arange(10))
    np.testing.assert_array_equal(grid[9:], paper[9:])


def test_linspace_spacing_ends_at_zero():
    for steps, start in [(2, 999), (5, 999), (10, 999), (7, 36)]:
        expected = [round(start - j * start / (steps - 1)) for j in range(steps)]
        assert sampling_timesteps(1000, steps, start, "linspace").tolist() == expected
    assert sampling_timesteps(1000, 2, spacing="linspace").tolist() == [999, 0]


def test_bad_spacing_names_the_received_value():
    for bad in ("karras", "Uniform", None, 2):
        with pytest.raises(ValueError, match=f"Unknown spacing {bad!r}"):
            sampling_timesteps(1000, 5, spacing=bad)
    with pytest.raises(ValueError, match="steps=11"):
        sampling_timesteps(1000, 11, start=9, spacing="quadratic")
    with pytest.raises(ValueError, match="Received: 5 levels"):
        distinct_levels([0, 1, 2, 3, 4], start=3)


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


@pytest.mark.parametrize("kind", ["epsilon", "v"])
def test_min_snr_weight_is_min_snr_gamma_on_the_x0_error(kind):
    """Hang et al. weight the x_0 error by min(SNR, γ): the weighted ε (or v) error must equal
    that, with x̂_0 recovered from the prediction by the sampler's own algebra."""
    schedule, gamma = NoiseSchedule("cosine", 1000), 5.0
    t = np.array([0, 10, 100, 400, 700, 999])
    a = schedule.alpha_bars[t].reshape(-1, 1)
    snr = a / (1 - a)
    rng = np.random.default_rng(3)
    x0, epsilon, wrong = (rng.standard_normal((len(t), 8)) for _ in range(3))
    x_t = noisy(x0, a, epsilon).numpy()
    target = epsilon if kind == "epsilon" else v_target(x0, a, epsilon).numpy()
    prediction = target + 0.1 * wrong
    x0_hat = predict_x0(x_t, epsilon_from_prediction(prediction, x_t, a, kind), a).numpy()
    weight = min_snr_weight(tf.constant(a), gamma, kind).numpy()
    weighted = weight[:, 0] * np.sum((target - prediction) ** 2, axis=1)
    np.testing.assert_allclose(weighted, np.minimum(snr, gamma)[:, 0] * np.sum((x0 - x0_hat) ** 2, axis=1), rtol=1e-6)  # fmt: skip
    expected = np.minimum(snr, gamma) / (snr if kind == "epsilon" else snr + 1)
    np.testing.assert_allclose(weight, expected, rtol=1e-6)
    assert weight[-1, 0] == pytest.approx(1.0 if kind == "epsilon" else 0.0, abs=1e-6)
    assert weight[0, 0] < 1e-3  # a nearly clean image barely counts
    pure_noise = min_snr_weight(tf.constant(0.0), gamma, kind).numpy()  # SNR = 0
    assert pure_noise == (1.0 if kind == "epsilon" else 0.0)
    with pytest.raises(ValueError, match="'x0'"):
        min_snr_weight(tf.constant(a), gamma, "x0")


def test_bad_schedule_arguments_name_the_value():
    with pytest.raises(ValueError, match="'quadratic'"):
        NoiseSchedule("quadratic")
    with pytest.raises(ValueError, match="timesteps=1"):
        NoiseSchedule("cosine", 1)
    with pytest.raises(ValueError, match="noise=None"):
        ddim_update(np.zeros(2), np.zeros(2), 0.5, 0.6, sigma=0.1)
