"""Diffusion models: the `Diffusion` model, its config and a builder (network: `imgenlib.models.unet`).

A denoising diffusion probabilistic model (Ho et al. 2020, https://arxiv.org/abs/2006.11239)
trained with ``fit``: each step draws a timestep t and noise ε per image, noises the
batch to x_t = sqrt(ᾱ_t) · x_0 + sqrt(1 − ᾱ_t) · ε and regresses the network's output on ε
(``prediction="epsilon"``, the "simple" loss of Ho et al.) or on v = sqrt(ᾱ) · ε − sqrt(1 − ᾱ) · x_0
(``"v"``, Salimans & Ho 2022), the squared error averaged over pixels, optionally weighted
per timestep by min-SNR-γ (``min_snr_gamma``, Hang et al. 2023). An EMA copy of the
network (not trainable, saved with the model) is what samples.

Sampling (`generate`, `trajectory`, `invert`: `imgenlib.models.diffusion_sampling`; the
chains: `imgenlib.models.sampling`) runs the whole reverse chain in one traced TensorFlow
graph: ancestral DDPM or DDIM (Song et al. 2021, η = 0 deterministic, η > 0 stochastic)
with any number of steps ≤ T, and DDIM inversion (image → x at `Diffusion.inversion_level`).
The latent z of ``generate(z=...)`` is x_T (or x at ``level``) flattened, so ``latent_dim =
H·W·C`` and the library's latent tools work on it.

Class-conditional models use classifier-free guidance (Ho & Salimans 2022,
https://arxiv.org/abs/2207.12598): training replaces a fraction ``label_dropout`` of labels
by the "no condition" label (`imgenlib.models.unet.null_label`); sampling mixes the two.

All training noise (t, ε, label dropout) comes from stateless RNGs keyed by (seed,
`NoiseSalt`, optimiser step), so a resumed run continues exactly like an uninterrupted one.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from imgenlib._validation import check_choice, check_float, check_int
from imgenlib.distribute import stateless_normal, stateless_uniform
from imgenlib.models.base import GenerativeModel, NoiseSalt
from imgenlib.models.diffusion_config import DiffusionConfig
from imgenlib.models.diffusion_sampling import DiffusionSampling
from imgenlib.models.ema import ema_copy, update_ema
from imgenlib.models.schedules import (
    PREDICTIONS,
    SCHEDULES,
    NoiseSchedule,
    min_snr_weight,
    noisy,
    v_target,
)
from imgenlib.models.unet import build_unet, denoiser_image_shape, null_label
from imgenlib.optimizers import make_optimizer, optimizer_from_config

__all__ = ["Diffusion", "DiffusionConfig", "build_diffusion"]


@keras.saving.register_keras_serializable(package="imgenlib")
class Diffusion(DiffusionSampling, GenerativeModel):
    """A denoising network trained with ``fit`` to predict the noise in noised images.

    Args:
        network: model mapping ``[x_t, timesteps]`` (or ``[x_t, timesteps, labels]``, labels
            in [0, num_classes], the last being "no condition") to a tensor of x_t's shape.
        noise_schedule: ``"cosine"`` or ``"linear"`` (`imgenlib.models.schedules`).
        timesteps: T, the number of noising steps.
        prediction: what the network predicts: ``"epsilon"`` (ε) or ``"v"``.
        ema_decay: decay of the EMA copy of the network that samples; 0 samples with the
            trained network itself.
        label_dropout: fraction of training labels replaced by "no condition"
            (conditional models; what classifier-free guidance needs).
        min_snr_gamma: weight each image's loss by min-SNR-γ with this γ
            (`imgenlib.models.schedules.min_snr_weight`; 5 in the paper); None: unweighted.
        num_classes: number of classes of a class-conditional model.
        seed: seed of the training noise.
        latent_dim: accepted for saving; must equal H·W·C of the network's input.

    Example:
        >>> model = build_diffusion(DiffusionConfig.tiny(), (28, 28, 1))
        >>> model.fit(make_dataset(images, batch_size=64), epochs=1)  # doctest: +SKIP
        >>> samples = model.generate(16, seed=0, steps=25)
        >>> z = model.invert(samples)  # x at model.inversion_level, shape (16, 784)
        >>> again = model.generate(z=z, level=model.inversion_level, clip=False)
    """

    kind = "diffusion"
    NETWORKS = ("network",)

    def __init__(
        self,
        network,
        *,
        noise_schedule: str = "cosine",
        timesteps: int = 1000,
        prediction: str = "epsilon",
        ema_decay: float = 0.999,
        label_dropout: float = 0.1,
        min_snr_gamma: float | None = None,
        num_classes: int | None = None,
        seed: int = 0,
        latent_dim: int | None = None,
        **kwargs,
    ):
        if not isinstance(network, keras.Model):
            raise TypeError(f"network must be a keras.Model. Received: network={network!r}")
        size = int(np.prod(network.inputs[0].shape[1:]))
        if latent_dim is not None and latent_dim != size:
            raise ValueError(
                f"latent_dim must be H·W·C of the network's input ({size}). Received: latent_dim={latent_dim}"
            )
        super().__init__(latent_dim=size, num_classes=num_classes, seed=seed, **kwargs)
        self.schedule = NoiseSchedule(noise_schedule, timesteps)
        self.prediction = check_choice("prediction", prediction, PREDICTIONS)
        self.ema_decay = check_float(
            "ema_decay", ema_decay, minimum=0, maximum=1, max_inclusive=False
        )
        self.label_dropout = check_float("label_dropout", label_dropout, minimum=0, maximum=1)
        self.min_snr_gamma = min_snr_gamma
        if min_snr_gamma is not None:
            self.min_snr_gamma = check_float("min_snr_gamma", min_snr_gamma, minimum=0, min_inclusive=False)  # fmt: skip
        self.set_networks(network=network)
        self.image_shape = self.denoiser_shape(network)
        self.ema_network = None
        if self.ema_decay > 0:
            self.ema_network = ema_copy(network)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._samplers = {}
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    @property
    def timesteps(self) -> int:
        """T, the number of noising steps."""
        return self.schedule.timesteps

    @property
    def inversion_level(self) -> int:
        """Where `invert` stops by default: ᾱ ≥ 0.01 (`NoiseSchedule.inversion_level`: why)."""
        return self.schedule.inversion_level()

    @property
    def null_label(self) -> int | None:
        """The "no condition" label of a conditional model (`num_classes`); None otherwise."""
        return None if self.num_classes is None else null_label(self.num_classes)

    def denoiser_shape(self, network) -> tuple:
        """The image shape of `network`, checked (`imgenlib.models.unet.denoiser_image_shape`)."""
        return denoiser_image_shape(network, self.num_classes)

    def compile(self, optimizer=None, **kwargs):
        """Set the optimiser (default: Adam, learning rate 2e-4, β1 = 0.9)."""
        super().compile(optimizer=optimizer or make_optimizer("adam", 2e-4, beta_1=0.9), **kwargs)

    def optimizer_variables(self) -> dict:
        return {"optimizer": self.network.trainable_variables}

    def call(self, inputs, training=False):
        """The network's raw prediction for ``[x_t, timesteps(, labels)]``."""
        return self.network(inputs, training=training)

    # --- training ---------------------------------------------------------------------

    def training_inputs(self, images, labels, counter, evaluation=False):
        """(x_t, t, labels after condition dropout, target) of a batch at step `counter`.

        Training draws t, ε and the dropped labels from their `NoiseSalt` streams at
        `counter`; ``evaluation=True`` draws t and ε from the evaluation stream and keeps
        every label.
        """
        batch = tf.shape(images)[0]
        if evaluation:
            time_seed = self.noise_seed(NoiseSalt.DIFFUSION_EVAL, 2 * counter)
            noise_seed = self.noise_seed(NoiseSalt.DIFFUSION_EVAL, 2 * counter + 1)
        else:
            time_seed = self.noise_seed(NoiseSalt.DIFFUSION_TIME, counter)
            noise_seed = self.noise_seed(NoiseSalt.DIFFUSION_NOISE, counter)
        u = stateless_uniform([batch], time_seed)
        t = tf.minimum(tf.cast(u * self.timesteps, tf.int32), self.timesteps - 1)
        noise = stateless_normal([batch, *self.image_shape], noise_seed)
        alpha_bar = tf.reshape(self.schedule.alpha_bar(t), [-1, 1, 1, 1])
        x_t = noisy(images, alpha_bar, noise)
        target = noise if self.prediction == "epsilon" else v_target(images, alpha_bar, noise)
        if labels is not None:
            labels = tf.cast(labels, tf.int32)
            if self.label_dropout > 0 and not evaluation:
                seed = self.noise_seed(NoiseSalt.DIFFUSION_LABEL_DROP, counter)
                drop = stateless_uniform([batch], seed) < self.label_dropout
                labels = tf.where(drop, tf.fill([batch], self.null_label), labels)
        return x_t, t, labels, target

    def per_example_loss(self, x_t, t, labels, target, training, prediction=None):
        """Squared error of the network's prediction (computed here unless given),
        averaged over pixels (and min-SNR weighted with `min_snr_gamma`): (batch,)."""
        if prediction is None:
            prediction = self.predict_raw(x_t, t, labels, training)
        loss = tf.reduce_mean(tf.square(target - prediction), axis=[1, 2, 3])
        if self.min_snr_gamma is None:
            return loss
        return loss * min_snr_weight(self.schedule.alpha_bar(t), self.min_snr_gamma, self.prediction)  # fmt: skip

    def predict_raw(self, x_t, t, labels, training):
        """The network's float32 output for x_t at t (and labels or text condition)."""
        inputs = [x_t, t] if labels is None else [x_t, t, *tf.nest.flatten(labels)]
        return tf.cast(self.network(inputs, training=training), tf.float32)

    def train_step(self, data):
        images, labels = self.unpack_batch(data)
        x_t, t, labels, target = self.training_inputs(images, labels, self.optimizer.iterations)
        with tf.GradientTape() as tape:
            per_example = self.per_example_loss(x_t, t, labels, target, training=True)
            loss = self.optimizer.scale_loss(tf.nn.compute_average_loss(per_example))
        variables = self.network.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        if self.ema_network is not None:
            self._update_ema()
        self.loss_tracker.update_state(per_example)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        """Evaluate the loss on noise fixed per batch position (the same every evaluation)."""
        images, labels = self.unpack_batch(data)
        x_t, t, labels, target = self.training_inputs(images, labels, 0, evaluation=True)
        self.loss_tracker.update_state(
            self.per_example_loss(x_t, t, labels, target, training=False)
        )
        return {m.name: m.result() for m in self.metrics}

    def _update_ema(self):
        update_ema(self.ema_network, self.network, self.ema_decay, self.optimizer.iterations)

    # --- saving ----------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "noise_schedule": self.schedule.kind,
            "timesteps": self.timesteps,
            "prediction": self.prediction,
            "ema_decay": self.ema_decay,
            "label_dropout": self.label_dropout,
            "min_snr_gamma": self.min_snr_gamma,
        }


