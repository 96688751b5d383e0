"""The caption-word classifier of a `imgenlib.models.TextDiffusion` (``word_loss=w``).

The TextGAN learnt to draw the shape a caption names once a classifier in its discriminator
had to say which words the caption holds (`imgenlib.models.caption_words`). A denoiser has no
discriminator, so this module gives it a classifier of its own: a small CNN that reads an
image and predicts the bag of words of its caption (`imgenlib.losses.caption_word_loss`, the
mean binary cross-entropy over the vocabulary). Each training step

- trains the classifier on the batch's *real* images and their captions (only captions: no
  attribute labels), and
- adds to the denoiser's loss w · ᾱ_t times the classifier's error on the denoiser's own
  estimate of the clean image, x̂_0 (from v̂: sqrt(ᾱ) · x_t − sqrt(1 − ᾱ) · v̂; from ε̂:
  (x_t − sqrt(1 − ᾱ) · ε̂) / sqrt(ᾱ)), for the captions it was given. The classifier's
  weights get no gradient from this term, or it would learn to accept what the denoiser
  draws. Captions dropped for guidance add nothing.

The squared-error loss alone asks for the mean of the images that fit the caption, and a
U-Net reading a pooled text vector learns colour and position long before shape (the zoo's
30-minute model drew the asked shape at chance); the word term asks that x̂_0 *look like*
the words, shape included. The weight ᾱ_t leaves out the noisiest steps, where x̂_0 is a blur
no classifier can read. This is classifier guidance moved into training: Dhariwal & Nichol
(2021, https://arxiv.org/abs/2105.05233) add a noisy classifier's gradient at sampling,
"universal guidance" (Bansal et al. 2023, https://arxiv.org/abs/2302.07121) a clean one's on
x̂_0; here the gradient goes into the weights once, so sampling is unchanged. It biases x̂_0
away from the plain mean, which can cost diversity: compare FID with and without.

**Measured: it does not pay at 30 CPU minutes, so it is off by default.** The ``text``
preset with the frozen Mini-CLIP encoder (``train diffusion --data shapes_captions --text
--text-encoder clip --max-minutes 30``, one TF thread each, the two runs side by side),
scored by `imgenlib.evaluate_text` (300 prompts per split, 25 DDIM steps, guidance 3),
seen / held-out colour–shape pairs:

=========  ======  =============  =============  =============  =============
word_loss  epochs  colour         shape          position       exact match
=========  ======  =============  =============  =============  =============
0          23      0.970 / 0.890  0.723 / 0.460  0.980 / 0.990  0.687 / 0.347
1          21      0.937 / 0.787  0.680 / 0.523  0.987 / 0.987  0.603 / 0.293
=========  ======  =============  =============  =============  =============

The term raised held-out shape by 6 points but cost colour; its v-loss stayed higher (0.047
against 0.028 in the last epoch) and each step took 10 % longer (113 against 125 img/s).
Weight 5 hurt colour, size and position after 10 minutes, shape still at chance (0.28). The
classifier explains part of it: trained on captions alone, where every held-out colour–shape
pair is missing, a bag-of-words CNN first learns each colour's usual shapes, and its shape
reading of *held-out* real scenes (``test_compositional``) fell to 0.02–0.11 after 750–1,000
steps before climbing to 0.6 after 5,000, where it stayed while it overfitted (a standalone
`build_word_classifier`, Adam 1e-3, batch 64, 10,000 scenes; 1.8 CPU s per 100 steps).

**With AdaGN the term pays on held-out pairs** (session 28). The same preset and command
with `DiffusionConfig` overrides (``/work/runs/s28/pilot.py`` in that session's note: the
preset patched, then the CLI), 30 minutes, one TF thread each, two runs side by side, scored
by ``evaluate_text(model, n=150, sampling={"steps": 25, "guidance": 3.0})``, seen / held-out:

==================================  ======  ===========  ===========  ===========
overrides of the ``text`` preset    epochs  colour       shape        exact match
==================================  ======  ===========  ===========  ===========
none (zoo model to 2026-12-04)      23      — / —        .727 / .440  .667 / .327
``scale_shift=True`` (AdaGN)        23      1.00 / .880  .867 / .487  .840 / .347
AdaGN, ``word_loss=1``              21      .953 / .840  .780 / .640  .727 / .460
AdaGN, cross-attention              18      1.00 / .953  .787 / .600  .780 / .533
AdaGN, ``word_loss=3``              19      .920 / .873  .640 / .533  .433 / .273
AdaGN, ``text_pooling="words"``     22      .907 / .707  .627 / .273  .547 / .180
AdaGN, 64×64, ``patch=2``           22      .907 / .647  .673 / .460  .613 / .193
AdaGN, cross-attention, word loss   15      .947 / .933  .640 / .540  .520 / .447
AdaGN, cross-attention to **word    17      1.00 / 1.00  .973 / .980  **.953 / .947**
states** (``text_tokens="words"``)
the same, ``text_pooling="words"``  17      1.00 / 1.00  .967 / .980  .953 / .980
==================================  ======  ===========  ===========  ===========

AdaGN lifts every seen attribute (shape +14 points) but held-out shape hardly moves; the
word term on top of it takes held-out shape from .49 to .64 (+15), cross-attention to the
token states to .60 with colour at .95; weight 3 costs position (.71 / .61). Each colour is
drawn with the shapes it came with: for 50 held-out prompts each, AdaGN alone draws the blue
circle right 55 times but the yellow square as a circle 43 times, and the Mini-CLIP vector
of every held-out caption but the blue circle's is nearest to a seen caption of the *same
colour and another shape* (yellow square → yellow circle); with the word term the yellow
square is drawn 15 times in 50, with cross-attention 4. A bag of words
(``text_pooling="words"``) does not compose: the blue circle becomes a square. ``n = 150``
gives a standard error of about .04.

**Cross-attention to word states composes** (session 29; the last three rows, same command
and scoring). Cross-attention to the transformer's token states inherits their geometry: the
state of "square" in "a yellow square" already holds "yellow". With ``text_tokens="words"``
(`imgenlib.models.text_condition`) the U-Net attends instead to each word's embedding plus
its position's, the same vector for "square" beside any colour, and draws every attribute of
held-out pairs right for 94.7 % of 150 prompts (98.0 % when the pooled vector is a bag of
words too), as often as seen ones; the runs' own end-of-run check, 500 prompts per split:
.962 / .954 and .954 / .950. Cross-attention with the word loss (weight 1, the plain
classifier) gained nothing over cross-attention alone (.520 / .447).

**A factorised classifier** (``colour_words``, session 29) removes the classifier's
shortcut: colour words are read by a branch that sees which colours an image holds but not
where or in what shape, every other word by the CNN on a colour-blind `Silhouette`, so
neither can learn that training never showed a yellow square. Trained alone on real scenes
(``python benchmarks/word_classifier_shortcut.py``, 3,000 steps) it reads the shape of 99.8
% of seen and 100 % of held-out real scenes, the plain CNN 93.0 % and 43.8 % (187 against
105 CPU s). As the denoiser's loss term it did **not** pay: AdaGN with ``word_loss=1`` and
the six colour words, 16 epochs, scored .456 / .186 on 500 prompts per split (colour .816 /
.692; the plain classifier .700 / .464), and its error on x̂_0 stayed at 0.6 (the plain
one's fell to 0.19 in the same run without colour words): a CNN trained on crisp silhouettes
cannot read the blur x̂_0 is at mid noise, and the colour branch's maximum sends its
gradient to a few pixels. Its gradient on x̂_0 used at *sampling* (a prototype, not in the
library: x̂_0 moved against the classifier's error at each of 25 DDIM steps, on the AdaGN +
cross-attention model) lowered exact match at every weight tried (60 prompts: .717 / .583
unguided, .650 / .467 at 0.3, .267 / .200 at 1).

**How fast a TextDiffusion learns** (moved here from `imgenlib.models.text_diffusion`).
**Learning** is much slower than the TextGAN's (colour 0.71 after 8 epochs on 4,096
scenes). Measured on 2,048 one-object 16×16 ``shapes_captions`` scenes
(``DiffusionConfig.tiny(prediction="v", ema_decay=0.99, learning_rate=2e-3)``, batch 64),
reading the colour and position of 150 test prompts' images from their pixels
(`imgenlib.caption_accuracy`; chance 1/6 and 1/9), DDIM 20 steps, colour at guidance
w = 1 / 3: 0.14 / 0.15 after 4 epochs (the model draws shapes but ignores the text), 0.17 /
0.24 after 12; then resumed from the saved model, w = 1 / 4: 0.25 / 0.31 after 16, 0.25 /
0.33 after 20, 0.30 / 0.35 after 24, 0.33 / 0.33 after 28; position ≤ 0.17 throughout.
After 12 epochs the caption lowers the v-loss at t = 700 from 0.071 (a wrong caption) to
0.063. ε-prediction, 6 epochs: colour 0.16. One step costs ~0.2 CPU s (its trace ~27 s).
20 epochs from scratch, 300 prompts, w = 4: colour 0.31, position 0.16, in 165 CPU s of
training (``python benchmarks/text_diffusion_learning.py``).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from imgenlib._validation import check_float
from imgenlib.distribute import stateless_uniform
from imgenlib.losses import caption_word_loss
from imgenlib.models.base import NoiseSalt
from imgenlib.models.schedules import epsilon_from_prediction, predict_x0

__all__ = ["DiffusionWordLoss", "PickWords", "Silhouette", "build_word_classifier"]

WORD_CLASSIFIER_WIDTH = 32
"""Filters of the word classifier's first convolution (then twice that)."""


