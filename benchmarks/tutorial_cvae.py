"""The TensorFlow CVAE tutorial's recipe, for `time_to_quality.py --family vae`.

https://www.tensorflow.org/tutorials/generative/cvae as published: its encoder (two stride-2
3×3 convolutions, 32 and 64 filters, ReLU, then a Dense layer giving mean and log-variance)
and decoder (Dense to 7×7×32, two stride-2 transposed convolutions with 64 and 32 filters,
a 3×3 transposed convolution to one channel of Bernoulli logits), ``latent_dim = 2``, Adam
1e-4, batch 32, and its single-sample Monte Carlo ELBO (``compute_loss``: sigmoid
cross-entropy, ``log_normal_pdf`` of z under the prior and the posterior) in an
``@tf.function train_step``. Samples are the decoder's Bernoulli means (``sigmoid(logits)``),
as the tutorial's ``sample`` draws them.

Two changes for other data, both stated with the results: the tutorial binarises MNIST
(``np.where(images > .5, 1.0, 0.0)``); here the targets are the dataset's grey (or colour)
values in [0, 1], which its cross-entropy accepts, because FID compares the samples with the
real, not binarised, test images. At 64×64×3 the decoder starts from 16×16×32 and ends in
three channels (the encoder is unchanged: its Flatten adapts).
"""

from __future__ import annotations

import numpy as np

LATENT_DIM = 2  # the tutorial's: "a plane for visualization later"
BATCH_SIZE = 32
LEARNING_RATE = 1e-4


def tutorial_cvae(image_shape=(28, 28, 1), latent_dim: int = LATENT_DIM):
    """``(encoder, decoder)``: the tutorial's two `keras.Sequential` networks for `image_shape`."""
    import keras

    height, width, channels = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"image_shape must have sides divisible by 4. Received: {image_shape}")
    encoder = keras.Sequential(
        [
            keras.layers.InputLayer(shape=tuple(image_shape)),
            keras.layers.Conv2D(32, 3, strides=(2, 2), activation="relu"),
            keras.layers.Conv2D(64, 3, strides=(2, 2), activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(latent_dim + latent_dim),  # no activation
        ]
    )
    decoder = keras.Sequential(
        [
            keras.layers.InputLayer(shape=(latent_dim,)),
            keras.layers.Dense(units=height // 4 * width // 4 * 32, activation="relu"),
            keras.layers.Reshape(target_shape=(height // 4, width // 4, 32)),
            keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2DTranspose(channels, 3, strides=1, padding="same"),  # logits
        ]
    )
    return encoder, decoder


def log_normal_pdf(sample, mean, logvar, raxis=1):
    """The tutorial's diagonal Gaussian log-density, summed over `raxis`."""
    import tensorflow as tf

    log2pi = tf.math.log(2.0 * np.pi)
    return tf.reduce_sum(-0.5 * ((sample - mean) ** 2.0 * tf.exp(-logvar) + logvar + log2pi), axis=raxis)  # fmt: skip


def tutorial_vae_step(image_shape=(28, 28, 1), latent_dim: int = LATENT_DIM):
    """``(train_step, decoder, compute_loss)``: the tutorial's step on images in [0, 1]."""
    import keras
    import tensorflow as tf

    encoder, decoder = tutorial_cvae(image_shape, latent_dim)
    optimizer = keras.optimizers.Adam(LEARNING_RATE)

    def compute_loss(x):
        mean, logvar = tf.split(encoder(x), num_or_size_splits=2, axis=1)
        eps = tf.random.normal(shape=tf.shape(mean))
        z = eps * tf.exp(logvar * 0.5) + mean
        x_logit = decoder(z)
        cross_ent = tf.nn.sigmoid_cross_entropy_with_logits(logits=x_logit, labels=x)
        logpx_z = -tf.reduce_sum(cross_ent, axis=[1, 2, 3])
        logpz = log_normal_pdf(z, 0.0, 0.0)
        logqz_x = log_normal_pdf(z, mean, logvar)
        return -tf.reduce_mean(logpx_z + logpz - logqz_x)

    variables = encoder.trainable_variables + decoder.trainable_variables

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = compute_loss(x)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    return train_step, decoder, compute_loss


def sample_images(decoder, n: int, seed: int = 0, batch: int = 500) -> np.ndarray:
    """`n` samples in [-1, 1]: z ~ N(0, I) from `seed`, the decoder's Bernoulli means."""
    import tensorflow as tf

    latent_dim = decoder.input_shape[-1]
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")
    means = [tf.sigmoid(decoder(z[i : i + batch], training=False)).numpy() for i in range(0, n, batch)]  # fmt: skip
    return np.concatenate(means) * 2.0 - 1.0
