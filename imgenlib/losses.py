"""GAN losses on discriminator *logits*, per example, numerically stable.

Every function returns one value per example; the training step averages them with
`tf.nn.compute_average_loss`, which divides by the *global* batch size and so stays
correct under `tf.distribute` (a plain mean would multiply gradients by the number of
replicas).

Why logits and `softplus`: the discriminator's last layer is a Dense unit with no
activation, so its output ``l`` is a logit and ``D(x) = sigmoid(l)``. Then
``-log D(x) = softplus(-l)`` and ``-log(1 - D(x)) = softplus(l)``, which are exact and
never overflow. The source article instead wrote ``-mean(log1p(D_real))`` on the raw
output: ``log1p(l) = log(1 + l)`` is not a log-probability of anything, is NaN for
``l < -1``, and *rewards* the discriminator for pushing real logits to +∞ without bound.

Losses (``loss=`` names):
- ``"non_saturating"``: Goodfellow et al. 2014, §3 (https://arxiv.org/abs/1406.2661).
  D minimises BCE; G minimises ``-log D(G(z))``, which gives strong gradients exactly when
  G is losing. The default.
- ``"minimax"``: the original game; G minimises ``log(1 - D(G(z)))``, whose gradient
  vanishes when D confidently rejects fakes (early training). Kept for teaching.
- ``"hinge"``: Lim & Ye 2017 / Miyato et al. 2018 (https://arxiv.org/abs/1802.05957).
- ``"least_squares"``: Mao et al. 2017, LSGAN with 0/1 targets (https://arxiv.org/abs/1611.04076).
- ``"wasserstein_gp"``: Gulrajani et al. 2017, WGAN-GP (https://arxiv.org/abs/1704.00028);
  add `gradient_penalty` times ``gp_weight`` to the critic loss.

`matching_aware_discriminator_loss` is the text-conditional discriminator's loss of
GAN-CLS (Reed et al. 2016, https://arxiv.org/abs/1605.05396): a real image with a
caption that does not describe it is a negative too, so D must judge the *pair*.
"""

from __future__ import annotations

import tensorflow as tf

from imgenlib._validation import check_choice

__all__ = [
    "LOSSES",
    "caption_word_loss",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "matching_aware_discriminator_loss",
    "prob_real",
]

LOSSES = ("non_saturating", "minimax", "hinge", "least_squares", "wasserstein_gp")
GP_EPSILON = 1e-12


def discriminator_loss(loss: str, real_logits, fake_logits):
    """Per-example discriminator (critic) loss for `loss`, from logits of shape (B,) or (B, 1)."""
    check_choice("loss", loss, LOSSES)
    real = _flat(real_logits)
    fake = _flat(fake_logits)
    if loss in ("non_saturating", "minimax"):
        return tf.nn.softplus(-real) + tf.nn.softplus(fake)
    if loss == "hinge":
        return tf.nn.relu(1.0 - real) + tf.nn.relu(1.0 + fake)
    if loss == "least_squares":
        return 0.5 * (tf.square(real - 1.0) + tf.square(fake))
    return fake - real  # wasserstein_gp: the critic maximises E[D(real)] - E[D(fake)]


