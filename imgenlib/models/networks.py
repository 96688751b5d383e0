"""The networks of every model family: GAN generator and discriminator, VAE encoder and decoder.

Each builder returns a functional `keras.Model` made of the blocks in
`imgenlib.models.blocks` (DCGAN shapes chosen by image size). A conditional network takes
``[x, labels]`` and turns the labels into a learned vector with the one label embedding of
`imgenlib.models.conditions.label_input_and_embedding` (layer ``label_embedding``), except the
projection discriminator, whose class embedding is its own (``class_projection``).
The text-conditional networks (`build_text_generator`, `build_text_discriminator`) take a
caption's pooled text vector instead of labels (``[z, text]`` and ``[images, text]``).
`width_multiplier` scales every layer's filter count (0.25 for quick experiments).
"""

from __future__ import annotations

import keras

from imgenlib._validation import check_choice, check_int, check_positive_int
from imgenlib.models.blocks import check_image_shape, down_stack, up_stack
from imgenlib.models.conditions import LATENT_AND_LABEL, label_input_and_embedding
from imgenlib.models.renames import renamed_keywords

__all__ = [
    "PROJECTIONS",
    "build_decoder",
    "build_discriminator",
    "build_encoder",
    "build_generator",
    "build_text_discriminator",
    "build_text_generator",
]

PROJECTIONS = ("pooled", "flatten")


def _latent_input(latent_dim, num_classes):
    """``z`` (and labels): the inputs, and z joined with the label vector when conditional."""
    latent_dim = check_positive_int("latent_dim", latent_dim)
    z = keras.Input((latent_dim,), name="z")
    if num_classes is None:
        return z, z
    labels, embedded = label_input_and_embedding(num_classes)
    return [z, labels], keras.layers.Concatenate(name=LATENT_AND_LABEL)([z, embedded])


@renamed_keywords(width="width_multiplier")
def build_generator(
    image_shape,
    latent_dim: int,
    *,
    width_multiplier: float = 1.0,
    num_classes: int | None = None,
    name="generator",
):
    """Build a DCGAN generator: z (and a class label) → image in [-1, 1] via tanh.

    Args:
        image_shape: (H, W, C) with H = W in 16, 28, 32, 64 and C in 1, 3.
        latent_dim: size of z.
        width_multiplier: multiplies every layer's filter count (0.25 for quick experiments).
        num_classes: if given, the model takes ``[z, labels]`` and concatenates a learned
            label embedding to z (Mirza & Osindero 2014, https://arxiv.org/abs/1411.1784).

    Returns:
        A functional `keras.Model`.
    """
    inputs, x = _latent_input(latent_dim, num_classes)
    x = up_stack(x, image_shape, width_multiplier=width_multiplier, name="g")
    images = keras.layers.Activation("tanh", name="tanh")(x)
    return keras.Model(inputs, images, name=name)


