"""What every model family inherits from `GenerativeModel`, and the renamed keywords."""

import ast
import dataclasses
import inspect
import warnings

import keras
import numpy as np
import pytest

from imgenlib import pretrained
from imgenlib.models import (
    GAN,
    VAE,
    GANConfig,
    GenerativeModel,
    NoiseSalt,
    VAEConfig,
    balanced_labels,
    build_decoder,
    build_discriminator,
    build_encoder,
    build_gan,
    build_generator,
    build_vae,
    load_model,
)
from imgenlib.models import vae as vae_module


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {
        "gan": build_gan(GANConfig.tiny(), (16, 16, 1), num_classes=3),
        "vae": build_vae(VAEConfig.tiny(), (16, 16, 1), num_classes=3),
    }


def test_kind_and_networks(models):
    gan, vae = models["gan"], models["vae"]
    assert isinstance(gan, GenerativeModel) and isinstance(vae, GenerativeModel)
    assert gan.kind == "gan" and vae.kind == "vae"
    assert gan.networks == {"generator": gan.generator, "discriminator": gan.discriminator}
    assert vae.networks == {"encoder": vae.encoder, "decoder": vae.decoder}


def test_noise_salts_keep_their_values():
    """The salts are part of what a seed means: changing one changes every trained result."""
    assert {s.name: int(s) for s in NoiseSalt} == {
        "GAN_D_NOISE": 1,
        "GAN_G_NOISE": 2,
        "GAN_AUGMENT": 3,
        "GAN_GP_ALPHA": 4,
        "GAN_G_LABELS": 5,
        "VAE_TRAIN": 11,
        "VAE_EVAL": 12,
        "DIFFUSION_TIME": 21,
        "DIFFUSION_NOISE": 22,
        "DIFFUSION_LABEL_DROP": 23,
        "DIFFUSION_EVAL": 24,
        "DIFFUSION_WORD_DROP": 25,
        "DP_NOISE": 31,
        "MEAN_EMBEDDING": 41,
        "TEXT_HARD_NEGATIVES": 51,
    }


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_balanced_labels(models, kind):
    np.testing.assert_array_equal(balanced_labels(7, 3), [0, 1, 2, 0, 1, 2, 0])
    assert balanced_labels(4, 3).dtype == np.int32
    model = models[kind]
    np.testing.assert_array_equal(
        model.generate(7, seed=1, labels="balanced"),
        model.generate(7, seed=1, labels=np.arange(7) % 3),
    )
    with pytest.raises(ValueError, match="Give the number of images n"):
        model.generate(labels="balanced")
    with pytest.raises(TypeError, match="labels must be integers"):
        model.generate(2, labels="even")


def test_balanced_labels_errors():
    with pytest.raises(ValueError, match="Received: n=0"):
        balanced_labels(0, 3)
    with pytest.raises(ValueError, match="Received: num_classes=1"):
        balanced_labels(4, 1)
    gan = build_gan(GANConfig.tiny(), (16, 16, 1))
    with pytest.raises(ValueError, match="unconditional; labels must be None"):
        gan.generate(2, labels="balanced")


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_unpack_batch_takes_keras_batch_forms(models, kind):
    model = models[kind]
    images = np.zeros((2, 16, 16, 1), np.uint8)
    labels = np.array([0, 1])
    for batch in ((images, labels), (images, labels, np.ones(2)), [images, labels]):
        x, y = model.unpack_batch(batch)
        assert x.dtype == "float32" and y is labels
    with pytest.raises(ValueError, match=f"A conditional {kind.upper()} needs"):
        model.unpack_batch(images)


def test_vae_module_does_not_import_the_gan_module():
    tree = ast.parse(inspect.getsource(vae_module))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "imgenlib.models.gan" not in imported


DEPRECATED = {
    "GANConfig(width=)": (lambda: GANConfig(width=0.5), "width_multiplier", 0.5),
    "GANConfig(ema=)": (lambda: GANConfig(ema=0.9), "ema_decay", 0.9),
    "GANConfig.tiny(width=)": (lambda: GANConfig.tiny(width=0.25), "width_multiplier", 0.25),
    "VAEConfig(width=)": (lambda: VAEConfig(width=0.5), "width_multiplier", 0.5),
    "VAEConfig.tiny(width=)": (lambda: VAEConfig.tiny(width=0.25), "width_multiplier", 0.25),
}


