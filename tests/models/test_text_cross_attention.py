"""Cross-attention to the caption's token states in the text-conditional U-Net: shapes, the
padding mask, the exact "no text" condition, guidance, saving and training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib.contrastive import caption_dataset
from imgenlib.data import load_shapes_captions
from imgenlib.models import DiffusionConfig, build_text_diffusion, load_model
from imgenlib.models.cross_attention import CrossAttention
from imgenlib.models.unet import build_unet

PROMPT = "a small red circle in the top left"
OTHER = "a large blue square at the bottom"
SHAPE = (16, 16, 3)


@pytest.fixture(scope="module")
def scenes():
    return load_shapes_captions("train", n=64, image_size=16, two_object_fraction=0, seed=0)


def tiny(scenes, **overrides):
    keras.utils.set_random_seed(2)
    config = DiffusionConfig.tiny(**{"ema_decay": 0.9, **overrides})
    return build_text_diffusion(config, SHAPE, scenes.captions, text_dim=16, cross_attention=True)


@pytest.fixture(scope="module")
def model(scenes, randomised):
    """Zero-initialised output convolutions made random: the output depends on x_t and text."""
    return randomised(tiny(scenes))


def xattn_weights(network):
    return {
        v.path: keras.ops.convert_to_numpy(v)
        for layer in network.layers
        if isinstance(layer, CrossAttention)
        for v in layer.weights
    }


def test_the_network_takes_tokens_and_attends_at_sides_up_to_16():
    keras.utils.set_random_seed(0)
    network = build_unet((32, 32, 3), widths=(8, 16, 16), blocks_per_level=1, heads=2,
                         embedding_dim=16, text_dim=12, cross_attention=True)  # fmt: skip
    assert [i.name for i in network.inputs] == [
        "x_t",
        "timesteps",
        "text",
        "text_tokens",
        "text_mask",
    ]
    names = [layer.name for layer in network.layers if isinstance(layer, CrossAttention)]
    assert names == ["down1_0_xattn", "down2_0_xattn", "middle_xattn", "up2_0_xattn",
                     "up2_1_xattn", "up1_0_xattn", "up1_1_xattn"]  # fmt: skip  # not at 32×32
    x = tf.random.stateless_normal([3, 32, 32, 3], [0, 0])
    for length in (1, 7):
        tokens = tf.random.stateless_normal([3, length, 12], [0, 1])
        out = network(
            [x, tf.constant([1, 50, 999]), tf.zeros([3, 12]), tokens, tf.ones([3, length])]
        )
        assert out.shape == (3, 32, 32, 3)
    with pytest.raises(ValueError, match="cross_attention needs text_dim"):
        build_unet(SHAPE, widths=(8, 16), cross_attention=True)


def test_padding_is_masked_and_no_tokens_add_exactly_zero():
    keras.utils.set_random_seed(0)
    layer = CrossAttention(2, 4)
    x = tf.random.stateless_normal([2, 8, 8, 8], [1, 0])
    tokens = tf.random.stateless_normal([2, 5, 6], [1, 1])
    mask = tf.constant([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], tf.float32)
    out = layer(x, tokens, mask).numpy()
    assert not np.allclose(out, x.numpy())
    garbage = tf.random.stateless_normal([2, 5, 6], [1, 2]) * 100
    changed = tf.where(mask[..., None] > 0, tokens, garbage)  # only padding changes
    np.testing.assert_array_equal(layer(x, changed, mask).numpy(), out)
    longer = tf.concat([tokens, garbage], 1)  # more padding after the caption
    np.testing.assert_allclose(layer(x, longer, tf.pad(mask, [[0, 0], [0, 5]])), out, atol=1e-6)
    other = tf.where(mask[..., None] > 0, garbage, tokens)  # the real tokens change
    assert not np.allclose(layer(x, other, mask).numpy(), out)
    nothing = layer(x, garbage, tf.zeros_like(mask)).numpy()
    np.testing.assert_array_equal(nothing, x.numpy())  # exactly x, whatever the states


def test_empty_caption_is_the_null_condition_and_guidance_zero_is_unconditional(model):
    chain = model.diffusion_sampler("ddim")
    ids = model.text_encoder.tokenizer([PROMPT, OTHER, "", PROMPT])
    pooled, tokens, mask = model.text_condition(ids, encoder=model.sampling_text_encoder())
    assert tokens.shape == (4, model.text_encoder.max_length, 16)
    for value in (pooled, tokens, mask):
        np.testing.assert_array_equal(value[2].numpy(), np.zeros_like(value[2]))
    np.testing.assert_array_equal(mask[0].numpy(), (ids[0].numpy() != 0).astype(np.float32))
    x = tf.random.stateless_normal([4, *SHAPE], [0, 0])
    t = tf.constant(500)
    text = (pooled, tokens, mask)
    network = model.sampler()
    times = tf.fill([4], t)
    null = network([x, times, *chain.null_condition(text)]).numpy()
    conditional = network([x, times, *text]).numpy()
    np.testing.assert_array_equal(conditional[2], null[2])  # the empty caption
    assert not np.allclose(conditional[0], null[0])
    # the tokens matter, not only the pooled vector
    assert not np.allclose(network([x, times, pooled, tokens, mask * 0]).numpy()[0], conditional[0])
    np.testing.assert_array_equal(chain.epsilon(x, t, text, 0.0).numpy(), null)
    np.testing.assert_array_equal(chain.epsilon(x, t, text, 1.0).numpy(), conditional)
    np.testing.assert_allclose(
        chain.epsilon(x, t, text, 3.0).numpy(), null + 3 * (conditional - null), atol=1e-4
    )
    unconditional = model.generate(None, n=3, seed=1, steps=3)
    np.testing.assert_array_equal(
        model.generate(PROMPT, n=3, seed=1, steps=3, guidance=0.0), unconditional
    )
    assert not np.allclose(unconditional, model.generate(PROMPT, n=3, seed=1, steps=3))


def test_a_step_trains_the_cross_attention_and_a_saved_model_resumes(
    scenes, tmp_path, same_weights
):
    model = tiny(scenes)
    model.run_eagerly = True
    before = xattn_weights(model.network)
    assert len(before) == 7 * 10  # 7 blocks: GroupNorm γ, β; the MHA's 4 kernels and biases
    dataset = caption_dataset(scenes.images, scenes.captions, batch_size=8, shuffle=False)
    model.fit(dataset.take(2), epochs=1, verbose=0)
    after = xattn_weights(model.network)
    assert [name for name in before if not np.array_equal(before[name], after[name])] == list(
        before
    )
    assert xattn_weights(model.ema_network).keys() == before.keys()
    path = tmp_path / "xattn.keras"
    model.save(path)
    restored = load_model(path)
    same_weights(model, restored, ("network",))
    assert [layer.get_config() for layer in restored.network.layers] == [
        layer.get_config() for layer in model.network.layers
    ]
    assert (
        restored.cross_attention
        and not build_text_diffusion(DiffusionConfig.tiny(), SHAPE, scenes.captions).cross_attention
    )  # the default stays off
    restored.run_eagerly = True
    model.fit(dataset.take(1), epochs=1, verbose=0)
    restored.fit(dataset.take(1), epochs=1, verbose=0)
    assert int(restored.optimizer.iterations) == 3
    same_weights(
        model, restored, ("network", "ema_network", "text_encoder", "ema_text_encoder"), atol=1e-6
    )


def test_a_keras_round_trip_samples_the_same_images(model, tmp_path, same_weights):
    path = tmp_path / "xattn.keras"
    model.save(path)
    restored = load_model(path)
    same_weights(model, restored, ("network", "ema_network", "text_encoder", "ema_text_encoder"))
    x = tf.random.stateless_normal([2, *SHAPE], [0, 1])
    ids = model.text_encoder.tokenizer([PROMPT, OTHER])
    epsilons = []
    for m in (model, restored):
        text = m.text_condition(ids, encoder=m.sampling_text_encoder())
        epsilons.append(m.diffusion_sampler().epsilon(x, tf.constant(300), text, 2.0).numpy())
    np.testing.assert_array_equal(*epsilons)
    settings = {"n": 3, "seed": 1, "steps": 3, "guidance": 2.0, "clip": False}
    images = model.generate(PROMPT, **settings)
    assert np.isfinite(images).all() and np.abs(images).max() > 1  # unclipped: not ±1 only
    np.testing.assert_array_equal(images, restored.generate(PROMPT, **settings))
