"""Class-conditional generation beyond integer labels: label embeddings, class morphs.

A conditional generator in imgenlib (a GAN's generator, a conditional VAE's decoder)
turns its integer label into a learned vector with a ``label_embedding`` layer and
concatenates it to z (layer ``z_and_label``; Mirza & Osindero 2014,
https://arxiv.org/abs/1411.1784). The rest of the network only ever sees that vector,
so it can be fed *any* vector of the same size, not just one of the `num_classes` rows:

- `label_embeddings`: the learned table E (num_classes, embed_dim).
- `generate_from_embedding`: images from z and arbitrary embedding vectors.
- `class_morph`: a fixed z with the embedding moved linearly from class a's row to class
  b's, which morphs a sneaker into a boot while "style" (what z holds) stays. The
  endpoints are exactly ``generate(z, labels=a)`` and ``generate(z, labels=b)``; the
  midpoints are images of no class the model was trained on, so how sensible they look
  shows how smoothly the generator treats its label space.
"""

from __future__ import annotations

import numpy as np

from imgenlib._validation import check_int, check_latent_model, check_latents, check_vector
from imgenlib.models.conditions import LABEL_EMBEDDING, LATENT_AND_LABEL

__all__ = ["class_morph", "generate_from_embedding", "label_embeddings"]


def _conditional_network(model):
    """The Keras network that holds the label embedding (`GenerativeModel.label_network`)."""
    check_latent_model(model)
    if getattr(model, "num_classes", None) is None:
        raise ValueError(
            "This needs a class-conditional model (num_classes set); "
            f"received an unconditional one: model={model!r}"
        )
    network = model.label_network()
    names = [layer.name for layer in getattr(network, "layers", [])]
    if LABEL_EMBEDDING not in names or LATENT_AND_LABEL not in names:
        raise ValueError(
            f"The model's generator has no {LABEL_EMBEDDING!r} and {LATENT_AND_LABEL!r} layers "
            f"(imgenlib's conditional networks have both). Received layers: {names}"
        )
    return network


def label_embeddings(model) -> np.ndarray:
    """The learned label-embedding table of a conditional GAN or VAE.

    Returns:
        float32 array (num_classes, embed_dim): row k is the vector class k is turned into.

    Raises:
        ValueError: an unconditional model, or networks without a ``label_embedding`` layer.
    """
    network = _conditional_network(model)
    return np.asarray(network.get_layer(LABEL_EMBEDDING).embeddings, dtype=np.float32)


def _tail(model):
    """A Keras model from the ``[z, embedding]`` concatenation to the images, cached on `model`."""
    cached = getattr(model, "_embedding_tail", None)
    if cached is not None:
        return cached
    import keras
    import tensorflow as tf

    network = _conditional_network(model)
    tail = keras.Model(network.get_layer(LATENT_AND_LABEL).output, network.output)
    width = model.latent_dim + label_embeddings(model).shape[1]

    @tf.function(input_signature=[tf.TensorSpec([None, width], tf.float32)])
    def function(x):
        return model.outputs_to_images(tail(x, training=False))  # a VAE decoder outputs logits

    model._embedding_tail = function
    return function


def generate_from_embedding(model, z, embeddings, *, batch_size: int = 256) -> np.ndarray:
    """Generate images from latents `z` and label-embedding vectors (instead of labels).

    ``generate_from_embedding(model, z, label_embeddings(model)[labels])`` equals
    ``model.generate(z=z, labels=labels)``; other vectors (mixtures of rows) give images
    "between" classes.

    Args:
        model: a class-conditional GAN or VAE.
        z: latents (n, latent_dim) or one latent (latent_dim,) used for every embedding.
        embeddings: (n, embed_dim), or one vector (embed_dim,) used for every latent.
        batch_size: images per forward pass.

    Returns:
        float32 images (n, H, W, C) in [-1, 1].

    Raises:
        ValueError: unconditional model, wrong sizes, or counts that do not match.
    """
    embed_dim = label_embeddings(model).shape[1]
    z = check_latents("z", z, model.latent_dim)
    embeddings = check_latents("embeddings", embeddings)
    if embeddings.shape[1] != embed_dim:
        raise ValueError(
            f"embeddings must have shape (n, embed_dim={embed_dim}). Received: embeddings.shape={embeddings.shape}"
        )
    n = max(len(z), len(embeddings))
    if len(z) not in (1, n) or len(embeddings) not in (1, n):
        raise ValueError(
            f"z and embeddings must have the same number of rows (or one of them one row). "
            f"Received: {len(z)} and {len(embeddings)}"
        )
    x = np.concatenate(
        [np.broadcast_to(z, (n, z.shape[1])), np.broadcast_to(embeddings, (n, embed_dim))], axis=1
    ).astype(np.float32)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    function = _tail(model)
    images = [function(x[i : i + batch_size]).numpy() for i in range(0, n, batch_size)]
    return np.concatenate(images).astype(np.float32, copy=False)


def class_morph(model, z, class_a: int, class_b: int, steps: int = 8) -> np.ndarray:
    """Images of one latent `z` while its label embedding moves from class a to class b.

    The embedding goes linearly from ``E[class_a]`` to ``E[class_b]`` in `steps` equal
    steps (endpoints included); z stays fixed, so what z encodes ("style": pose, thickness,
    brightness) is kept while the class changes.

    Args:
        model: a class-conditional GAN or VAE.
        z: one latent (latent_dim,).
        class_a, class_b: classes in [0, num_classes).
        steps: number of images, >= 2.

    Returns:
        float32 images (steps, H, W, C) in [-1, 1]; the first equals
        ``model.generate(z=z, labels=class_a)`` and the last ``labels=class_b``.

    Raises:
        ValueError: unconditional model, classes out of range, steps < 2.
    """
    from imgenlib.latent import lerp

    table = label_embeddings(model)
    top = len(table) - 1
    class_a = check_int("class_a", class_a, minimum=0, maximum=top)
    class_b = check_int("class_b", class_b, minimum=0, maximum=top)
    path = lerp(table[class_a], table[class_b], steps)
    return generate_from_embedding(model, check_vector("z", z, model.latent_dim), path)