def build_word_classifier(
    image_shape, vocabulary_size: int, width: int = WORD_CLASSIFIER_WIDTH, colour_ids=()
):
    """A small CNN: image (H, W, C) in [-1, 1] → (vocabulary_size,) word logits, float32.

    One convolution at full resolution, three with stride 2 (32 → 4), then a Dense layer on
    the flattened map, so that the logits can depend on *where* things are ("top left").

    With `colour_ids` (the ids of the colour words) the classifier is **factorised**: that
    CNN reads only the image's `Silhouette` (colour-blind) and scores every other word, and
    a colour branch (two per-pixel Dense layers, then the maximum over the image: it sees
    which colours are present, not where or in what shape) scores the colour words
    (`PickWords`). Neither branch can learn which colours the training set paired with
    which shapes, so a held-out pair's words are read as well as a seen pair's.
    """
    layers = keras.layers
    x = keras.Input(tuple(image_shape), name="image")
    colour_ids = tuple(int(i) for i in colour_ids)
    h = Silhouette(dtype="float32", name="silhouette")(x) if colour_ids else x
    h = layers.Conv2D(width, 3, padding="same", activation="swish", dtype="float32")(h)
    for filters in (width, 2 * width, 2 * width):
        h = layers.Conv2D(filters, 3, strides=2, padding="same", activation="swish", dtype="float32")(h)  # fmt: skip
    h = layers.Flatten(dtype="float32")(h)
    logits = layers.Dense(vocabulary_size, dtype="float32", name="words")(h)
    if colour_ids:
        c = x
        for _ in range(2):
            c = layers.Conv2D(width, 1, activation="swish", dtype="float32")(c)
        c = layers.GlobalMaxPooling2D(dtype="float32")(c)
        colours = layers.Dense(vocabulary_size, dtype="float32", name="colour_words")(c)
        logits = PickWords(colour_ids, dtype="float32", name="pick_words")([logits, colours])
    return keras.Model(x, logits, name="word_classifier")


