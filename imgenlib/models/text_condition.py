"""What a `imgenlib.models.TextDiffusion`'s U-Net reads of a caption: the text condition.

A mixin, kept apart from the model so that text_diffusion.py reads in one sitting. The
condition is the pooled vector (added to the time embedding, or scaling and shifting each
block's norm with AdaGN) and, for a cross-attention U-Net, one state per token and the
padding mask. Each part has two sources:

- ``text_pooling``: ``"encoder"``, the transformer's states averaged (the default), or
  ``"words"``, the mean of the caption's word vectors (a bag of words);
- ``text_tokens`` (cross-attention only): ``"encoder"``, the transformer's states (the
  default), or ``"words"``, each token's word vector plus its position vector,
  layer-normalised without learned parameters (`word_states`).

**Why word states compose** (issue 16, measured in `imgenlib.models.diffusion_words`):
a transformer's state of "square" in "a yellow square" already mixes in "yellow", and a
frozen Mini-CLIP puts every held-out caption next to a *seen* caption of the same colour
and another shape, so a U-Net reading those states draws the yellow square as the yellow
circle it knows. A word state is the same vector for "square" whatever the colour beside
it: a cross-attention query at a pixel can take the shape from one token and the colour
from another, and a pair never seen together is two things seen apart. The position
vector keeps which object a word belongs to ("a red circle left of a blue square").
"""

from __future__ import annotations

import tensorflow as tf

from imgenlib._validation import check_choice

__all__ = ["TEXT_POOLING", "TEXT_TOKENS", "TextCondition"]

TEXT_POOLING = ("encoder", "words")
TEXT_TOKENS = ("encoder", "words")


class TextCondition:
    """Mixin of `imgenlib.models.TextDiffusion`: the U-Net's text inputs from token ids.

    The model provides ``text_encoder`` and ``cross_attention`` and calls
    `_init_text_condition` after its network is set.
    """

    def _init_text_condition(self, text_pooling, text_tokens):
        self.text_pooling = check_choice("text_pooling", text_pooling, TEXT_POOLING)
        self.text_tokens = check_choice("text_tokens", text_tokens, TEXT_TOKENS)
        if self.text_tokens != "encoder" and not self.cross_attention:
            raise ValueError(
                "text_tokens names the token states a cross-attention U-Net reads; this "
                "network has no cross-attention (build_text_diffusion(cross_attention=True)). "
                f"Received: text_tokens={text_tokens!r}"
            )

    def text_condition_config(self) -> dict:
        """The condition options that are not the defaults, for ``get_config``."""
        config = {"text_pooling": self.text_pooling, "text_tokens": self.text_tokens}
        return {key: value for key, value in config.items() if value != "encoder"}

    def text_vectors(self, token_ids, training=False, encoder=None):
        """Pooled text vectors (B, D) of token ids; zeros ("no text") for all-padding rows."""
        return tf.nest.flatten(self.text_condition(token_ids, training, encoder))[0]

    def text_condition(self, token_ids, training=False, encoder=None):
        """The network's text inputs for token ids: the pooled vectors (B, D) or, with
        `cross_attention`, ``(pooled, token states (B, L, D), mask (B, L), 1.0 at tokens)``;
        all zeros ("no text") for all-padding rows."""
        encoder = self.text_encoder if encoder is None else encoder
        encoded = {}  # the transformer runs only when its output is used
        tokens_from = self.text_tokens if self.cross_attention else None
        if "encoder" in (self.text_pooling, tokens_from):
            encoded = encoder.encode_tokens(token_ids, training=training)
        present = tf.not_equal(token_ids, 0)  # a word, not padding
        if self.text_pooling == "words":
            pooled = self.word_mean(encoder, token_ids, present)
        else:
            pooled = tf.cast(encoded["pooled"], tf.float32)
        has_text = tf.reduce_any(present, axis=1, keepdims=True)
        pooled = tf.where(has_text, pooled, tf.zeros_like(pooled))
        if not self.cross_attention:
            return pooled
        mask = tf.cast(present, tf.float32)
        if self.text_tokens == "words":
            tokens = self.word_states(encoder, token_ids)
        else:
            tokens = tf.cast(encoded["tokens"], tf.float32)
        return pooled, tokens * mask[..., None], mask

    @staticmethod
    def word_mean(encoder, token_ids, present):
        """``text_pooling="words"``: the mean of the captions' token embeddings (B, D), float32,
        over the tokens where `present` (``token_ids != 0``); zeros for all-padding rows."""
        words = tf.cast(encoder.token_embedding(token_ids), tf.float32)
        weights = tf.cast(present, tf.float32)[..., None]
        return tf.reduce_sum(words * weights, 1) / tf.maximum(tf.reduce_sum(weights, 1), 1.0)

    @staticmethod
    def word_states(encoder, token_ids):
        """``text_tokens="words"``: (B, L, D) float32, each token's embedding plus its
        position's, normalised to mean 0 and variance 1 over D (no learned scale: the
        cross-attention's projections follow); not masked."""
        states = tf.cast(encoder.embed_tokens(token_ids), tf.float32)  # the transformer's input
        mean, variance = tf.nn.moments(states, axes=[-1], keepdims=True)
        return (states - mean) * tf.math.rsqrt(variance + 1e-5)
