"""`tf.data` input pipelines and data augmentation with Keras preprocessing layers.

`make_dataset` turns in-memory arrays into the pipeline every model here trains on:
``from_tensor_slices → cache → shuffle → batch → augment → prefetch``. Augmentation runs
on whole batches after batching (vectorised), inside the pipeline, so it overlaps with
training and is applied afresh every epoch.
"""

from __future__ import annotations

import numpy as np

from imgenlib._validation import check_choice, check_float, check_int, check_positive_int
from imgenlib.images import check_images

__all__ = ["augmentation", "make_dataset"]


def augmentation(
    *,
    flip: bool = True,
    rotation: float = 0.05,
    zoom: float = 0.1,
    translation: float = 0.1,
    fill_mode: str = "constant",
    fill_value: float = -1.0,
    seed: int | None = None,
):
    """Build the seed's augmentation (flip, small rotation, zoom, translation) as Keras layers.

    Args:
        flip: random horizontal flips. Turn it off for data whose mirror image is another
            thing (digits, text).
        rotation: maximum rotation as a fraction of a full turn (0.05 = ±18°); 0 disables.
        zoom: maximum zoom in/out as a fraction of the size; 0 disables.
        translation: maximum shift as a fraction of height/width; 0 disables.
        fill_mode: how pixels moved in from outside the image are filled: ``"constant"``
            (with `fill_value`; -1 is black, right for objects on a black background such
            as Fashion-MNIST), or ``"reflect"``, ``"wrap"``, ``"nearest"`` (better for
            photos that fill the frame).
        fill_value: the value used by ``fill_mode="constant"``.
        seed: makes the random transforms reproducible.

    Returns:
        A `keras.Sequential` that maps a batch in [-1, 1] to an augmented batch in [-1, 1].

    Raises:
        ValueError: a fraction outside [0, 1).
    """
    import keras

    rotation = check_float("rotation", rotation, minimum=0, maximum=1, max_inclusive=False)
    zoom = check_float("zoom", zoom, minimum=0, maximum=1, max_inclusive=False)
    translation = check_float("translation", translation, minimum=0, maximum=1, max_inclusive=False)
    fill_mode = check_choice("fill_mode", fill_mode, ("constant", "reflect", "wrap", "nearest"))
    fill_value = check_float("fill_value", fill_value, minimum=-1, maximum=1)
    fill = {"fill_mode": fill_mode, "fill_value": fill_value}
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, **fill, seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, **fill, seed=seed))
    if translation:
        layers.append(keras.layers.RandomTranslation(translation, translation, **fill, seed=seed))
    return keras.Sequential(layers, name="augmentation")


def make_dataset(
    images,
    labels=None,
    batch_size: int = 128,
    shuffle: bool = True,
    augment=None,
    *,
    seed: int | None = None,
    drop_remainder: bool = True,
    repeat: bool = False,
):
    """Build a batched, shuffled, prefetched `tf.data.Dataset` from in-memory images.

    Args:
        images: float32 (N, H, W, C) in [-1, 1].
        labels: optional int array (N,); then elements are ``(images, labels)``.
        batch_size: images per batch.
        shuffle: reshuffle every epoch (buffer = the whole set, it is in memory anyway).
        augment: ``None``/``False`` (default, off), ``True`` for `augmentation()` with its
            defaults, or any callable on a batch such as a `keras.Sequential`.
        seed: shuffle seed, for reproducible order.
        drop_remainder: drop the last incomplete batch, so every step sees `batch_size`
            images (GAN training statistics such as BatchNorm prefer it).
        repeat: repeat forever (then pass ``steps_per_epoch`` to ``fit``).

    Returns:
        `tf.data.Dataset` of float32 batches, or of ``(images, int32 labels)`` pairs.

    Raises:
        ValueError / TypeError: bad images, labels that do not match them, or bad settings.

    Example:
        >>> images, labels = load_images("digits")
        >>> dataset = make_dataset(images, labels, batch_size=64)
    """
    import tensorflow as tf

    images = check_images(images)
    batch_size = check_positive_int("batch_size", batch_size)
    if drop_remainder and batch_size > len(images):
        raise ValueError(
            f"batch_size must not exceed the number of images ({len(images)}) when "
            f"drop_remainder=True. Received: batch_size={batch_size}"
        )
    if seed is not None:
        seed = check_int("seed", seed, minimum=0)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"labels must be a 1-D array with one label per image ({len(images)}). "
                f"Received: labels.shape={labels.shape}"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels must be integers. Received: labels.dtype={labels.dtype}")
        if labels.min() < 0:
            raise ValueError(f"labels must be >= 0. Received: min label {labels.min()}")
        dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    else:
        dataset = tf.data.Dataset.from_tensor_slices(images)

    dataset = dataset.cache()
    if repeat:
        dataset = dataset.repeat()
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    augmenter = _resolve_augment(augment, seed)
    if augmenter is not None:

        def apply(*element):
            augmented = tf.clip_by_value(augmenter(element[0], training=True), -1.0, 1.0)
            return (augmented, element[1]) if len(element) == 2 else augmented

        dataset = dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _resolve_augment(augment, seed):
    if augment is None or augment is False:
        return None
    if augment is True:
        return augmentation(seed=seed)
    if callable(augment):
        if _accepts_training(augment):
            return augment
        return lambda batch, training=True: augment(batch)
    raise TypeError(
        f"augment must be None, a bool or a callable on a batch. Received: augment={augment!r}"
    )


def _accepts_training(fn) -> bool:
    import inspect

    import keras

    if isinstance(fn, keras.layers.Layer):
        return True
    try:
        return "training" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
