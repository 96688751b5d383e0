import dataclasses

import keras
import numpy as np
import pytest

from imgenlib.data import load_shapes, make_dataset
from imgenlib.losses import LOSSES
from imgenlib.models import (
    GAN,
    GANConfig,
    NoiseSalt,
    build_discriminator,
    build_gan,
    build_generator,
    load_model,
)


def one_batch(images, labels=None, batch_size=16):
    return make_dataset(images, labels, batch_size=batch_size, shuffle=False).take(1)


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("loss", LOSSES)
def test_one_step_fit_every_loss(tiny_data, loss, conditional):
    images, labels = tiny_data
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(loss=loss), (28, 28, 1), num_classes=4 if conditional else None)
    before = [w.copy() for w in gan.generator.get_weights()]
    history = gan.fit(
        one_batch(images, labels if conditional else None), epochs=1, verbose=0, shuffle=False
    )
    expected = {"d_loss", "g_loss", "d_real", "d_fake"} | (
        {"gp"} if loss == "wasserstein_gp" else set()
    )
    assert set(history.history) == expected
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert int(gan.g_optimizer.iterations) == 1 and int(gan.d_optimizer.iterations) == 1
    assert any(
        not np.array_equal(a, b) for a, b in zip(before, gan.generator.get_weights(), strict=True)
    )
    samples = gan.generate(5, seed=0, labels=[0, 1, 2, 3, 0] if conditional else None)
    assert samples.shape == (5, 28, 28, 1) and samples.dtype == np.float32
    assert -1 <= samples.min() and samples.max() <= 1


def test_d_steps_and_wgan_critic_has_no_batchnorm(tiny_data):
    gan = build_gan(GANConfig.tiny(loss="wasserstein_gp", d_steps=3), (28, 28, 1))
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in gan.discriminator.layers
    )
    gan.fit(one_batch(tiny_data[0]), epochs=1, verbose=0, shuffle=False)
    assert int(gan.d_optimizer.iterations) == 3 and int(gan.g_optimizer.iterations) == 1


def test_seed_dcgan_architecture():
    generator = build_generator((64, 64, 3), 100)
    discriminator = build_discriminator((64, 64, 3))
    assert generator.output_shape == (None, 64, 64, 3)
    deconvs = [
        layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)
    ]
    assert [layer.filters for layer in deconvs] == [256, 128, 64, 3]
    assert generator.get_layer("g_reshape").output.shape[1:] == (4, 4, 512)
    convs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [64, 128, 256, 512]
    assert discriminator.output_shape == (None, 1)
    assert discriminator.layers[-1].get_config().get("activation", "linear") == "linear"  # a logit
    small = [
        layer
        for layer in build_generator((32, 32, 3), 8).layers
        if isinstance(layer, keras.layers.Conv2DTranspose)
    ]
    assert len(small) == 3  # one block fewer
    mnist = build_generator((28, 28, 1), 8)
    assert mnist.get_layer("g_reshape").output.shape[1:3] == (7, 7)
    assert mnist.output_shape == (None, 28, 28, 1)


def test_options_spectral_norm_dropout_width(tiny_data):
    discriminator = build_discriminator(
        (28, 28, 1), spectral_norm=True, dropout=0.3, width_multiplier=0.5
    )
    assert (
        sum(isinstance(layer, keras.layers.SpectralNormalization) for layer in discriminator.layers)
        == 3
    )
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in discriminator.layers) == 2
    assert discriminator.get_layer("d_sn0").layer.filters == 32
    gan = build_gan(
        GANConfig.tiny(spectral_norm=True, dropout=0.2, augment="color,translation,cutout"),
        (28, 28, 1),
    )
    gan.fit(one_batch(tiny_data[0]), epochs=1, verbose=0, shuffle=False)


