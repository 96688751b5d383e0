"""Hard negative captions for a text-conditional discriminator: one attribute word swapped.

GAN-CLS (`imgenlib.models.text_gan.TextGAN`) shows its discriminator a real image with a
*mismatched* caption as a negative: the batch's captions rolled by one. On
``shapes_captions`` a rolled caption almost always differs from the image in colour (5/6)
or position (8/9), so D can reject it from those alone and never has to read the shape
word; the generator then gets no gradient towards the right shape. A *hard negative*
is the image's own caption with one attribute word replaced by another word of the same
kind ("a small red circle in the top left" → "a small red square in the top left"), which
only an image that shows the named attribute can tell apart. `imgenlib.clip.MiniCLIP` uses
the same swap for its hard negative captions (``hard_negatives=``), where it helped.

`swap_attribute_words` does the swap on token ids inside the train step, so it works for
any phrasing and leaves the dataset unchanged: in each row, one token that belongs to a
word group (e.g. the shape words) is picked uniformly and replaced by a *different* word
of its group, both choices drawn from a stateless seed (`imgenlib.distribute`: the same
global batch on any number of replicas, so resumed and distributed runs are exact).

**Mismatched captions** are the batch's text vectors rolled by one: image i is paired
with caption i − 1. A rolled caption can coincidentally describe the image (the same
attributes). Measured on 10,000 ``shapes_captions`` training scenes in 20 random orders:
with one object per scene, 0.27 % of rolled pairs have identical attributes (colour,
shape, size, position), 0.06 % identical words, and 1.8 % the same colour and position;
with half the scenes holding two objects, 0.08 % and 0.02 % (all attributes, words).
Such pairs are kept as negatives: a rare label noise.

**In the TextGAN** (``TextGAN(hard_negatives=w)``: the hard negatives take weight w of
the mismatched half). Without them the ``text`` preset at 30 epochs draws the named shape
for 0.45 of seen and 0.27 of held-out prompts (chance 0.25). Measured with
``evaluate_text(model, n=500)`` (exact / shape / colour / position / size), the ``text``
preset at 32×32 for 12 epochs (1,872 steps, one seed): without, seen 0.19 / 0.28 / 0.94 /
0.92 / 0.83, held-out 0.16 / 0.26 / 0.94 / 0.91 / 0.84; with w = 0.5 (one more D pass per
step; 1,420 CPU seconds in all, evaluation included), seen 0.10 / 0.38 / 0.76 / 0.60 /
0.66, held-out 0.06 / 0.40 / 0.39 / 0.62 / 0.68. Shape follows the prompt more often, but
colour and position lag (held-out colour falls most: perhaps G ties colour to shape as in
the seen pairs; not checked), and D barely separates the hard negatives (P(real) 0.53
against 0.71 for matching captions in epoch 12). Hence off.

A 16×16 screen (``text`` preset, 5 epochs, one seed; ``evaluate_text(model, n=500)``,
seen / held-out; ``TextGAN(hard_negatives=w)``, which gives the hard negatives share w of
the mismatched half):

=====================  ===========  ===========  ===========  ===========
setting                exact        shape        colour       position
=====================  ===========  ===========  ===========  ===========
off                    0.14 / 0.13  0.29 / 0.25  0.64 / 0.71  0.82 / 0.78
shape, w = 0.5         0.07 / 0.09  0.32 / 0.35  0.39 / 0.44  0.75 / 0.71
shape, w = 1.0         0.01 / 0.04  0.33 / 0.36  0.22 / 0.24  0.43 / 0.45
shape+colour+size 0.5  0.08 / 0.12  0.30 / 0.27  0.47 / 0.57  0.71 / 0.65
shape, on top (*)      0.08 / 0.12  0.34 / 0.38  0.40 / 0.48  0.81 / 0.80
=====================  ===========  ===========  ===========  ===========

(*) not an option here: rolled captions keep weight ½ and ``½ softplus(hard)`` is added.
Shape rises a little; position falls as the rolled captions lose weight (with w = 1 there
are none) and recovers when they keep it; colour falls in every variant. See
`imgenlib.models.text_gan` for 32×32.
"""

from __future__ import annotations

import tensorflow as tf

from imgenlib.data.shapes import COLOUR_NAMES, SHAPE_NAMES, SIZE_NAMES
from imgenlib.distribute import stateless_uniform
from imgenlib.models import base  # a module: base may be importing keras, whose hook imports us

__all__ = ["ATTRIBUTE_WORDS", "group_token_ids", "hard_negative_logits", "swap_attribute_words"]

