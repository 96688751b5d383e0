"""Mini-CLIP: a contrastive dual encoder of images and captions, small enough for a CPU.

Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision" (CLIP, https://arxiv.org/abs/2103.00020), at the scale of this course::

    images   → image CNN (`build_image_encoder`) → linear projection → L2 norm ┐
                                                                                ├ cosine × scale
    captions → `imgenlib.text.TextEncoder` (pooled) → linear projection → L2 norm ┘

`MiniCLIP` trains with the symmetric InfoNCE loss (`contrastive_loss`): in a batch of B
pairs, the B×B matrix of scaled cosine similarities is read row-wise (each image picks its
caption among B) and column-wise (each caption picks its image), and the two
cross-entropies are averaged. The scale is a learned temperature, parametrised as
``log_scale`` (initial ``log(1 / 0.07)``) and clipped to at most 100, as in CLIP.

**Duplicate captions.** Procedural captions repeat: two images of a batch can carry the
same caption ("a small red circle in the top left"), or say the same thing in other words
("top-left: small red circle"). Plain InfoNCE calls them negatives of each other. By
default (``duplicate_captions="positive"``) pairs with equal *keys* are positives of each
other: the target of a row is uniform over them (a multi-positive cross-entropy, as in
supervised contrastive learning, Khosla et al. 2020, https://arxiv.org/abs/2004.11362).
Keys are the caption's token ids, or what you pass (`caption_dataset`'s ``keys``, e.g.
`caption_keys` of a ``shapes_captions`` record, which also groups rephrasings).
For captions with identical token ids the multi-positive loss equals plain InfoNCE
exactly (their text embeddings are identical, and the loss is linear in the targets, so
each group's targets sum to the same thing); what changes is the in-batch accuracy (a copy
of the right caption counts as right) and, with coarser keys, the loss itself.
``"negative"`` gives plain CLIP.

Scoring and retrieval with a trained model are in `imgenlib.clip_tasks` (`clip_score`,
`retrieve`, `zero_shot_classify`), re-exported here.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from imgenlib import contrastive
from imgenlib import text as textlib
from imgenlib._validation import check_choice, check_float, check_int, check_positive_int
from imgenlib.clip_tasks import (
    ZeroShotResult,
    caption_keys,
    clip_score,
    load_pretrained_clip,
    mean_clip_score,
    pretrained_clip_or_none,
    retrieve,
    shapes_class_prompts,
    similarity,
    zero_shot_classify,
)
from imgenlib.images import check_images
from imgenlib.models.hard_negatives import group_token_ids, swap_attribute_words

__all__ = [
    "MiniCLIP",
    "ZeroShotResult",
    "build_mini_clip",
    "caption_keys",
    "clip_score",
    "load_pretrained_clip",
    "mean_clip_score",
    "pretrained_clip_or_none",
    "retrieve",
    "shapes_class_prompts",
    "similarity",
    "zero_shot_classify",
]

DUPLICATE_CAPTIONS = ("positive", "negative")


@keras.saving.register_keras_serializable(package="imgenlib")
class MiniCLIP(keras.Model):
    """A contrastive dual encoder: images and captions → L2-normalised embeddings.

    ``model((images, captions))`` returns ``{"image": (B, E), "text": (B, E)}``, unit
    vectors whose dot products are cosine similarities. Train with ``compile(optimizer)``
    then ``fit`` on batches of ``(images, captions)`` (see `caption_dataset`); `fit`
    reports the loss, the in-batch image → caption top-1 accuracy and ``logit_scale``.

    Args:
        image_encoder: a Keras model, images (H, W, C) → vectors (see `build_image_encoder`).
        text_encoder: a `TextEncoder` (its pooled vector is used).
        embed_dim: width E of the shared embedding space.
        temperature: initial temperature (CLIP: 0.07); the model learns
            ``log_scale = log(1 / temperature)``.
        max_logit_scale: upper clip of ``exp(log_scale)`` (CLIP: 100).
        duplicate_captions: ``"positive"`` (identical captions in a batch are positives of
            each other) or ``"negative"`` (plain CLIP; see the module docstring).
        hard_negatives: names in `imgenlib.models.hard_negatives.ATTRIBUTE_WORDS`: each
            training image also competes with its caption with one such word swapped ("a
            red circle" → "a red square"; `contrastive_loss`). Random in-batch negatives
            rarely differ in shape alone, so nothing else makes the towers encode it.
        seed: seed of the swaps (with the optimiser step: a resumed run swaps the same).

    Raises:
        TypeError, ValueError: bad encoders or arguments.
    """

    def __init__(
        self,
        image_encoder,
        text_encoder,
        *,
        embed_dim: int = 128,
        temperature: float = 0.07,
        max_logit_scale: float = 100.0,
        duplicate_captions: str = "positive",
        hard_negatives=(),
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(image_encoder, keras.Model) or len(image_encoder.inputs or []) != 1:
            raise TypeError(
                "image_encoder must be a Keras model with one image input. "
                f"Received: image_encoder={image_encoder!r}"
            )
        if not isinstance(text_encoder, textlib.TextEncoder):
            raise TypeError(
                f"text_encoder must be an imgenlib.text.TextEncoder. Received: {text_encoder!r}"
            )
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.image_shape = contrastive.check_image_shape(tuple(image_encoder.inputs[0].shape[1:]))
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.temperature = check_float("temperature", temperature, minimum=0, min_inclusive=False)
        self.max_logit_scale = check_float("max_logit_scale", max_logit_scale, minimum=1)
        self.duplicate_captions = check_choice(
            "duplicate_captions", duplicate_captions, DUPLICATE_CAPTIONS
        )
        if 1 / self.temperature > self.max_logit_scale:
            raise ValueError(
                "1 / temperature must not exceed max_logit_scale. "
                f"Received: temperature={temperature}, max_logit_scale={max_logit_scale}"
            )
        self.hard_negatives = tuple(hard_negatives)
        self.hard_negative_ids = group_token_ids(
            text_encoder.vocabulary, self.hard_negatives,
            required=bool(self.hard_negatives), name="hard_negatives",
        )  # fmt: skip
        self.seed = check_int("seed", seed, minimum=0)
        self.image_projection = keras.layers.Dense(embed_dim, use_bias=False, name="image_proj")
        self.text_projection = keras.layers.Dense(embed_dim, use_bias=False, name="text_proj")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.scale_tracker = keras.metrics.Mean(name="logit_scale")
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        if not self.text_encoder.built:
            self.text_encoder.build()
        self.image_projection.build((None, self.image_encoder.outputs[0].shape[-1]))
        self.text_projection.build((None, self.text_encoder.embed_dim))
        self.log_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(1 / self.temperature)),
            name="log_scale",
        )
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.scale_tracker]

    @property
    def logit_scale(self):
        """``exp(log_scale)`` clipped to [1, max_logit_scale]: the inverse temperature."""
        return ops.exp(ops.clip(self.log_scale, 0.0, math.log(self.max_logit_scale)))

    def encode_images(self, images, training=False):
        """Images (B, H, W, C) in [-1, 1] → unit vectors (B, E)."""
        features = self.image_encoder(images, training=training)
        return contrastive.l2_normalize(self.image_projection(features))

    def encode_tokens(self, token_ids, training=False):
        """Token ids (B, L) from ``text_encoder.tokenizer`` → unit vectors (B, E)."""
        pooled = self.text_encoder.encode_tokens(token_ids, training=training)["pooled"]
        return contrastive.l2_normalize(self.text_projection(pooled))

    def encode_captions(self, captions, training=False):
        """Captions (strings) → unit vectors (B, E)."""
        return self.encode_tokens(self.text_encoder.tokenizer(captions), training=training)

    def call(self, inputs, training=False):
        images, captions = inputs
        return {
            "image": self.encode_images(images, training=training),
            "text": self.encode_captions(captions, training=training),
        }

    def _loss(self, images, captions, keys, training):
        token_ids = self.text_encoder.tokenizer(captions)
        image = self.encode_images(images, training=training)
        text = self.encode_tokens(token_ids, training=training)
        positives = None
        if self.duplicate_captions == "positive":
            positives = (
                contrastive.same_caption(token_ids)
                if keys is None
                else ops.equal(keys[:, None], keys[None])
            )
        scale = self.logit_scale
        hard = None
        if self.hard_negatives and training:
            hard = self._hard_negatives(token_ids)
        loss = contrastive.contrastive_loss(image, text, scale, positives, hard)
        best = ops.argmax(ops.matmul(image, ops.transpose(text)), axis=1)
        if positives is None:
            hits = ops.equal(best, ops.arange(ops.shape(best)[0], dtype=best.dtype))
        else:
            hits = ops.take_along_axis(positives, best[:, None], axis=1)[:, 0]
        self.accuracy_tracker.update_state(ops.mean(ops.cast(hits, "float32")))
        self.scale_tracker.update_state(scale)
        return loss

    def _hard_negatives(self, token_ids):
        """Each caption, one attribute word swapped (seed, optimiser step), embedded; changed?"""
        seed = tf.random.experimental.stateless_fold_in(
            tf.constant([self.seed, 7], tf.int64), tf.cast(self.optimizer.iterations, tf.int64)
        )
        swapped, changed = swap_attribute_words(token_ids, self.hard_negative_ids, seed)
        return self.encode_tokens(swapped, training=True), changed

    @staticmethod
    def _unpack(data):
        if len(data) == 1:  # fit(x=(images, captions[, keys]))
            data = data[0]
        if len(data) not in (2, 3):
            raise ValueError(
                "MiniCLIP trains on batches of (images, captions) or (images, captions, keys). "
                f"Received: a batch of {len(data)} tensors"
            )
        return (*data, None) if len(data) == 2 else tuple(data)

    def train_step(self, data):
        images, captions, keys = self._unpack(data)
        with tf.GradientTape() as tape:
            loss = self._loss(images, captions, keys, training=True)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        self.log_scale.assign(ops.clip(self.log_scale, 0.0, math.log(self.max_logit_scale)))
        self.loss_tracker.update_state(loss)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        images, captions, keys = self._unpack(data)
        self.loss_tracker.update_state(self._loss(images, captions, keys, training=False))
        return {metric.name: metric.result() for metric in self.metrics}

    def embed_images(self, images, *, batch_size: int = 256) -> np.ndarray:
        """Unit embeddings (N, E) of images, in batches (graph mode); validates the images."""
        images = self.check_images(images)
        batch_size = check_positive_int("batch_size", batch_size)
        if getattr(self, "_embed_images_fn", None) is None:
            self._embed_images_fn = tf.function(self.encode_images, reduce_retracing=True)
        return np.concatenate(
            [
                self._embed_images_fn(images[start : start + batch_size]).numpy()
                for start in range(0, len(images), batch_size)
            ]
        ).astype(np.float64)

    def embed_captions(
        self, captions, *, batch_size: int = 256, unknown: str = "warn"
    ) -> np.ndarray:
        """Unit embeddings (N, E) of captions; unknown words are reported as `unknown` says."""
        captions = textlib.check_captions(captions)
        batch_size = check_positive_int("batch_size", batch_size)
        self.text_encoder.report_unknown(captions, unknown)
        if getattr(self, "_embed_tokens_fn", None) is None:
            self._embed_tokens_fn = tf.function(self.encode_tokens, reduce_retracing=True)
        chunks = []
        for start in range(0, len(captions), batch_size):
            ids = self.text_encoder.tokenizer(captions[start : start + batch_size])
            chunks.append(self._embed_tokens_fn(ids).numpy())
        return np.concatenate(chunks).astype(np.float64)

    def check_images(self, images, name: str = "images") -> np.ndarray:
        """`images` as float32 (N, H, W, C) in [-1, 1], or a ValueError naming their shape."""
        images = check_images(images, name=name, allow_single=False)
        if images.shape[1:] != self.image_shape:
            raise ValueError(
                f"{name} must have shape (n, {', '.join(map(str, self.image_shape))}) for this "
                f"model. Received: {name}.shape={images.shape}"
            )
        return images

    def get_config(self):
        return {
            **super().get_config(),
            "image_encoder": keras.saving.serialize_keras_object(self.image_encoder),
            "text_encoder": keras.saving.serialize_keras_object(self.text_encoder),
            "embed_dim": self.embed_dim,
            "temperature": self.temperature,
            "max_logit_scale": self.max_logit_scale,
            "duplicate_captions": self.duplicate_captions,
            **({"hard_negatives": list(self.hard_negatives), "seed": self.seed}
               if self.hard_negatives else {}),  # absent when off: older files load as before
        }  # fmt: skip

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("image_encoder", "text_encoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_mini_clip(
    captions,
    image_shape,
    *,
    embed_dim: int = 128,
    image_width: int = 32,
    image_features: int = 256,
    text_dim: int = 64,
    num_heads: int = 4,
    num_layers: int = 2,
    max_length: int | None = None,
    temperature: float = 0.07,
    duplicate_captions: str = "positive",
    hard_negatives=(),
    seed: int = 0,
) -> MiniCLIP:
    """A `MiniCLIP` whose vocabulary is adapted from the training `captions`.

    Args:
        captions: the training captions.
        image_shape: (height, width, channels) of the images.
        embed_dim: shared embedding width.
        image_width, image_features: `build_image_encoder`'s ``width`` and ``feature_dim``.
        text_dim, num_heads, num_layers, max_length: the `TextEncoder`'s ``embed_dim``,
            heads, blocks and tokens per caption.
        temperature, duplicate_captions, hard_negatives, seed: see `MiniCLIP`.

    Example:
        >>> data = load_shapes_captions("train", n=1000)
        >>> model = build_mini_clip(data.captions, (32, 32, 3))
    """
    image_encoder = contrastive.build_image_encoder(
        image_shape, width=image_width, feature_dim=image_features
    )
    text_encoder = textlib.build_text_encoder(
        captions,
        max_length=max_length,
        embed_dim=text_dim,
        num_heads=num_heads,
        num_layers=num_layers,
        name="text_encoder",
    )
    return MiniCLIP(
        image_encoder,
        text_encoder,
        embed_dim=embed_dim,
        temperature=temperature,
        duplicate_captions=duplicate_captions,
        hard_negatives=hard_negatives,
        seed=seed,
        name="mini_clip",
    )
