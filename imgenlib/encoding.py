"""Latents of real images: a VAE's posterior means, per image and per class.

`encode_latents` maps images to z with a model's ``encode``; `class_means` averages them by
class, so ``means[a] - means[b]`` is an attribute vector (Larsen et al. 2016,
https://arxiv.org/abs/1512.09300). Both are re-exported by `imgenlib.latent`.
"""

from __future__ import annotations

import numpy as np

from imgenlib._validation import check_positive_int
from imgenlib.images import check_images

__all__ = ["class_means", "encode_latents"]


def encode_latents(model, images, labels=None, *, batch_size: int = 256) -> np.ndarray:
    """Map images to latents with a VAE's ``encode``: the posterior means z_mean.

    Args:
        model: a model with ``encode(images, labels=None) -> (z_mean, z_log_var)``.
        images: float32 (N, H, W, C) in [-1, 1].
        labels: class labels for a conditional VAE (passed to ``encode``).
        batch_size: images per call.

    Returns:
        float32 array (N, latent_dim).

    Raises:
        TypeError: the model has no ``encode`` (e.g. a GAN, which has no encoder).
    """
    if not callable(getattr(model, "encode", None)):
        raise TypeError(
            "This needs a model with encode(images) -> (z_mean, z_log_var), such as a VAE; "
            f"a GAN has no encoder. Received: model={model!r}"
        )
    images = check_images(images)
    batch_size = check_positive_int("batch_size", batch_size)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(images),):
            raise ValueError(
                f"labels must have one entry per image ({len(images)}). Received: labels.shape={labels.shape}"
            )
    means = []
    for start in range(0, len(images), batch_size):
        chunk = slice(start, start + batch_size)
        if labels is None:
            z_mean, _ = model.encode(images[chunk])
        else:
            z_mean, _ = model.encode(images[chunk], labels=labels[chunk])
        means.append(np.asarray(z_mean, dtype=np.float32))
    return np.concatenate(means)


def class_means(model, images, labels, *, batch_size: int = 256) -> dict[int, np.ndarray]:
    """Mean encoded latent (z_mean) of each class present in `labels`.

    ``means[a] - means[b]`` is then the attribute vector from class b to class a. A
    conditional VAE is given the labels too (its z then holds what the class does not).

    Args:
        model: a VAE (anything with ``encode``).
        images: float32 (N, H, W, C) in [-1, 1].
        labels: int class labels (N,).

    Returns:
        ``{class: float32 vector (latent_dim,)}`` for every class in `labels`, sorted.

    Raises:
        TypeError: the model has no ``encode``, or labels are not integers.
    """
    labels_array = np.asarray(labels)
    if labels_array.dtype == object or not np.issubdtype(labels_array.dtype, np.integer):
        raise TypeError(
            f"labels must be integers. Received: labels with dtype {labels_array.dtype}"
        )
    conditional = getattr(model, "num_classes", None) is not None
    z = encode_latents(model, images, labels_array if conditional else None, batch_size=batch_size)
    if labels_array.shape != (len(z),):
        raise ValueError(
            f"labels must have one entry per image ({len(z)}). Received: labels.shape={labels_array.shape}"
        )
    return {int(k): z[labels_array == k].mean(axis=0) for k in np.unique(labels_array)}
