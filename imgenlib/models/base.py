"""`GenerativeModel`: the one base of every model family (GANs and VAEs today).

A family (`imgenlib.models.gan.GAN`, `imgenlib.models.vae.VAE`, and next diffusion and
text-conditional models) subclasses `GenerativeModel` and adds only its own training step,
losses and family-specific methods. The base owns what every family shares:

- the latent size, the optional class condition (``num_classes``) and the noise seed;
- the sub-networks, named by the class attribute ``NETWORKS`` (``networks`` returns them
  by role; ``get_config``/``from_config`` serialise them);
- batch unpacking (`keras.utils.unpack_x_y_sample_weight`) with the check that a
  conditional model gets ``(images, labels)`` batches and an unconditional one images;
- stateless training noise keyed by (seed, `NoiseSalt`, optimiser step), so a resumed run
  draws exactly the noise of an uninterrupted one;
- the optimisers named by ``optimizer_variables()``: `build_for_training` and the compile
  config;
- sampling: ``generate(n, z=, seed=, labels=)`` through compiled functions of
  ``sampler()`` (`imgenlib.models.compiled`), with ``labels="balanced"`` for an equal number of images per class (the
  latent arguments are checked by `imgenlib.models.latents.resolve_latents`).

Conditions (class labels today, text next) are checked and embedded by
`imgenlib.models.conditions`, which holds the label layers' names.
"""

from __future__ import annotations

import enum
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from imgenlib._validation import check_int, check_positive_int
from imgenlib.images import check_images
from imgenlib.models.compiled import run_in_batches, sampling_function, traced
from imgenlib.models.conditions import check_class_names, check_labels
from imgenlib.models.latents import draw_latents, resolve_latents

__all__ = [
    "GenerativeModel",
    "NoiseSalt",
    "logits_to_images",
    "traced",
]


class NoiseSalt(enum.IntEnum):
    """Salts that keep each kind of training noise independent (one list for all families).

    A salt is folded into the seed with the optimiser step; the values are part of what a
    seed means, so changing one changes every trained result.
    """

    GAN_D_NOISE = 1
    GAN_G_NOISE = 2
    GAN_AUGMENT = 3
    GAN_GP_ALPHA = 4
    GAN_G_LABELS = 5
    VAE_TRAIN = 11
    VAE_EVAL = 12
    DIFFUSION_TIME = 21
    DIFFUSION_NOISE = 22
    DIFFUSION_LABEL_DROP = 23
    DIFFUSION_EVAL = 24
    DIFFUSION_WORD_DROP = 25
    DP_NOISE = 31
    MEAN_EMBEDDING = 41
    TEXT_HARD_NEGATIVES = 51


def logits_to_images(logits):
    """Per-pixel logits h → mean images in [-1, 1]: tanh(h / 2) = 2·sigmoid(h) − 1."""
    return tf.tanh(0.5 * logits)


