"""The GAN training step written out by hand, and what the step does to the EMA copy and BatchNorm."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib.data import make_dataset
from imgenlib.models import GANConfig, NoiseSalt, build_discriminator, build_gan

LR, BATCH, STEPS, D_STEPS, GP_WEIGHT = 0.01, 16, 3, 2, 10.0


def test_alternating_wgan_gp_step_with_two_critic_steps_equals_fit(tiny_data):
    """Three fit steps of the default (alternating) update, d_steps=2 and WGAN-GP, equal
    the algorithm written with plain GradientTapes and the model's noise salts.

    It also pins what G's BatchNorm moving statistics do (defect 6, kept on purpose, see
    `GAN`): they move in each of G's d_steps + 1 training-mode forward passes per step.
    """
    images = tiny_data[0][: BATCH * STEPS]
    keras.utils.set_random_seed(5)
    gan = build_gan(
        GANConfig.tiny(loss="wasserstein_gp", d_steps=D_STEPS, gp_weight=GP_WEIGHT),
        (28, 28, 1),
        seed=7,
    )
    gan.compile(g_optimizer=keras.optimizers.SGD(LR), d_optimizer=keras.optimizers.SGD(LR))
    generator = keras.models.clone_model(gan.generator)
    critic = keras.models.clone_model(gan.discriminator)
    generator.set_weights(gan.generator.get_weights())
    critic.set_weights(gan.discriminator.get_weights())

    def sgd(variables, grads):
        for variable, grad in zip(variables, grads, strict=True):
            variable.assign_sub(LR * grad)

    d_step = 0
    for step in range(STEPS):
        real = tf.constant(images[step * BATCH : (step + 1) * BATCH])
        for _ in range(D_STEPS):
            z = tf.random.stateless_normal(
                [BATCH, 8], gan.noise_seed(NoiseSalt.GAN_D_NOISE, d_step)
            )
            alpha = tf.random.stateless_uniform(
                [BATCH], gan.noise_seed(NoiseSalt.GAN_GP_ALPHA, d_step)
            )
            fake = generator(z, training=True)
            with tf.GradientTape() as tape:
                mixed = real + tf.reshape(alpha, [-1, 1, 1, 1]) * (fake - real)
                with tf.GradientTape() as inner:
                    inner.watch(mixed)
                    scores = critic(mixed, training=True)
                slopes = tf.sqrt(
                    tf.reduce_sum(inner.gradient(scores, mixed) ** 2, [1, 2, 3]) + 1e-12
                )
                penalty = (slopes - 1.0) ** 2
                wasserstein = critic(fake, training=True)[:, 0] - critic(real, training=True)[:, 0]
                d_loss = tf.reduce_mean(wasserstein + GP_WEIGHT * penalty)
            sgd(critic.trainable_variables, tape.gradient(d_loss, critic.trainable_variables))
            d_step += 1
        z = tf.random.stateless_normal([BATCH, 8], gan.noise_seed(NoiseSalt.GAN_G_NOISE, step))
        with tf.GradientTape() as tape:
            g_loss = -tf.reduce_mean(critic(generator(z, training=True), training=True))
        sgd(generator.trainable_variables, tape.gradient(g_loss, generator.trainable_variables))

    history = gan.fit(
        make_dataset(images, batch_size=BATCH, shuffle=False), epochs=1, verbose=0, shuffle=False
    )
    assert int(gan.d_optimizer.iterations) == STEPS * D_STEPS
    assert int(gan.g_optimizer.iterations) == STEPS
    for got, want in zip(gan.discriminator.weights, critic.weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    # all of G's weights, BatchNorm moving statistics included (updated in every forward pass)
    for got, want in zip(gan.generator.weights, generator.weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    assert np.isfinite(history.history["gp"][0])


def test_ema_generator_is_saved_but_not_trainable(tiny_data, tmp_path):
    gan = build_gan(GANConfig.tiny(ema_decay=0.9), (28, 28, 1))
    trainable = gan.generator.trainable_weights + gan.discriminator.trainable_weights
    assert {id(w) for w in gan.trainable_weights} == {id(w) for w in trainable}
    assert len(gan.trainable_weights) == len(trainable)
    assert gan.ema_generator.trainable_weights == []
    gan.fit(make_dataset(tiny_data[0], batch_size=16, shuffle=False).take(2), verbose=0)
    generator = gan.generator.weights
    moved = [
        not np.array_equal(e.numpy(), g.numpy())
        for e, g in zip(gan.ema_generator.weights, generator, strict=True)
        if g.trainable
    ]
    assert any(moved)  # averaged, not copied
    gan.save(tmp_path / "gan.keras")
    restored = keras.saving.load_model(tmp_path / "gan.keras")
    for got, want in zip(restored.ema_generator.weights, gan.ema_generator.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert len(restored.trainable_weights) == len(trainable)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_pooled_projection_follows_sngan(spectral_norm):
    """projection="pooled": logit = w·h + embed(y)·h with h the global sum of the last map;
    the embedding is spectrally normalised with the rest of D."""
    keras.utils.set_random_seed(0)
    d = build_discriminator(
        (16, 16, 1),
        width_multiplier=0.125,
        spectral_norm=spectral_norm,
        num_classes=3,
        projection="pooled",
    )
    names = [layer.name for layer in d.layers]
    assert "d_sum_pool" in names and "d_flatten" not in names
    assert ("class_projection_sn" in names) == spectral_norm
    channels = d.get_layer("d_act1").output.shape[-1]
    assert d.get_layer("projection").input[0].shape[-1] == channels
    images = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32)
    labels = np.array([0, 1, 2, 0], np.int32)
    feature_model = keras.Model(d.inputs, d.get_layer("d_act1").output)
    h = feature_model([images, labels]).numpy().sum(axis=(1, 2))
    logit_layer = d.get_layer("logit_sn" if spectral_norm else "logit")
    if spectral_norm:
        matrix = d.get_layer("class_projection_sn").layer.kernel.numpy()  # (classes, channels)
        embedded = matrix[labels]
    else:
        embedded = d.get_layer("class_projection")(labels).numpy()
    want = logit_layer(h).numpy()[:, 0] + np.sum(embedded * h, axis=1)
    np.testing.assert_allclose(d([images, labels]).numpy()[:, 0], want, rtol=1e-4, atol=1e-4)
    with tf.GradientTape() as tape:
        logits = d([images, labels], training=True)
    grads = tape.gradient(logits, d.trainable_variables)
    assert all(g is not None and np.any(tf.convert_to_tensor(g).numpy()) for g in grads)
    if spectral_norm:
        for _ in range(30):  # one power iteration per training call
            d([images, labels], training=True)
        kernel = d.get_layer("class_projection_sn").layer.kernel.numpy()
        sigma = np.linalg.svd(kernel, compute_uv=False)[0]
        assert sigma == pytest.approx(1.0, abs=0.02)


def test_flatten_projection_is_the_default_and_the_old_architecture():
    """The default keeps the layers (names, sizes) saved models and the zoo were built with."""
    keras.utils.set_random_seed(0)
    d = build_discriminator((16, 16, 1), width_multiplier=0.125, spectral_norm=True, num_classes=3)
    names = [layer.name for layer in d.layers]
    assert "d_flatten" in names and "d_sum_pool" not in names
    assert "class_projection" in names and "class_projection_sn" not in names
    flat = d.get_layer("d_flatten").output.shape[-1]
    assert d.get_layer("class_projection").output.shape[-1] == flat
    with pytest.raises(ValueError, match="Unknown projection 'mean'"):
        build_discriminator((16, 16, 1), num_classes=3, projection="mean")
    assert GANConfig().projection == "flatten"
    pooled = build_gan(GANConfig.tiny(projection="pooled"), (16, 16, 1), 3)
    assert "d_sum_pool" in [layer.name for layer in pooled.discriminator.layers]
