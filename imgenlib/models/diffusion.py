"""Diffusion models: the `Diffusion` model, its config and a builder (network: `imgenlib.models.unet`).

A denoising diffusion probabilistic model (Ho et al. 2020, https://arxiv.org/abs/2006.11239)
trained with ``fit``: each step draws a timestep t and noise ε per image, noises the
batch to x_t = sqrt(ᾱ_t) · x_0 + sqrt(1 − ᾱ_t) · ε and regresses the network's output on ε
(``prediction="epsilon"``, the "simple" loss of Ho et al.) or on v = sqrt(ᾱ) · ε − sqrt(1 − ᾱ) · x_0
(``"v"``, Salimans & Ho 2022), the squared error averaged over pixels. An EMA copy of the
network (not trainable, saved with the model) is what samples.

Sampling (`imgenlib.models.sampling`) runs the whole reverse chain in one traced TensorFlow
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
from imgenlib.models.ema import ema_copy, update_ema
from imgenlib.models.sampling import SAMPLERS, DiffusionSampler
from imgenlib.models.schedules import PREDICTIONS, SCHEDULES, NoiseSchedule, noisy, v_target
from imgenlib.models.unet import build_unet, denoiser_image_shape, null_label
from imgenlib.optimizers import make_optimizer, optimizer_from_config
from imgenlib.precision import sampling_policy

__all__ = ["Diffusion", "DiffusionConfig", "build_diffusion"]


@keras.saving.register_keras_serializable(package="imgenlib")
class Diffusion(GenerativeModel):
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

    def per_example_loss(self, x_t, t, labels, target, training):
        """Squared error of the network's prediction, averaged over pixels: (batch,)."""
        inputs = [x_t, t] if labels is None else [x_t, t, *tf.nest.flatten(labels)]
        prediction = tf.cast(self.network(inputs, training=training), tf.float32)
        return tf.reduce_mean(tf.square(target - prediction), axis=[1, 2, 3])

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

    # --- sampling ----------------------------------------------------------------------

    def sampler(self):
        """The denoising network that samples: the EMA copy when there is one."""
        return self.ema_network if self.ema_network is not None else self.network

    def diffusion_sampler(
        self, sampler: str = "ddim", clip: bool = True, precision: str | None = None
    ) -> DiffusionSampler:
        """The traced reverse chain of `sampler` (cached; one graph for any batch and steps)
        computing in `precision` (as `generate`'s)."""
        policy = None if precision is None else sampling_policy(precision, kind="diffusion")
        key = (check_choice("sampler", sampler, SAMPLERS), bool(clip), policy)
        if key not in self._samplers:
            self._samplers[key] = DiffusionSampler(self, sampler=sampler, clip=clip, policy=policy)
        return self._samplers[key]

    def generate(
        self,
        n: int | None = None,
        z=None,
        seed: int | None = None,
        labels=None,
        *,
        steps: int | None = None,
        eta: float = 0.0,
        guidance: float = 1.0,
        sampler: str = "ddim",
        clip: bool = True,
        batch_size: int = 256,
        level: int | None = None,
        spacing: str = "uniform",
        precision: str | None = None,
    ):
        """Generate images by running the reverse chain from x_T = z (drawn from `seed`).

        Args:
            n: number of images; omit when `z` (or an array of `labels`) fixes it.
            z: initial noise x_T, flattened: (k, H·W·C); overrides `n` and `seed`.
            seed: seed of z and of the sampler's noise (η > 0 or DDPM); the same seed (and
                `batch_size`) gives identical images. None: random.
            labels: class labels of a conditional model (an int, n ints or ``"balanced"``).
            steps: network evaluations, 1..level + 1 (default min(50, level + 1):
                `imgenlib.sampling_options.DEFAULT_STEPS`).
            eta: DDIM stochasticity η ≥ 0 (0: deterministic; 1: DDPM's variance). Ignored
                by ``sampler="ddpm"``.
            guidance: classifier-free guidance scale w (0: unconditional, 1: conditional).
            sampler: ``"ddim"`` or ``"ddpm"`` (ancestral, posterior variance).
            clip: clip each predicted x_0 to [-1, 1] (and re-derive ε̂ from it).
            batch_size: images per run of the chain.
            level: the timestep z is at, where the chain starts (0..T − 1). None: T − 1,
                z is noise. Latents from `invert` are at `inversion_level` (its default).
            spacing: which timesteps the steps visit: ``"uniform"`` (evenly spaced),
                ``"quadratic"`` or ``"linspace"`` (`imgenlib.models.schedules.sampling_timesteps`).
            precision: the arithmetic of the U-Net. None (default): the model's own.
                ``"bfloat16"``: its residual blocks compute in bfloat16 and its
                `imgenlib.models.unet.FLOAT32_LAYERS` (stem, embeddings, attention, output)
                stay float32, as in mixed-precision training; ``"float32"``; ``"auto"``:
                bfloat16 where `imgenlib.precision.choose_precision` would train a
                diffusion model in it (`imgenlib.precision.sampling_policy`).

        Returns:
            float32 array (n, H, W, C) in [-1, 1] (with `clip`).

        Raises:
            ValueError / TypeError: a bad n, z, labels, steps (not in 1..level + 1), eta
                (< 0), guidance, sampler, level, spacing or precision.
        """
        chain = self.diffusion_sampler(sampler, clip, precision)
        x_T, labels, settings, key = chain.inputs(
            n, z, seed, labels, steps, eta, guidance, level, spacing
        )
        return chain.run(x_T, labels, *settings, key, batch_size)

    def trajectory(
        self,
        n: int | None = None,
        z=None,
        seed: int | None = None,
        labels=None,
        *,
        steps: int | None = None,
        eta: float = 0.0,
        guidance: float = 1.0,
        sampler: str = "ddim",
        clip: bool = True,
        level: int | None = None,
        spacing: str = "uniform",
    ) -> dict:
        """Every step of `generate` for the same arguments: x_t and the predicted x_0.

        The same traced step and noise as `generate`, in one batch: ``["images"]`` equals
        ``generate(...)`` for up to `generate`'s batch size (256) images.

        Args:
            n, z, seed, labels, steps, eta, guidance, sampler, clip, level, spacing: as in
                `generate`.

        Returns:
            A dict: ``"x_t"`` (steps, n, H, W, C), the input of each step (``x_t[0]`` is
            z); ``"x0"`` (steps, n, H, W, C), the predicted x_0 at that step (clipped when
            `clip`); ``"timesteps"`` (steps,) int32, the t of each step; ``"images"``.
        """
        chain = self.diffusion_sampler(sampler, clip)
        x_T, labels, settings, key = chain.inputs(
            n, z, seed, labels, steps, eta, guidance, level, spacing
        )
        images, xs, x0s = chain.trajectory(x_T, labels, *settings, key)
        return {"x_t": xs, "x0": x0s, "timesteps": settings[0], "images": images}

    def invert(
        self,
        images,
        labels=None,
        *,
        steps: int | None = None,
        level: int | None = None,
        batch_size: int = 256,
    ):
        """DDIM inversion: the x at `level` from which ``generate(z=..., level=level,
        steps=steps, clip=False)`` gives `images` back (approximately: each step evaluates
        the network at the level it comes from). The default level is `inversion_level`
        (ᾱ ≥ 0.01), not T − 1, where ᾱ ≈ 0 makes the way back ill-conditioned
        (`imgenlib.models.schedules.NoiseSchedule.inversion_level`).

        Args:
            images: (n, H, W, C) in [-1, 1], the model's image shape.
            labels: class labels of a conditional model (inversion uses guidance 1).
            steps: network evaluations, 1..level + 1 (default min(50, level + 1)).
            level: the timestep to invert to, 0..T − 1 (default `inversion_level`).
            batch_size: images per run.

        Returns:
            float32 array (n, latent_dim): z for ``generate(z=..., level=level)``.

        Raises:
            ValueError / TypeError: bad images, labels, steps or level.
        """
        images, labels = self.check_image_inputs(images, labels)
        chain = self.diffusion_sampler("ddim", clip=False)
        level = self.inversion_level if level is None else level
        timesteps = chain.levels(steps, level)
        x = chain.invert(images, labels, timesteps, batch_size)
        return x.reshape(len(images), self.latent_dim)

    # --- saving ----------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "noise_schedule": self.schedule.kind,
            "timesteps": self.timesteps,
            "prediction": self.prediction,
            "ema_decay": self.ema_decay,
            "label_dropout": self.label_dropout,
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
    )
    model = Diffusion(
        network,
        noise_schedule=config.noise_schedule,
        timesteps=config.timesteps,
        prediction=config.prediction,
        ema_decay=config.ema_decay,
        label_dropout=config.label_dropout,
        num_classes=num_classes,
        class_names=class_names,
        seed=seed,
    )
    model.compile(optimizer_from_config(config, config.learning_rate))
    return model
