import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib.data import COLOUR_NAMES, load_shapes_captions
from imgenlib.text import (
    OOV_TOKEN,
    CaptionTokenizer,
    TextEncoder,
    TransformerBlock,
    build_text_encoder,
    check_captions,
)


@pytest.fixture(scope="module")
def captions():
    return load_shapes_captions("train", n=400, image_size=4, seed=0).captions


@pytest.fixture(scope="module")
def encoder(captions):
    keras.utils.set_random_seed(0)
    return build_text_encoder(captions, embed_dim=32, num_heads=4, num_layers=2)


def test_tokenizer_standardizes_and_round_trips(captions):
    tokenizer = CaptionTokenizer.adapt(captions)
    assert tokenizer.max_length == max(len(words) for words in tokenizer.words(list(captions)))
    ids = tokenizer(["Top-Left: SMALL red circle!", "top left small red circle"]).numpy()
    np.testing.assert_array_equal(ids[0], ids[1])
    lookup = ["", OOV_TOKEN, *tokenizer.vocabulary]
    assert [lookup[i] for i in ids[0] if i] == "top left small red circle".split()
    for caption in captions[:50]:
        row = tokenizer([caption]).numpy()[0]
        assert [lookup[i] for i in row if i] == tokenizer.words(caption)[0]
    assert len(tokenizer.vocabulary) == len(set(tokenizer.vocabulary))
    assert {"red", "circle", "left", "above"} <= set(tokenizer.vocabulary)
    counts = {}
    for words in tokenizer.words(list(captions)):
        for word in words:
            counts[word] = counts.get(word, 0) + 1
    frequency = [counts[word] for word in tokenizer.vocabulary]
    assert frequency == sorted(frequency, reverse=True)  # most frequent first
    assert CaptionTokenizer.adapt(captions).vocabulary == tokenizer.vocabulary  # deterministic


