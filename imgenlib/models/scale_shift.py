"""`ScaleShift`: the adaptive GroupNorm (AdaGN) of `imgenlib.models.unet.build_unet(scale_shift=True)`."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ScaleShift"]


@keras.saving.register_keras_serializable(package="imgenlib")
class ScaleShift(keras.layers.Layer):
    """``[h (B, H, W, C), m (B, 2C)] → h · (1 + scale) + shift``, ``scale, shift = split(m)``:
    the adaptive GroupNorm of Dhariwal & Nichol 2021 (https://arxiv.org/abs/2105.05233)."""

    def call(self, inputs):
        h, modulation = inputs
        scale, shift = ops.split(ops.cast(modulation, h.dtype)[:, None, None, :], 2, axis=-1)
        return h * (1.0 + scale) + shift

    def compute_output_shape(self, input_shape):
        return input_shape[0]
