"""Private training of the models (``dp=DPConfig``) and the BatchNorm-free networks.

The per-example convolution gradients fall back to a slow loop: tiny 16x16 models and
batches of 4 only, one traced train step per test.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib import losses as gan_losses
from imgenlib.distribute import stateless_normal
from imgenlib.models import (
    GAN,
    VAE,
    GANConfig,
    NoiseSalt,
    VAEConfig,
    build_discriminator,
    build_gan,
    build_generator,
    build_vae,
    kl_divergence,
    load_model,
    reconstruction_nll,
)
from imgenlib.models.blocks import NORMS, norm_layer
from imgenlib.models.private import dp_noise_seed, drawn_labels
from imgenlib.privacy import DPConfig

SHAPE = (16, 16, 1)
BATCH = 4


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(-1, 1, (BATCH, *SHAPE)).astype(np.float32)


def dp_config(**overrides):
    settings = {"clip_norm": 1.0, "noise_multiplier": 1.0, "expected_batch_size": BATCH}
    return DPConfig(**{**settings, **overrides})


def weights(model):
    return [np.array(w) for w in model.weights]


def trainable(model):
    return [np.array(w) for w in model.trainable_variables]


def assert_same_weights(a, b, rtol=1e-5, atol=1e-6):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# --- networks without BatchNorm ---------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
def test_norm_option_chooses_the_normalisation_layers(norm):
    expected = {
        "batch": keras.layers.BatchNormalization,
        "group": keras.layers.GroupNormalization,
        "layer": keras.layers.GroupNormalization,
        "none": type(None),
    }[norm]
    for network in (
        build_discriminator(SHAPE, width_multiplier=0.125, norm=norm),
        build_generator(SHAPE, 8, width_multiplier=0.125),  # G keeps BatchNorm
    ):
        kinds = {type(layer) for layer in network.layers if "norm" in type(layer).__name__.lower()}
        if network.name == "generator":
            assert kinds == {keras.layers.BatchNormalization}
        else:
            assert kinds == ({expected} if norm != "none" else set())
    decoder = build_vae(VAEConfig.tiny(norm=norm), SHAPE).decoder
    found = [layer for layer in decoder.layers if "norm" in type(layer).__name__.lower()]
    assert len(found) == (0 if norm == "none" else 2)  # the dense grid and one deconv
    assert all(isinstance(layer, expected) for layer in found)
    if norm == "layer":
        assert {layer.groups for layer in found} == {1}


def test_default_networks_are_unchanged_and_group_sizes_follow_the_rule():
    names = [layer.name for layer in build_discriminator(SHAPE, width_multiplier=0.125).layers]
    assert "d_bn1" in names  # the old layer names: saved weights still load
    assert [norm_layer("group", c, "g").groups for c in (4, 8, 12, 64, 128, 256)] == [
        1, 2, 2, 16, 32, 32,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="norm 'batchnorm'"):
        build_discriminator(SHAPE, norm="batchnorm")


# --- DPConfig ---------------------------------------------------------------------------


def test_dp_config_validates_and_round_trips_through_a_dict():
    dp = dp_config(seed=3, microbatches=2)
    assert DPConfig.from_dict(dp.to_dict()) == dp
    assert DPConfig.from_dict(None) is None
    assert dp.denominator == 2 and dp_config().denominator == BATCH
    assert dp.sampling_rate(400) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="clip_norm=0"):
        dp_config(clip_norm=0)
    with pytest.raises(ValueError, match="noise_multiplier=-1"):
        dp_config(noise_multiplier=-1)
    with pytest.raises(ValueError, match=r"unknown settings \['sigma'\]"):
        DPConfig.from_dict({**dp.to_dict(), "sigma": 1.0})
    with pytest.raises(ValueError, match="dataset_size=3"):
        dp.sampling_rate(3)


# --- refusals ---------------------------------------------------------------------------


def test_private_networks_refuse_batch_norm_naming_the_value():
    dp = dp_config()
    with pytest.raises(
        ValueError, match=r"d_norm=None \(d_batch_norm=None, loss='non_saturating'\)"
    ):
        build_gan(GANConfig.tiny(dp=dp), SHAPE)
    with pytest.raises(ValueError, match="d_norm='batch'"):
        build_gan(GANConfig.tiny(d_norm="batch", dp=dp), SHAPE)
    with pytest.raises(ValueError, match="norm='batch'"):
        build_vae(VAEConfig.tiny(norm="batch", dp=dp), SHAPE)
    with pytest.raises(ValueError, match=r"norm=None \(batch_norm=True\)"):
        build_vae(VAEConfig.tiny(batch_norm=True, dp=dp), SHAPE)
    with pytest.raises(ValueError, match="dropout=0.3"):
        build_gan(GANConfig.tiny(d_norm="group", dropout=0.3, dp=dp), SHAPE)
    generator = build_generator(SHAPE, 8, width_multiplier=0.125)
    bn_discriminator = build_discriminator(SHAPE, width_multiplier=0.125)
    with pytest.raises(ValueError, match="BatchNormalization layer 'd_bn1'"):
        GAN(generator, bn_discriminator, latent_dim=8, dp=dp)
    discriminator = build_discriminator(SHAPE, width_multiplier=0.125, norm="group")
    with pytest.raises(ValueError, match="d_steps=2"):
        GAN(generator, discriminator, latent_dim=8, d_steps=2, dp=dp)
    assert GAN(generator, discriminator, latent_dim=8, dp=dp.to_dict()).dp == dp


# --- saving -----------------------------------------------------------------------------


def test_saved_private_gan_keeps_dp_and_norm_and_old_configs_load(tmp_path):
    dp = dp_config(seed=5)
    gan = build_gan(GANConfig.tiny(d_norm="group", dp=dp), SHAPE).build_for_training()
    gan.save(tmp_path / "gan.keras")
    restored = load_model(tmp_path / "gan.keras")
    assert restored.dp == dp
    assert [layer.name for layer in restored.discriminator.layers] == [
        layer.name for layer in gan.discriminator.layers
    ]
    assert any(
        isinstance(x, keras.layers.GroupNormalization) for x in restored.discriminator.layers
    )
    assert "grad_norm" in [m.name for m in restored.metrics]

    old = build_gan(GANConfig.tiny(), SHAPE).get_config()
    del old["dp"]  # saved before DP existed
    assert GAN.from_config(old).dp is None
    vae = build_vae(VAEConfig.tiny(norm="layer", dp=dp), SHAPE)
    assert VAE.from_config(vae.get_config()).dp == dp
    old = vae.get_config()  # a fresh one: deserialising consumes the networks' configs
    del old["dp"]
    assert VAE.from_config(old).dp is None


def test_dp_noise_is_keyed_on_the_step_and_the_dp_seed():
    vae = build_vae(VAEConfig.tiny(norm="group", dp=dp_config()), SHAPE)
    other = build_vae(VAEConfig.tiny(norm="group", dp=dp_config(seed=1)), SHAPE)
    seeds = [tuple(np.array(dp_noise_seed(vae, step))) for step in (0, 1, 0)]
    assert seeds[0] == seeds[2] != seeds[1]
    assert tuple(np.array(dp_noise_seed(other, 0))) != seeds[0]


# --- the private VAE step ---------------------------------------------------------------


def sgd_vae(dp, learning_rate=1.0):
    config = VAEConfig.tiny(norm="group", dp=dp, optimizer="sgd", learning_rate=learning_rate)
    return build_vae(config, SHAPE)


def test_private_vae_step_without_noise_or_clipping_is_the_ordinary_step(images, keras_seed):
    private = sgd_vae(dp_config(clip_norm=1e6, noise_multiplier=0.0), learning_rate=1e-3)
    plain = sgd_vae(None, learning_rate=1e-3)
    plain.set_weights(private.get_weights())
    before = weights(private)
    private_logs = private.train_on_batch(images, return_dict=True)
    plain_logs = plain.train_on_batch(images, return_dict=True)
    assert private_logs["clipped_fraction"] == 0.0
    assert private_logs["loss"] == pytest.approx(plain_logs["loss"], rel=1e-6)
    assert_same_weights(weights(private), weights(plain))
    assert not np.allclose(weights(private)[0], before[0])  # the step did move the weights


def test_private_vae_step_is_the_mean_of_clipped_gradients_computed_alone(images, keras_seed):
    clip, expected = 1.0, 2 * BATCH  # every example's gradient norm is ~100: all clipped
    vae = sgd_vae(dp_config(clip_norm=clip, noise_multiplier=0.0, expected_batch_size=expected))
    before = trainable(vae)
    epsilon = stateless_normal([BATCH, vae.latent_dim], vae.noise_seed(NoiseSalt.VAE_TRAIN, 0))
    total = [np.zeros_like(v) for v in vae.trainable_variables]
    for i in range(BATCH):  # each example alone, eagerly, from the public pieces of the ELBO
        with tf.GradientTape() as tape:
            z_mean, z_log_var = vae.encoder(images[i : i + 1], training=True)
            z = z_mean + tf.exp(0.5 * z_log_var) * epsilon[i : i + 1]
            logits = vae.decoder(z, training=True)
            loss = reconstruction_nll(images[i : i + 1], logits, likelihood="bernoulli")
            loss = loss + kl_divergence(z_mean, z_log_var)
        grads = tape.gradient(loss, vae.trainable_variables)
        norm = np.sqrt(sum(float(tf.reduce_sum(g**2)) for g in grads))
        assert norm > clip
        total = [t + np.array(g) * clip / norm for t, g in zip(total, grads, strict=True)]
    logs = vae.train_on_batch(images, return_dict=True)
    assert logs["clipped_fraction"] == 1.0
    deltas = [after - b for after, b in zip(trainable(vae), before, strict=True)]
    for delta, summed in zip(deltas, total, strict=True):
        np.testing.assert_allclose(delta, -summed / expected, rtol=1e-4, atol=1e-7)
    update = np.sqrt(sum(float((d**2).sum()) for d in deltas))
    assert 0 < update <= clip * BATCH / expected * (1 + 1e-5)


# --- the private GAN step ---------------------------------------------------------------


def sgd_gan(dp, learning_rate=1e-2):
    config = GANConfig.tiny(
        d_norm="layer", dp=dp, optimizer="sgd", g_learning_rate=learning_rate,
        d_learning_rate=learning_rate,
    )  # fmt: skip
    return build_gan(config, SHAPE)


def test_private_gan_step_without_noise_or_clipping_is_the_ordinary_step(images, keras_seed):
    private = sgd_gan(dp_config(clip_norm=1e6, noise_multiplier=0.0))
    plain = sgd_gan(None)
    plain.set_weights(private.get_weights())
    private.train_on_batch(images)
    plain.train_on_batch(images)
    assert_same_weights(weights(private), weights(plain))


def test_private_gan_generator_step_is_the_plain_step_against_the_updated_d(images, keras_seed):
    gan = sgd_gan(dp_config(noise_multiplier=2.0, expected_batch_size=6))
    plain = sgd_gan(None)
    d_before = weights(gan.discriminator)
    g_before = weights(gan.generator)  # with BatchNorm's statistics, for set_weights
    gan.train_on_batch(images)
    assert not np.allclose(weights(gan.discriminator)[0], d_before[0])
    # The reference: one SGD step of G's own loss on round(expected_batch_size) = 6 latents
    # against the updated D, computed eagerly on a copy of G as it was.
    generator = plain.generator
    generator.set_weights(g_before)
    z = stateless_normal([6, gan.latent_dim], gan.noise_seed(NoiseSalt.GAN_G_NOISE, 0))
    with tf.GradientTape() as tape:
        logits = gan.discriminator(generator(z, training=True), training=True)
        loss = tf.reduce_mean(gan_losses.generator_loss("non_saturating", logits))
    grads = tape.gradient(loss, generator.trainable_variables)
    for variable, grad in zip(generator.trainable_variables, grads, strict=True):
        variable.assign_sub(1e-2 * grad)
    assert_same_weights(
        trainable(gan.generator), trainable(generator), rtol=1e-4, atol=1e-6
    )  # BatchNorm's moving statistics moved once more in the GAN: not compared


def test_conditional_private_gan_draws_generator_labels_and_trains(images, keras_seed):
    gan = build_gan(GANConfig.tiny(d_norm="group", dp=dp_config()), SHAPE, num_classes=3)
    labels = [drawn_labels(gan, 500, step) for step in (0, 0, 1)]
    np.testing.assert_array_equal(labels[0], labels[1])
    assert not np.array_equal(labels[0], labels[2])
    counts = np.bincount(np.array(labels[0]), minlength=3)
    assert counts.sum() == 500 and len(counts) == 3 and counts.min() > 120  # ~ uniform
    assert drawn_labels(build_gan(GANConfig.tiny(), SHAPE), 4, 0) is None
    logs = gan.train_on_batch(images, np.array([0, 1, 2, 0]), return_dict=True)
    assert np.isfinite(logs["d_loss"]) and logs["clipped_fraction"] >= 0


def test_mixed_precision_private_gan_keeps_gradients_and_noise_in_float32(images, keras_seed):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        gan = sgd_gan(dp_config(noise_multiplier=1.0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    before = trainable(gan.discriminator)
    logs = gan.train_on_batch(images, return_dict=True)
    after = trainable(gan.discriminator)
    assert {v.dtype for v in gan.discriminator.trainable_variables} == {"float32"}
    assert np.isfinite(logs["grad_norm"]) and logs["grad_norm"] > 0
    # The noise has std σ·C / B = 0.25 per coordinate, times the learning rate 1e-2; the
    # clipped gradients alone (total norm ≤ C) would move each coordinate far less.
    steps = np.concatenate([(a - b).ravel() for a, b in zip(after, before, strict=True)])
    assert 1e-3 < steps.std() < 5e-3
