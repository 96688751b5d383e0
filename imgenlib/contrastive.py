"""The parts of a contrastive dual encoder (`imgenlib.clip.MiniCLIP`): its loss and image CNN.

- `contrastive_loss`: the symmetric InfoNCE loss of CLIP (Radford et al. 2021,
  https://arxiv.org/abs/2103.00020), with optional multi-positive targets.
- `same_caption`: which captions of a batch have identical token ids.
- `build_image_encoder`: a small GroupNorm CNN for 32×32 or 64×64 images.
- `caption_dataset`: batches of (images, captions[, keys]) for ``fit``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from imgenlib import text as textlib
from imgenlib._validation import check_int, check_positive_int
from imgenlib.images import check_images

__all__ = [
    "build_image_encoder",
    "caption_dataset",
    "check_pairs",
    "check_image_shape",
    "contrastive_loss",
    "l2_normalize",
    "same_caption",
]


def same_caption(token_ids):
    """(B, B) bool: captions i and j have identical token ids (the diagonal is True)."""
    token_ids = ops.convert_to_tensor(token_ids)
    return ops.all(ops.equal(token_ids[:, None, :], token_ids[None, :, :]), axis=-1)


def contrastive_loss(
    image_embeddings, text_embeddings, logit_scale, positives=None, hard_negatives=None
):
    """Symmetric InfoNCE of a batch of B (image, caption) pairs: a scalar.

    ``logits = logit_scale * image_embeddings @ text_embeddings.T``; row i's target is
    uniform over the captions j with ``positives[i, j]`` (the identity when `positives`
    is None), column j's target uniform over the images i with ``positives[i, j]``. The
    loss is the mean of the row-wise (image → text) and column-wise (text → image)
    cross-entropies.

    Args:
        image_embeddings: (B, E), L2-normalised for cosine similarities.
        text_embeddings: (B, E), likewise.
        logit_scale: a positive scalar, the inverse temperature.
        positives: optional (B, B) bool matrix; every row and column needs a True.
        hard_negatives: optional ``(embeddings, valid)``: (B, E) embeddings of one extra
            caption per image and a (B,) bool mask. Row i (image → text) then also
            competes with its own extra caption, a negative (target 0) where ``valid[i]``;
            the columns (text → image) are unchanged: an extra caption has no image.
            NegCLIP's hard negatives (Yuksekgonul et al. 2023,
            https://arxiv.org/abs/2210.01936): captions one word away from the truth.
    """
    logits = logit_scale * ops.matmul(image_embeddings, ops.transpose(text_embeddings))
    if positives is None:
        targets = ops.eye(ops.shape(logits)[0], dtype=logits.dtype)
    else:
        targets = ops.cast(positives, logits.dtype)
    rows, row_targets = logits, targets
    if hard_negatives is not None:
        embeddings, valid = hard_negatives
        extra = logit_scale * ops.sum(image_embeddings * embeddings, axis=1, keepdims=True)
        extra = ops.where(valid[:, None], extra, ops.full_like(extra, -1e9))  # no extra caption
        rows = ops.concatenate([logits, extra], axis=1)
        row_targets = ops.concatenate([targets, ops.zeros_like(extra)], axis=1)

    def cross_entropy(rows, target):
        target = target / ops.sum(target, axis=1, keepdims=True)
        return -ops.mean(ops.sum(target * ops.log_softmax(rows, axis=1), axis=1))

    image_to_text = cross_entropy(rows, row_targets)
    text_to_image = cross_entropy(ops.transpose(logits), ops.transpose(targets))
    return (image_to_text + text_to_image) / 2


def check_image_shape(image_shape) -> tuple[int, int, int]:
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(side, (int, np.integer)) for side in shape)
        or min(shape[:2]) < 8
        or shape[2] not in (1, 3)
    ):
        raise ValueError(
            "image_shape must be (height, width, channels) with sides >= 8 and 1 or 3 "
            f"channels. Received: image_shape={image_shape!r}"
        )
    return tuple(int(side) for side in shape)


def build_image_encoder(
    image_shape, *, width: int = 32, feature_dim: int = 256, groups: int = 1
) -> keras.Model:
    """A small CNN: images in [-1, 1] → a (feature_dim,) vector.

    A 3×3 convolution, then stride-2 3×3 convolutions (width doubling up to ``4 * width``)
    until the feature map is at most 4×4, each with GroupNorm (batch-independent, so a
    score never depends on the other images of a batch) and SiLU. One group by default (a LayerNorm of the whole map):
    it keeps the relative size of the channels' responses within an image. The map is squeezed to
    32 channels by a 1×1 convolution and *flattened*, not pooled: captions name
    positions ("in the top left"), and global pooling would discard where things are.

    Args:
        image_shape: (height, width, channels), sides >= 8.
        width: channels of the first convolution (a multiple of `groups`).
        feature_dim: width of the output vector.
        groups: GroupNorm groups (1: normalise each image's whole feature map).

    Raises:
        ValueError: bad `image_shape`, `width`, `feature_dim` or `groups`.
    """
    image_shape = check_image_shape(image_shape)
    width = check_positive_int("width", width)
    feature_dim = check_positive_int("feature_dim", feature_dim)
    groups = check_positive_int("groups", groups)
    if width % groups:
        raise ValueError(
            f"width must be a multiple of groups. Received: width={width}, groups={groups}"
        )
    layers = keras.layers
    inputs = keras.Input(image_shape, name="images")
    x = layers.Conv2D(width, 3, padding="same", name="stem")(inputs)
    x = layers.Activation("silu")(layers.GroupNormalization(groups, name="stem_norm")(x))
    side, level = min(image_shape[:2]), 0
    while side > 4:
        level += 1
        filters = width * min(2**level, 4)
        x = layers.Conv2D(filters, 3, strides=2, padding="same", name=f"down{level}")(x)
        x = layers.GroupNormalization(groups, name=f"down{level}_norm")(x)
        x = layers.Activation("silu")(x)
        side = (side + 1) // 2
    x = layers.Conv2D(32, 1, name="squeeze")(x)
    x = layers.Flatten()(layers.Activation("silu")(x))
    features = layers.Dense(feature_dim, activation="silu", name="features")(x)
    return keras.Model(inputs, features, name="image_encoder")


def l2_normalize(x):
    """Unit vectors along the last axis (zero vectors stay near zero)."""
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-12))


def caption_dataset(
    images, captions, *, keys=None, batch_size: int = 128, seed: int = 0, shuffle: bool = True
):
    """A ``tf.data.Dataset`` of ``(images, captions[, keys])`` batches for `MiniCLIP.fit`.

    Batches are full (the remainder is dropped): InfoNCE's difficulty depends on B.

    Args:
        images, captions: N pairs.
        keys: optional N hashable keys; pairs with equal keys are positives of each other
            (see the module docstring). Encoded as int64 codes.
        batch_size, seed, shuffle: batching.

    Raises:
        ValueError: mismatched lengths, fewer pairs than `batch_size`, bad images.
    """
    images = check_images(images)
    captions = textlib.check_captions(captions)
    check_pairs(images, captions)
    batch_size = check_positive_int("batch_size", batch_size)
    if len(images) < batch_size:
        raise ValueError(
            f"batch_size must not exceed the number of pairs ({len(images)}). "
            f"Received: batch_size={batch_size}"
        )
    tensors = (images, tf.constant(captions))
    if keys is not None:
        keys = list(keys)
        check_pairs(images, keys, "keys")
        codes = np.unique(np.array([repr(key) for key in keys]), return_inverse=True)[1]
        tensors = (*tensors, codes.astype(np.int64))
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=check_int("seed", seed, minimum=0))
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def check_pairs(images, captions, name: str = "captions") -> None:
    """Raise a ValueError unless there are as many images as captions (or keys)."""
    if len(images) != len(captions):
        raise ValueError(
            f"images and {name} must pair up one to one. Received: "
            f"{len(images)} images and {len(captions)} {name}"
        )