def test_keras_round_trip_same_samples_and_training_continues(tiny_data, tmp_path):
    images, labels = tiny_data
    keras.utils.set_random_seed(1)
    gan = build_gan(GANConfig.tiny(ema_decay=0.9, g_learning_rate=1e-3), (28, 28, 1), num_classes=4)
    dataset = one_batch(images, labels)
    gan.fit(dataset, epochs=2, verbose=0, shuffle=False)
    path = tmp_path / "gan.keras"
    gan.save(path)
    restored = load_model(path)
    assert isinstance(restored, GAN) and restored.num_classes == 4 and restored.ema_decay == 0.9
    z = gan.sample_latent(8, seed=3)
    np.testing.assert_array_equal(restored.generate(z=z, labels=1), gan.generate(z=z, labels=1))
    for a, b in zip(gan.g_optimizer.variables, restored.g_optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Both continue identically: weights, optimiser state and noise stream were restored.
    gan.fit(dataset, epochs=1, verbose=0, shuffle=False)
    restored.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert int(restored.g_optimizer.iterations) == 3
    for a, b in zip(gan.generator.get_weights(), restored.generator.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_same_seed_same_training(tiny_data):
    def run():
        keras.utils.set_random_seed(7)
        gan = build_gan(GANConfig.tiny(), (28, 28, 1), seed=7)
        gan.fit(one_batch(tiny_data[0]), epochs=2, verbose=0, shuffle=False)
        return gan.generator.get_weights()

    for a, b in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_ema_generator_is_used_for_sampling(tiny_data):
    gan = build_gan(GANConfig.tiny(ema_decay=0.5), (28, 28, 1))
    gan.fit(one_batch(tiny_data[0]), epochs=3, verbose=0, shuffle=False)
    z = gan.sample_latent(4, seed=0)
    ema_images = gan.generate(z=z)
    np.testing.assert_allclose(ema_images, gan.ema_generator(z, training=False).numpy(), atol=1e-6)
    assert not np.allclose(ema_images, gan.generator(z, training=False).numpy(), atol=1e-4)


def test_generate_seed_and_z_semantics():
    gan = build_gan(GANConfig.tiny(), (16, 16, 3))
    np.testing.assert_array_equal(gan.generate(6, seed=4), gan.generate(6, seed=4))
    assert not np.array_equal(gan.generate(6, seed=4), gan.generate(6, seed=5))
    z = gan.sample_latent(6, seed=4)
    np.testing.assert_array_equal(gan.generate(z=z), gan.generate(6, seed=4))
    assert gan.generate(600, seed=0, batch_size=256).shape == (600, 16, 16, 3)


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda g, c: g.generate(0), ValueError, "n must be a positive int. Received: n=0"),
        (lambda g, c: g.generate(), ValueError, "Give the number of images n"),
        (
            lambda g, c: g.generate(z=np.zeros((2, 5))),
            ValueError,
            r"z must have shape \(n, latent_dim=8\). Received: z.shape=\(2, 5\)",
        ),
        (lambda g, c: g.generate(2, z=np.zeros((3, 8))), ValueError, "not both"),
        (lambda g, c: g.generate(2, labels=1), ValueError, "unconditional; labels must be None"),
        (lambda g, c: c.generate(2), ValueError, "conditional: give labels"),
        (
            lambda g, c: c.generate(2, labels=4),
            ValueError,
            r"labels must be in \[0, 4\). Received: labels in \[4, 4\]",
        ),
        (lambda g, c: c.generate(2, labels=[0.5, 1.0]), TypeError, "labels must be integers"),
        (lambda g, c: c.generate(2, labels=[0, 1, 2]), ValueError, "array of 2 ints"),
        (lambda g, c: g.generate(2, seed=-1), ValueError, "seed must be an int >= 0"),
    ],
)
def test_generate_bad_input(call, error, pattern):
    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    cgan = build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=4)
    with pytest.raises(error, match=pattern):
        call(gan, cgan)


def test_construction_errors():
    g, d = build_generator((28, 28, 1), 8), build_discriminator((28, 28, 1))
    with pytest.raises(ValueError, match="Unknown loss 'wgan'"):
        GAN(g, d, latent_dim=8, loss="wgan")
    with pytest.raises(
        ValueError, match="latent_dim must match the generator's input size \\(8\\)"
    ):
        GAN(g, d, latent_dim=16)
    with pytest.raises(ValueError, match="both take labels"):
        GAN(g, d, latent_dim=8, num_classes=3)
    with pytest.raises(TypeError, match="generator must be a keras.Model"):
        GAN("g", d, latent_dim=8)
    with pytest.raises(ValueError, match=r"does not match discriminator input shape"):
        GAN(g, build_discriminator((32, 32, 3)), latent_dim=8)
    with pytest.raises(ValueError, match=r"Received: image_shape=\(30, 30, 1\)"):
        build_generator((30, 30, 1), 8)
    with pytest.raises(ValueError, match="ema_decay must be < 1"):
        GAN(g, d, latent_dim=8, ema_decay=1.0)
    with pytest.raises(TypeError, match="config must be a GANConfig"):
        build_gan({"loss": "hinge"}, (28, 28, 1))


def test_conditional_gan_needs_labelled_batches(tiny_data):
    cgan = build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=4)
    with pytest.raises(ValueError, match="needs \\(images, labels\\) batches"):
        cgan.fit(one_batch(tiny_data[0]), epochs=1, verbose=0)


