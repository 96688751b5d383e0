"""GANs: the `GAN` training model, its config and a builder (networks: `imgenlib.models.networks`).

The adversarial game of Goodfellow et al. 2014 (https://arxiv.org/abs/1406.2661) with the
DCGAN networks of Radford et al. 2016 (https://arxiv.org/abs/1511.06434), which is what
the source article's TF1 code builds, done as a Keras 3 model: ``model.fit(dataset)``
trains it, ``model.generate(...)`` samples from it, ``model.save("x.keras")`` stores it.

One training step (`GAN.train_step`), with ``update="alternating"`` (the default, Algorithm 1
of Goodfellow et al.):

1. ``d_steps`` times: draw z, make fakes, update D on real vs fake (plus the gradient
   penalty for WGAN-GP);
2. draw z, update G to make D call its fakes real;
3. update the EMA copy of G, if enabled (samples then come from the EMA copy).

With ``update="simultaneous"`` steps 1–2 become one: a single forward pass of G and D
gives both losses and both gradients, which are then applied together (what the TF DCGAN
tutorial does). It costs one G and one D forward pass less per step (≈ 1.3× the
throughput on the tutorial's networks); G then learns against D before D's update.

G runs in training mode in every forward pass, so its BatchNorm moving statistics move
``d_steps + 1`` times per alternating step (G's weights do not change in between, so each
pass is one more batch of the same generator's statistics). Kept on purpose: updating them
in the G step only (restoring them after each D step) tracked G worse in a measurement
(Fashion-MNIST, width 0.25, 400 steps of batch 64): moving-mean error 0.056 vs 0.026
standard deviations, mean |log(moving / actual variance)| 0.33 vs 0.023, and mean
|G(z, inference) − G(z, training)| 0.157 vs 0.087 — ``generate`` uses inference mode.

All noise is drawn from stateless RNGs keyed by (seed, optimiser step), so a run resumed
from a checkpoint continues bit for bit like an uninterrupted one. Under `tf.distribute`
each replica takes its own slice of the global batch's noise (`imgenlib.distribute`), so
replicas draw different noise and N replicas see exactly the noise of one device.

With ``dp=DPConfig(...)`` step 1 is a DP-SGD step on D (`imgenlib.models.private` says
what is clipped and why) and step 2 reads no private data.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from imgenlib import losses as gan_losses
from imgenlib._validation import check_choice, check_float, check_positive_int
from imgenlib.diffaugment import diff_augment, parse_policy
from imgenlib.distribute import stateless_normal, stateless_uniform
from imgenlib.models.base import GenerativeModel, NoiseSalt
from imgenlib.models.ema import ema_copy, update_ema
from imgenlib.models.gan_config import GANConfig
from imgenlib.models.networks import PROJECTIONS, build_discriminator, build_generator
from imgenlib.models.private import (
    check_private_gan,
    dp_trackers,
    drawn_labels,
    private_update,
)
from imgenlib.models.renames import renamed_keywords
from imgenlib.optimizers import make_optimizer, optimizer_from_config
from imgenlib.privacy import DPConfig

__all__ = ["GAN", "GANConfig", "UPDATES", "build_gan"]

UPDATES = ("alternating", "simultaneous")


@keras.saving.register_keras_serializable(package="imgenlib")
class GAN(GenerativeModel):
    """A generator and a discriminator trained against each other with ``fit``.

    Args:
        generator: model mapping z (or ``[z, labels]``) to images in [-1, 1].
        discriminator: model mapping images (or ``[images, labels]``) to logits.
        latent_dim: size of z.
        loss: one of `imgenlib.losses.LOSSES`; see that module for the maths.
        gp_weight: weight of the WGAN-GP gradient penalty (``loss="wasserstein_gp"``).
        d_steps: discriminator updates per generator update (5 is usual for WGAN-GP).
            Each D update reuses the step's real batch with fresh fakes.
        ema_decay: decay of an exponential moving average of G's weights used for sampling
            (Yazıcı et al. 2019, https://arxiv.org/abs/1806.04498); 0 turns it off.
            0.999 typically gives visibly smoother samples. The EMA copy is not trainable
            (it is assigned, not optimised) but is saved with the model. (``ema`` is the
            deprecated name.)
        augment: DiffAugment policy for small datasets, e.g. ``"color,translation,cutout"``
            (see `imgenlib.diffaugment`); None for none.
        num_classes: number of classes for a conditional GAN (the networks must take labels).
        update: ``"alternating"`` (D, then G against the updated D) or ``"simultaneous"``
            (both gradients from one forward pass, as in the TF DCGAN tutorial; needs
            ``d_steps=1``). See the module docstring.
        seed: seed of the training noise.
        dp: a `imgenlib.privacy.DPConfig` (or its dict) to train the discriminator with
            DP-SGD (needs ``d_steps=1``, ``update="alternating"``, no BatchNorm or
            Dropout in D). The clipped unit is the pair (real example i, fake example i);
            G's step uses no private data (a fixed batch, drawn labels), so it is
            post-processing. Why: `imgenlib.models.private`.

    Example:
        >>> config = GANConfig.tiny()
        >>> gan = build_gan(config, (28, 28, 1))
        >>> gan.fit(make_dataset(images, batch_size=64), epochs=1)  # doctest: +SKIP
        >>> samples = gan.generate(16, seed=0)
    """

    kind = "gan"
    NETWORKS = ("generator", "discriminator")

    @renamed_keywords(ema="ema_decay")
    def __init__(
        self,
        generator,
        discriminator,
        *,
        latent_dim: int,
        loss: str = "non_saturating",
        gp_weight: float = 10.0,
        d_steps: int = 1,
        ema_decay: float = 0.0,
        augment=None,
        num_classes: int | None = None,
        update: str = "alternating",
        seed: int = 0,
        dp: DPConfig | dict | None = None,
        **kwargs,
    ):
        super().__init__(latent_dim=latent_dim, num_classes=num_classes, seed=seed, **kwargs)
        self.dp = DPConfig.from_dict(dp)
        self.loss_name = check_choice("loss", loss, gan_losses.LOSSES)
        self.gp_weight = check_float("gp_weight", gp_weight, minimum=0)
        self.d_steps = check_positive_int("d_steps", d_steps)
        self.ema_decay = check_float(
            "ema_decay", ema_decay, minimum=0, maximum=1, max_inclusive=False
        )
        self.augment = ",".join(parse_policy(augment)) or None
        self.update = check_choice("update", update, UPDATES)
        if self.update == "simultaneous" and self.d_steps != 1:
            raise ValueError(
                f'update="simultaneous" needs d_steps=1. Received: d_steps={self.d_steps}'
            )
        self.set_networks(generator=generator, discriminator=discriminator)
        self._check_networks()
        if self.dp is not None:
            check_private_gan(self)
        self.ema_generator = None
        if self.ema_decay > 0:
            self.ema_generator = ema_copy(generator)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.gp_tracker = keras.metrics.Mean(name="gp")
        self.dp_trackers = dp_trackers() if self.dp is not None else []
        self.built = True

    def _check_networks(self):
        self.check_label_inputs(self.networks)
        self.check_latent_input("generator")
        self.check_image_shapes("generator", "discriminator")

    @property
    def metrics(self):
        losses = [self.d_loss_tracker, self.g_loss_tracker]
        trackers = [*losses, self.d_real_tracker, self.d_fake_tracker]
        gp = [self.gp_tracker] if self.loss_name == "wasserstein_gp" else []
        return trackers + gp + self.dp_trackers

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Set the two optimisers (default: Adam, learning rate 2e-4, β1 = 0.5, for each)."""
        super().compile(optimizer=None, **kwargs)
        self.g_optimizer = g_optimizer or make_optimizer("adam", 2e-4)
        self.d_optimizer = d_optimizer or make_optimizer("adam", 2e-4)

    def optimizer_variables(self) -> dict:
        return {
            "g_optimizer": self.generator.trainable_variables,
            "d_optimizer": self.discriminator.trainable_variables,
        }

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # --- training ---------------------------------------------------------------------

    def train_step(self, data):
        images, labels = self.unpack_batch(data)
        batch = tf.shape(images)[0]
        if self.update == "simultaneous":
            return self._simultaneous_step(images, labels, batch)

        for _ in range(self.d_steps):
            step = self.d_optimizer.iterations
            z = stateless_normal(
                [batch, self.latent_dim], self.noise_seed(NoiseSalt.GAN_D_NOISE, step)
            )
            fakes = self.generator(self.with_labels(z, labels), training=True)
            inputs = self._d_inputs(images, fakes, batch, step)
            if self.dp is not None:
                real_logits, fake_logits, per_example, gp = self._private_d_step(
                    inputs, labels, step
                )
                continue
            with tf.GradientTape() as tape:
                real_logits, fake_logits, per_example, gp = self._d_terms(*inputs, labels)
                d_loss = tf.nn.compute_average_loss(per_example + self.gp_weight * gp)
                d_loss = self.d_optimizer.scale_loss(d_loss)  # × the loss scale (float16)
            grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(
                zip(grads, self.discriminator.trainable_variables, strict=True)
            )

        step = self.g_optimizer.iterations
        g_labels, g_batch = labels, batch
        if self.dp is not None:  # no private data in G's step: fixed size, drawn labels
            g_batch = int(round(self.dp.expected_batch_size))
            g_labels = drawn_labels(self, g_batch, step)
        z = stateless_normal(
            [g_batch, self.latent_dim], self.noise_seed(NoiseSalt.GAN_G_NOISE, step)
        )
        with tf.GradientTape() as tape:
            fakes = self.generator(self.with_labels(z, g_labels), training=True)
            augment_seed = self.noise_seed(NoiseSalt.GAN_AUGMENT, step) + 2
            seen = diff_augment(fakes, self.augment, augment_seed) if self.augment else fakes
            g_logits = self.discriminator(self.with_labels(seen, g_labels), training=True)
            g_per_example = gan_losses.generator_loss(self.loss_name, g_logits)
            g_loss = self.g_optimizer.scale_loss(tf.nn.compute_average_loss(g_per_example))
        self._apply_generator_gradients(tape.gradient(g_loss, self.generator.trainable_variables))
        return self._track(
            per_example + self.gp_weight * gp, g_per_example, real_logits, fake_logits, gp
        )

    def _d_inputs(self, images, fakes, batch, step):
        """D's (augmented real, augmented fake, real, fake, GP mixing weights) of a step."""
        augment_seed = self.noise_seed(NoiseSalt.GAN_AUGMENT, step)
        seen = [images, fakes]
        if self.augment:
            seen = [diff_augment(x, self.augment, augment_seed + i) for i, x in enumerate(seen)]
        alpha = tf.zeros([batch])
        if self.loss_name == "wasserstein_gp":
            alpha = stateless_uniform([batch], self.noise_seed(NoiseSalt.GAN_GP_ALPHA, step))
        return (*seen, images, fakes, alpha)

    def _d_terms(self, seen_real, seen_fake, images, fakes, alpha, labels=None):
        """D's logits on real and fake images, its per-example loss and gradient penalty."""
        real_logits = self.discriminator(self.with_labels(seen_real, labels), training=True)
        fake_logits = self.discriminator(self.with_labels(seen_fake, labels), training=True)
        per_example = gan_losses.discriminator_loss(self.loss_name, real_logits, fake_logits)
        gp = tf.zeros_like(per_example)
        if self.loss_name == "wasserstein_gp":
            gp = gan_losses.gradient_penalty(
                lambda x: self.discriminator(self.with_labels(x, labels), training=True),
                images,
                fakes,
                alpha,
            )
        return real_logits, fake_logits, per_example, gp

    def _private_d_step(self, inputs, labels, step):
        """DP-SGD on D, one clipped unit per (real, fake) pair; returns `_d_terms` for logs."""
        terms = self._d_terms(*inputs, labels)

        def per_example_loss(*unit):  # unit: one row of inputs (and labels)
            _, _, per_example, gp = self._d_terms(*unit)
            return per_example + self.gp_weight * gp

        units = inputs if labels is None else (*inputs, labels)
        variables = self.discriminator.trainable_variables
        private_update(self, self.d_optimizer, per_example_loss, variables, units, step)
        return terms

    def _simultaneous_step(self, images, labels, batch):
        step = self.d_optimizer.iterations
        z = stateless_normal([batch, self.latent_dim], self.noise_seed(NoiseSalt.GAN_D_NOISE, step))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fakes = self.generator(self.with_labels(z, labels), training=True)
            real_logits, fake_logits, per_example, gp = self._d_terms(
                *self._d_inputs(images, fakes, batch, step), labels
            )
            d_loss = tf.nn.compute_average_loss(per_example + self.gp_weight * gp)
            d_loss = self.d_optimizer.scale_loss(d_loss)
            g_per_example = gan_losses.generator_loss(self.loss_name, fake_logits)
            g_loss = self.g_optimizer.scale_loss(tf.nn.compute_average_loss(g_per_example))
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
        g_grads = g_tape.gradient(g_loss, self.generator.trainable_variables)
        self.d_optimizer.apply_gradients(
            zip(d_grads, self.discriminator.trainable_variables, strict=True)
        )
        self._apply_generator_gradients(g_grads)
        return self._track(
            per_example + self.gp_weight * gp, g_per_example, real_logits, fake_logits, gp
        )

    def _track(self, d_per_example, g_per_example, real_logits, fake_logits, gp):
        self.d_loss_tracker.update_state(d_per_example)
        self.g_loss_tracker.update_state(g_per_example)
        self.d_real_tracker.update_state(gan_losses.prob_real(self.loss_name, real_logits))
        self.d_fake_tracker.update_state(gan_losses.prob_real(self.loss_name, fake_logits))
        self.gp_tracker.update_state(gp)
        return {m.name: m.result() for m in self.metrics}

    def _apply_generator_gradients(self, grads):
        """G's optimiser step, then the EMA copy moves towards G (averaged trainable weights,
        copied BatchNorm statistics): the end of every GAN training step."""
        variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(grads, variables, strict=True))
        if self.ema_generator is not None:
            update_ema(
                self.ema_generator, self.generator, self.ema_decay, self.g_optimizer.iterations
            )

    # --- sampling: see GenerativeModel.generate ----------------------------------------

    def sampler(self):
        """The generator that samples: the EMA copy when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def label_network(self):
        return self.sampler()

    # --- saving ----------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "loss": self.loss_name,
            "gp_weight": self.gp_weight,
            "d_steps": self.d_steps,
            "ema_decay": self.ema_decay,
            "augment": self.augment,
            "update": self.update,
            "dp": None if self.dp is None else self.dp.to_dict(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "ema" in config:  # saved before the rename: load silently
            config["ema_decay"] = config.pop("ema")
        return super().from_config(config)


def build_gan(
    config: GANConfig,
    image_shape,
    num_classes: int | None = None,
    *,
    class_names=None,
    seed: int = 0,
) -> GAN:
    """Build and compile a `GAN` for images of `image_shape` from a `GANConfig`.

    Args:
        config: the settings.
        image_shape: (H, W, C), H = W in 16, 28, 32, 64; C in 1, 3.
        num_classes: build a class-conditional GAN with this many classes.
        class_names: optional names of the classes (`GenerativeModel.class_names`).
        seed: seed of the training noise (weights are initialised from Keras' global
            seed; call `keras.utils.set_random_seed` first for reproducible weights).

    Returns:
        A compiled `GAN`, ready for ``fit``.
    """
    if not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig. Received: config={config!r}")
    check_choice("loss", config.loss, gan_losses.LOSSES)
    norm = config.discriminator_norm()
    check_choice("projection", config.projection, PROJECTIONS)
    generator = build_generator(
        image_shape,
        config.latent_dim,
        width_multiplier=config.width_multiplier,
        num_classes=num_classes,
    )
    discriminator = build_discriminator(
        image_shape,
        width_multiplier=config.width_multiplier,
        norm=norm,
        spectral_norm=config.spectral_norm,
        dropout=config.dropout,
        num_classes=num_classes,
        projection=config.projection,
    )
    gan = GAN(
        generator,
        discriminator,
        latent_dim=config.latent_dim,
        loss=config.loss,
        gp_weight=config.gp_weight,
        d_steps=config.d_steps,
        ema_decay=config.ema_decay,
        augment=config.augment,
        num_classes=num_classes,
        update=config.update,
        class_names=class_names,
        seed=seed,
        dp=config.dp,
    )
    gan.compile(
        g_optimizer=optimizer_from_config(config, config.g_learning_rate),
        d_optimizer=optimizer_from_config(config, config.d_learning_rate),
    )
    return gan
