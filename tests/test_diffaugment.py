import numpy as np
import pytest
import tensorflow as tf

from imgenlib.diffaugment import diff_augment, parse_policy


@pytest.fixture
def images():
    return tf.constant(np.random.default_rng(0).uniform(-1, 1, (6, 16, 16, 3)).astype(np.float32))


def test_same_seed_same_result_other_seed_other_result(images):
    a = diff_augment(images, "color,translation,cutout", [1, 2]).numpy()
    b = diff_augment(images, "color,translation,cutout", [1, 2]).numpy()
    c = diff_augment(images, "color,translation,cutout", [1, 3]).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == images.shape


def test_translation_is_a_shift_with_zero_padding(images):
    out = diff_augment(images, "translation", [0, 0]).numpy()
    src = images.numpy()
    for i in range(len(src)):
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = np.zeros_like(src[i])
                ys, yd = (
                    (slice(dy, None), slice(0, 16 - dy))
                    if dy >= 0
                    else (slice(0, 16 + dy), slice(-dy, None))
                )
                xs, xd = (
                    (slice(dx, None), slice(0, 16 - dx))
                    if dx >= 0
                    else (slice(0, 16 + dx), slice(-dx, None))
                )
                shifted[yd, xd] = src[i][ys, xs]
                found |= np.allclose(out[i], shifted)
        assert found, f"image {i} is not a shift of its input by at most 2 px"


def test_cutout_zeroes_a_half_size_square(images):
    out = diff_augment(tf.ones((4, 16, 16, 1)), "cutout", [5, 5]).numpy()
    zeroed = (out == 0).reshape(4, -1).sum(axis=1)
    assert np.all(zeroed > 0) and np.all(zeroed <= 8 * 8 + 2 * 8 + 1)


def test_gradients_flow_through_every_policy(images):
    for policy in ("color", "translation", "cutout"):
        with tf.GradientTape() as tape:
            tape.watch(images)
            total = tf.reduce_sum(diff_augment(images, policy, [3, 4]))
        grad = tape.gradient(total, images)
        assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0, policy


def test_policy_parsing():
    assert parse_policy(None) == ()
    assert parse_policy("color, cutout") == ("color", "cutout")
    with pytest.raises(ValueError, match="Unknown DiffAugment policy 'colour'"):
        parse_policy("colour")