class GenerativeModel(keras.Model):
    """Base of the model families: conditions, noise, optimisers, saving and `generate`.

    Subclasses set ``kind`` (``"gan"``, ``"vae"``) and ``NETWORKS`` (the constructor's
    sub-network arguments, in order), call ``set_networks`` in ``__init__``, and define
    ``sampler()``, ``optimizer_variables()`` and their ``train_step``.

    Args:
        latent_dim: size of z.
        num_classes: number of classes of a class-conditional model; None for none.
        class_names: optional names of a conditional model's classes (name k for class k),
            kept with the model; ``imgenlib.training.train`` sets them
            (`imgenlib.data.label_names`).
        seed: seed of the training noise.
        **kwargs: passed to `keras.Model` (``name``, ``trainable``, ``dtype``).
    """

    kind: ClassVar[str] = ""
    NETWORKS: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, *, latent_dim: int, num_classes: int | None = None, class_names=None, seed: int = 0,
        **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.num_classes = (
            None if num_classes is None else check_int("num_classes", num_classes, minimum=2)
        )
        self.class_names = check_class_names(class_names, self.num_classes)
        self.seed = check_int("seed", seed, minimum=0)

    def set_networks(self, **networks):
        """Check that each sub-network is a `keras.Model` and store it under its role."""
        for role, network in networks.items():
            if not isinstance(network, keras.Model):
                raise TypeError(f"{role} must be a keras.Model. Received: {role}={network!r}")
        for role, network in networks.items():
            setattr(self, role, network)

    @property
    def networks(self) -> dict:
        """The sub-networks by role, e.g. ``{"generator": ..., "discriminator": ...}``."""
        return {role: getattr(self, role) for role in self.NETWORKS}

    @property
    def conditional(self) -> bool:
        """Whether the model takes class labels."""
        return self.num_classes is not None

    def check_label_inputs(self, networks: dict):
        """Raise unless each network takes ``[x, labels]`` exactly when the model is conditional."""
        if all((len(net.inputs) == 2) == self.conditional for net in networks.values()):
            return
        names = list(networks)
        counts = ", ".join(f"{role} inputs={len(net.inputs)}" for role, net in networks.items())
        raise ValueError(
            f"{names[0]} and {names[1]} must both take labels exactly when num_classes is set. "
            f"Received: num_classes={self.num_classes}, {counts}"
        )

    def check_latent_input(self, role: str):
        """Raise unless the network `role` takes z of size ``latent_dim`` (first input)."""
        z_size = getattr(self, role).inputs[0].shape[-1]
        if z_size != self.latent_dim:
            raise ValueError(
                f"latent_dim must match the {role}'s input size ({z_size}). Received: latent_dim={self.latent_dim}"
            )

    def check_image_shapes(self, producer: str, consumer: str):
        """Raise unless `producer` outputs images of `consumer`'s input shape; store it."""
        made = tuple(getattr(self, producer).outputs[0].shape[1:])
        taken = tuple(getattr(self, consumer).inputs[0].shape[1:])
        if made != taken:
            raise ValueError(
                f"{producer} output shape {made} does not match {consumer} input shape {taken}."
            )
        self.image_shape = made

    # --- data and noise ----------------------------------------------------------------

    def with_labels(self, x, labels):
        """``x`` for an unconditional network, ``[x, labels]`` for a conditional one."""
        return x if labels is None else [x, labels]

    def unpack_batch(self, data):
        """``images`` or ``(images, labels)`` from a batch → (float32 images, labels or None)."""
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if (labels is None) != (self.num_classes is None):
            raise ValueError(
                f"A conditional {self.kind.upper()} needs (images, labels) batches and an unconditional one images only. "
                f"Received labels={'none' if labels is None else 'some'} for num_classes={self.num_classes}."
            )
        return tf.cast(images, tf.float32), labels

    def noise_seed(self, salt: NoiseSalt, counter):
        """The stateless-RNG seed of the noise named by `salt` at step `counter`.

        The same on every replica: `imgenlib.distribute` draws the global batch's noise and
        each replica keeps its slice, so N replicas see exactly one device's noise.
        """
        seed = tf.random.experimental.stateless_fold_in(
            tf.constant([self.seed, int(salt)], tf.int64), tf.cast(counter, tf.int64)
        )
        return tf.random.experimental.stateless_fold_in(seed, 0)  # keeps earlier versions' seeds

    # --- optimisers --------------------------------------------------------------------

    def optimizer_variables(self) -> dict:
        """The compile keyword of each optimiser → the variables it trains."""
        raise NotImplementedError

    def build_for_training(self):
        """Create the optimisers' slot variables now, so checkpoints can restore them before ``fit``."""
        for name, variables in self.optimizer_variables().items():
            optimizer = getattr(self, name, None)
            if optimizer is None:
                raise ValueError("Call compile() before build_for_training().")
            optimizer.build(variables)
        return self

    def get_compile_config(self):
        names = list(self.optimizer_variables())
        if any(getattr(self, name, None) is None for name in names):
            return None
        return {name: keras.saving.serialize_keras_object(getattr(self, name)) for name in names}

    def compile_from_config(self, config):
        self.compile(
            **{
                name: keras.saving.deserialize_keras_object(config[name])
                for name in self.optimizer_variables()
            }
        )
        self.build_for_training()  # else the saved optimiser state is silently not restored

    # --- saving ------------------------------------------------------------------------

    def get_config(self):
        networks = {
            role: keras.saving.serialize_keras_object(network)
            for role, network in self.networks.items()
        }
        return {
            **super().get_config(),
            **networks,
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "class_names": None if self.class_names is None else list(self.class_names),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for role in cls.NETWORKS:
            config[role] = keras.saving.deserialize_keras_object(config[role])
        return cls(**config)

    # --- inference on image arrays -------------------------------------------------------

    def check_image_inputs(self, images, labels):
        """Validate images of this model's shape in [-1, 1] and their labels."""
        images = check_images(images)
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(
                f"images must have shape (n, {', '.join(map(str, self.image_shape))}) for this model. "
                f"Received: images.shape={images.shape}"
            )
        return images, check_labels(labels, len(images), self.num_classes)

    def batched(self, function, arrays, batch_size):
        """Apply `function` to `batch_size` rows of `arrays` (None entries skipped) at a time;
        return each of its outputs concatenated as NumPy."""
        batch_size = check_positive_int("batch_size", batch_size)
        n = len(arrays[0])
        chunks = [
            function(*(a[start : start + batch_size] for a in arrays if a is not None))
            for start in range(0, n, batch_size)
        ]
        return [np.concatenate([c[i].numpy() for c in chunks]) for i in range(len(chunks[0]))]

    def traced_on_images(self, attribute, body, specs):
        """``body(images, *specs, labels)`` traced once and cached as ``self.<attribute>``."""
        function = getattr(self, attribute, None)
        if function is None:
            image_spec = tf.TensorSpec([None, *self.image_shape], tf.float32)
            specs = [image_spec, *specs]
            if self.num_classes is None:
                function = traced(lambda *args: body(*args, None), specs)
            else:
                function = traced(body, [*specs, tf.TensorSpec([None], tf.int32)])
            setattr(self, attribute, function)
        return function

    # --- sampling ----------------------------------------------------------------------

    def sampler(self):
        """The Keras model mapping z (or ``[z, labels]``) to images in [-1, 1]."""
        raise NotImplementedError

    def label_network(self):
        """The sub-network of a conditional model whose ``label_embedding`` generation uses.

        Its output goes through `outputs_to_images` to become images in [-1, 1].
        """
        raise NotImplementedError

    def outputs_to_images(self, outputs):
        """Map `label_network`'s outputs to images in [-1, 1] (identity unless overridden)."""
        return outputs

    def sample_latent(self, n: int, seed: int | None = None) -> np.ndarray:
        """Draw `n` latent vectors z ~ N(0, I) as float32 (n, latent_dim) from `seed`."""
        return draw_latents(n, self.latent_dim, seed)

    def generate(
        self,
        n: int | None = None,
        z=None,
        seed: int | None = None,
        labels=None,
        *,
        batch_size: int = 256,
        precision: str | None = None,
    ):
        """Generate images from `n` random latents (drawn from `seed`) or from given `z`.

        Latents are drawn with NumPy (the same seed gives the same images on any machine)
        and images come from compiled functions traced once per model, about 10x faster
        than ``model.predict`` for the small batches interactive tools ask for
        (`sampling_function`: XLA for one or two images, a graph for more).

        Args:
            n: number of images; omit when `z` (or an array of `labels`) fixes it.
            z: latent vectors (k, latent_dim); overrides `n` and `seed`.
            seed: seed for drawing z; the same seed gives identical images. None: random.
            labels: class labels for a conditional model: an int (same class for all), an
                int array of length n, or ``"balanced"`` (classes 0, 1, ... in turn). Must
                be None for an unconditional model.
            batch_size: images per forward pass.
            precision: the arithmetic of the forward pass. None (default): the model's
                own, float32 unless it was trained in mixed precision, so the same seed
                gives the same images everywhere. ``"bfloat16"``: the layers compute in
                bfloat16 (batches 1.8× faster on a CPU with AMX, slower where it is emulated:
                ``benchmarks/sampling.py``; the zoo GAN's pixels move by 0.002 on average).
                ``"float32"``. ``"auto"``: bfloat16 where the hardware computes it
                natively, else float32 (`imgenlib.precision.sampling_policy`); float32 for one
                or two images, where it is faster (`imgenlib.models.compiled`).

        Returns:
            float32 array (n, H, W, C) in [-1, 1].

        Raises:
            ValueError / TypeError: n <= 0, both or neither of n and z, a z of the wrong
                shape, labels missing, out of range or given to an unconditional model,
                an unknown `precision`.
        """
        z = resolve_latents(self, n, z, seed, labels)
        labels = check_labels(labels, len(z), self.num_classes)
        batch_size = check_positive_int("batch_size", batch_size)
        function = self.sampling_function(min(len(z), batch_size), precision)
        return run_in_batches(function, [z] if labels is None else [z, labels], batch_size)

    def sampling_function(self, batch: int, precision: str | None = None):
        """The compiled sampler `generate` uses for chunks of `batch` images in `precision`:
        a callable ``(z[, labels]) -> tf.Tensor`` (`imgenlib.models.compiled`: XLA for one or
        two images, a graph for more; one function per choice, traced once)."""
        return sampling_function(self, precision, batch, self._sampler_forward)

    def _sampler_forward(self):
        """(network, forward, input specs) of `sampling_function`."""
        sampler = self.sampler()
        specs = [tf.TensorSpec([None, self.latent_dim], tf.float32)]
        if self.num_classes is None:  # exact arities: an optional argument costs ~0.5 ms a call

            def forward(z):
                return tf.cast(sampler(z, training=False), tf.float32)

        else:
            specs.append(tf.TensorSpec([None], tf.int32))

            def forward(z, labels):
                return tf.cast(sampler([z, labels], training=False), tf.float32)

        return sampler, forward, specs
