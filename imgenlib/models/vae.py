"""VAEs: the `VAE` model, its config and a builder (networks: `imgenlib.models.networks`).

The variational autoencoder of Kingma & Welling 2014 (https://arxiv.org/abs/1312.6114),
done correctly where the source article's TF1 code is not: the encoder uses *strided
convolutions* (not transposed ones) and outputs the *parameters* of
q(z | x) = N(z_mean, exp(z_log_var)) (not a code σ(W·Conv(x) + b) with "σ = BN and
LeakyReLU"); the decoder is Dense → reshape → Conv2DTranspose; and the loss is the
negative evidence lower bound (ELBO), per image:

    -ELBO(x) = -E_q(z|x)[log p(x|z)] + KL(q(z|x) || N(0, I))

with the reconstruction log-likelihood **summed over pixels** and the closed-form KL
**summed over latent dimensions**, then averaged over the batch. (A mean over pixels, or
an MSE called a likelihood, silently re-weights the KL term by 1/pixels.) Options:
β-VAE (Higgins et al. 2017, https://openreview.net/forum?id=Sy2fzU9gl), linear KL warm-up
(Bowman et al. 2016, https://arxiv.org/abs/1511.06349) and a conditional VAE (Sohn et al.
2015, https://papers.nips.cc/paper/5775) whose encoder and decoder both see the label.

The decoder outputs one *logit* h per pixel; its mean image in [-1, 1] is tanh(h / 2).
The likelihoods and what their nats measure: `imgenlib.models.elbo`.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from imgenlib._validation import check_choice, check_float, check_int
from imgenlib.distribute import stateless_normal
from imgenlib.models.base import (
    GenerativeModel,
    NoiseSalt,
    logits_to_images,
)
from imgenlib.models.elbo import (
    LEARNED_SCALE_LIKELIHOODS,
    LIKELIHOODS,
    MIN_LOG_SIGMA,
    Sampling,
    kl_divergence,
    reconstruction_nll,
)
from imgenlib.models.networks import build_decoder, build_encoder
from imgenlib.models.private import check_private_network, dp_trackers, private_update
from imgenlib.models.vae_config import VAEConfig
from imgenlib.models.vae_inference import VAEInference
from imgenlib.optimizers import make_optimizer, optimizer_from_config
from imgenlib.privacy import DPConfig

__all__ = ["VAE", "VAEConfig", "build_vae"]


@keras.saving.register_keras_serializable(package="imgenlib")
class VAE(VAEInference, GenerativeModel):
    """An encoder and a decoder trained with ``fit`` to maximise the ELBO.

    Args:
        encoder: model mapping images (or ``[images, labels]``) to ``(z_mean, z_log_var)``.
        decoder: model mapping z (or ``[z, labels]``) to per-pixel logits h; the mean image
            is tanh(h / 2).
        latent_dim: size of z.
        likelihood: ``"bernoulli"``, ``"gaussian"`` (fixed `sigma`), ``"gaussian_learned"``
            (`sigma` is the initial value of one learned σ) or ``"discretised_logistic"``
            (`sigma` is the initial value of the logistic's learned scale); see
            `imgenlib.models.elbo`.
        sigma: Gaussian σ (or logistic scale) on the [-1, 1] pixel scale (ignored for
            ``"bernoulli"``).
        beta: weight of the KL term (β-VAE, Higgins et al. 2017); 1 is the true ELBO.
        kl_warmup_steps: the KL weight ramps linearly from 0 to `beta` over this many
            optimiser steps (Bowman et al. 2016), which helps against posterior collapse.
            Keyed on ``optimizer.iterations``, so a resumed run continues the ramp exactly.
        num_classes: number of classes of a conditional VAE (both networks take labels).
        seed: seed of the training noise.
        dp: a `imgenlib.privacy.DPConfig` (or its dict) to train the whole model with
            DP-SGD: each step clips every example's gradient of its own −ELBO (all
            variables together), adds Gaussian noise and divides by the expected batch
            size (`imgenlib.privacy.dp_step`), noise keyed on the optimiser step. The
            networks must not mix examples (no BatchNorm). None: ordinary training.

    Example:
        >>> vae = build_vae(VAEConfig.tiny(), (28, 28, 1))
        >>> vae.fit(make_dataset(images, batch_size=64), epochs=1)  # doctest: +SKIP
        >>> samples = vae.generate(16, seed=0)
        >>> z_mean, z_log_var = vae.encode(images[:8])  # doctest: +SKIP
    """

    kind = "vae"
    NETWORKS = ("encoder", "decoder")

    def __init__(
        self,
        encoder,
        decoder,
        *,
        latent_dim: int,
        likelihood: str = "bernoulli",
        sigma: float = 0.1,
        beta: float = 1.0,
        kl_warmup_steps: int = 0,
        num_classes: int | None = None,
        seed: int = 0,
        dp: DPConfig | dict | None = None,
        **kwargs,
    ):
        super().__init__(latent_dim=latent_dim, num_classes=num_classes, seed=seed, **kwargs)
        self.dp = DPConfig.from_dict(dp)
        self.likelihood = check_choice("likelihood", likelihood, LIKELIHOODS)
        self.initial_sigma = check_float("sigma", sigma, minimum=0, min_inclusive=False)
        self.beta = check_float("beta", beta, minimum=0)
        self.kl_warmup_steps = check_int("kl_warmup_steps", kl_warmup_steps, minimum=0)
        self.set_networks(encoder=encoder, decoder=decoder)
        self._check_networks()
        if self.dp is not None:
            for role, network in self.networks.items():
                check_private_network(network, role)
        self.sampling = Sampling(seed=self.seed, name="sampling")
        self.raw_log_sigma = None
        if self.likelihood in LEARNED_SCALE_LIKELIHOODS:
            self.raw_log_sigma = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(math.log(self.initial_sigma)),
                name="log_sigma",
            )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.beta_tracker = keras.metrics.Mean(name="beta")
        self.dp_trackers = dp_trackers() if self.dp is not None else []
        self.built = True

    def _check_networks(self):
        self.check_label_inputs(self.networks)
        outputs = self.encoder.outputs
        if len(outputs) != 2 or any(tuple(o.shape[1:]) != (self.latent_dim,) for o in outputs):
            raise ValueError(
                f"encoder must output (z_mean, z_log_var), each of shape (batch, {self.latent_dim}). "
                f"Received: output shapes {[tuple(o.shape) for o in outputs]}"
            )
        self.check_latent_input("decoder")
        self.check_image_shapes("decoder", "encoder")

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]
        return trackers + ([self.beta_tracker] if self.kl_warmup_steps else []) + self.dp_trackers

    @property
    def log_sigma(self) -> float:
        """log σ of the Gaussian likelihood, or log s of the logistic ([-1, 1] scale); 0.0 for
        ``"bernoulli"``."""
        return float(self._log_sigma())

    def compile(self, optimizer=None, **kwargs):
        """Set the optimiser (default: Adam, learning rate 1e-3)."""
        super().compile(optimizer=optimizer or make_optimizer("adam", 1e-3, beta_1=0.9), **kwargs)

    def optimizer_variables(self) -> dict:
        return {"optimizer": self.trainable_variables}

    def call(self, inputs, training=False):
        """Reconstruct: images (or ``[images, labels]``) → decoded mean of z_mean, in [-1, 1]."""
        labels = None
        if self.num_classes is not None:
            inputs, labels = inputs
        z_mean, _ = self.encoder(self.with_labels(inputs, labels), training=training)
        logits = self.decoder(self.with_labels(z_mean, labels), training=training)
        return logits_to_images(logits)

    # --- the ELBO ----------------------------------------------------------------------

    def _log_sigma(self):
        if self.likelihood == "bernoulli":
            return tf.constant(0.0)
        if self.raw_log_sigma is None:
            return tf.constant(math.log(self.initial_sigma))
        return tf.maximum(tf.convert_to_tensor(self.raw_log_sigma), MIN_LOG_SIGMA)

    def _terms(self, images, labels, epsilon, training):
        """Per-example (reconstruction NLL, KL) in nats, from one reparameterised sample."""
        z_mean, z_log_var = self.encoder(self.with_labels(images, labels), training=training)
        # Under mixed_bfloat16 the networks compute in bfloat16; the ELBO is a float32 sum
        # of thousands of per-pixel terms (bfloat16 keeps 8 bits of mantissa).
        z_mean, z_log_var = tf.cast(z_mean, tf.float32), tf.cast(z_log_var, tf.float32)
        z = self.sampling([z_mean, z_log_var], epsilon=epsilon)
        logits = tf.cast(self.decoder(self.with_labels(z, labels), training=training), tf.float32)
        recon = reconstruction_nll(
            images, logits, likelihood=self.likelihood, log_sigma=self._log_sigma()
        )
        return recon, kl_divergence(z_mean, z_log_var)

    def _epsilon(self, salt, counter, batch):
        return stateless_normal([batch, self.latent_dim], self.noise_seed(salt, counter))

    def kl_weight(self, step):
        """The KL weight at optimiser step `step`: ``beta * min(1, step / kl_warmup_steps)``."""
        if not self.kl_warmup_steps:
            return tf.constant(self.beta, tf.float32)
        ramp = tf.cast(step, tf.float32) / float(self.kl_warmup_steps)
        return self.beta * tf.minimum(1.0, ramp)

    def _update_trackers(self, recon, kl, beta):
        self.loss_tracker.update_state(recon + beta * kl)
        self.reconstruction_tracker.update_state(recon)
        self.kl_tracker.update_state(kl)
        self.beta_tracker.update_state(beta)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images, labels = self.unpack_batch(data)
        step = self.optimizer.iterations
        epsilon = self._epsilon(NoiseSalt.VAE_TRAIN, step, tf.shape(images)[0])
        beta = self.kl_weight(step)
        if self.dp is not None:
            return self._private_train_step(images, labels, epsilon, beta, step)
        with tf.GradientTape() as tape:
            recon, kl = self._terms(images, labels, epsilon, training=True)
            loss = self.optimizer.scale_loss(tf.nn.compute_average_loss(recon + beta * kl))
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        return self._update_trackers(recon, kl, beta)

    def _private_train_step(self, images, labels, epsilon, beta, step):
        """DP-SGD on the per-example −ELBO (each example with its own row of ε)."""
        recon, kl = self._terms(images, labels, epsilon, training=True)  # logged only

        def per_example_loss(images, epsilon, labels=None):
            recon, kl = self._terms(images, labels, epsilon, training=True)
            return recon + beta * kl

        batch = (images, epsilon) if labels is None else (images, epsilon, labels)
        private_update(
            self, self.optimizer, per_example_loss, self.trainable_variables, batch, step
        )
        return self._update_trackers(recon, kl, beta)

    def test_step(self, data):
        """Evaluate: ``loss`` = reconstruction + beta · KL at the full `beta` (the ELBO for beta = 1)."""
        images, labels = self.unpack_batch(data)
        epsilon = self._epsilon(NoiseSalt.VAE_EVAL, 0, tf.shape(images)[0])
        recon, kl = self._terms(images, labels, epsilon, training=False)
        return self._update_trackers(recon, kl, tf.constant(self.beta, tf.float32))

    # --- sampling: see GenerativeModel.generate ---------------------------------------

    def sampler(self):
        """A Keras model mapping z (or ``[z, labels]``) to mean images in [-1, 1]."""
        z = keras.Input((self.latent_dim,), name="z")
        inputs = z
        if self.num_classes is not None:
            inputs = [z, keras.Input((), dtype="int32", name="labels")]
        logits = self.decoder(inputs)
        half = keras.layers.Rescaling(0.5, name="half_logits")(logits)
        images = keras.layers.Activation("tanh", name="mean_image")(half)
        return keras.Model(inputs, images, name=f"{self.name}_sampler")

    def label_network(self):
        return self.decoder

    def outputs_to_images(self, outputs):
        return logits_to_images(outputs)

    # --- saving ----------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "likelihood": self.likelihood,
            "sigma": self.initial_sigma,
            "beta": self.beta,
            "kl_warmup_steps": self.kl_warmup_steps,
            "dp": None if self.dp is None else self.dp.to_dict(),
        }


def build_vae(
    config: VAEConfig,
    image_shape,
    num_classes: int | None = None,
    *,
    class_names=None,
    seed: int = 0,
) -> VAE:
    """Build and compile a `VAE` for images of `image_shape` from a `VAEConfig`.

    Args:
        config: the settings.
        image_shape: (H, W, C), H = W in 16, 28, 32, 64; C in 1, 3.
        num_classes: build a conditional VAE with this many classes.
        class_names: optional names of the classes (`GenerativeModel.class_names`).
        seed: seed of the training noise (weights are initialised from Keras' global
            seed; call `keras.utils.set_random_seed` first for reproducible weights).

    Returns:
        A compiled `VAE`, ready for ``fit``.
    """
    if not isinstance(config, VAEConfig):
        raise TypeError(f"config must be a VAEConfig. Received: config={config!r}")
    check_choice("likelihood", config.likelihood, LIKELIHOODS)
    networks = {
        "width_multiplier": config.width_multiplier,
        "norm": config.network_norm(),
        "num_classes": num_classes,
    }
    vae = VAE(
        build_encoder(image_shape, config.latent_dim, **networks),
        build_decoder(image_shape, config.latent_dim, **networks),
        latent_dim=config.latent_dim,
        likelihood=config.likelihood,
        sigma=config.sigma,
        beta=config.beta,
        kl_warmup_steps=config.kl_warmup_steps,
        num_classes=num_classes,
        class_names=class_names,
        seed=seed,
        dp=config.dp,
    )
    vae.compile(optimizer_from_config(config, config.learning_rate))
    return vae
