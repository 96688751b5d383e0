"""The probabilistic parts of a VAE: the reparameterisation layer and the two ELBO terms.

- `Sampling`: z = z_mean + exp(z_log_var / 2) · ε, the reparameterisation trick of
  Kingma & Welling 2014 (https://arxiv.org/abs/1312.6114).
- `kl_divergence`: the closed-form KL(q(z|x) || N(0, I)), summed over latent dimensions.
- `reconstruction_nll`: −log p(x|z) summed over pixels, for the `LIKELIHOODS`.

The decoder outputs one *logit* h per pixel; its mean image in [-1, 1] is tanh(h / 2)
(= 2·sigmoid(h) − 1) for every likelihood:

- ``"bernoulli"``: targets mapped to [0, 1], p(x|z) = Bernoulli(sigmoid(h)) per pixel. The
  standard choice for (Fashion-)MNIST; for grey levels it is not a normalised density of
  continuous data, so its nats compare only with other Bernoulli numbers.
- ``"gaussian"``: N(x; tanh(h/2), σ²) on the library's [-1, 1] scale with a fixed σ.
- ``"gaussian_learned"``: the same with one learned σ (the "σ-VAE" of Rybkin et al. 2021,
  https://arxiv.org/abs/2006.13202), which balances the two terms by itself.
- ``"discretised_logistic"``: the probability of the 8-bit level each pixel has, under a
  logistic of mean tanh(h/2) and one learned scale s (PixelCNN++, Salimans et al. 2017,
  https://arxiv.org/abs/1701.05517, with one logistic instead of a mixture): the mass of
  the bin [x − 1/255, x + 1/255] on the [-1, 1] scale, the bins at −1 and +1 extended to
  ±∞ so that the 256 levels' probabilities sum to 1. Targets are rounded to the nearest of
  the 256 levels first. This is a probability, not a density, so the model's −ELBO is a
  true upper bound on −log p(x) of 8-bit images, independent of the pixel scale; divided by
  D·log 2 it is the *bits per dimension* of the generative-modelling literature. It
  also cannot reward a vanishing scale the way a Gaussian density can, because no bin's
  probability exceeds 1.

Gaussian nats are densities on the [-1, 1] scale; on the [0, 1] scale the same model's
-ELBO is D·log 2 nats lower (D = pixels × channels, the Jacobian of x → (x + 1) / 2).
Discretised-logistic nats are probabilities of 8-bit levels and need no such correction.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from imgenlib._validation import check_choice, check_int

__all__ = [
    "DISCRETE_LIKELIHOODS",
    "LEARNED_SCALE_LIKELIHOODS",
    "LIKELIHOODS",
    "MIN_LOG_SIGMA",
    "Sampling",
    "kl_divergence",
    "reconstruction_nll",
]

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned", "discretised_logistic")
LEARNED_SCALE_LIKELIHOODS = ("gaussian_learned", "discretised_logistic")  # one learned scale
DISCRETE_LIKELIHOODS = ("discretised_logistic",)  # nats of 8-bit levels: bits/dim quotable
LEVELS = 256  # 8-bit images: the levels a discretised likelihood puts its mass on
MIN_LOG_SIGMA = math.log(1e-3)
_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def kl_divergence(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, I)) in nats per example, summed over latent dims."""
    return 0.5 * tf.reduce_sum(tf.exp(z_log_var) + tf.square(z_mean) - 1.0 - z_log_var, axis=-1)


def reconstruction_nll(images, logits, *, likelihood: str, log_sigma=0.0):
    """-log p(images | z) in nats per example, summed over pixels and channels.

    Args:
        images: (B, H, W, C) targets in [-1, 1].
        logits: (B, H, W, C) decoder outputs h; the mean image is tanh(h / 2).
        likelihood: one of `LIKELIHOODS`.
        log_sigma: log σ of the Gaussian likelihoods, or log s of the logistic, on the
            [-1, 1] scale.
    """
    images = tf.cast(images, logits.dtype)
    if likelihood == "bernoulli":
        targets = (images + 1.0) * 0.5
        per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    elif likelihood in ("gaussian", "gaussian_learned"):
        mean = tf.tanh(0.5 * logits)
        log_sigma = tf.cast(log_sigma, logits.dtype)
        per_pixel = (
            0.5 * tf.square((images - mean) * tf.exp(-log_sigma)) + log_sigma + _HALF_LOG_TWO_PI
        )
    elif likelihood == "discretised_logistic":
        per_pixel = -_discretised_logistic_log_prob(images, tf.tanh(0.5 * logits), log_sigma)
    else:
        check_choice("likelihood", likelihood, LIKELIHOODS)
    return tf.reduce_sum(per_pixel, axis=[1, 2, 3])


def _discretised_logistic_log_prob(images, mean, log_scale):
    """log P(level of x) under Logistic(mean, exp(log_scale)), per pixel (see the module).

    Computed in the numerically stable form of PixelCNN++: log σ(a) = a − softplus(a) at the
    bottom level, log(1 − σ(b)) = −softplus(b) at the top, and the log of the density at the
    bin's centre times its width where the CDF difference underflows.
    """
    half_bin = 1.0 / (LEVELS - 1)  # levels are 2/255 apart on the [-1, 1] scale
    images = tf.round((images + 1.0) / (2 * half_bin)) * (2 * half_bin) - 1.0
    log_scale = tf.cast(log_scale, mean.dtype)
    inv_scale = tf.exp(-log_scale)
    centred = images - mean
    upper = inv_scale * (centred + half_bin)
    lower = inv_scale * (centred - half_bin)
    log_cdf_upper = upper - tf.nn.softplus(upper)  # log σ(upper): the bottom level's mass
    log_survival_lower = -tf.nn.softplus(lower)  # log(1 − σ(lower)): the top level's mass
    mass = tf.sigmoid(upper) - tf.sigmoid(lower)
    middle = inv_scale * centred
    log_density_times_width = (
        middle - log_scale - 2.0 * tf.nn.softplus(middle) + math.log(2 * half_bin)
    )
    interior = tf.where(mass > 1e-5, tf.math.log(tf.maximum(mass, 1e-12)), log_density_times_width)
    return tf.where(
        images < -1.0 + half_bin,
        log_cdf_upper,
        tf.where(images > 1.0 - half_bin, log_survival_lower, interior),
    )


@keras.saving.register_keras_serializable(package="imgenlib")
class Sampling(keras.layers.Layer):
    """The reparameterisation trick: z = z_mean + exp(z_log_var / 2) · ε, ε ~ N(0, I).

    Writing the sample as a deterministic function of (z_mean, z_log_var) and independent
    noise lets gradients flow into the encoder. The layer draws ε from its own
    `keras.random.SeedGenerator`, or uses the `epsilon` it is given (the `VAE` passes
    stateless noise keyed by its optimiser step, so resumed runs are bit-identical).

    Args:
        seed: seed of the layer's noise; None for a random one.

    Example:
        >>> z = Sampling(seed=0)([z_mean, z_log_var])  # doctest: +SKIP
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = None if seed is None else check_int("seed", seed, minimum=0)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.built = True  # no weights; fit() must not try to build it symbolically

    def call(self, inputs, epsilon=None):
        z_mean, z_log_var = inputs
        if epsilon is None:
            epsilon = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