def test_unknown_words_are_mapped_to_oov_and_reported(encoder):
    tokenizer = encoder.tokenizer
    caption = "A purple circle in the center"
    assert tokenizer.unknown_words(caption) == ["purple", "center"]
    ids = tokenizer([caption]).numpy()[0]
    assert list(ids[:6] == 1) == [False, True, False, False, False, True]
    with pytest.warns(UserWarning, match="purple, center") as record:
        encoder.encode([caption, "a red circle"])
    assert "'a red circle'" not in str(record[0].message)
    assert "red" in str(record[0].message)  # the message lists the known words
    with pytest.raises(ValueError, match="Unknown words"):
        encoder.encode(caption, unknown="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode(caption, unknown="ignore")
        assert encoder.report_unknown(["a red circle"]) == [[]]


def test_output_shapes(encoder):
    out = encoder(["a red circle", "a small blue square left of a large red cross", ""])
    length = encoder.max_length
    assert out["pooled"].shape == (3, 32)
    assert out["tokens"].shape == (3, length, 32)
    np.testing.assert_array_equal(out["mask"].numpy().sum(1), [3, 10, 0])
    np.testing.assert_array_equal(out["pooled"].numpy()[2], 0)  # empty caption: no text
    tokens, mask = out["tokens"].numpy(), out["mask"].numpy()
    assert np.all(tokens[~mask] == 0)
    np.testing.assert_allclose(out["pooled"][:2], tokens[:2].sum(1) / mask[:2, :, None].sum(1),
                               atol=1e-6)  # fmt: skip


def test_padding_changes_nothing(encoder, captions):
    ids = encoder.tokenizer(list(captions[:8])).numpy()
    full = encoder.encode_tokens(ids)
    shortest = int((ids != 0).sum(1).max())
    cut = encoder.encode_tokens(ids[:, :shortest])
    np.testing.assert_allclose(full["pooled"], cut["pooled"], atol=1e-5)
    np.testing.assert_allclose(full["tokens"][:, :shortest], cut["tokens"], atol=1e-5)
    mask = ids != 0
    scrambled = np.where(mask, ids, np.random.default_rng(0).integers(2, 20, ids.shape))
    other = encoder.encode_tokens(scrambled, mask=mask)  # same mask, other ids under it
    np.testing.assert_allclose(full["pooled"], other["pooled"], atol=1e-5)
    np.testing.assert_allclose(full["tokens"], other["tokens"], atol=1e-5)
    without_mask = encoder.encode_tokens(scrambled, mask=np.ones_like(mask))
    assert np.abs(without_mask["pooled"] - full["pooled"]).max() > 1e-3  # the mask matters


def test_word_order_matters(encoder):
    out = encoder(["a red circle left of a blue square", "a blue square left of a red circle"])
    assert np.abs(out["pooled"][0] - out["pooled"][1]).max() > 1e-4


def _classifier(encoder, num_classes):
    inputs = keras.Input(shape=(), dtype="string")
    logits = keras.layers.Dense(num_classes, name="head")(encoder(inputs)["pooled"])
    return keras.Model(inputs, logits)


def test_keras_round_trip_gives_identical_outputs(encoder, captions, tmp_path):
    encoder.save(tmp_path / "encoder.keras")
    loaded = keras.saving.load_model(tmp_path / "encoder.keras")  # safe mode
    assert isinstance(loaded, TextEncoder) and loaded.vocabulary == encoder.vocabulary
    batch = list(captions[:16]) + ["a purple thing", ""]
    for key in ("pooled", "tokens", "mask"):
        np.testing.assert_array_equal(encoder(batch)[key], loaded(batch)[key])
    model = _classifier(encoder, 3)
    model.save(tmp_path / "classifier.keras")
    restored = keras.saving.load_model(tmp_path / "classifier.keras")
    strings = tf.constant(batch)
    np.testing.assert_array_equal(model(strings), restored(strings))


def test_learns_a_caption_to_attribute_task():
    # The first-named object's colour: in "a red circle left of a blue square" it is red,
    # in "a blue square left of a red circle" blue, so word order (positions) is needed.
    data = load_shapes_captions("train", n=600, image_size=4, seed=1)
    labels = data.colours[:, 0]
    keras.utils.set_random_seed(1)
    encoder = build_text_encoder(data.captions, embed_dim=32, num_heads=2, num_layers=1)
    model = _classifier(encoder, len(COLOUR_NAMES))
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.process_time()  # CPU seconds: the machine may be shared
    model.fit(tf.constant(data.captions[:500]), labels[:500], batch_size=50, epochs=25,
              verbose=0)  # fmt: skip
    seconds = time.process_time() - start
    predicted = np.argmax(model(tf.constant(data.captions[500:])), axis=-1)
    two = data.num_objects[500:] == 2
    assert (predicted == labels[500:]).mean() >= 0.95
    assert two.sum() > 30 and (predicted[two] == labels[500:][two]).mean() >= 0.9
    assert seconds < 60, seconds


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: check_captions([]), ValueError, "at least one caption"),
        (lambda: check_captions(["a", 3]), TypeError, r"captions\[1\]=3"),
        (lambda: check_captions(None), TypeError, "Received: captions=None"),
        (lambda: check_captions(["  "], allow_empty=False), ValueError, "is empty"),
        (lambda: CaptionTokenizer(["a"], max_length=0), ValueError, "max_length=0"),
        (lambda: CaptionTokenizer(["a", "a"]), ValueError, "repeat"),
        (lambda: CaptionTokenizer([OOV_TOKEN]), ValueError, "OOV"),
        (lambda: CaptionTokenizer.adapt(["!!", "..."]), ValueError, "no words"),
        (lambda: TextEncoder(["a"], embed_dim=0), ValueError, "embed_dim=0"),
        (lambda: TransformerBlock(30, 4, 8), ValueError, "divisible"),
        (lambda: TextEncoder(["a"], num_layers=0), ValueError, "num_layers"),
    ],
)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_bad_captions_reach_the_encoder_as_clear_errors(encoder):
    with pytest.raises(ValueError, match="at least one caption"):
        encoder([])
    with pytest.raises(TypeError, match="must hold strings"):
        encoder.encode(["a red circle", None])
    with pytest.raises(ValueError, match="Unknown unknown"):
        encoder.encode("a red circle", unknown="shout")