@renamed_keywords(width="width_multiplier")
def build_discriminator(
    image_shape,
    *,
    width_multiplier: float = 1.0,
    batch_norm: bool = True,
    norm: str | None = None,
    spectral_norm: bool = False,
    dropout: float = 0.0,
    num_classes: int | None = None,
    projection: str = "flatten",
    name="discriminator",
):
    """Build a DCGAN discriminator: image (and a class label) → one logit (no sigmoid).

    The output is a *logit*; the losses apply the sigmoid inside a stable formula.

    Args:
        image_shape: (H, W, C) as for `build_generator`.
        width_multiplier: filter multiplier.
        batch_norm: BatchNorm after every conv but the first. Turn off for WGAN-GP.
        norm: the normalisation after every conv but the first, one of
            `imgenlib.models.blocks.NORMS` (``"batch"``, ``"group"``, ``"layer"``,
            ``"none"``); None follows `batch_norm`. A private (DP-SGD) discriminator
            needs one that does not mix examples: ``"group"``, ``"layer"`` or ``"none"``.
        spectral_norm: wrap convs and the output in spectral normalisation
            (Miyato et al. 2018, https://arxiv.org/abs/1802.05957), which bounds D's
            Lipschitz constant and steadies training.
        dropout: dropout rate after each block.
        num_classes: if given, a *projection discriminator* (Miyato & Koyama 2018,
            https://arxiv.org/abs/1802.05637): ``logit = w·h + embed(y)·h``. We chose
            projection over concatenating a one-hot label to the image because it matches
            the form of the optimal conditional discriminator (a log density ratio), needs
            no label-sized input channels, and is what SNGAN/BigGAN use.
        projection: the features h of a conditional discriminator. ``"flatten"`` (the
            default): the flattened last feature map, with an unnormalised class
            embedding of that size. ``"pooled"`` (SNGAN/BigGAN): the global sum over
            positions of the map, with the class embedding spectrally normalised when
            `spectral_norm` is on (`normalized_class_embedding`). The papers'
            discriminators are deep ResNets; ours has two (28×28) to four (64×64) conv
            blocks, and pooling their output discards where features are. Measured by
            ``python benchmarks/projection.py`` (Fashion-MNIST cGAN, width 0.25, latent 64,
            EMA 0.99, 1,000 steps of batch 64, 2,000 samples, one seed; FID / share of
            samples the shipped classifier puts in the requested class): flatten 7.7 / 0.71,
            flatten + SN 7.8 / 0.77, flatten + SN + normalised embedding 8.8 / 0.68,
            pooled 43.8 / 0.10, pooled + SN + normalised embedding 23.6 / 0.11 — pooled
            never learned the classes (0.10 is chance), so flatten stays the default. An
            unconditional discriminator always uses the flattened map (DCGAN).

    Returns:
        A functional `keras.Model` taking images (or ``[images, labels]``).
    """
    check_image_shape(image_shape)
    projection = check_choice("projection", projection, PROJECTIONS)
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, minimum=2)
    pooled = num_classes is not None and projection == "pooled"
    images = keras.Input(tuple(image_shape), name="images")
    features = down_stack(
        images,
        image_shape,
        width_multiplier=width_multiplier,
        batch_norm=batch_norm,
        norm=norm,
        spectral_norm=spectral_norm,
        dropout=dropout,
        features="sum" if pooled else "flatten",
        name="d",
    )
    dense = keras.layers.Dense(1, name="logit")
    logit = (
        keras.layers.SpectralNormalization(dense, name="logit_sn") if spectral_norm else dense
    )(features)
    if num_classes is None:
        return keras.Model(images, logit, name=name)
    labels = keras.Input((), dtype="int32", name="labels")
    if pooled and spectral_norm:
        embedded = normalized_class_embedding(labels, num_classes, features.shape[-1])
    else:
        embedded = keras.layers.Embedding(num_classes, features.shape[-1], name="class_projection")(
            labels
        )
    projected = keras.layers.Dot(axes=1, name="projection")([embedded, features])
    logit = keras.layers.Add(name="logit_plus_projection")([logit, projected])
    return keras.Model([images, labels], logit, name=name)


def normalized_class_embedding(labels, num_classes: int, size: int):
    """A spectrally normalised class embedding: ``one_hot(labels) @ (W / σ(W))``.

    The same matrix W (num_classes × size) as an ``Embedding``, looked up through a one-hot
    product so that Keras' `SpectralNormalization` can wrap it: wrapped around an
    ``Embedding`` it casts the output to the labels' integer dtype (Keras 3.15), which
    truncates the vectors and stops every gradient.
    """
    one_hot = keras.layers.CategoryEncoding(num_classes, output_mode="one_hot", name="class_onehot")
    dense = keras.layers.Dense(size, use_bias=False, name="class_projection")
    return keras.layers.SpectralNormalization(dense, name="class_projection_sn")(one_hot(labels))


