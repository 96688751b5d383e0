"""Captions to vectors: a tokenizer and a small transformer text encoder, as Keras layers.

``caption → CaptionTokenizer → token ids → TextEncoder → pooled vector + per-token states``

- `CaptionTokenizer` lower-cases a caption, turns punctuation into spaces ("top-left:" →
  "top left"), splits on whitespace and maps words to ids with
  ``keras.layers.TextVectorization``: 0 is padding, 1 the out-of-vocabulary token
  ``"[UNK]"``. `CaptionTokenizer.adapt` builds the vocabulary from training captions;
  `CaptionTokenizer.unknown_words` lists what a caption says that the vocabulary lacks.
- `TextEncoder` embeds the ids, adds learned position embeddings, runs `num_layers`
  pre-norm transformer blocks (`TransformerBlock`: ``keras.layers.MultiHeadAttention`` +
  MLP, each with LayerNorm and a residual, Vaswani et al. 2017,
  https://arxiv.org/abs/1706.03762) in which padding is masked out of every attention, and
  returns ``{"pooled", "tokens", "mask"}``. The pooled vector is the **masked mean** of the
  final token states, so padding changes nothing and an empty caption gives zeros (the
  "no text" input of classifier-free guidance).

Both save inside a ``.keras`` file (registered under the package ``"imgenlib"``) with
their vocabulary, so a saved model reads raw strings.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from imgenlib._validation import check_choice, check_float, check_int, check_positive_int

__all__ = [
    "OOV_TOKEN",
    "CaptionTokenizer",
    "TextEncoder",
    "TransformerBlock",
    "as_string_tensor",
    "build_text_encoder",
    "check_captions",
]

OOV_TOKEN = "[UNK]"
PUNCTUATION = r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']"


def check_captions(captions, *, name: str = "captions", allow_empty: bool = True) -> list[str]:
    """Return `captions` as a non-empty list of strings (one string is one caption).

    Args:
        captions: a string, or a list/tuple/1-D array of strings.
        name: the argument name used in messages.
        allow_empty: accept empty or blank captions (the "no text" input).

    Raises:
        TypeError: a caption is not a string.
        ValueError: no captions at all, or a blank caption when not allowed.
    """
    if isinstance(captions, str):
        captions = [captions]
    elif isinstance(captions, np.ndarray) and captions.ndim == 1:
        captions = captions.tolist()
    if not isinstance(captions, (list, tuple)):
        raise TypeError(
            f"{name} must be a string or a list of strings. Received: {name}={captions!r}"
        )
    if len(captions) == 0:
        raise ValueError(f"{name} must contain at least one caption. Received: {name}=[]")
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise TypeError(
                f"{name} must hold strings. Received: {name}[{i}]={caption!r} "
                f"({type(caption).__name__})"
            )
        if not allow_empty and not caption.strip():
            raise ValueError(f"{name}[{i}] is empty. Received: {name}[{i}]={caption!r}")
    return list(captions)


def as_string_tensor(captions):
    """Python captions (a string, a list or tuple of strings) as a 1-D string tensor."""
    if isinstance(captions, (str, list, tuple)):
        return tf.constant(check_captions(captions), tf.string)
    return captions


def _check_vocabulary(vocabulary) -> tuple[str, ...]:
    words = check_captions(vocabulary, name="vocabulary", allow_empty=False)
    if len(set(words)) != len(words):
        raise ValueError("vocabulary must not repeat words.")
    if OOV_TOKEN in words:
        raise ValueError(f"vocabulary must not contain the OOV token {OOV_TOKEN!r}.")
    return tuple(words)


@keras.saving.register_keras_serializable(package="imgenlib")
class CaptionTokenizer(keras.layers.Layer):
    """Captions (strings) → int token ids (batch, max_length); 0 pads, 1 is ``"[UNK]"``.

    Args:
        vocabulary: the known words (no padding or OOV entries; see `adapt`).
        max_length: tokens kept per caption; longer captions are cut.

    Raises:
        TypeError, ValueError: bad vocabulary or `max_length`.
    """

    def __init__(self, vocabulary, max_length: int = 16, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.vocabulary = _check_vocabulary(vocabulary)
        self.max_length = check_positive_int("max_length", max_length)
        self.vectorize = keras.layers.TextVectorization(
            standardize=None,
            split="whitespace",
            output_sequence_length=self.max_length,
            vocabulary=list(self.vocabulary),
            name="vectorize",
        )

    @property
    def vocabulary_size(self) -> int:
        """Number of ids: the words plus padding and ``"[UNK]"``."""
        return len(self.vocabulary) + 2

    def __call__(self, captions, *args, **kwargs):
        return super().__call__(as_string_tensor(captions), *args, **kwargs)

    @staticmethod
    def standardize(captions):
        """Lower-case (UTF-8) and replace punctuation with spaces: a string tensor."""
        text = tf.strings.lower(tf.convert_to_tensor(captions, tf.string), encoding="utf-8")
        return tf.strings.regex_replace(text, PUNCTUATION, " ")

    def call(self, captions):
        return self.vectorize(self.standardize(captions))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.max_length)

    def words(self, captions) -> list[list[str]]:
        """The words of each caption as the tokenizer sees them (before the length cut)."""
        captions = check_captions(captions)
        split = tf.strings.split(self.standardize(captions)).to_list()
        return [[word.decode("utf-8") for word in row] for row in split]

    def unknown_words(self, caption: str) -> list[str]:
        """The words of one caption that are not in the vocabulary (mapped to ``"[UNK]"``)."""
        if not isinstance(caption, str):
            raise TypeError(f"caption must be a string. Received: caption={caption!r}")
        known = set(self.vocabulary)
        return [word for word in self.words(caption)[0] if word not in known]

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": list(self.vocabulary),
            "max_length": self.max_length,
        }

    @classmethod
    def adapt(
        cls, captions, *, max_length: int | None = None, max_tokens: int | None = None, **kwargs
    ):
        """A tokenizer whose vocabulary is the words of `captions`, most frequent first.

        Args:
            captions: the training captions.
            max_length: tokens per caption; default the longest caption's word count.
            max_tokens: keep at most this many words (the rarest are dropped).

        Raises:
            ValueError, TypeError: no captions, non-strings, captions without any word.
        """
        captions = check_captions(captions)
        if max_tokens is not None:
            max_tokens = check_positive_int("max_tokens", max_tokens)
        counter = keras.layers.TextVectorization(
            standardize=None, max_tokens=None if max_tokens is None else max_tokens + 2
        )
        counter.adapt(cls.standardize(captions))
        vocabulary = [str(word) for word in counter.get_vocabulary()[2:]]
        if not vocabulary:
            raise ValueError(f"captions hold no words. Received: captions={captions[:3]!r}...")
        if max_length is None:
            max_length = max(len(words) for words in cls(vocabulary, 1).words(captions))
        return cls(vocabulary, max_length, **kwargs)


@keras.saving.register_keras_serializable(package="imgenlib")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer encoder block: x + MHA(LN(x)), then x + MLP(LN(x)).

    Padding (``mask`` False) is never attended to, so it cannot change any real token.

    Args:
        embed_dim: width of the token states.
        num_heads: attention heads (`embed_dim` must divide evenly).
        mlp_dim: hidden width of the MLP.
        dropout: dropout rate on the attention weights and both residual branches.
    """

    def __init__(self, embed_dim, num_heads, mlp_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(
                "embed_dim must be divisible by num_heads. "
                f"Received: embed_dim={embed_dim}, num_heads={num_heads}"
            )
        self.mlp_dim = check_positive_int("mlp_dim", mlp_dim)
        self.dropout = check_float("dropout", dropout, minimum=0, maximum=1, max_inclusive=False)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, embed_dim // num_heads, dropout=self.dropout
        )
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=1e-5)
        self.hidden = keras.layers.Dense(mlp_dim, activation="gelu")
        self.project = keras.layers.Dense(embed_dim)
        self.residual_dropout = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.mlp_norm.build(input_shape)
        self.hidden.build(input_shape)
        self.project.build((*input_shape[:-1], self.mlp_dim))

    def call(self, x, mask, training=False):
        pairs = ops.logical_and(mask[:, :, None], mask[:, None, :])  # (batch, query, key)
        h = self.attention_norm(x)
        h = self.attention(h, h, attention_mask=pairs, training=training)
        x = x + self.residual_dropout(h, training=training)
        h = self.project(self.hidden(self.mlp_norm(x)))
        return x + self.residual_dropout(h, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="imgenlib")