def build_diffusion(
    config: DiffusionConfig,
    image_shape,
    num_classes: int | None = None,
    *,
    class_names=None,
    seed: int = 0,
) -> Diffusion:
    """Build and compile a `Diffusion` model for images of `image_shape` from a `DiffusionConfig`.

    Args:
        config: the settings.
        image_shape: (H, W, C), H = W in 16, 28, 32, 64; C in 1, 3.
        num_classes: build a class-conditional model (with classifier-free guidance).
        class_names: optional names of the classes (`GenerativeModel.class_names`).
        seed: seed of the training noise (weights come from Keras' global seed).

    Returns:
        A compiled `Diffusion`, ready for ``fit``.
    """
    if not isinstance(config, DiffusionConfig):
        raise TypeError(f"config must be a DiffusionConfig. Received: config={config!r}")
    check_choice("noise_schedule", config.noise_schedule, SCHEDULES)
    check_int("timesteps", config.timesteps, minimum=2)
    network = build_unet(
        image_shape,
        widths=config.widths,
        blocks_per_level=config.blocks_per_level,
        attention=config.attention,
        heads=config.heads,
        dropout=config.dropout,
        embedding_dim=config.embedding_dim,
        num_classes=num_classes,
        scale_shift=config.scale_shift,
        patch=config.patch,
    )
    model = Diffusion(
        network,
        noise_schedule=config.noise_schedule,
        timesteps=config.timesteps,
        prediction=config.prediction,
        ema_decay=config.ema_decay,
        label_dropout=config.label_dropout,
        min_snr_gamma=config.min_snr_gamma,
        num_classes=num_classes,
        class_names=class_names,
        seed=seed,
    )
    model.compile(optimizer_from_config(config, config.learning_rate))
    return model
