"""Each loss against values computed by hand (NumPy, closed forms) on fixed logits."""

import numpy as np
import pytest
import tensorflow as tf

from imgenlib import losses

REAL = np.array([2.0, -1.0, 0.0, 30.0], np.float32)
FAKE = np.array([-3.0, 0.5, 0.0, -30.0], np.float32)


def sigmoid(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


def test_non_saturating_matches_binary_cross_entropy():
    d = losses.discriminator_loss("non_saturating", REAL, FAKE).numpy()
    expected = -np.log(sigmoid(REAL)) - np.log(1 - sigmoid(FAKE))
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-6)
    g = losses.generator_loss("non_saturating", FAKE).numpy()
    np.testing.assert_allclose(g, -np.log(sigmoid(FAKE)), rtol=1e-5)
    # At logit 0 D is undecided: loss log 2 per term.
    assert d[2] == pytest.approx(2 * np.log(2), rel=1e-6)


def test_minimax_generator_saturates_where_non_saturating_does_not():
    g = losses.generator_loss("minimax", FAKE).numpy()
    np.testing.assert_allclose(g, np.log(1 - sigmoid(FAKE)), rtol=1e-5, atol=1e-7)
    logits = tf.constant([-8.0])  # D confidently rejects a fake
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        minimax = losses.generator_loss("minimax", logits)
        non_sat = losses.generator_loss("non_saturating", logits)
    assert abs(tape.gradient(minimax, logits).numpy()[0]) < 1e-3
    assert abs(tape.gradient(non_sat, logits).numpy()[0]) > 0.99


def test_hinge():
    d = losses.discriminator_loss("hinge", REAL, FAKE).numpy()
    np.testing.assert_allclose(d, [0 + 0, 2 + 1.5, 1 + 1, 0 + 0])
    np.testing.assert_allclose(losses.generator_loss("hinge", FAKE).numpy(), -FAKE)


def test_least_squares():
    d = losses.discriminator_loss("least_squares", REAL, FAKE).numpy()
    np.testing.assert_allclose(d, 0.5 * ((REAL - 1) ** 2 + FAKE**2))
    np.testing.assert_allclose(
        losses.generator_loss("least_squares", FAKE).numpy(), 0.5 * (FAKE - 1) ** 2
    )


def test_wasserstein():
    np.testing.assert_allclose(
        losses.discriminator_loss("wasserstein_gp", REAL, FAKE).numpy(), FAKE - REAL
    )
    np.testing.assert_allclose(losses.generator_loss("wasserstein_gp", FAKE).numpy(), -FAKE)


def test_extreme_logits_stay_finite():
    big = np.array([1e4, -1e4], np.float32)
    for name in losses.LOSSES:
        assert np.all(np.isfinite(losses.discriminator_loss(name, big, big).numpy())), name
        assert np.all(np.isfinite(losses.generator_loss(name, big).numpy())), name


def test_seed_article_log1p_loss_is_not_a_probability_loss():
    # The article's D loss: -log1p(D_real) on raw logits. It is NaN below -1 and unbounded below.
    with np.errstate(invalid="ignore"):
        seed_article = -np.log1p(np.array([-2.0, 1e6]))
    assert np.isnan(seed_article[0]) and seed_article[1] < -13
    assert np.all(losses.discriminator_loss("non_saturating", [-2.0, 1e6], [0.0, 0.0]).numpy() >= 0)


def test_gradient_penalty_against_numerical_gradient():
    rng = np.random.default_rng(0)
    w = tf.constant(rng.normal(size=(2 * 2 * 1, 1)).astype(np.float32))

    def critic(x):  # a tiny nonlinear critic with a known input gradient
        flat = tf.reshape(x, [-1, 4])
        return tf.tanh(flat @ w) + 0.1 * tf.reduce_sum(flat**2, axis=1, keepdims=True)

    real = rng.uniform(-1, 1, (3, 2, 2, 1)).astype(np.float32)
    fake = rng.uniform(-1, 1, (3, 2, 2, 1)).astype(np.float32)
    alpha = np.array([0.0, 0.3, 1.0], np.float32)
    penalty = losses.gradient_penalty(critic, tf.constant(real), tf.constant(fake), alpha).numpy()

    def f(x):
        return float(critic(tf.constant(x[None].astype(np.float32)))[0, 0])

    for i in range(3):
        point = (real[i] + alpha[i] * (fake[i] - real[i])).astype(np.float64)
        grad = np.zeros_like(point)
        for idx in np.ndindex(point.shape):
            step = np.zeros_like(point)
            step[idx] = 1e-3
            grad[idx] = (f(point + step) - f(point - step)) / 2e-3
        expected = (np.linalg.norm(grad) - 1) ** 2
        assert penalty[i] == pytest.approx(expected, abs=2e-3)


