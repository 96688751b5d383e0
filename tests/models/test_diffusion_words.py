"""The caption-word classifier of a TextDiffusion (``word_loss``): x̂_0, one step by hand,
saving, errors (imgenlib.models.diffusion_words)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib.data import load_shapes_captions
from imgenlib.losses import caption_word_loss
from imgenlib.models import DiffusionConfig, build_text_diffusion, load_model
from imgenlib.models.diffusion_words import build_word_classifier
from imgenlib.models.schedules import v_target

SHAPE = (16, 16, 3)


@pytest.fixture(scope="module")
def scenes():
    return load_shapes_captions("train", n=64, image_size=16, two_object_fraction=0, seed=0)


def tiny(scenes, word_loss=2.0, **overrides):
    keras.utils.set_random_seed(1)
    config = DiffusionConfig.tiny(**{"ema_decay": 0.9, "prediction": "v", **overrides})
    return build_text_diffusion(
        config, SHAPE, scenes.captions, text_dim=16, text_training="frozen", word_loss=word_loss
    )


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
def test_x0_from_the_true_target_is_the_image(scenes, prediction):
    model = tiny(scenes, prediction=prediction)
    images = tf.constant(scenes.images[:16])
    x_t, t, _, target = model.training_inputs(images, None, 0)
    x0 = model.predicted_x0(x_t, t, target).numpy()
    alpha_bar = model.schedule.alpha_bar(t).numpy()
    usable = alpha_bar > 0.05 if prediction == "epsilon" else alpha_bar >= 0  # ε/sqrt(ᾱ) blows up
    assert usable.sum() >= 8
    np.testing.assert_allclose(x0[usable], scenes.images[:16][usable], atol=2e-4)
    if prediction == "v":  # v̂ = v exactly: x̂_0 = sqrt(ᾱ)·x_t − sqrt(1−ᾱ)·v = x_0 for any t
        noise = tf.random.stateless_normal(images.shape, [3, 4])
        ab = tf.reshape(alpha_bar, [-1, 1, 1, 1])
        x_t = tf.sqrt(ab) * images + tf.sqrt(1.0 - ab) * noise
        x0 = model.predicted_x0(x_t, t, v_target(images, ab, noise))
        np.testing.assert_allclose(x0.numpy(), scenes.images[:16], atol=2e-5)


def test_one_step_matches_the_loss_and_gradients_written_out(scenes, randomised):
    """With SGD, one step moves the U-Net by −lr · ∇(v-loss + w · ᾱ_t · kept · word error on
    x̂_0) and the classifier by −lr · ∇(its error on the real images) only."""
    lr, w = 0.05, 2.0
    model = randomised(tiny(scenes, word_loss=w, label_dropout=0.5))
    model.compile(keras.optimizers.SGD(lr))
    model.run_eagerly = True
    images = tf.constant(scenes.images[:16])
    captions = tf.constant(list(scenes.captions[:16]))
    ids = model.text_encoder.tokenizer(captions)
    x_t, t, _, target = model.training_inputs(images, None, 0)
    kept = model.caption_kept(16, 0)
    assert 0 < int(tf.reduce_sum(tf.cast(kept, tf.int32))) < 16  # both kinds in the batch
    unet, classifier = model.network.trainable_variables, model.word_classifier.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        text = model.training_text(ids, 0, training=True)
        prediction = tf.cast(model.network([x_t, t, text], training=True), tf.float32)
        v_loss = tf.reduce_mean(tf.square(target - prediction), axis=[1, 2, 3])
        ab = tf.reshape(model.schedule.alpha_bar(t), [-1, 1, 1, 1])
        x0 = tf.sqrt(ab) * x_t - tf.sqrt(1.0 - ab) * prediction
        x0_error = caption_word_loss(model.word_classifier(x0), ids)
        kept_f = tf.cast(kept, tf.float32)
        denoiser_loss = tf.reduce_mean(v_loss + w * ab[:, 0, 0, 0] * kept_f * x0_error)
        real_error = caption_word_loss(model.word_classifier(images), ids)
        real_loss = tf.reduce_mean(real_error)
    expected = [v - lr * g for v, g in zip(unet, tape.gradient(denoiser_loss, unet), strict=True)]
    expected += [
        v - lr * g for v, g in zip(classifier, tape.gradient(real_loss, classifier), strict=True)
    ]
    # the x̂_0 term alone would move the classifier: the step must not let it
    assert max(float(tf.reduce_max(tf.abs(g))) for g in tape.gradient(x0_error, classifier)) > 1e-4
    logs = model.train_on_batch(images, captions, return_dict=True)
    for want, variable in zip(expected, unet + classifier, strict=True):
        np.testing.assert_allclose(variable.numpy(), want.numpy(), rtol=1e-4, atol=1e-6)
    assert logs["loss"] == pytest.approx(float(tf.reduce_mean(v_loss)), rel=1e-5)
    assert logs["words_real"] == pytest.approx(float(real_loss), rel=1e-5)
    mean_kept = float(tf.reduce_sum(kept_f * x0_error) / tf.reduce_sum(kept_f))
    assert logs["words_x0"] == pytest.approx(mean_kept, rel=1e-5)


def test_round_trip_keeps_the_classifier_and_training_continues(scenes, tmp_path, same_weights):
    from imgenlib.contrastive import caption_dataset

    model = tiny(scenes, word_loss=3.0)
    model.run_eagerly = True
    dataset = caption_dataset(scenes.images, scenes.captions, batch_size=8, shuffle=False)
    model.fit(dataset.take(2), epochs=1, verbose=0)
    model.save(tmp_path / "words.keras")
    restored = load_model(tmp_path / "words.keras")
    restored.run_eagerly = True
    assert restored.word_loss == 3.0
    same_weights(model, restored, ("network", "word_classifier"))
    model.fit(dataset.take(1), epochs=1, verbose=0)
    restored.fit(dataset.take(1), epochs=1, verbose=0)
    assert int(restored.optimizer.iterations) == 3
    same_weights(model, restored, ("network", "word_classifier"), atol=1e-6)


def test_no_word_loss_no_classifier_and_bad_weights_are_refused(scenes):
    model = tiny(scenes, word_loss=0.0)
    assert model.word_classifier is None and [m.name for m in model.metrics] == ["loss"]
    assert "word_loss" not in model.get_config()
    assert tiny(scenes, word_loss=None).word_loss == 0.0  # None: the config's (0)
    for bad in (-1.0, 101.0, "lots"):
        with pytest.raises((ValueError, TypeError), match="word_loss"):
            tiny(scenes, word_loss=bad)


def test_the_classifier_keeps_where_things_are():
    """Its logits depend on position: the same blob in two corners reads differently."""
    keras.utils.set_random_seed(0)
    net = build_word_classifier((32, 32, 3), 12)
    left, right = np.full((2, 32, 32, 3), -1.0, np.float32)
    left[2:8, 2:8] = right[2:8, 24:30] = 1.0
    logits = net(np.stack([left, right])).numpy()
    assert logits.shape == (2, 12) and logits.dtype == np.float32
    assert np.abs(logits[0] - logits[1]).max() > 1e-3


def test_word_dropout_drops_each_word_alike_and_only_in_training(scenes):
    model = tiny(scenes, word_loss=0, word_dropout=0.5, label_dropout=0.0)
    ids = model.text_encoder.tokenizer(tf.constant(list(scenes.captions)))
    words = ids.numpy() != 0
    dropped = model.drop_words(ids, 7).numpy()
    assert np.array_equal(dropped, model.drop_words(ids, 7).numpy())  # keyed by the step
    assert not np.array_equal(dropped, model.drop_words(ids, 8).numpy())
    kept = dropped != 0
    np.testing.assert_array_equal(dropped[kept], ids.numpy()[kept])  # a word stays or is padding
    assert not (kept & ~words).any()
    fraction = 1 - kept.sum() / words.sum()  # binomial, n ≈ 64 captions × 6 words: sd ≈ 0.026
    assert 0.4 < fraction < 0.6, fraction
    for step in (0, 3):
        np.testing.assert_allclose(  # training sees the dropped words ...
            model.training_text(ids, step, training=True).numpy(),
            model.training_text(model.drop_words(ids, step), step).numpy(),
            atol=1e-6,
        )
    full = model.text_condition(ids).numpy()  # ... evaluation and sampling every word
    np.testing.assert_allclose(model.training_text(ids, 3, evaluation=True, training=True).numpy(), full, atol=1e-6)  # fmt: skip
    logs = model.train_on_batch(
        scenes.images[:16], np.array(scenes.captions[:16]), return_dict=True
    )
    assert np.isfinite(logs["loss"])


def test_word_dropout_is_saved_and_checked(scenes, tmp_path):
    model = tiny(scenes, word_loss=0, word_dropout=0.25)
    model.save(tmp_path / "m.keras")
    assert load_model(tmp_path / "m.keras").word_dropout == 0.25
    assert "word_dropout" not in tiny(scenes, word_loss=0).get_config()
    for bad, error in ((-0.1, ValueError), (1.0, ValueError), ("half", TypeError)):
        with pytest.raises(error, match=rf"word_dropout.*Received: word_dropout={bad!r}"):
            tiny(scenes, word_loss=0, word_dropout=bad)


COLOURS = ("red", "green", "blue", "yellow", "magenta", "cyan")


def test_the_silhouette_is_colour_blind_bounded_and_zero_on_black():
    from imgenlib.data.shapes import COLOUR_RGB
    from imgenlib.models.diffusion_words import Silhouette

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    silhouette = Silhouette()(images).numpy()
    assert silhouette.shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(silhouette, Silhouette()(images[..., [2, 0, 1]]).numpy())
    expected = 1 - np.exp(-3 * (images.max(-1, keepdims=True) + 1) / 2)  # NumPy reference
    np.testing.assert_allclose(silhouette, expected, atol=1e-6)
    colours = np.array(list(COLOUR_RGB.values()), np.float32)[:, None, None] / 127.5 - 1
    inside = Silhouette()(colours).numpy().ravel()  # every shapes colour reads alike
    assert inside.min() > 0.88 and inside.max() - inside.min() < 0.06, inside
    black_and_wild = np.array([-1.0, -1e6, 1e6], np.float32).reshape(3, 1, 1, 1)
    np.testing.assert_allclose(  # an ε-model's x̂_0 at ᾱ ≈ 0 is clipped, not inf
        Silhouette()(black_and_wild).numpy().ravel(), [0, 0, 1 - np.exp(-3)], atol=1e-6
    )


def test_the_factorised_classifier_reads_colour_words_from_colours_and_others_from_shape():
    """Permuting the colour channels leaves every non-colour word's logit exactly as it was
    (the silhouette is the brightest channel); shuffling the pixels leaves the colour words'
    (a maximum over the image of per-pixel features)."""
    keras.utils.set_random_seed(0)
    colour_ids = [2, 5, 7]
    net = build_word_classifier((16, 16, 3), 12, colour_ids=colour_ids)
    images = load_shapes_captions("test", n=8, image_size=16, seed=3).images
    base = net(images).numpy()
    recoloured = net(images[..., [1, 2, 0]]).numpy()
    shuffled = images.reshape(8, 256, 3)[:, np.random.default_rng(1).permutation(256)]
    moved = net(shuffled.reshape(8, 16, 16, 3)).numpy()
    others = np.setdiff1d(np.arange(12), colour_ids)
    np.testing.assert_allclose(recoloured[:, others], base[:, others], atol=1e-6)
    np.testing.assert_allclose(moved[:, colour_ids], base[:, colour_ids], atol=1e-5)
    assert np.abs(recoloured[:, colour_ids] - base[:, colour_ids]).max() > 1e-3
    assert np.abs(moved[:, others] - base[:, others]).max() > 1e-3


def test_colour_words_are_saved_checked_and_keep_the_epsilon_word_term_finite(scenes, tmp_path):
    model = tiny(scenes, word_loss=1.0, prediction="epsilon", colour_words=COLOURS)
    vocabulary = model.text_encoder.tokenizer.vocabulary
    assert model.word_classifier.get_layer("pick_words").colour_ids == [
        vocabulary.index(word) + 2 for word in COLOURS
    ]
    images = tf.constant(scenes.images[:16])
    ids = model.text_encoder.tokenizer(tf.constant(list(scenes.captions[:16])))
    t = tf.fill([16], model.timesteps - 1)  # ᾱ ≈ 0: x̂_0 = (x_t − sqrt(1 − ᾱ) ε̂) / sqrt(ᾱ) is huge
    term = model.word_x0_term(images, t, tf.ones_like(images), ids, tf.ones([16], tf.bool))
    assert np.isfinite(term.numpy()).all()
    model.save(tmp_path / "m.keras")
    restored = load_model(tmp_path / "m.keras")
    assert restored.colour_words == COLOURS
    np.testing.assert_allclose(restored.word_classifier(images), model.word_classifier(images))
    assert "colour_words" not in tiny(scenes, word_loss=1.0).get_config()
    with pytest.raises(ValueError, match=r"unknown: \['mauve'\].*Received: colour_words="):
        tiny(scenes, colour_words=("red", "mauve"))
    with pytest.raises(TypeError, match="colour_words must be a sequence of words"):
        tiny(scenes, colour_words="red")