def test_load_model_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "missing.keras")
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid .keras archive"):
        load_model(tmp_path / "bad.keras")
    with pytest.raises(ValueError, match="Expected a .keras file"):
        load_model(tmp_path / "model.h5")


def _colour_histogram(images):
    """Fraction of pixels nearest to black, each of the six shape colours, or none of them."""
    from imgenlib.data.shapes import COLOUR_RGB

    palette = np.array([[0, 0, 0], *COLOUR_RGB.values()], np.float32) / 127.5 - 1
    pixels = images.reshape(-1, 3)
    distances = np.linalg.norm(pixels[:, None, :] - palette[None], axis=-1)
    nearest = distances.argmin(axis=1)
    nearest[distances.min(axis=1) > 0.5] = len(palette)  # no palette colour nearby
    return np.bincount(nearest, minlength=len(palette) + 1) / len(pixels)


@pytest.mark.slow
def test_gan_learns_the_colours_of_shapes():
    """A small GAN trained for four epochs (128 steps) on `shapes` draws black backgrounds and
    palette colours. Total variation to the data's colour histogram, this seed: 0.97 untrained,
    0.50 after one epoch, 0.15 / 0.20 / 0.14 / 0.21 / 0.16 after three to seven."""
    data = load_shapes(2048, seed=0).images
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(
        GANConfig.tiny(latent_dim=32, width_multiplier=0.25),
        g_learning_rate=2e-3,
        d_learning_rate=2e-3,
    )
    gan = build_gan(config, (32, 32, 3))
    target = _colour_histogram(data[:512])
    before = 0.5 * np.abs(_colour_histogram(gan.generate(512, seed=1)) - target).sum()
    gan.fit(make_dataset(data, batch_size=64, seed=0), epochs=4, verbose=0, shuffle=False)
    after_hist = _colour_histogram(gan.generate(512, seed=1))
    after = 0.5 * np.abs(after_hist - target).sum()
    assert before > 0.8, f"untrained samples should match no colours ({before:.2f})"
    assert after < 0.3, (
        f"total variation to the data's colour histogram is {after:.2f} (was {before:.2f})"
    )
    assert after_hist[0] > 0.5  # mostly black background, like the data


def test_simultaneous_update_is_the_tutorial_step(tiny_data):
    """One fit step equals the TF DCGAN tutorial's step written out by hand (SGD, BCE)."""
    import tensorflow as tf

    images = tiny_data[0][:16]
    keras.utils.set_random_seed(3)
    gan = build_gan(GANConfig.tiny(update="simultaneous"), (28, 28, 1))
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1))
    generator = keras.models.clone_model(gan.generator)
    discriminator = keras.models.clone_model(gan.discriminator)
    generator.set_weights(gan.generator.get_weights())
    discriminator.set_weights(gan.discriminator.get_weights())
    z = tf.random.stateless_normal(
        [16, 8], gan.noise_seed(NoiseSalt.GAN_D_NOISE, tf.constant(0, tf.int64))
    )
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
        fakes = generator(z, training=True)
        real, fake = discriminator(images, training=True), discriminator(fakes, training=True)
        g_loss = bce(tf.ones_like(fake), fake)
        d_loss = bce(tf.ones_like(real), real) + bce(tf.zeros_like(fake), fake)
    g_grads = g_tape.gradient(g_loss, generator.trainable_variables)
    d_grads = d_tape.gradient(d_loss, discriminator.trainable_variables)
    expected_g = [
        v.numpy() - 0.1 * g.numpy()
        for v, g in zip(generator.trainable_variables, g_grads, strict=True)
    ]
    expected_d = [v.numpy() - 0.1 * g.numpy() for v, g in zip(discriminator.trainable_variables, d_grads, strict=True)]  # fmt: skip

    history = gan.fit(one_batch(images), epochs=1, verbose=0, shuffle=False)
    for got, want in zip(gan.generator.trainable_variables, expected_g, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    for got, want in zip(gan.discriminator.trainable_variables, expected_d, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    np.testing.assert_allclose(history.history["g_loss"][0], float(g_loss), rtol=1e-5)
    np.testing.assert_allclose(history.history["d_loss"][0], float(d_loss), rtol=1e-5)
    assert GAN.from_config(gan.get_config()).update == "simultaneous"


def test_update_option_errors():
    g, d = build_generator((28, 28, 1), 8), build_discriminator((28, 28, 1))
    with pytest.raises(ValueError, match="Unknown update 'both'"):
        GAN(g, d, latent_dim=8, update="both")
    with pytest.raises(ValueError, match="Received: d_steps=2"):
        GAN(g, d, latent_dim=8, update="simultaneous", d_steps=2)
