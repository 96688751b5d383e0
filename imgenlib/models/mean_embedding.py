"""`MeanEmbeddingGenerator`: a generator trained to match a published mean embedding (DP-MERF).

The model never sees an image: its only training signal is an
`imgenlib.mean_embeddings.EmbeddingRelease` (the noisy per-class means of random
features of the private data), kept in the model as a non-trainable weight. A training
step draws ``samples_per_class`` latents for every class, generates them, and minimises

    Σ_c ‖ mean_i φ(G(z_i, c)) − μ̃_c ‖²

(the squared random-feature MMD between the generator's class c and the released class
c). Everything here is post-processing of the release, so it is as private as the release,
however long it trains.

Training is ``model.fit(steps_dataset(n))``: the dataset only counts steps (Keras needs
one), every batch is drawn by the model itself, keyed by the optimiser step
(`GenerativeModel.noise_seed`), so a resumed run draws the same batches.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from imgenlib._validation import check_positive_int
from imgenlib.mean_embeddings import EmbeddingRelease, RandomFourierFeatures
from imgenlib.models.base import GenerativeModel, NoiseSalt
from imgenlib.models.conditions import label_input_and_embedding
from imgenlib.models.networks import LATENT_AND_LABEL

__all__ = ["MeanEmbeddingGenerator", "build_mlp_generator", "steps_dataset"]


def steps_dataset(steps: int) -> tf.data.Dataset:
    """A dataset of `steps` step numbers: one epoch of ``MeanEmbeddingGenerator.fit``."""
    return tf.data.Dataset.range(check_positive_int("steps", steps))


def build_mlp_generator(image_shape, latent_dim: int = 32, num_classes: int | None = None,
                        widths=(200, 400), name="generator"):  # fmt: skip
    """A small fully connected generator: [z, label] → Dense-BN-ReLU layers → tanh image.

    DP-MERF's generator is of this kind: the features compare whole images, not local
    patterns, so a convolutional generator buys little (and costs 20x the time on a CPU).
    BatchNorm is harmless here: the generator never sees private data.
    """
    image_shape = tuple(check_positive_int("image_shape", s) for s in image_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    z = keras.Input((latent_dim,), name="z")
    if num_classes is None:
        inputs, x = z, z
    else:
        labels, embedded = label_input_and_embedding(num_classes)
        inputs, x = [z, labels], keras.layers.Concatenate(name=LATENT_AND_LABEL)([z, embedded])
    for i, width in enumerate(widths):
        x = keras.layers.Dense(check_positive_int("widths", width), name=f"dense_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
    x = keras.layers.Dense(int(np.prod(image_shape)), activation="tanh", name="pixels")(x)
    images = keras.layers.Reshape(image_shape, name="images")(x)
    return keras.Model(inputs, images, name=name)


@keras.saving.register_keras_serializable(package="imgenlib")
class MeanEmbeddingGenerator(GenerativeModel):
    """A generator fitted to a private mean-embedding release (DP-MERF).

    Args:
        generator: ``z`` (or ``[z, labels]``) → images in [-1, 1] (`build_mlp_generator`).
        features: the `RandomFourierFeatures` of the release, or its ``get_config()``.
        target: (K, F) the released class means (``EmbeddingRelease.means``).
        privacy: the release's ``privacy()`` record, kept with the model.
        samples_per_class: generated images per class in one step.
        latent_dim, num_classes, class_names, seed: as for `GenerativeModel`.

    Use `from_release` to build one from a release.

    Example:
        >>> release = release_mean_embeddings(images, labels, epsilon=10.0)
        >>> model = MeanEmbeddingGenerator.from_release(release)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(steps_dataset(2000), verbose=0)  # doctest: +SKIP
        >>> model.generate(10, seed=0, labels="balanced")  # doctest: +SKIP
    """

    kind = "mean_embedding"
    NETWORKS = ("generator",)

    def __init__(self, generator, *, features, target, privacy=None, samples_per_class: int = 100,
                 latent_dim: int, num_classes: int | None = None, class_names=None, seed: int = 0,
                 **kwargs):  # fmt: skip
        super().__init__(
            latent_dim=latent_dim, num_classes=num_classes, class_names=class_names, seed=seed,
            **kwargs,
        )  # fmt: skip
        self.set_networks(generator=generator)
        if isinstance(features, dict):
            features = RandomFourierFeatures(**features)
        if not isinstance(features, RandomFourierFeatures):
            raise TypeError(
                f"features must be a RandomFourierFeatures or its config. Received: {type(features).__name__}"
            )
        self.features = features
        self.check_latent_input("generator")
        self.image_shape = tuple(generator.outputs[0].shape[1:])
        if self.image_shape != features.image_shape:
            raise ValueError(
                f"generator output shape {self.image_shape} does not match the features' image "
                f"shape {features.image_shape}."
            )
        if (len(generator.inputs) == 2) != self.conditional:
            raise ValueError(
                "generator must take labels exactly when num_classes is set. "
                f"Received: num_classes={num_classes}, generator inputs={len(generator.inputs)}"
            )
        target = np.asarray(target, np.float32)
        classes = 1 if num_classes is None else self.num_classes
        if target.shape != (classes, features.num_features):
            raise ValueError(
                f"target must have shape ({classes}, {features.num_features}) (classes × features). "
                f"Received: target.shape={target.shape}"
            )
        self.samples_per_class = check_positive_int("samples_per_class", samples_per_class)
        self.privacy = None if privacy is None else dict(privacy)
        self.target = self.add_weight(
            shape=target.shape, initializer="zeros", trainable=False, name="target"
        )
        self.target.assign(target)
        self.loss_tracker = keras.metrics.Mean(name="mmd2")
        self.built = True

    @classmethod
    def from_release(cls, release: EmbeddingRelease, generator=None, *, latent_dim: int = 32,
                     samples_per_class: int = 100, class_names=None, seed: int = 0):  # fmt: skip
        """A model for `release`, with `build_mlp_generator` unless a generator is given."""
        if not isinstance(release, EmbeddingRelease):
            raise TypeError(
                f"release must be an EmbeddingRelease. Received: {type(release).__name__}"
            )
        num_classes = None if release.num_classes == 1 else release.num_classes
        if generator is None:
            generator = build_mlp_generator(release.features.image_shape, latent_dim, num_classes)
        return cls(
            generator, features=release.features, target=release.means,
            privacy=release.privacy(), samples_per_class=samples_per_class,
            latent_dim=int(generator.inputs[0].shape[-1]), num_classes=num_classes,
            class_names=class_names, seed=seed,
        )  # fmt: skip

    # --- training ----------------------------------------------------------------------

    def compile(self, optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.optimizer = optimizer if optimizer is not None else keras.optimizers.Adam(1e-3)

    def optimizer_variables(self) -> dict:
        return {"optimizer": self.generator.trainable_variables}

    @property
    def metrics(self):
        return [self.loss_tracker]

    def _class_means(self, images, classes: int):
        phi = self.features(images)
        return tf.reduce_mean(tf.reshape(phi, (classes, self.samples_per_class, -1)), axis=1)

    def mmd2(self, seed, training: bool = False):
        """Σ_c ‖mean φ(generated c) − target_c‖² for one batch drawn from `seed`."""
        classes = 1 if self.num_classes is None else self.num_classes
        n = classes * self.samples_per_class
        z = tf.random.stateless_normal((n, self.latent_dim), seed)
        labels = (
            None
            if self.num_classes is None
            else tf.repeat(tf.range(classes, dtype=tf.int32), self.samples_per_class)
        )
        images = self.generator(self.with_labels(z, labels), training=training)
        means = self._class_means(tf.cast(images, tf.float32), classes)
        return tf.reduce_sum(tf.square(means - self.target))

    def train_step(self, data):
        del data  # the dataset only counts steps; the release is the only training signal
        seed = self.noise_seed(NoiseSalt.MEAN_EMBEDDING, self.optimizer.iterations)
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.mmd2(seed, training=True)
            scaled = self.optimizer.scale_loss(loss)  # the loss itself when not float16
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        self.loss_tracker.update_state(loss)
        return {"mmd2": self.loss_tracker.result()}

    # --- sampling and saving -------------------------------------------------------------

    def sampler(self):
        return self.generator

    def label_network(self):
        return self.generator

    def get_config(self):
        return {
            **super().get_config(),
            "features": self.features.get_config(),
            "privacy": self.privacy,
            "samples_per_class": self.samples_per_class,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)  # the target is a weight: zeros here, the saved values on load
        features = RandomFourierFeatures(**config["features"])
        classes = config["num_classes"] or 1
        config["target"] = np.zeros((classes, features.num_features), np.float32)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["features"] = features
        return cls(**config)
