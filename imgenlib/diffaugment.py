"""DiffAugment: differentiable augmentation of real *and* generated images inside GAN training.

Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020
(https://arxiv.org/abs/2006.10738). With little data the discriminator memorises the
training set and GAN training collapses. Augmenting only the real images teaches the
generator to produce augmented images; DiffAugment applies the *same kind* of random
transform to real and fake images every time D sees them, and it is differentiable, so
the generator's gradient flows back through it. The samples stay un-augmented.

Policies (comma-separated): ``"color"`` (brightness, saturation, contrast),
``"translation"`` (shift by up to 1/8 of the size, zero-padded), ``"cutout"`` (zero a
random square of half the size). ``"color,translation,cutout"`` is the paper's choice for
small datasets. Randomness comes from stateless ops keyed by an explicit seed, so a
training step is reproducible.
"""

from __future__ import annotations

import tensorflow as tf

from imgenlib.distribute import stateless_uniform

__all__ = ["POLICIES", "diff_augment", "parse_policy"]

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy) -> tuple[str, ...]:
    """Normalise a policy given as None, a comma-separated string or a sequence of names."""
    if policy is None or policy == "":
        return ()
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = tuple(name.strip() for name in names)
    unknown = [name for name in names if name not in POLICIES]
    if unknown or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f"Unknown DiffAugment policy {policy!r}; expected a comma-separated subset of {', '.join(POLICIES)}."
        )
    return names


def diff_augment(images, policy, seed):
    """Apply the DiffAugment `policy` to a batch (B, H, W, C) with a stateless `seed` (shape [2]).

    Returns a tensor of the same shape and dtype; gradients flow to `images`. The
    augmentations are computed in float32 whatever the input dtype (a ``mixed_bfloat16``
    generator hands over bfloat16 images), then cast back.
    """
    names = parse_policy(policy)
    if not names:
        return images
    dtype = images.dtype
    images = tf.cast(images, tf.float32)
    seed = tf.cast(seed, tf.int64)
    for index, name in enumerate(names):
        step_seed = tf.random.experimental.stateless_fold_in(seed, index)
        images = _OPS[name](images, step_seed)
    return tf.cast(images, dtype)


def _uniform(shape, seed, salt, minval=0.0, maxval=1.0):
    # Replica-invariant: under tf.distribute each replica gets its slice of the global draw.
    return stateless_uniform(
        shape, tf.random.experimental.stateless_fold_in(seed, salt), minval, maxval
    )


def _color(x, seed):
    batch = tf.shape(x)[0]
    x = x + (_uniform([batch, 1, 1, 1], seed, 0) - 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * (_uniform([batch, 1, 1, 1], seed, 1) * 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (_uniform([batch, 1, 1, 1], seed, 2) + 0.5) + mean


def _translation(x, seed, ratio=0.125):
    batch, height, width = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    shift_h = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    shift_w = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    ty = (
        tf.cast(
            tf.floor(_uniform([batch, 1, 1], seed, 0) * tf.cast(2 * shift_h + 1, tf.float32)),
            tf.int32,
        )
        - shift_h
    )
    tx = (
        tf.cast(
            tf.floor(_uniform([batch, 1, 1], seed, 1) * tf.cast(2 * shift_w + 1, tf.float32)),
            tf.int32,
        )
        - shift_w
    )
    grid_y, grid_x = tf.meshgrid(tf.range(height), tf.range(width), indexing="ij")
    rows = tf.clip_by_value(grid_y[None] + ty + 1, 0, height + 1)
    cols = tf.clip_by_value(grid_x[None] + tx + 1, 0, width + 1)
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    batch_index = tf.broadcast_to(tf.range(batch)[:, None, None], tf.shape(rows))
    return tf.gather_nd(padded, tf.stack([batch_index, rows, cols], axis=-1))


def _cutout(x, seed, ratio=0.5):
    batch, height, width = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    size_h = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    size_w = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    centre_y = tf.cast(
        tf.floor(_uniform([batch, 1, 1], seed, 0) * tf.cast(height + 1 - size_h % 2, tf.float32)),
        tf.int32,
    )
    centre_x = tf.cast(
        tf.floor(_uniform([batch, 1, 1], seed, 1) * tf.cast(width + 1 - size_w % 2, tf.float32)),
        tf.int32,
    )
    grid_y, grid_x = tf.meshgrid(tf.range(height), tf.range(width), indexing="ij")
    # The square covers rows [centre - size // 2, centre - size // 2 + size), as in the
    # paper's code: exactly size_h × size_w pixels when it lies inside the image.
    offset_y = grid_y[None] - centre_y + size_h // 2
    offset_x = grid_x[None] - centre_x + size_w // 2
    inside_y = tf.logical_and(offset_y >= 0, offset_y < size_h)
    inside_x = tf.logical_and(offset_x >= 0, offset_x < size_w)
    keep = 1.0 - tf.cast(tf.logical_and(inside_y, inside_x), x.dtype)
    return x * keep[..., None]


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}