@keras.saving.register_keras_serializable(package="imgenlib")
class Silhouette(keras.layers.Layer):
    """Image (B, H, W, C) in [-1, 1] → (B, H, W, 1): 1 − exp(−3 · v), v the brightest
    channel mapped to [0, 1] (and clipped there: a denoiser's x̂_0 at high noise can be far
    outside). Black is 0 and every saturated colour nearly 1 (0.90–0.95 for the ``shapes``
    colours), so what it shows is where things are and their outline, not their colour;
    smooth inside the range, so a gradient reaches every pixel that is in it."""

    def call(self, images):
        brightest = (keras.ops.max(images, axis=-1, keepdims=True) + 1.0) / 2.0
        return 1.0 - keras.ops.exp(-3.0 * keras.ops.clip(brightest, 0.0, 1.0))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


@keras.saving.register_keras_serializable(package="imgenlib")
class PickWords(keras.layers.Layer):
    """``[logits, colour_logits]`` (B, V) each → `colour_logits` at `colour_ids`, `logits`
    at every other id."""

    def __init__(self, colour_ids, **kwargs):
        super().__init__(**kwargs)
        self.colour_ids = [int(i) for i in colour_ids]

    def build(self, input_shapes):
        is_colour = np.zeros(input_shapes[0][-1], bool)  # fixed: built once, not per call
        is_colour[self.colour_ids] = True
        self.is_colour = is_colour[None, :]
        self.built = True

    def call(self, inputs):
        logits, colour_logits = inputs
        return keras.ops.where(self.is_colour, colour_logits, logits)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "colour_ids": self.colour_ids}