class TextEncoder(keras.Model):
    """Captions → ``{"pooled": (B, D), "tokens": (B, L, D), "mask": (B, L)}``.

    Token embedding + learned positions → `num_layers` `TransformerBlock` s → LayerNorm.
    ``tokens`` are zero at padding; ``pooled`` is their masked mean (zeros for an empty
    caption).

    Args:
        vocabulary: the known words, or a `CaptionTokenizer` (see `build_text_encoder`).
        max_length: tokens per caption (ignored when a tokenizer is given).
        embed_dim: width D of token states and of the pooled vector.
        num_heads: attention heads.
        num_layers: transformer blocks.
        mlp_dim: MLP hidden width; default ``2 * embed_dim``.
        dropout: dropout rate in the blocks (training only).

    Example:
        >>> encoder = build_text_encoder(["a red circle", "a blue square"], embed_dim=32)
        >>> encoder(["a red square"])["pooled"].shape
        TensorShape([1, 32])
    """

    def __init__(
        self,
        vocabulary,
        *,
        max_length: int = 16,
        embed_dim: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        mlp_dim: int | None = None,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(vocabulary, CaptionTokenizer):
            self.tokenizer = vocabulary
        else:
            self.tokenizer = CaptionTokenizer(vocabulary, max_length, name="tokenizer")
        self.max_length = self.tokenizer.max_length
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.num_layers = check_int("num_layers", num_layers, minimum=1)
        self.mlp_dim = 2 * self.embed_dim if mlp_dim is None else mlp_dim
        self.dropout = dropout
        self.token_embedding = keras.layers.Embedding(
            self.tokenizer.vocabulary_size, embed_dim, name="token_embedding"
        )
        self.position_embedding = keras.layers.Embedding(
            self.max_length, embed_dim, name="position_embedding"
        )
        self.blocks = [
            TransformerBlock(embed_dim, num_heads, self.mlp_dim, dropout, name=f"block_{i}")
            for i in range(self.num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")

    @property
    def vocabulary(self) -> tuple[str, ...]:
        return self.tokenizer.vocabulary

    def __call__(self, captions, *args, **kwargs):
        return super().__call__(as_string_tensor(captions), *args, **kwargs)

    def build(self, input_shape=None):
        states = (None, self.max_length, self.embed_dim)
        self.token_embedding.build((None, self.max_length))
        self.position_embedding.build((self.max_length,))
        for block in self.blocks:
            block.build(states)
        self.final_norm.build(states)
        self.built = True

    def call(self, captions, training=False):
        return self.encode_tokens(self.tokenizer(captions), training=training)

    def embed_tokens(self, token_ids):
        """The transformer's input (batch, T, D): each token's embedding plus its position's."""
        length = ops.shape(token_ids)[1]
        return self.token_embedding(token_ids) + self.position_embedding(ops.arange(length))[None]

    def encode_tokens(self, token_ids, mask=None, training=False):
        """Encode token ids (batch, T ≤ max_length); `mask` defaults to ``token_ids != 0``."""
        token_ids = ops.convert_to_tensor(token_ids, "int32")
        mask = ops.not_equal(token_ids, 0) if mask is None else ops.cast(mask, "bool")
        x = self.embed_tokens(token_ids)
        for block in self.blocks:
            x = block(x, mask, training=training)
        weights = ops.cast(mask, x.dtype)[..., None]
        tokens = self.final_norm(x) * weights
        pooled = ops.sum(tokens, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        return {"pooled": pooled, "tokens": tokens, "mask": mask}

    def encode(self, captions, *, unknown: str = "warn") -> dict:
        """Validate captions, report unknown words, and encode them eagerly (NumPy out).

        Args:
            captions: a string or a list of strings.
            unknown: ``"warn"`` (a warning names the unknown words), ``"raise"`` or
                ``"ignore"``.

        Raises:
            TypeError, ValueError: bad captions; unknown words with ``unknown="raise"``.
        """
        captions = check_captions(captions)
        check_choice("unknown", unknown, ("warn", "raise", "ignore"))
        self.report_unknown(captions, unknown)
        outputs = self(captions)
        return {key: ops.convert_to_numpy(value) for key, value in outputs.items()}

    def report_unknown(self, captions, unknown: str = "warn") -> list[list[str]]:
        """The unknown words of each caption; warned about or raised as `unknown` says."""
        captions = check_captions(captions)
        found = [self.tokenizer.unknown_words(caption) for caption in captions]
        if unknown != "ignore" and any(found):
            named = {
                caption: words for caption, words in zip(captions, found, strict=True) if words
            }
            lines = "; ".join(
                f"{caption!r}: {', '.join(words)}" for caption, words in named.items()
            )
            message = (
                f"Unknown words (read as {OOV_TOKEN}): {lines}. The encoder knows "
                f"{len(self.vocabulary)} words: {', '.join(self.vocabulary[:40])}"
                + (", ..." if len(self.vocabulary) > 40 else "")
            )
            if unknown == "raise":
                raise ValueError(message)
            warnings.warn(message, UserWarning, stacklevel=3)
        return found

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": list(self.vocabulary),
            "max_length": self.max_length,
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "num_layers": self.num_layers,
            "mlp_dim": self.mlp_dim,
            "dropout": self.dropout,
        }


def build_text_encoder(captions, *, max_length: int | None = None, **kwargs) -> TextEncoder:
    """A `TextEncoder` whose vocabulary is adapted from training `captions`.

    Args:
        captions: the training captions.
        max_length: tokens per caption; default the longest caption's word count.
        **kwargs: `TextEncoder` arguments (``embed_dim``, ``num_layers``, ...).
    """
    tokenizer = CaptionTokenizer.adapt(captions, max_length=max_length, name="tokenizer")
    encoder = TextEncoder(tokenizer, **kwargs)
    encoder.build()
    return encoder
