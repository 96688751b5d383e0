"""The compiled sampling functions behind `generate`: XLA for one or two images, a graph for
more, float32 for small batches under ``precision="auto"``, and the graph when XLA fails."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib.models import GAN, GANConfig, VAEConfig, build_gan, build_vae
from imgenlib.models.compiled import SMALL_BATCH, sampling_plan
from imgenlib.models.networks import build_discriminator, build_generator
from imgenlib.precision import sampling_policy


def xla_must_compile(function) -> bool:
    """Whether TensorFlow will hand the traced function to XLA (the attribute
    ``tf.function(jit_compile=True)`` puts on the function it runs)."""
    attributes = function.concrete.function_def.attr
    return "_XlaMustCompile" in attributes and attributes["_XlaMustCompile"].b


def test_plan_small_batches_use_xla_and_auto_float32():
    for batch in range(1, SMALL_BATCH + 1):
        assert sampling_plan(None, batch) == (None, True)
        assert sampling_plan("auto", batch) == ("float32", True)
        assert sampling_plan("bfloat16", batch) == ("mixed_bfloat16", True)  # asked: honoured
    big = SMALL_BATCH + 1
    assert sampling_plan(None, big) == (None, False)
    assert sampling_plan("auto", big) == (sampling_policy("auto"), False)
    assert sampling_plan("float32", 256) == ("float32", False)
    with pytest.raises(ValueError, match="float64"):
        sampling_plan("float64", 1)


def test_one_image_runs_through_xla_and_matches_the_batched_graph():
    gan = build_gan(GANConfig.tiny(), (16, 16, 1), seed=3)
    small, batched = gan.sampling_function(1), gan.sampling_function(64)
    assert small.xla and xla_must_compile(small)
    assert not batched.xla and not xla_must_compile(batched)
    z = gan.sample_latent(8, seed=0)
    together = gan.generate(z=z)
    alone = np.concatenate([gan.generate(z=z[i : i + 1]) for i in range(len(z))])
    np.testing.assert_allclose(alone, together, atol=1e-5)
    assert np.abs(together).max() > 0.01  # real images, not zeros on both sides
    assert gan.sampling_function(1) is small  # traced once, cached


def test_small_batches_follow_later_training():
    """The XLA function reads the generator's variables: new weights, new images."""
    gan = build_gan(GANConfig.tiny(), (16, 16, 1), seed=3)
    sampler = gan.sampler()
    before = gan.generate(n=1, seed=0)
    sampler.set_weights([w * 0.5 for w in sampler.get_weights()])
    after = gan.generate(n=1, seed=0)
    np.testing.assert_allclose(after, gan.generate(n=8, seed=0)[:1], atol=1e-5)
    assert np.abs(after - before).max() > 1e-3


def test_conditional_and_vae_small_batches():
    gan = build_gan(GANConfig.tiny(), (16, 16, 1), num_classes=3, seed=1)
    one = gan.generate(z=gan.sample_latent(4, seed=2)[:1], labels=np.array([2]))
    four = gan.generate(z=gan.sample_latent(4, seed=2), labels=2)
    np.testing.assert_allclose(one, four[:1], atol=1e-5)
    assert gan.sampling_function(2).xla
    vae = build_vae(VAEConfig.tiny(), (16, 16, 1), seed=4)
    np.testing.assert_allclose(vae.generate(n=1, seed=5), vae.generate(n=6, seed=5)[:1], atol=1e-5)


def test_bfloat16_samplers_keep_the_graph_so_one_image_matches_its_batch():
    gan = build_gan(GANConfig.tiny(), (16, 16, 1), seed=3)
    assert not gan.sampling_function(1, "bfloat16").xla  # asked for bfloat16: honoured, no XLA
    z = gan.sample_latent(4, seed=0)
    one = gan.generate(z=z[:1], precision="bfloat16")
    np.testing.assert_allclose(one, gan.generate(z=z, precision="bfloat16")[:1], atol=1e-6)
    assert np.abs(one - gan.generate(z=z[:1], precision="float32")).max() > 1e-5  # it is bf16
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:  # a model built in mixed precision samples in it by default: no XLA either
        mixed = build_gan(GANConfig.tiny(), (16, 16, 1), seed=3)
    finally:
        keras.config.set_dtype_policy("float32")
    assert not mixed.sampling_function(1).xla and mixed.sampling_function(1, "float32").xla


def test_auto_one_image_is_float32_whatever_the_hardware():
    gan = build_gan(GANConfig.tiny(), (16, 16, 1), seed=3)
    z = gan.sample_latent(1, seed=0)
    np.testing.assert_array_equal(gan.generate(z=z, precision="auto"), gan.generate(z=z, precision="float32"))  # fmt: skip
    assert ("float32", True) in gan.__dict__["_sampling_functions"]


class NumpyTanh(keras.layers.Layer):
    """tanh through `tf.numpy_function`: an op XLA cannot compile."""

    def call(self, x):
        y = tf.numpy_function(np.tanh, [x], tf.float32, stateful=False)
        y.set_shape(x.shape)
        return y

    def compute_output_shape(self, input_shape):
        return input_shape


def test_sampler_xla_cannot_compile_falls_back_to_the_graph_once():
    generator = build_generator((16, 16, 1), 8, width_multiplier=0.125)
    z_input = keras.Input((8,))
    wrapped = keras.Model(z_input, NumpyTanh()(generator(z_input)), name="numpy_generator")
    gan = GAN(wrapped, build_discriminator((16, 16, 1), width_multiplier=0.125), latent_dim=8)
    z = gan.sample_latent(3, seed=0)
    with pytest.warns(RuntimeWarning, match="XLA could not compile 'numpy_generator'"):
        one = gan.generate(z=z[:1])
    np.testing.assert_allclose(one, np.tanh(generator(z[:1]).numpy()), atol=1e-6)
    assert not gan.sampling_function(1).xla  # replaced for good: no second warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(gan.generate(z=z[1:2]), gan.generate(z=z)[1:2], atol=1e-6)
