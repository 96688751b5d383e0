"""The keras.io DDIM example's recipe, for `time_to_quality.py --family diffusion`.

https://keras.io/examples/generative/ddim/ (András Béres, 2022) trains a continuous-time
diffusion model on 64×64 flowers. Written here from its description and published settings,
not imgenlib's diffusion code, so the benchmark compares two independent recipes:

- **schedule:** diffusion time t ∈ [0, 1] maps to an angle between arccos(0.95) and
  arccos(0.02); signal rate = cos(angle), noise rate = sin(angle) (their squares sum to 1);
- **network:** a residual U-Net, widths 32-64-96-128, two residual blocks per level
  (BatchNormalization without centre or scale → 3×3 conv with swish → 3×3 conv, plus a 1×1
  projection of the input where widths differ), average pooling down, bilinear upsampling
  up with skip concatenations, no attention; the noise *variance* enters once, as a 32-wide
  sinusoidal embedding (frequencies log-spaced from 1 to 1,000) tiled over the image and
  concatenated to a 1×1 stem; the last 1×1 convolution starts at zero;
- **training:** images normalised to zero mean and unit variance (the dataset's statistics),
  uniform t per image, the network predicts the noise with a **mean absolute error** loss,
  AdamW (learning rate 1e-3, weight decay 1e-4), batch 64, an EMA copy (0.999) of every
  weight (batch-norm statistics included) for sampling;
- **sampling:** deterministic DDIM (η = 0) from t = 1 down in equal steps, the last
  predicted image denormalised and clipped to [0, 1]; the example plots with 20 steps.

Scaled to 28×28×1 data: images are padded with their background value (−1, black) to 32×32
so that three halvings divide them, and samples are cropped back to the centre 28×28.
"""

from __future__ import annotations

import math

import numpy as np

MIN_SIGNAL_RATE, MAX_SIGNAL_RATE = 0.02, 0.95
EMBEDDING_DIMS, EMBEDDING_MAX_FREQUENCY = 32, 1000.0
WIDTHS, BLOCK_DEPTH = (32, 64, 96, 128), 2
BATCH_SIZE, EMA, LEARNING_RATE, WEIGHT_DECAY = 64, 0.999, 1e-3, 1e-4
SAMPLING_STEPS = 20  # the example's plot_diffusion_steps


def rates(diffusion_times):
    """``(noise_rates, signal_rates)`` at diffusion times in [0, 1]."""
    import tensorflow as tf

    first, last = math.acos(MAX_SIGNAL_RATE), math.acos(MIN_SIGNAL_RATE)
    angles = first + tf.convert_to_tensor(diffusion_times, tf.float32) * (last - first)
    return tf.sin(angles), tf.cos(angles)