def test_gradient_penalty_finite_at_zero_gradient():
    def constant_critic(x):
        return tf.zeros([tf.shape(x)[0], 1]) + 0.0 * x[:, :1, :1, 0]

    images = tf.zeros((2, 4, 4, 1))
    with tf.GradientTape() as tape:
        tape.watch(images)
        penalty = losses.gradient_penalty(constant_critic, images, images + 1.0, [0.5, 0.5])
    np.testing.assert_allclose(penalty.numpy(), 1.0, atol=1e-5)
    grad = tape.gradient(penalty, images)
    assert grad is None or np.all(np.isfinite(grad.numpy()))


def test_prob_real_and_unknown_loss():
    np.testing.assert_allclose(losses.prob_real("non_saturating", [0.0]).numpy(), [0.5])
    np.testing.assert_allclose(losses.prob_real("hinge", [3.0]).numpy(), [3.0])
    with pytest.raises(ValueError, match="Unknown loss 'wgan'; expected one of 'non_saturating'"):
        losses.discriminator_loss("wgan", REAL, FAKE)


def test_matching_aware_discriminator_loss_is_reed_et_al_with_half_weights():
    """GAN-CLS: log D(real, match) + (log(1 - D(real, mismatch)) + log(1 - D(fake, match))) / 2."""
    mismatched = np.array([1.0, -2.0, 0.0, 30.0], np.float32)
    d = losses.matching_aware_discriminator_loss("non_saturating", REAL, mismatched, FAKE)
    # -log sigmoid(x) = log(1 + e^-x) and -log(1 - sigmoid(x)) = log(1 + e^x), in float64.
    expected = np.logaddexp(0, -REAL.astype(np.float64)) + 0.5 * (
        np.logaddexp(0, mismatched.astype(np.float64)) + np.logaddexp(0, FAKE.astype(np.float64))
    )
    np.testing.assert_allclose(d.numpy(), expected, rtol=1e-5, atol=1e-6)
    # Undecided D (all logits 0): log 2 for the positive, ½ log 2 for each negative.
    assert d.numpy()[2] == pytest.approx(2 * np.log(2), rel=1e-6)
    hinge = losses.matching_aware_discriminator_loss("hinge", REAL, mismatched, FAKE).numpy()
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    np.testing.assert_allclose(
        hinge, relu(1 - REAL) + 0.5 * (relu(1 + mismatched) + relu(1 + FAKE)), rtol=1e-6
    )
    # A (real, mismatched) pair that D calls real costs what a fake it calls real costs.
    swapped = losses.matching_aware_discriminator_loss("non_saturating", REAL, FAKE, mismatched)
    np.testing.assert_allclose(swapped.numpy(), d.numpy(), rtol=1e-6)


def test_matching_aware_loss_with_hard_negatives_shares_the_mismatched_half():
    """Hard negatives take weight w of the mismatched half, per example; w = 0 is the old loss."""
    mismatched = np.array([1.0, -2.0, 0.0, 30.0], np.float32)
    hard = np.array([0.5, 3.0, -1.0, -30.0], np.float32)
    weight = np.array([0.5, 0.5, 0.0, 1.0], np.float32)
    d = losses.matching_aware_discriminator_loss(
        "non_saturating", REAL, mismatched, FAKE, hard, weight
    ).numpy()
    sp = lambda x: np.logaddexp(0, np.asarray(x, np.float64))  # noqa: E731
    negatives = weight * sp(hard) + (1 - weight) * sp(mismatched)
    expected = sp(-REAL) + 0.5 * (negatives + sp(FAKE))
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-6)
    plain = losses.matching_aware_discriminator_loss("non_saturating", REAL, mismatched, FAKE)
    none = losses.matching_aware_discriminator_loss("non_saturating", REAL, mismatched, FAKE,
                                                    hard, 0.0)  # fmt: skip
    np.testing.assert_allclose(none.numpy(), plain.numpy(), rtol=1e-6)
    hinge = losses.matching_aware_discriminator_loss("hinge", REAL, mismatched, FAKE, hard, 0.25)
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    negatives = 0.25 * relu(1 + hard) + 0.75 * relu(1 + mismatched)
    np.testing.assert_allclose(
        hinge.numpy(), relu(1 - REAL) + 0.5 * (negatives + relu(1 + FAKE)), rtol=1e-6
    )