def check_colour_words(colour_words, tokenizer) -> tuple:
    """`colour_words` as a tuple of str, each one a word of `tokenizer`'s vocabulary."""
    if isinstance(colour_words, str) or not all(isinstance(w, str) for w in colour_words):
        raise TypeError(f"colour_words must be a sequence of words. Received: {colour_words!r}")
    unknown = [word for word in colour_words if word not in tokenizer.vocabulary]
    if unknown:
        raise ValueError(
            f"colour_words must be words of the captions; unknown: {unknown}. "
            f"Received: colour_words={list(colour_words)!r}"
        )
    return tuple(colour_words)


class DiffusionWordLoss:
    """Mixin of `imgenlib.models.TextDiffusion`: its word classifier and the loss terms.

    The model sets ``text_encoder``, ``image_shape``, ``schedule`` and ``prediction`` before
    calling `_init_word_classifier`.
    """

    def _init_word_classifier(self, word_loss, colour_words=()):
        """Check and store ``word_loss`` and ``colour_words``; build the classifier (factorised
        when there are colour words) and its trackers when ``word_loss`` > 0."""
        self.word_loss = check_float("word_loss", word_loss, minimum=0, maximum=100)
        self.colour_words = check_colour_words(colour_words, self.text_encoder.tokenizer)
        self.word_classifier = None
        self.word_trackers = {}
        if self.word_loss:
            vocabulary = self.text_encoder.tokenizer.vocabulary
            self.word_classifier = build_word_classifier(
                self.image_shape, self.text_encoder.tokenizer.vocabulary_size,
                colour_ids=[vocabulary.index(word) + 2 for word in self.colour_words],
            )  # fmt: skip
            self.word_trackers = {
                role: keras.metrics.Mean(name=f"words_{role}") for role in ("real", "x0")
            }

    def word_config(self) -> dict:
        """The word options that are on, for ``get_config`` (absent when off, so older saved
        models load unchanged)."""
        config = {"word_loss": self.word_loss, "colour_words": list(self.colour_words)}
        return {key: value for key, value in config.items() if value}

    def word_classifier_variables(self) -> list:
        """The classifier's trainable variables ([] without one)."""
        return [] if self.word_classifier is None else self.word_classifier.trainable_variables

    def predicted_x0(self, x_t, t, prediction):
        """The denoiser's estimate of x_0 from its raw `prediction` at x_t and t (float32)."""
        alpha_bar = tf.reshape(self.schedule.alpha_bar(t), [-1, 1, 1, 1])
        if self.prediction == "v":
            return tf.sqrt(alpha_bar) * x_t - tf.sqrt(1.0 - alpha_bar) * prediction
        epsilon = epsilon_from_prediction(prediction, x_t, alpha_bar, self.prediction)
        return predict_x0(x_t, epsilon, alpha_bar)

    def word_x0_term(self, x_t, t, prediction, token_ids, kept):
        """w · ᾱ_t · the classifier's error on x̂_0 per example, 0 where the caption was
        dropped (`kept` False); logs the unweighted error of the kept ones as ``words_x0``."""
        x0 = self.predicted_x0(x_t, t, tf.cast(prediction, tf.float32))
        error = caption_word_loss(self.word_classifier(x0, training=False), token_ids)
        kept = tf.cast(kept, tf.float32)
        self.word_trackers["x0"].update_state(error, sample_weight=kept)
        return self.word_loss * self.schedule.alpha_bar(t) * kept * error

    def word_real_loss(self, images, token_ids):
        """The classifier's per-example error on real images (its own training loss)."""
        error = caption_word_loss(self.word_classifier(images, training=True), token_ids)
        self.word_trackers["real"].update_state(error)
        return error

    def drop_words(self, token_ids, counter):
        """`token_ids` with each word replaced by padding with probability ``word_dropout``,
        drawn from (seed, ``NoiseSalt.DIFFUSION_WORD_DROP``, `counter`); a caption that loses
        every word is "no text"."""
        seed = self.noise_seed(NoiseSalt.DIFFUSION_WORD_DROP, counter)
        dropped = stateless_uniform(tf.shape(token_ids), seed) < self.word_dropout
        return tf.where(dropped, tf.zeros_like(token_ids), token_ids)