@pytest.mark.parametrize("name", DEPRECATED)
def test_old_config_keywords_warn_and_map(name):
    make, field, value = DEPRECATED[name]
    with pytest.warns(DeprecationWarning, match=f"use {field}"):
        config = make()
    assert getattr(config, field) == value
    assert field in {f.name for f in dataclasses.fields(config)}


def test_old_and_new_keyword_together_is_an_error():
    with pytest.raises(TypeError, match="give only width_multiplier"):
        GANConfig(width=0.5, width_multiplier=0.25)
    with pytest.raises(TypeError, match="give only ema_decay"):
        GANConfig(ema=0.5, ema_decay=0.9)


def test_old_builder_and_constructor_keywords_warn():
    with pytest.warns(DeprecationWarning, match="width is deprecated"):
        g = build_generator((16, 16, 1), 8, width=0.125)
    with pytest.warns(DeprecationWarning, match="width is deprecated"):
        d = build_discriminator((16, 16, 1), width=0.125)
    with pytest.warns(DeprecationWarning, match="width is deprecated"):
        build_encoder((16, 16, 1), 8, width=0.125)
    with pytest.warns(DeprecationWarning, match="width is deprecated"):
        build_decoder((16, 16, 1), 8, width=0.125)
    with pytest.warns(DeprecationWarning, match="ema is deprecated"):
        gan = GAN(g, d, latent_dim=8, ema=0.5)
    assert gan.ema_decay == 0.5 and gan.ema_generator is not None
    assert (
        g.count_params() == build_generator((16, 16, 1), 8, width_multiplier=0.125).count_params()
    )


def test_old_saved_gan_config_loads_without_warnings(tmp_path):
    gan = build_gan(GANConfig.tiny(ema_decay=0.9), (16, 16, 1))
    config = gan.get_config()
    config["ema"] = config.pop("ema_decay")  # what files saved before the rename hold
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored = GAN.from_config(config)
    assert restored.ema_decay == 0.9 and not restored.ema_generator.trainable_weights


def test_zoo_loads_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in pretrained.available():
            model = pretrained.load(name)
            assert model.kind in ("gan", "vae", "diffusion")


def test_vae_round_trip_keeps_the_base_config(tmp_path):
    vae = build_vae(VAEConfig.tiny(), (16, 16, 1), seed=4).build_for_training()
    vae.save(tmp_path / "vae.keras")
    restored = load_model(tmp_path / "vae.keras")
    assert isinstance(restored, VAE) and restored.seed == 4 and restored.latent_dim == 8
    assert {"encoder", "decoder", "latent_dim", "seed", "name"} <= set(vae.get_config())


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_generate_in_bfloat16_is_close_follows_the_weights_and_leaves_the_model_alone(kind):
    from imgenlib.precision import sampling_policy

    keras.utils.set_random_seed(0)
    build = {"gan": lambda: build_gan(GANConfig.tiny(), (16, 16, 1), num_classes=3),
             "vae": lambda: build_vae(VAEConfig.tiny(), (16, 16, 1), num_classes=3)}[kind]  # fmt: skip
    model = build()
    exact = model.generate(12, seed=1, labels="balanced")
    fast = model.generate(12, seed=1, labels="balanced", precision="bfloat16")
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    gap, scale = np.abs(fast - exact).max(), np.abs(exact).max()
    assert 0 < gap < 0.05 * scale, (gap, scale)  # bfloat16 ran, and its 8-bit mantissa shows
    assert np.array_equal(model.generate(12, seed=1, labels="balanced", precision="float32"), exact)
    auto = "bfloat16" if sampling_policy("auto") == "mixed_bfloat16" else "float32"
    expected = fast if auto == "bfloat16" else exact
    assert np.array_equal(model.generate(12, seed=1, labels="balanced", precision="auto"), expected)
    # the model itself is untouched: float32 layers, the same default images
    network = model.sampler() if kind == "gan" else model.decoder
    assert {layer.dtype_policy.name for layer in network._flatten_layers()} == {"float32"}
    assert np.array_equal(model.generate(12, seed=1, labels="balanced"), exact)
    # the bfloat16 sampler reads the model's variables: it sees weights changed after tracing
    for variable in network.trainable_variables:
        variable.assign(variable * 1.5)
    changed = model.generate(12, seed=1, labels="balanced")
    changed_fast = model.generate(12, seed=1, labels="balanced", precision="bfloat16")
    assert np.abs(changed - exact).max() > 10 * gap
    assert np.abs(changed_fast - changed).max() < 0.05 * np.abs(changed).max()
    with pytest.raises(ValueError, match="'fp8'"):
        model.generate(2, seed=0, labels=0, precision="fp8")
