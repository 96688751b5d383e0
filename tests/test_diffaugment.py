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


def paper_cutout_mask(height, width, offset_y, offset_x, ratio=0.5):
    """The zero mask of DiffAugment's reference `rand_cutout` (Zhao et al. 2020, TF code):
    a size × size grid placed at offset - size // 2, indices clipped into the image, scattered."""
    size_h, size_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    rows = np.clip(np.arange(size_h) + offset_y - size_h // 2, 0, height - 1)
    cols = np.clip(np.arange(size_w) + offset_x - size_w // 2, 0, width - 1)
    mask = np.zeros((height, width), bool)
    mask[np.ix_(rows, cols)] = True
    return mask


@pytest.mark.parametrize("side", [16, 18, 28, 32, 64])
def test_cutout_matches_the_papers_reference_masks(side):
    size = int(side * 0.5 + 0.5)
    out = diff_augment(tf.ones((256, side, side, 1)), "cutout", [5, side]).numpy()[..., 0]
    zeroed = out == 0
    # Every offset the paper draws from: [0, side + 1 - size % 2).
    references = [
        paper_cutout_mask(side, side, oy, ox)
        for oy in range(side + 1 - size % 2)
        for ox in range(side + 1 - size % 2)
    ]
    inside = 0
    for mask in zeroed:
        assert any(np.array_equal(mask, ref) for ref in references)
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if rows.min() > 0 and cols.min() > 0 and rows.max() < side - 1 and cols.max() < side - 1:
            assert mask.sum() == size * size  # not (size + 1)², the bug this test was added for
            inside += 1
    assert inside > 10


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


def test_bfloat16_images_are_augmented_like_float32_ones(images):
    """A mixed_bfloat16 generator hands DiffAugment bfloat16 images: the same augmentation
    (computed in float32), returned in bfloat16. This failed with a dtype error in the
    colour op before."""
    policy = "color,translation,cutout"
    low = tf.cast(images, tf.bfloat16)
    out = diff_augment(low, policy, [4, 5])
    assert out.dtype == tf.bfloat16 and out.shape == images.shape
    reference = diff_augment(tf.cast(low, tf.float32), policy, [4, 5])
    np.testing.assert_allclose(
        tf.cast(out, tf.float32).numpy(), reference.numpy(), atol=2**-7 * 2, rtol=2**-7
    )


def test_mixed_bfloat16_gan_with_diffaugment_trains():
    import dataclasses

    import keras

    from imgenlib.models.gan import GANConfig, build_gan

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        config = dataclasses.replace(GANConfig.tiny(), augment="color,translation,cutout")
        gan = build_gan(config, (32, 32, 3))
        x = np.random.default_rng(0).uniform(-1, 1, (32, 32, 32, 3)).astype(np.float32)
        history = gan.fit(x, batch_size=16, epochs=1, verbose=0).history
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(np.isfinite(values[-1]) for values in history.values())
