"""Text-conditional diffusion: caption dropout, its training step against a hand-written one,
guidance, prompts and saving. How fast it learns to follow prompts is measured by
``benchmarks/text_diffusion_learning.py`` (three CPU minutes: too slow for a test)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib.contrastive import caption_dataset
from imgenlib.data import load_shapes_captions
from imgenlib.models import DiffusionConfig, TextDiffusion, build_text_diffusion, load_model
from imgenlib.models.unet import build_unet
from imgenlib.text import build_text_encoder

PROMPT = "a small red circle in the top left"
OTHER = "a large blue square at the bottom"
SHAPE = (16, 16, 3)


@pytest.fixture(scope="module")
def scenes():
    return load_shapes_captions("train", n=64, image_size=16, two_object_fraction=0, seed=0)


def tiny(scenes, **overrides):
    keras.utils.set_random_seed(1)
    text_training = overrides.pop("text_training", "denoiser")
    config = DiffusionConfig.tiny(**{"ema_decay": 0.9, **overrides})
    return build_text_diffusion(
        config, SHAPE, scenes.captions, text_dim=16, text_training=text_training
    )


def eager(model):
    """One step eagerly takes a few seconds; tracing the train step ~20 s (test_diffusion)."""
    model.run_eagerly = True
    return model


@pytest.fixture(scope="module")
def model(scenes, randomised):
    """An untrained model whose zero-initialised output convolutions are random, so that its
    prediction depends on x_t and the text (shared by the sampling tests: one traced chain)."""
    return randomised(tiny(scenes))


def test_caption_dropout_zeroes_its_fraction_of_text_vectors(scenes):
    model = tiny(scenes, label_dropout=0.5)
    kept = model.caption_kept(4000, 7).numpy()
    assert np.mean(~kept) == pytest.approx(0.5, abs=0.03)
    np.testing.assert_array_equal(kept, model.caption_kept(4000, 7).numpy())  # keyed by step
    assert not np.array_equal(kept, model.caption_kept(4000, 8).numpy())
    token_ids = model.text_encoder.tokenizer(list(scenes.captions[:32]))
    text = model.training_text(token_ids, 3).numpy()
    dropped = ~model.caption_kept(32, 3).numpy()
    assert dropped.any() and (~dropped).any()
    np.testing.assert_array_equal(text[dropped], 0.0)  # "no text" is the zero vector
    assert np.all(np.linalg.norm(text[~dropped], axis=1) > 1.0)
    full = model.training_text(token_ids, 3, evaluation=True).numpy()
    assert np.all(np.linalg.norm(full, axis=1) > 1.0)
    np.testing.assert_array_equal(text[~dropped], full[~dropped])
    assert np.mean(~tiny(scenes, label_dropout=0.1).caption_kept(4000, 0).numpy()) == (
        pytest.approx(0.1, abs=0.02)
    )


def test_a_step_is_the_denoising_loss_and_trains_the_encoder_and_its_ema(scenes, randomised):
    """(Zero-initialised output convolutions would give the encoder no gradient for two steps.)"""
    model = eager(randomised(tiny(scenes)))
    images = tf.constant(scenes.images[:8])
    captions = tf.constant(list(scenes.captions[:8]))
    token_ids = model.text_encoder.tokenizer(captions)
    x_t, t, _, target = model.training_inputs(images, None, 0)
    text = model.training_text(token_ids, 0, training=True)
    expected = model.per_example_loss(x_t, t, text, target, training=True)
    encoder = model.text_encoder.get_weights()
    ema_encoder = model.ema_text_encoder.get_weights()
    logs = model.train_on_batch(images, captions, return_dict=True)
    assert logs["loss"] == pytest.approx(float(tf.reduce_mean(expected)), rel=1e-5)
    assert int(model.optimizer.iterations) == 1
    for before, network in ((encoder, model.text_encoder), (ema_encoder, model.ema_text_encoder)):
        after = network.get_weights()
        assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert not model.ema_text_encoder.trainable_weights


def test_a_frozen_text_encoder_never_moves(scenes):
    model = eager(tiny(scenes, text_training="frozen"))
    assert model.optimizer_variables()["optimizer"] == model.network.trainable_variables
    assert model.ema_text_encoder is None and model.sampling_text_encoder() is model.text_encoder
    before = model.text_encoder.get_weights()
    dataset = caption_dataset(scenes.images, scenes.captions, batch_size=8, shuffle=False)
    model.fit(dataset.take(1), epochs=1, verbose=0)
    for a, b in zip(before, model.text_encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_generate_shapes_seeds_prompts_and_latents(model):
    one = model.generate(PROMPT, n=3, seed=0, steps=3)
    assert one.shape == (3, *SHAPE) and one.dtype == np.float32
    assert one.min() >= -1 and one.max() <= 1
    np.testing.assert_array_equal(one, model.generate([PROMPT] * 3, seed=0, steps=3))
    assert not np.allclose(one, model.generate(PROMPT, n=3, seed=1, steps=3))
    z = model.sample_latent(3, seed=0)
    np.testing.assert_array_equal(one, model.generate(PROMPT, z=z, seed=0, steps=3))
    other = model.generate(OTHER, n=3, seed=0, steps=3)
    assert not np.allclose(one, other)  # same z, another caption: another image
    mixed = model.generate([PROMPT, OTHER, PROMPT], seed=0, steps=3)
    np.testing.assert_allclose(mixed[[0, 2]], one[[0, 2]], atol=1e-5)
    np.testing.assert_allclose(mixed[1], other[1], atol=1e-5)
    assert model.generate(PROMPT, n=5, seed=0, steps=2, batch_size=2).shape == (5, *SHAPE)
    chain = model.diffusion_sampler("ddim")
    function = chain._run
    model.generate(None, n=2, seed=0, steps=5)  # another batch, step count and condition
    assert chain._run is function  # one traced graph


def test_generate_in_bfloat16_runs_the_unet_in_bfloat16_and_leaves_the_model_alone(model):
    exact = model.generate(PROMPT, n=3, seed=0, steps=3, guidance=2.0)
    fast = model.generate(PROMPT, n=3, seed=0, steps=3, guidance=2.0, precision="bfloat16")
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    assert np.all(np.isfinite(fast)) and np.abs(fast).max() <= 1
    assert not np.array_equal(fast, exact)  # bfloat16 ran (a random network: far from float32)
    again = model.generate(PROMPT, n=3, seed=0, steps=3, guidance=2.0, precision="float32")
    np.testing.assert_array_equal(again, exact)
    assert {layer.dtype_policy.name for layer in model.sampler()._flatten_layers()} == {"float32"}
    np.testing.assert_array_equal(model.generate(PROMPT, n=3, seed=0, steps=3, guidance=2.0), exact)
    with pytest.raises(ValueError, match="'fp8'"):
        model.generate(PROMPT, n=1, seed=0, steps=2, precision="fp8")


def test_guidance_zero_is_exactly_the_null_text_model(model):
    """ε̂ = ε̂(x, ∅) + w·(ε̂(x, t) − ε̂(x, ∅)), ∅ the zero vector: w = 0 is the model without
    text (``generate(None)``) bit for bit, w = 1 the conditional network."""
    chain = model.diffusion_sampler("ddim")
    x = tf.random.stateless_normal([4, *SHAPE], [0, 0])
    t = tf.constant(500)
    ids = model.text_encoder.tokenizer([PROMPT, OTHER, PROMPT, OTHER])
    text = model.text_vectors(ids, encoder=model.sampling_text_encoder())
    times = tf.fill([4], t)
    network = model.sampler()
    null = network([x, times, tf.zeros_like(text)]).numpy()
    conditional = network([x, times, text]).numpy()
    assert not np.allclose(null, conditional)
    np.testing.assert_array_equal(chain.epsilon(x, t, text, 0.0).numpy(), null)
    np.testing.assert_array_equal(chain.epsilon(x, t, text, 1.0).numpy(), conditional)
    np.testing.assert_allclose(
        chain.epsilon(x, t, text, 3.0).numpy(), null + 3 * (conditional - null), atol=1e-4
    )
    unconditional = model.generate(None, n=4, seed=1, steps=3)
    for prompt in (PROMPT, OTHER):
        guided = model.generate(prompt, n=4, seed=1, steps=3, guidance=0.0)
        np.testing.assert_array_equal(guided, unconditional)
    assert not np.allclose(unconditional, model.generate(PROMPT, n=4, seed=1, steps=3))
    assert not np.allclose(
        model.generate(PROMPT, n=4, seed=1, steps=3),
        model.generate(PROMPT, n=4, seed=1, steps=3, guidance=3.0),
    )


def test_keras_round_trip_keeps_both_encoders_and_training_continues(
    scenes, tmp_path, same_weights
):
    model = eager(tiny(scenes))
    dataset = caption_dataset(scenes.images, scenes.captions, batch_size=8, shuffle=False)
    model.fit(dataset.take(2), epochs=1, verbose=0)
    path = tmp_path / "text_diffusion.keras"
    model.save(path)
    restored = eager(load_model(path))
    assert isinstance(restored, TextDiffusion) and restored.text_training == "denoiser"
    assert restored.text_encoder.vocabulary == model.text_encoder.vocabulary
    assert restored.label_dropout == model.label_dropout and restored.timesteps == 1000
    same_weights(model, restored, ("network", "ema_network", "text_encoder", "ema_text_encoder"))
    x = tf.random.stateless_normal([2, *SHAPE], [0, 1])
    ids = model.text_encoder.tokenizer([PROMPT, OTHER])
    outputs = []
    for m in (model, restored):
        text = m.text_vectors(ids, encoder=m.sampling_text_encoder())
        outputs.append(m.diffusion_sampler().epsilon(x, tf.constant(300), text, 2.0).numpy())
    np.testing.assert_array_equal(*outputs)
    model.fit(dataset.take(1), epochs=1, verbose=0)
    restored.fit(dataset.take(1), epochs=1, verbose=0)
    assert int(restored.optimizer.iterations) == 3
    same_weights(model, restored, ("network", "text_encoder", "ema_text_encoder"), atol=1e-6)


@pytest.mark.parametrize(
    ("prompts", "received"),
    [
        ("", r"prompts\[0\] is empty. Received: prompts\[0\]=''"),
        ("zebra with ice", r"no word the model knows. Received: prompts\[0\]='zebra with ice'"),
        (3, r"must be a string or a list of strings. Received: prompts=3"),
        ([], r"at least one caption. Received: prompts=\[\]"),
        (["a red circle", 5], r"Received: prompts\[1\]=5 \(int\)"),
    ],
)
def test_bad_prompts_name_the_value_and_the_known_words(model, prompts, received):
    with pytest.raises(ValueError, match=received) as error:
        model.generate(prompts, n=2, seed=0, steps=2)
    assert f"The model knows {len(model.text_encoder.vocabulary)} words: " in str(error.value)


def test_bad_counts_guidance_and_unknown_words(model):
    with pytest.raises(ValueError, match=r"one per image \(2\). Received: 3 prompts"):
        model.generate([PROMPT] * 3, n=2, steps=2)
    with pytest.raises(ValueError, match=r"n or z"):
        model.generate(PROMPT, n=2, z=model.sample_latent(3, seed=0), steps=2)
    with pytest.raises((TypeError, ValueError), match="guidance"):
        model.generate(PROMPT, n=1, guidance="high", steps=2)
    with pytest.raises(ValueError, match="Received: steps=0"):
        model.generate(PROMPT, n=1, steps=0)
    with pytest.warns(UserWarning, match=r"'a purple circle on the left': purple"):
        model.generate("a purple circle on the left", n=1, seed=0, steps=2)


def test_text_map_lays_the_text_vector_out_over_the_image():
    """``text_map=C``: Dense(text) → 4×4×C, resized bilinearly to the image and concatenated to
    x_t before the stem (checked against NumPy and TF's own resize); x_t passes unchanged."""
    network = build_unet(SHAPE, widths=(8, 16), blocks_per_level=1, heads=2, text_dim=4, text_map=3)
    concat = network.get_layer("text_map_concat")
    probe = keras.Model(network.inputs, concat.output)
    x = np.random.default_rng(0).normal(size=(2, *SHAPE)).astype("float32")
    text = np.random.default_rng(1).normal(size=(2, 4)).astype("float32")
    out = probe([x, np.zeros(2, "int32"), text]).numpy()
    assert out.shape == (2, 16, 16, 3 + 3)
    np.testing.assert_array_equal(out[..., :3], x)
    kernel, bias = network.get_layer("text_map_dense").get_weights()
    layout = (text @ kernel + bias).reshape(2, 4, 4, 3)
    resized = tf.image.resize(layout, (16, 16), method="bilinear").numpy()
    np.testing.assert_allclose(out[..., 3:], resized, atol=1e-5)
    assert not np.allclose(out[0, :8, :8, 3:].mean(), out[0, 8:, 8:, 3:].mean())  # a layout


def test_text_map_is_saved_and_refuses_what_it_cannot_do(scenes, tmp_path):
    model = tiny(scenes, text_map=2, min_snr_gamma=5.0)
    assert model.network.get_layer("text_map_concat").output.shape[-1] == 3 + 2
    path = tmp_path / "mapped.keras"
    model.save(path)
    restored = load_model(path)
    assert restored.min_snr_gamma == 5.0  # the config's loss weighting reaches the model
    ids = model.text_encoder.tokenizer([PROMPT])
    x = tf.random.stateless_normal([1, *SHAPE], [0, 2])
    outputs = [
        m.diffusion_sampler().epsilon(x, tf.constant(500), m.text_vectors(ids), 1.0).numpy()
        for m in (model, restored)
    ]
    np.testing.assert_array_equal(*outputs)
    with pytest.raises(ValueError, match="text_map needs text_dim .*Received: text_map=4"):
        build_unet(SHAPE, widths=(8, 16), text_map=4)
    with pytest.raises(ValueError, match="Received: text_map=-1"):
        build_unet(SHAPE, widths=(8, 16), text_dim=4, text_map=-1)


def test_word_pooling_conditions_on_the_mean_of_the_word_vectors_and_is_saved(scenes, tmp_path):
    """``text_pooling="words"``: the text vector is the mean of the caption's token embeddings
    (no positions, no transformer; NumPy reference), so word order does not change it; an
    empty caption is still "no text" (zeros); the setting survives saving."""
    model = tiny(scenes, text_pooling="words")
    ids = model.text_encoder.tokenizer([PROMPT, "top left in the circle red small a", ""]).numpy()
    table = model.text_encoder.token_embedding.embeddings.numpy()
    words = ids[0][ids[0] != 0]
    vectors = model.text_vectors(ids).numpy()
    np.testing.assert_allclose(vectors[0], table[words].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vectors[1], vectors[0], rtol=1e-5, atol=1e-6)  # a bag of words
    np.testing.assert_array_equal(vectors[2], 0.0)
    encoder = tiny(scenes).text_vectors(ids).numpy()  # the default: the encoder's pooled vector
    assert np.abs(encoder[0] - encoder[1]).max() > 1e-3
    model.save(tmp_path / "words.keras")
    restored = load_model(tmp_path / "words.keras")
    assert restored.text_pooling == "words"
    np.testing.assert_allclose(restored.text_vectors(ids).numpy(), vectors, rtol=1e-6)
    with pytest.raises(ValueError, match="'tokens'"):
        tiny(scenes, text_pooling="tokens")


def test_word_tokens_give_cross_attention_one_context_free_state_per_word(scenes, tmp_path):
    """``text_tokens="words"``: each token state is its word plus its position vector,
    normalised over D (NumPy reference), so "square" reads the same beside any colour,
    where the transformer's state of it changes; padding is zero, an empty caption "no
    text"; the setting is saved, needs cross-attention and is checked."""
    model = tiny(scenes, cross_attention=True, text_tokens="words")
    assert model.cross_attention and model.get_config()["text_tokens"] == "words"
    ids = model.text_encoder.tokenizer(
        ["a small red square in the centre", "a small blue square in the centre", ""]
    ).numpy()
    pooled, tokens, mask = (part.numpy() for part in model.text_condition(ids))
    words = model.text_encoder.token_embedding.embeddings.numpy()[ids[0]]
    states = words + model.text_encoder.position_embedding.embeddings.numpy()[: ids.shape[1]]
    states = (states - states.mean(-1, keepdims=True)) / np.sqrt(states.var(-1, keepdims=True) + 1e-5)  # fmt: skip
    np.testing.assert_allclose(tokens[0], states * (ids[0] != 0)[:, None], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(mask, ids != 0)
    square = 3  # "a small <colour> square": the fourth token
    np.testing.assert_allclose(tokens[0, square], tokens[1, square], atol=1e-6)
    assert np.abs(tokens[0, 2] - tokens[1, 2]).max() > 1e-3  # the colour words differ
    contextual = tiny(scenes, cross_attention=True).text_condition(ids)[1].numpy()
    assert np.abs(contextual[0, square] - contextual[1, square]).max() > 1e-3
    assert not pooled[2].any() and not tokens[2].any() and not mask[2].any()
    model.save(tmp_path / "tokens.keras")
    restored = load_model(tmp_path / "tokens.keras")
    assert restored.text_tokens == "words"
    np.testing.assert_allclose(restored.text_condition(ids)[1].numpy(), tokens, atol=1e-6)
    assert "text_tokens" not in tiny(scenes, cross_attention=True).get_config()
    with pytest.raises(ValueError, match="no cross-attention.*Received: text_tokens='words'"):
        tiny(scenes, text_tokens="words")
    with pytest.raises(ValueError, match="'states'"):
        tiny(scenes, cross_attention=True, text_tokens="states")


def test_construction_errors(scenes):
    encoder = build_text_encoder(scenes.captions, embed_dim=16, num_heads=2, num_layers=1)
    network = build_unet(SHAPE, widths=(8, 16), blocks_per_level=1, heads=2, text_dim=16)
    assert isinstance(TextDiffusion(network, encoder, ema_decay=0), TextDiffusion)
    with pytest.raises(TypeError, match="text_encoder must be an imgenlib.text.TextEncoder"):
        TextDiffusion(network, "encoder")
    wide = build_unet(SHAPE, widths=(8, 16), blocks_per_level=1, heads=2, text_dim=32)
    with pytest.raises(ValueError, match="text input has size 32, the text encoder's vector 16"):
        TextDiffusion(wide, encoder)
    plain = build_unet(SHAPE, widths=(8, 16), blocks_per_level=1, heads=2)
    with pytest.raises(ValueError, match=r"must take \[x_t, timesteps, text\]"):
        TextDiffusion(plain, encoder)
    with pytest.raises(ValueError, match="does not take num_classes. Received: num_classes=3"):
        TextDiffusion(network, encoder, num_classes=3)
    with pytest.raises(ValueError, match="Unknown text_training 'both'"):
        TextDiffusion(network, encoder, text_training="both")
    with pytest.raises(ValueError, match="captions or a text_encoder"):
        build_text_diffusion(DiffusionConfig.tiny(), SHAPE)
    with pytest.raises(TypeError, match="config must be a DiffusionConfig"):
        build_text_diffusion({"widths": (8,)}, SHAPE, scenes.captions)
    with pytest.raises(ValueError, match="num_classes or text_dim, not both"):
        build_unet(SHAPE, num_classes=3, text_dim=16)
    with pytest.raises(ValueError, match=r"needs \(images, captions\) batches"):
        TextDiffusion(network, encoder).unpack_batch(tf.zeros([2, *SHAPE]))
