"""Exponential moving averages of a network's weights, for sampling (GANs, diffusion).

Yazıcı et al. 2019 (https://arxiv.org/abs/1806.04498): samples from an average of the
generator's recent weights are smoother than from the last weights. The copy is a Keras
model of its own, not trainable (the optimiser never sees it) but saved with the model.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["ema_copy", "update_ema"]


def ema_copy(network):
    """A non-trainable clone of `network` starting from its current weights."""
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    copy.trainable = False
    return copy


def update_ema(ema, network, decay: float, step):
    """Move `ema` towards `network` after optimiser step `step`.

    Trainable weights are averaged with ``min(decay, (1 + step) / (10 + step))`` (a warm-up:
    early on the copy follows the network closely); the others (BatchNorm statistics) are
    copied.
    """
    step = tf.cast(step, tf.float32)
    rate = tf.minimum(decay, (1.0 + step) / (10.0 + step))
    trained = {id(v) for v in network.trainable_variables}
    for ema_var, var in zip(ema.weights, network.weights, strict=True):
        if id(var) in trained:
            ema_var.assign(rate * ema_var + (1.0 - rate) * var)
        else:
            ema_var.assign(var)