ATTRIBUTE_WORDS = {"shape": SHAPE_NAMES, "colour": COLOUR_NAMES, "size": SIZE_NAMES}
"""The word groups of `shapes_captions`' attributes, by attribute name."""


def group_token_ids(
    vocabulary, attributes, *, required: bool = False, name: str = "attributes"
) -> list[list[int]]:
    """Token ids (``vocabulary`` index + 2: 0 is padding, 1 OOV) of each attribute's words.

    Args:
        vocabulary: the tokenizer's words (`imgenlib.text.CaptionTokenizer.vocabulary`).
        attributes: names in `ATTRIBUTE_WORDS`.
        required: hard negatives are on, so at least one group must exist.
        name: what the caller calls `attributes`, for the error message.

    Returns:
        One list of ids per attribute with at least two of its words in the vocabulary.

    Raises:
        ValueError: an unknown attribute name, or `required` and no attribute has two
            words in the vocabulary.
    """
    position = {word: i + 2 for i, word in enumerate(vocabulary)}
    groups = []
    for attribute in attributes:
        if attribute not in ATTRIBUTE_WORDS:
            raise ValueError(
                f"Unknown attribute {attribute!r}; expected one of {sorted(ATTRIBUTE_WORDS)}."
            )
        ids = [position[word] for word in ATTRIBUTE_WORDS[attribute] if word in position]
        if len(ids) >= 2:
            groups.append(ids)
    if required and not groups:
        raise ValueError(
            "hard negatives need two or more words of one of their attributes in the text "
            f"encoder's vocabulary ({len(vocabulary)} words). Received: "
            f"{name}={tuple(attributes)!r}"
        )
    return groups


def hard_negative_logits(gan, images, token_ids, step):
    """A `imgenlib.models.text_gan.TextGAN` discriminator's logits on (image, its caption
    with one attribute word swapped: seed keyed by the D step), and their loss weights
    (``gan.hard_negatives`` where the caption changed, else 0)."""
    seed = gan.noise_seed(base.NoiseSalt.TEXT_HARD_NEGATIVES, step)
    swapped, changed = swap_attribute_words(token_ids, gan.hard_negative_ids, seed)
    training = gan.text_training == "discriminator"
    hard_text = gan.text_vectors(swapped, training=training)
    if not training:
        hard_text = tf.stop_gradient(hard_text)
    logits = gan.discriminator([images, hard_text], training=True)
    return logits, gan.hard_negatives * tf.cast(changed, tf.float32)


def swap_attribute_words(token_ids, groups, seed):
    """Replace one group word per row by another word of its group.

    Args:
        token_ids: int (B, L) token ids.
        groups: lists of token ids (`group_token_ids`), disjoint, each of two or more.
        seed: a stateless seed (shape [2]).

    Returns:
        ``(swapped, changed)``: the new ids (same dtype and shape; exactly one token
        differs in a row that holds a group word, none in the others) and a bool (B,),
        whether the row changed.
    """
    token_ids = tf.convert_to_tensor(token_ids)
    length = tf.shape(token_ids)[1]
    draws = stateless_uniform([tf.shape(token_ids)[0], length + 1], seed)
    member = [tf.reduce_any(token_ids[..., None] == tf.constant(g, token_ids.dtype), -1)
              for g in groups]  # fmt: skip
    candidate = tf.reduce_any(tf.stack(member), 0) if member else tf.zeros_like(token_ids, bool)
    changed = tf.reduce_any(candidate, 1)
    where = tf.argmax(tf.where(candidate, draws[:, :-1], -1.0), axis=1, output_type=tf.int32)
    chosen = tf.gather(token_ids, where, batch_dims=1)
    replacement = chosen
    for ids in groups:
        table = tf.constant(ids, token_ids.dtype)
        hits = chosen[:, None] == table
        index = tf.argmax(tf.cast(hits, tf.int32), axis=1, output_type=tf.int32)
        step = 1 + tf.cast(tf.floor(draws[:, -1] * (len(ids) - 1)), tf.int32)
        step = tf.minimum(step, len(ids) - 1)  # a draw of exactly 1.0 cannot wrap to itself
        other = tf.gather(table, (index + step) % len(ids))
        replacement = tf.where(tf.reduce_any(hits, 1), other, replacement)
    at = tf.logical_and(tf.one_hot(where, length, on_value=True, off_value=False),
                        changed[:, None])  # fmt: skip
    return tf.where(at, replacement[:, None], token_ids), changed