@renamed_keywords(width="width_multiplier")
def build_encoder(
    image_shape,
    latent_dim: int,
    *,
    width_multiplier: float = 1.0,
    batch_norm: bool = False,
    norm: str | None = None,
    num_classes: int | None = None,
    name: str = "encoder",
):
    """Build a conv encoder: images (and labels) → ``(z_mean, z_log_var)``.

    Strided convolutions halve the image size block by block (`imgenlib.models.blocks`),
    then two linear heads give the mean and log-variance of q(z | x).

    Args:
        image_shape: (H, W, C) with H = W in 16, 28, 32, 64 and C in 1, 3.
        latent_dim: size of z.
        width_multiplier: filter multiplier.
        batch_norm: BatchNorm after every conv but the first. Off by default: it makes
            an image's code depend on the rest of its batch, and the gap between batch
            statistics (training) and moving averages (inference) cost ~50 nats of test
            -ELBO on Fashion-MNIST after a minute of training.
        norm: one of `imgenlib.models.blocks.NORMS`, overriding `batch_norm` (None
            follows it); ``"group"`` or ``"layer"`` normalise each image on its own.
        num_classes: if given, the model takes ``[images, labels]`` and a learned label
            embedding joins the conv features before the heads.

    Returns:
        A functional `keras.Model` with two outputs of shape (batch, latent_dim).
    """
    image_shape = check_image_shape(image_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    images = keras.Input(image_shape, name="images")
    inputs = images
    features = down_stack(
        images,
        image_shape,
        width_multiplier=width_multiplier,
        batch_norm=batch_norm,
        norm=norm,
        name="enc",
    )
    if num_classes is not None:
        labels, embedded = label_input_and_embedding(num_classes)
        features = keras.layers.Concatenate(name="features_and_label")([features, embedded])
        inputs = [images, labels]
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(features)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(features)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


@renamed_keywords(width="width_multiplier")
def build_decoder(
    image_shape,
    latent_dim: int,
    *,
    width_multiplier: float = 1.0,
    batch_norm: bool = False,
    norm: str | None = None,
    num_classes: int | None = None,
    name: str = "decoder",
):
    """Build a decoder: z (and labels) → per-pixel logits h (Dense → reshape → Conv2DTranspose).

    The mean image in [-1, 1] is tanh(h / 2) = 2·sigmoid(h) − 1 (`imgenlib.models.vae`).

    Args:
        image_shape: (H, W, C) as for `build_encoder`.
        latent_dim: size of z.
        width_multiplier: filter multiplier.
        batch_norm: BatchNorm in the up-sampling blocks (off by default, as for the encoder).
        norm: one of `imgenlib.models.blocks.NORMS`, overriding `batch_norm` (None follows it).
        num_classes: if given, the model takes ``[z, labels]`` and concatenates a learned
            label embedding to z.

    Returns:
        A functional `keras.Model` with output shape (batch, H, W, C).
    """
    inputs, x = _latent_input(latent_dim, num_classes)
    logits = up_stack(
        x,
        image_shape,
        width_multiplier=width_multiplier,
        batch_norm=batch_norm,
        norm=norm,
        name="dec",
    )
    return keras.Model(inputs, logits, name=name)


TEXT_INPUT = "text"


def build_text_generator(
    image_shape,
    latent_dim: int,
    text_dim: int,
    *,
    condition_dim: int = 32,
    width_multiplier: float = 1.0,
    name: str = "generator",
):
    """Build a text-conditional DCGAN generator: ``[z, text vector]`` → image in [-1, 1].

    The text vector (a `imgenlib.text.TextEncoder`'s pooled output) is projected to
    `condition_dim` by a Dense layer with LeakyReLU (``text_projection``) and concatenated
    with z, as in GAN-CLS (Reed et al. 2016, https://arxiv.org/abs/1605.05396), without
    their conditioning augmentation (no noise is added to the projection).

    Args:
        image_shape: (H, W, C) with H = W in 16, 28, 32, 64 and C in 1, 3.
        latent_dim: size of z.
        text_dim: size of the text vector.
        condition_dim: size of the projected text vector.
        width_multiplier: multiplies every layer's filter count.
    """
    z = keras.Input((check_positive_int("latent_dim", latent_dim),), name="z")
    text = keras.Input((check_positive_int("text_dim", text_dim),), name=TEXT_INPUT)
    condition = keras.layers.Dense(
        check_positive_int("condition_dim", condition_dim), name="text_projection"
    )(text)
    condition = keras.layers.LeakyReLU(0.2, name="text_projection_act")(condition)
    x = keras.layers.Concatenate(name="z_and_text")([z, condition])
    x = up_stack(x, image_shape, width_multiplier=width_multiplier, name="g")
    images = keras.layers.Activation("tanh", name="tanh")(x)
    return keras.Model([z, text], images, name=name)


def build_text_discriminator(
    image_shape,
    text_dim: int,
    *,
    width_multiplier: float = 1.0,
    norm: str = "batch",
    spectral_norm: bool = False,
    dropout: float = 0.0,
    name: str = "discriminator",
):
    """Build a text-conditional projection discriminator: ``[images, text vector]`` → logit.

    ``logit = w·h + b + (P t)·h``: the flattened conv features h (`down_stack`) scored by a
    Dense unit, plus their inner product with a linear projection P of the text vector t
    (``text_projection``), the projection discriminator of Miyato & Koyama 2018
    (https://arxiv.org/abs/1802.05637) with a caption's vector in place of a class
    embedding. The flattened map (not a pooled one) keeps where things are, which
    captions name ("in the top left"); see `build_discriminator` for the measurement.

    Args:
        image_shape: (H, W, C) as for `build_text_generator`.
        text_dim: size of the text vector.
        width_multiplier, norm, spectral_norm, dropout: as for `build_discriminator`.
    """
    check_image_shape(image_shape)
    images = keras.Input(tuple(image_shape), name="images")
    text = keras.Input((check_positive_int("text_dim", text_dim),), name=TEXT_INPUT)
    features = down_stack(
        images,
        image_shape,
        width_multiplier=width_multiplier,
        norm=norm,
        spectral_norm=spectral_norm,
        dropout=dropout,
        name="d",
    )
    dense = keras.layers.Dense(1, name="logit")
    if spectral_norm:
        dense = keras.layers.SpectralNormalization(dense, name="logit_sn")
    logit = dense(features)
    projected = keras.layers.Dense(features.shape[-1], use_bias=False, name="text_projection")(text)
    matched = keras.layers.Dot(axes=1, name="projection")([projected, features])
    logit = keras.layers.Add(name="logit_plus_projection")([logit, matched])
    return keras.Model([images, text], logit, name=name)