def padded_size(side: int, levels: int = len(WIDTHS) - 1) -> int:
    """The smallest size ≥ `side` that `levels` halvings divide."""
    step = 2**levels
    return -(-side // step) * step


def recipe_unet(image_shape, widths=WIDTHS, block_depth=BLOCK_DEPTH):
    """The example's U-Net for (already padded) `image_shape`: ``[x, noise variance] → ε̂``."""
    import keras
    import tensorflow as tf
    from keras import layers

    height, width, channels = image_shape

    class NoiseEmbedding(layers.Layer):
        """Sinusoidal embedding of the noise variance (batch, 1, 1, 1) → (batch, 1, 1, dims)."""

        def call(self, variance):
            frequencies = tf.exp(
                tf.linspace(0.0, math.log(EMBEDDING_MAX_FREQUENCY), EMBEDDING_DIMS // 2)
            )
            angular = 2.0 * math.pi * frequencies * variance
            return tf.concat([tf.sin(angular), tf.cos(angular)], axis=-1)

    def residual_block(x, filters):
        shortcut = x if x.shape[-1] == filters else layers.Conv2D(filters, 1)(x)
        x = layers.BatchNormalization(center=False, scale=False)(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="swish")(x)
        x = layers.Conv2D(filters, 3, padding="same")(x)
        return layers.Add()([x, shortcut])

    images = keras.Input((height, width, channels))
    variance = keras.Input((1, 1, 1))
    embedding = layers.UpSampling2D(size=(height, width))(NoiseEmbedding()(variance))
    x = layers.Concatenate()([layers.Conv2D(widths[0], 1)(images), embedding])
    skips = []
    for filters in widths[:-1]:
        for _ in range(block_depth):
            x = residual_block(x, filters)
            skips.append(x)
        x = layers.AveragePooling2D(2)(x)
    for _ in range(block_depth):
        x = residual_block(x, widths[-1])
    for filters in reversed(widths[:-1]):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        for _ in range(block_depth):
            x = residual_block(layers.Concatenate()([x, skips.pop()]), filters)
    outputs = layers.Conv2D(channels, 1, kernel_initializer="zeros")(x)
    return keras.Model([images, variance], outputs, name="ddim_recipe_unet")


class DDIMRecipe:
    """The recipe's model and training step on images in [-1, 1] of `image_shape`.

    ``step(images)`` trains on one batch (in [-1, 1], unpadded) and returns the MAE noise
    loss; ``ema_network`` is what `sample` uses (and what snapshots copy).
    """

    def __init__(self, images: np.ndarray, *, widths=WIDTHS, block_depth=BLOCK_DEPTH):
        import keras
        import tensorflow as tf

        self.image_shape = tuple(images.shape[1:])
        height, width, channels = self.image_shape
        self.padded = (padded_size(height, len(widths) - 1), padded_size(width, len(widths) - 1))
        self.pad = ((self.padded[0] - height) // 2, (self.padded[1] - width) // 2)
        # the dataset's per-channel statistics, as the example's Normalization.adapt gives them
        unit = (self.pad_images(images) + 1.0) / 2.0  # [0, 1], as the example loads images
        self.mean = unit.mean(axis=(0, 1, 2)).astype("float32")
        self.std = unit.std(axis=(0, 1, 2)).astype("float32")
        shape = (*self.padded, channels)
        self.network = recipe_unet(shape, widths, block_depth)
        self.ema_network = recipe_unet(shape, widths, block_depth)
        self.ema_network.set_weights(self.network.get_weights())
        self.optimizer = keras.optimizers.AdamW(LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        self.step = tf.function(self._step)
        self._samplers = {}  # (steps, network) -> traced reverse chain, reused across snapshots

    def pad_images(self, images):
        """Unpadded images → `padded`, filled with −1 (the datasets' black background)."""
        (top, left), (height, width) = self.pad, self.image_shape[:2]
        if self.padded == (height, width):
            return np.asarray(images, np.float32)
        out = np.full((len(images), *self.padded, images.shape[-1]), -1.0, np.float32)
        out[:, top : top + height, left : left + width] = images
        return out

    def normalise(self, images):
        """[-1, 1] (padded) → zero mean, unit variance per channel."""
        return ((images + 1.0) / 2.0 - self.mean) / self.std

    def _step(self, images):
        import tensorflow as tf

        images = self.normalise(images)
        batch = tf.shape(images)[0]
        noises = tf.random.normal(tf.shape(images))
        noise_rates, signal_rates = rates(tf.random.uniform((batch, 1, 1, 1)))
        noisy = signal_rates * images + noise_rates * noises
        with tf.GradientTape() as tape:
            predicted = self.network([noisy, noise_rates**2], training=True)
            loss = tf.reduce_mean(tf.abs(noises - predicted))
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))  # fmt: skip
        for average, weight in zip(self.ema_network.weights, self.network.weights, strict=True):
            average.assign(EMA * average + (1.0 - EMA) * weight)
        return loss

    def train_on(self, images):
        """One step on a batch of unpadded images in [-1, 1]."""
        return self.step(self.pad_images(np.asarray(images)))

    def sample(
        self,
        n: int,
        seed: int = 0,
        steps: int = SAMPLING_STEPS,
        batch: int = 250,
        network: str = "ema",
    ):
        """`n` images in [-1, 1] (cropped to `image_shape`) by DDIM (η = 0).

        `network`: ``"ema"`` (the example's sampler) or ``"raw"`` (the trained weights
        themselves, to see how far the average lags behind them)."""
        import tensorflow as tf

        if network not in ("ema", "raw"):
            raise ValueError(f"network must be 'ema' or 'raw'. Received: network={network!r}")
        chosen = self.ema_network if network == "ema" else self.network
        channels = self.image_shape[-1]
        noise = np.random.default_rng(seed).standard_normal((n, *self.padded, channels))
        key = (steps, network)
        if key not in self._samplers:
            self._samplers[key] = tf.function(lambda x: self._reverse(x, steps, chosen))
        run = self._samplers[key]
        images = np.concatenate(
            [
                run(tf.constant(noise[i : i + batch], tf.float32)).numpy()
                for i in range(0, n, batch)
            ]  # fmt: skip
        )
        unit = np.clip(images * self.std + self.mean, 0.0, 1.0)
        (top, left), (height, width) = self.pad, self.image_shape[:2]
        return unit[:, top : top + height, left : left + width] * 2.0 - 1.0

    def _reverse(self, x, steps, network):
        import tensorflow as tf

        ones = tf.ones((tf.shape(x)[0], 1, 1, 1))
        predicted_images = x
        for step in range(steps):
            noise_rates, signal_rates = rates(ones * (1.0 - step / steps))
            predicted_noises = network([x, noise_rates**2], training=False)
            predicted_images = (x - noise_rates * predicted_noises) / signal_rates
            next_noise_rates, next_signal_rates = rates(ones * (1.0 - (step + 1) / steps))
            x = next_signal_rates * predicted_images + next_noise_rates * predicted_noises
        return predicted_images
