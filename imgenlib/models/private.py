"""What the model families share to train privately with DP-SGD (`imgenlib.privacy`).

A `imgenlib.models.VAE` (the whole model) or a `imgenlib.models.GAN` (its discriminator)
given ``dp=DPConfig(...)`` replaces its ordinary update by `imgenlib.privacy.dp_step`. This
module holds the parts both use: the check that a private network does not mix examples,
the noise seed of a step, the two statistics logged next to the losses, the refusal to
run under a multi-replica strategy, and the labels of a private GAN's generator step.

**What a private GAN clips.** The unit clipped to norm C is the pair (real example i,
fake example i): its loss is D's real term on x_i plus the fake term on G(z_i, y_i), plus
the gradient penalty at their mixture for WGAN-GP. This is DP-GAN's Algorithm 1 (Xie et
al. 2018, https://arxiv.org/abs/1802.06739) and what Opacus' DCGAN example computes (both
forward passes feed one per-sample gradient). The fake half touches no private data, so
clipping only the real term would also be private if the fake term used none; but here
it does: a conditional fake takes the private label y_i, the penalty the private x_i, and
the number of fakes follows the realised (Poisson) batch. Pairing bounds all of that by C
at once, and keeps the real and fake halves on the same scale (an unclipped fake gradient
would swamp the clipped, noisy real one). Releasing real and fake rows as separate
clipped units (Bie et al. 2023, "Private GANs, revisited") is the alternative when the
fakes come from a fixed, label-free batch. GS-WGAN (Chen et al. 2020) instead sanitises
only the gradient D passes to G and never releases D: another design, not this one.

The generator's step is post-processing of the private D only if it reads no private
data: under ``dp`` it uses a fixed batch of ``round(expected_batch_size)`` latents and, for
a conditional GAN, uniformly drawn labels (`drawn_labels`), not the batch's.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from imgenlib.models.base import NoiseSalt
from imgenlib.privacy import dp_step

__all__ = [
    "check_private_gan",
    "check_private_network",
    "check_single_replica",
    "dp_noise_seed",
    "dp_trackers",
    "drawn_labels",
    "private_update",
]


def _layers(network):
    for layer in network.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)


def check_private_network(network, role: str):
    """Refuse a network that a private step cannot train: BatchNorm or Dropout layers.

    BatchNorm makes one example's output depend on the rest of its batch, so clipping
    per-example gradients would not bound one example's influence. Dropout draws its masks
    from a stateful generator: `tf.vectorized_map` then falls back to a slow loop and the
    masks are not keyed on the step (a resumed run would differ).

    Args:
        network: a `keras.Model`.
        role: its role in the model (``"discriminator"``, ``"encoder"``), for the message.

    Raises:
        ValueError: naming the first offending layer.
    """
    for layer in _layers(network):
        if isinstance(layer, keras.layers.BatchNormalization):
            raise ValueError(
                f"A private {role} must not use BatchNorm (it mixes the examples of a batch); "
                f"build it with norm='group', 'layer' or 'none'. Received: a {role} with "
                f"BatchNormalization layer {layer.name!r}"
            )
        if isinstance(layer, keras.layers.Dropout) and layer.rate > 0:
            raise ValueError(
                f"A private {role} must not use Dropout (its masks break the vectorised "
                f"per-example gradients). Received: a {role} with Dropout layer "
                f"{layer.name!r}, rate={layer.rate}"
            )


def check_private_gan(gan):
    """Refuse a private GAN whose schedule or discriminator DP-SGD cannot account or train.

    One accounted step per batch needs ``d_steps=1`` and ``update="alternating"`` (the
    simultaneous update's G gradient would read the private batch); the discriminator must
    pass `check_private_network`.

    Raises:
        ValueError: naming the received values.
    """
    if gan.d_steps != 1 or gan.update != "alternating":
        raise ValueError(
            'A private GAN needs d_steps=1 and update="alternating" (one accounted step per '
            f"batch). Received: d_steps={gan.d_steps}, update={gan.update!r}"
        )
    check_private_network(gan.discriminator, "discriminator")


def dp_noise_seed(model, step):
    """The stateless seed of the DP noise at optimiser step `step`.

    Built from the model's seed, `NoiseSalt.DP_NOISE`, the step and ``model.dp.seed``, so
    no two steps share noise and a resumed run draws exactly the noise it would have.
    """
    seed = model.noise_seed(NoiseSalt.DP_NOISE, step)
    return tf.random.experimental.stateless_fold_in(seed, model.dp.seed)


def dp_trackers() -> list:
    """Means of the per-example gradient norm (before clipping) and the clipped share.

    Logged with the losses (``grad_norm``, ``clipped_fraction``) to choose the clip norm;
    like the losses they are computed from private data without noise: do not publish
    them as private statistics.
    """
    return [keras.metrics.Mean(name="grad_norm"), keras.metrics.Mean(name="clipped_fraction")]


def check_single_replica():
    """Refuse a private step under a multi-replica `tf.distribute` strategy.

    Each replica would add its own noise and the all-reduce would sum them: the noise
    and the denominator of the accounted mechanism would not be what runs.

    Raises:
        NotImplementedError: with more than one replica.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        raise NotImplementedError(
            f"DP-SGD training runs on one device only. Received: {replicas} replicas"
        )


def private_update(model, optimizer, per_example_loss, variables, batch, step):
    """One DP-SGD update of `variables` with ``model.dp``'s settings; log its statistics.

    Args:
        model: a model with ``dp`` (a `imgenlib.privacy.DPConfig`), ``noise_seed`` and
            ``dp_trackers`` (`dp_trackers`).
        optimizer: the optimiser of `variables`; its ``iterations`` is `step`.
        per_example_loss: callable on the tensors of `batch` (one example, or one
            microbatch, at a time) returning the loss of each example, shape (n,).
        variables: the variables to update.
        batch: a tuple of tensors with a leading batch axis: one clipped unit per row.
        step: the optimiser step (keys the noise).

    Returns:
        The statistics of `imgenlib.privacy.dp_step`.

    Raises:
        NotImplementedError: under a multi-replica strategy (`check_single_replica`).
    """
    check_single_replica()
    stats = dp_step(
        optimizer,
        lambda *unit: tf.reduce_mean(tf.cast(per_example_loss(*unit), tf.float32)),
        variables,
        batch,
        clip_norm=model.dp.clip_norm,
        noise_multiplier=model.dp.noise_multiplier,
        expected_batch_size=model.dp.denominator,
        seed=dp_noise_seed(model, step),
        microbatches=model.dp.microbatches,
    )
    model.dp_trackers[0].update_state(stats["grad_norm"])
    model.dp_trackers[1].update_state(stats["clipped_fraction"])
    return stats


def drawn_labels(model, batch: int, step):
    """Uniform class labels for a private conditional GAN's generator step; None if unconditional.

    Drawn from the model's seed and the step (`NoiseSalt.GAN_G_LABELS`), not taken from
    the private batch, so the generator's update reads no private data.
    """
    if model.num_classes is None:
        return None
    seed = model.noise_seed(NoiseSalt.GAN_G_LABELS, step)
    return tf.random.stateless_uniform(
        [batch], seed, minval=0, maxval=model.num_classes, dtype=tf.int32
    )