def matching_aware_discriminator_loss(
    loss: str, real_logits, mismatched_logits, fake_logits, hard_logits=None, hard_weight=0.5
):
    """Per-example GAN-CLS discriminator loss: the two kinds of negative weighted ½ each.

    ``D(real image, its caption)`` is the positive; ``D(real image, another caption)`` and
    ``D(fake image, its caption)`` are the negatives (Reed et al. 2016, Algorithm 1):
    ``(discriminator_loss(real, mismatched) + discriminator_loss(real, fake)) / 2``, which
    for ``"non_saturating"`` is ``softplus(-real) + (softplus(mismatched) + softplus(fake)) / 2``.
    The generator's loss is the usual `generator_loss` on ``D(fake image, its caption)``.

    With `hard_logits` (``D(real image, its caption with one attribute word swapped)``, a
    *hard negative*), the mismatched half is shared: ``w · discriminator_loss(real, hard)
    + (1 - w) · discriminator_loss(real, mismatched)``, ``w = hard_weight`` per example
    (0 where a caption had no word to swap), so the positive keeps weight 1 and the
    negatives total 1.

    Args:
        loss: one of `LOSSES`.
        real_logits, mismatched_logits, fake_logits: logits of shape (B,) or (B, 1).
        hard_logits: optional logits (B,) or (B, 1) of the hard negatives.
        hard_weight: a number or (B,) weights in [0, 1], the hard negatives' share of
            the mismatched half.
    """
    with_mismatched = discriminator_loss(loss, real_logits, mismatched_logits)
    if hard_logits is not None:
        weight = tf.cast(hard_weight, with_mismatched.dtype)
        with_hard = discriminator_loss(loss, real_logits, hard_logits)
        with_mismatched = weight * with_hard + (1.0 - weight) * with_mismatched
    return 0.5 * (with_mismatched + discriminator_loss(loss, real_logits, fake_logits))


def caption_word_loss(word_logits, token_ids):
    """Per-example loss of predicting which words a caption holds: mean sigmoid cross-entropy.

    The auxiliary classifier of a `imgenlib.models.TextGAN` with ``word_loss`` (AC-GAN,
    Odena et al. 2017, with a caption's bag of words as its labels, as in TAC-GAN, Dash et
    al. 2017): ``word_logits[i, v]`` scores whether word id ``v`` occurs in caption i. The
    target is 1 for the ids in ``token_ids[i]``, 0 for the others; ids 0 (padding) and 1
    (``"[UNK]"``) are not words and are left out of the mean.

    Args:
        word_logits: (B, V) logits, V the tokenizer's `vocabulary_size`.
        token_ids: (B, L) integer ids in [0, V) (`imgenlib.text.CaptionTokenizer`).

    Returns:
        (B,) float32: the mean over the V - 2 words of the binary cross-entropy.
    """
    word_logits = tf.cast(word_logits, tf.float32)
    size = tf.shape(word_logits)[-1]
    present = tf.reduce_max(tf.one_hot(tf.cast(token_ids, tf.int32), size), axis=1)
    per_word = tf.nn.sigmoid_cross_entropy_with_logits(labels=present, logits=word_logits)
    return tf.reduce_mean(per_word[:, 2:], axis=-1)


def generator_loss(loss: str, fake_logits):
    """Per-example generator loss for `loss`, from the discriminator's logits on fakes."""
    check_choice("loss", loss, LOSSES)
    fake = _flat(fake_logits)
    if loss == "non_saturating":
        return tf.nn.softplus(-fake)
    if loss == "minimax":
        return -tf.nn.softplus(fake)
    if loss == "least_squares":
        return 0.5 * tf.square(fake - 1.0)
    return -fake  # hinge and wasserstein_gp


def gradient_penalty(critic, real, fake, alpha):
    """Per-example WGAN-GP penalty ``(‖∇ₓ D(x̂)‖₂ - 1)²`` at ``x̂ = real + α (fake - real)``.

    Args:
        critic: callable mapping a batch of images to logits (labels bound in a closure
            for conditional models).
        real, fake: image batches of equal shape (B, H, W, C).
        alpha: (B,) or (B, 1, 1, 1) mixing weights, drawn ~ Uniform(0, 1) per example.

    Returns:
        (B,) penalties. The norm is ``sqrt(sum g² + ε)`` with ε inside the root, so a zero
        gradient gives penalty 1 and a finite gradient instead of NaN.
    """
    alpha = tf.reshape(tf.cast(alpha, real.dtype), [-1, 1, 1, 1])
    mixed = real + alpha * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = critic(mixed)
    grads = tape.gradient(scores, mixed)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + GP_EPSILON)
    return tf.square(norms - 1.0)


def prob_real(loss: str, logits):
    """The discriminator's verdict on a batch, for logging: P(real) for the BCE losses, else the raw score."""
    logits = _flat(logits)
    return tf.sigmoid(logits) if loss in ("non_saturating", "minimax") else logits


def _flat(logits):
    return tf.reshape(tf.cast(logits, tf.float32), [-1])
