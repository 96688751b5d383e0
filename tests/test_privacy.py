"""DP-SGD core (imgenlib.privacy) against gradients computed one example at a time."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib import privacy


@pytest.fixture
def model(keras_seed):
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(3, 3, activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )


def _batch(n=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 6, 2)).astype(np.float32)
    y = rng.normal(size=(n, 2)).astype(np.float32)
    return x, y


def _loss_fn(model):
    return lambda x, y: tf.reduce_mean(tf.square(model(x) - y))


def _alone(model, x, y):
    with tf.GradientTape() as tape:
        loss = _loss_fn(model)(x, y)
    return tape.gradient(loss, model.trainable_variables)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_per_example_gradients_equal_each_example_computed_alone(model, graph):
    x, y = _batch()
    variables = model.trainable_variables

    def compute(x, y):
        return privacy.per_example_gradients(_loss_fn(model), variables, (x, y))

    grads = (tf.function(compute) if graph else compute)(x, y)
    assert [g.shape for g in grads] == [(5, *v.shape) for v in variables]
    for i in range(len(x)):
        for got, want in zip(grads, _alone(model, x[i : i + 1], y[i : i + 1]), strict=True):
            np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)
    # The examples really differ: a mixed-up batch would not pass the loop above.
    assert not np.allclose(grads[0][0], grads[0][1])


def test_microbatch_gradients_equal_each_group_computed_alone(model):
    x, y = _batch(6)
    losses, grads = privacy.per_example_gradients(
        _loss_fn(model), model.trainable_variables, (x, y), microbatches=3, return_losses=True
    )
    assert losses.shape == (3,) and grads[0].shape[0] == 3
    for j in range(3):
        group = slice(2 * j, 2 * j + 2)
        for got, want in zip(grads, _alone(model, x[group], y[group]), strict=True):
            np.testing.assert_allclose(got[j], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses[j], _loss_fn(model)(x[group], y[group]), rtol=1e-6)


def _norms(grads):
    return np.sqrt(sum(np.sum(np.reshape(g, (g.shape[0], -1)) ** 2, axis=1) for g in grads))


def test_clipping_bounds_every_global_norm_and_leaves_small_ones_unchanged():
    rng = np.random.default_rng(1)
    wanted = np.array([0.1, 0.99, 1.5, 40.0], np.float32)
    raw = [rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 7))]
    scale = wanted / _norms(raw)
    grads = [tf.constant(g * scale.reshape(-1, *[1] * (g.ndim - 1)), tf.float32) for g in raw]

    clipped, norms = privacy.clip_gradients(grads, clip_norm=1.0)

    np.testing.assert_allclose(norms, wanted, rtol=1e-5)
    np.testing.assert_allclose(_norms([c.numpy() for c in clipped]), [0.1, 0.99, 1, 1], rtol=1e-5)
    for got, g in zip(clipped, grads, strict=True):
        np.testing.assert_array_equal(got[:2], g[:2])  # inside the ball: untouched
        # outside: same direction, shrunk by one common factor across all variables
        np.testing.assert_allclose(got[2:] / g[2:], np.broadcast_to(
            (1 / wanted[2:]).reshape(-1, *[1] * (g.ndim - 1)), g[2:].shape), rtol=1e-5)  # fmt: skip


def test_noise_has_std_sigma_times_clip_over_the_expected_batch_size():
    # Zero gradients: the output is pure noise, N(0, (σ·C / B)²) per coordinate.
    # n = 51,000 coordinates: the sample std's standard error is std / sqrt(2n), i.e.
    # 0.31 %, so a 2 % tolerance is > 6 standard errors, and the plausible mistakes
    # (std σ instead of σ·C: -30 %; no division by B: ×10) are far outside it.
    sigma, clip, batch = 1.3, 0.7, 10.0
    grads = [tf.zeros((3, 200, 250)), tf.zeros((3, 1000))]
    noisy = privacy.clip_and_noise(
        grads, clip_norm=clip, noise_multiplier=sigma, expected_batch_size=batch, seed=[5, 0]
    )
    values = np.concatenate([n.numpy().ravel() for n in noisy])
    expected = sigma * clip / batch
    assert values.size == 51_000
    assert np.std(values) == pytest.approx(expected, rel=0.02)
    assert abs(np.mean(values)) < 5 * expected / np.sqrt(values.size)
    # Each variable gets its own noise; a step's noise is a function of its seed only.
    first = noisy[0].numpy().ravel()[:1000]
    assert abs(np.corrcoef(first, noisy[1].numpy())[0, 1]) < 5 / np.sqrt(1000)
    again = privacy.clip_and_noise(
        grads, clip_norm=clip, noise_multiplier=sigma, expected_batch_size=batch, seed=[5, 0]
    )
    np.testing.assert_array_equal(again[1], noisy[1])
    other = privacy.clip_and_noise(
        grads, clip_norm=clip, noise_multiplier=sigma, expected_batch_size=batch, seed=[5, 1]
    )
    assert not np.allclose(other[1], noisy[1])


def test_without_noise_the_private_gradient_is_the_sum_of_clipped_over_batch():
    grads = [tf.constant([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])]
    (mean,) = privacy.clip_and_noise(
        grads, clip_norm=1.0, noise_multiplier=0.0, expected_batch_size=4, seed=0
    )
    np.testing.assert_allclose(mean, [(0.6 + 0.3) / 4, (0.8 + 0.4) / 4], rtol=1e-6)


def test_dp_step_without_noise_or_clipping_is_an_ordinary_sgd_step(model):
    x, y = _batch(4)
    before = [v.numpy() for v in model.trainable_variables]
    reference = _alone(model, x, y)  # the batch-mean gradient
    loss_before = float(_loss_fn(model)(x, y))
    optimizer = keras.optimizers.SGD(0.1)

    @tf.function
    def step(x, y):
        return privacy.dp_step(
            optimizer, _loss_fn(model), model.trainable_variables, (x, y),
            clip_norm=1e6, noise_multiplier=0.0, expected_batch_size=4,
            seed=[0, optimizer.iterations],
        )  # fmt: skip

    stats = step(x, y)
    for v, b, g in zip(model.trainable_variables, before, reference, strict=True):
        np.testing.assert_allclose(v.numpy(), b - 0.1 * g.numpy(), rtol=1e-5, atol=1e-6)
    assert float(stats["clipped_fraction"]) == 0.0
    assert float(stats["loss"]) == pytest.approx(loss_before, rel=1e-5)
    assert int(optimizer.iterations) == 1


def test_dp_step_noise_is_keyed_on_the_seed_so_a_replayed_step_is_identical(model):
    x, y = _batch(4)
    start = [v.numpy() for v in model.trainable_variables]
    results = []
    for _ in range(2):
        for v, s in zip(model.trainable_variables, start, strict=True):
            v.assign(s)
        optimizer = keras.optimizers.Adam(1e-2)
        privacy.dp_step(
            optimizer, _loss_fn(model), model.trainable_variables, (x, y),
            clip_norm=0.1, noise_multiplier=1.0, expected_batch_size=4,
            seed=[3, optimizer.iterations],
        )  # fmt: skip
        results.append([v.numpy() for v in model.trainable_variables])
    for a, b, s in zip(*results, start, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, s)


def test_poisson_sample_includes_each_example_independently_with_probability_q():
    # N = 200, q = 0.05, 400 steps: batch sizes are Binomial(200, 0.05), mean 10 and
    # variance 9.5. The mean's standard error is 0.15 (tolerance 0.6 = 4 SE); the
    # variance's relative standard error is ~7 % (tolerance 30 %), and fixed-size
    # batches (variance 0) or sampling with replacement (repeated indices) fail.
    n, q = 200, 0.05
    draws = [privacy.poisson_sample(n, q, seed=[7, step]).numpy() for step in range(400)]
    sizes = np.array([len(d) for d in draws])
    assert abs(sizes.mean() - n * q) < 0.6
    assert np.var(sizes) == pytest.approx(n * q * (1 - q), rel=0.3)
    assert all(len(set(d)) == len(d) and np.all(np.diff(d) > 0) for d in draws)
    inclusion = np.bincount(np.concatenate(draws), minlength=n)
    assert inclusion.min() > 0 and inclusion.max() < 45  # Binomial(400, q): mean 20, sd 4.4
    np.testing.assert_array_equal(privacy.poisson_sample(n, q, seed=[7, 3]), draws[3])
    assert len(privacy.poisson_sample(n, 1.0, seed=0)) == n


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"clip_norm": 0.0}, ValueError, r"clip_norm must be > 0.*Received: clip_norm=0.0"),
        ({"clip_norm": -1}, ValueError, r"Received: clip_norm=-1"),
        ({"noise_multiplier": -0.5}, ValueError, r"Received: noise_multiplier=-0.5"),
        ({"expected_batch_size": 0}, ValueError, r"Received: expected_batch_size=0"),
        ({"seed": [1, 2, 3]}, ValueError, r"seed must be an int or .*Received: seed="),
        ({"clip_norm": "1"}, TypeError, r"clip_norm must be a number"),
    ],
)
def test_bad_dp_arguments_name_the_received_value(kwargs, error, match):
    arguments = {"clip_norm": 1.0, "noise_multiplier": 1.0, "expected_batch_size": 8, "seed": 0}
    with pytest.raises(error, match=match):
        privacy.clip_and_noise([tf.zeros((2, 3))], **{**arguments, **kwargs})


def test_bad_poisson_sample_arguments_name_the_received_value():
    with pytest.raises(ValueError, match=r"Received: sampling_rate=1.5"):
        privacy.poisson_sample(10, 1.5, seed=0)
    with pytest.raises(ValueError, match=r"Received: dataset_size=0"):
        privacy.poisson_sample(0, 0.5, seed=0)


def test_bad_microbatches_and_empty_variables_are_refused(model):
    x, y = _batch(5)
    with pytest.raises(ValueError, match=r"divide the batch size 5. Received: microbatches=2"):
        privacy.per_example_gradients(
            _loss_fn(model), model.trainable_variables, (x, y), microbatches=2
        )
    with pytest.raises(ValueError, match=r"variables must not be empty"):
        privacy.per_example_gradients(_loss_fn(model), [], (x, y))
