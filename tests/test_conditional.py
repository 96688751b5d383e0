"""Label embeddings and class morphs of conditional GANs and VAEs (imgenlib.conditional)."""

import numpy as np
import pytest

from imgenlib.conditional import class_morph, generate_from_embedding, label_embeddings


@pytest.fixture(scope="module")
def cgan():
    import keras

    from imgenlib.models import GANConfig, build_gan

    keras.utils.set_random_seed(7)
    return build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=4)


@pytest.fixture(scope="module")
def cvae():
    import keras

    from imgenlib.models import VAEConfig, build_vae

    keras.utils.set_random_seed(8)
    return build_vae(VAEConfig.tiny(), (28, 28, 1), num_classes=3)


def test_embedding_table_is_the_layer_weights(cgan):
    table = label_embeddings(cgan)
    layer = cgan.generator.get_layer("label_embedding")
    assert table.shape == (4, layer.output_dim)
    np.testing.assert_array_equal(table, np.asarray(layer.embeddings))


@pytest.mark.parametrize("model_name", ["cgan", "cvae"])
def test_rows_of_the_table_reproduce_generate_with_labels(model_name, request, rng):
    model = request.getfixturevalue(model_name)
    labels = np.arange(6) % model.num_classes
    z = rng.standard_normal((6, model.latent_dim)).astype(np.float32)
    expected = model.generate(z=z, labels=labels)
    got = generate_from_embedding(model, z, label_embeddings(model)[labels])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_an_arbitrary_vector_acts_like_a_class_with_that_embedding(rng):
    """Write a vector v into row 0; generate(labels=0) must then equal generate_from_embedding(v)."""
    import keras

    from imgenlib.models import GANConfig, build_gan

    keras.utils.set_random_seed(3)
    gan = build_gan(GANConfig.tiny(), (16, 16, 1), num_classes=3)
    z = rng.standard_normal((4, gan.latent_dim)).astype(np.float32)
    table = label_embeddings(gan)
    vector = 0.3 * table[1] + 0.7 * table[2] + rng.normal(0, 0.05, table.shape[1])
    before = generate_from_embedding(gan, z, vector.astype(np.float32))
    layer = gan.generator.get_layer("label_embedding")
    layer.embeddings.assign(np.concatenate([vector[None], table[1:]]).astype(np.float32))
    np.testing.assert_allclose(gan.generate(z=z, labels=0), before, atol=1e-5)


def test_class_morph_endpoints_and_midpoint(cgan, rng):
    z = rng.standard_normal(cgan.latent_dim).astype(np.float32)
    frames = class_morph(cgan, z, 1, 3, steps=5)
    assert frames.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(frames[0], cgan.generate(z=z, labels=1)[0], atol=1e-5)
    np.testing.assert_allclose(frames[-1], cgan.generate(z=z, labels=3)[0], atol=1e-5)
    table = label_embeddings(cgan)
    middle = generate_from_embedding(cgan, z, (table[1] + table[3]) / 2)
    np.testing.assert_allclose(frames[2], middle[0], atol=1e-5)
    assert not np.allclose(frames[2], frames[0], atol=1e-3)


def test_errors_name_the_problem(cgan, rng):
    from imgenlib.models import GANConfig, build_gan

    plain = build_gan(GANConfig.tiny(), (16, 16, 1))
    with pytest.raises(ValueError, match="unconditional"):
        label_embeddings(plain)
    z = rng.standard_normal(cgan.latent_dim)
    with pytest.raises(ValueError, match="class_b"):
        class_morph(cgan, z, 0, 4)
    with pytest.raises(ValueError, match="embed_dim"):
        generate_from_embedding(cgan, z, np.zeros(3))
    with pytest.raises(ValueError, match="same number of rows"):
        generate_from_embedding(cgan, np.zeros((2, cgan.latent_dim)), np.zeros((3, 16)))
    with pytest.raises(TypeError, match="latent_dim"):
        class_morph(object(), z, 0, 1)
