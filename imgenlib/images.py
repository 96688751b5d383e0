"""Conversions between the library's image convention and the outside world.

Inside imgenlib every image is float32, channels-last (NHWC), with values in [-1, 1].
Everything that leaves or enters the library (plots, PNG files, metrics, user arrays)
goes through the functions here, so the convention is enforced in one place.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_images",
    "from_uint8",
    "resize_images",
    "to_uint8",
    "to_unit",
]

_RANGE_TOLERANCE = 1e-3


def check_images(images, *, name: str = "images", channels=None, allow_single=False) -> np.ndarray:
    """Validate a batch of library images and return it as a float32 NHWC array.

    Args:
        images: array-like of shape (N, H, W, C) with C in {1, 3} and values in [-1, 1].
            A tf.Tensor is accepted.
        name: argument name used in error messages.
        channels: if given, the required number of channels.
        allow_single: accept one (H, W, C) image and add the batch axis.

    Returns:
        `np.ndarray` of dtype float32 and shape (N, H, W, C).

    Raises:
        TypeError: if `images` is not numeric.
        ValueError: on a wrong rank, channel count, empty batch, NaN or out-of-range values.
    """
    array = np.asarray(images)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise TypeError(
            f"{name} must be a numeric array. Received: {name} with dtype {array.dtype}"
        )
    if allow_single and array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(
            f"{name} must have shape (batch, height, width, channels). "
            f"Received: {name}.shape={array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(
            f"{name} must contain at least one image. Received: {name}.shape={array.shape}"
        )
    if array.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name} must have 1 or 3 channels (channels-last). Received: {name}.shape={array.shape}"
        )
    if channels is not None and array.shape[-1] != channels:
        raise ValueError(
            f"{name} must have {channels} channel(s). Received: {name}.shape={array.shape}"
        )
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or Inf values.")
    low, high = float(array.min()), float(array.max())
    if low < -1 - _RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ValueError(
            f"{name} must have values in [-1, 1] (use imgenlib.images.from_uint8 for 0-255 "
            f"data). Received: values in [{low:.4g}, {high:.4g}]"
        )
    return array


def to_unit(images) -> np.ndarray:
    """Map library images from [-1, 1] to float32 in [0, 1] (values are clipped)."""
    array = np.asarray(images, dtype=np.float32)
    return np.clip((array + 1.0) * 0.5, 0.0, 1.0)


def to_uint8(images) -> np.ndarray:
    """Map library images from [-1, 1] to uint8 in [0, 255], rounding to nearest."""
    return np.round(to_unit(images) * 255.0).astype(np.uint8)


def from_uint8(images) -> np.ndarray:
    """Map uint8 (or 0-255 valued) images to float32 in [-1, 1]; adds a channel axis to 3-D input."""
    array = np.asarray(images)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"images must be numeric. Received: dtype={array.dtype}")
    if array.ndim == 3:
        array = array[..., None]
    return (array.astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def resize_images(images, image_size) -> np.ndarray:
    """Resize a float NHWC batch to `image_size` with antialiased bilinear filtering.

    Antialiasing matters when shrinking: without it, thin strokes alias and statistics
    such as FID shift (Parmar et al., "On Aliased Resizing and Surprising Subtleties in
    GAN Evaluation", CVPR 2022).
    """
    from imgenlib._validation import check_image_size

    height, width = check_image_size("image_size", image_size)
    array = np.asarray(images, dtype=np.float32)
    if array.shape[1:3] == (height, width):
        return array
    import tensorflow as tf

    resized = tf.image.resize(array, (height, width), method="bilinear", antialias=True)
    return np.clip(resized.numpy(), -1.0, 1.0).astype(np.float32)
