"""Conditions of conditional models: class labels and text prompts.

Every conditional network turns its integer labels into a learned vector with one
embedding (`label_input_and_embedding`); the layer names are kept here so that
`imgenlib.conditional` finds them and saved models keep loading. `check_labels`
validates what users pass to ``generate(labels=...)``, including ``"balanced"``, and
`check_class_names` the names a model keeps for its classes. `check_prompts` validates
the prompts of a text-conditional model's ``generate(prompts=...)``.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from imgenlib import text as textlib  # a module: imgenlib.text may be importing keras now
from imgenlib._validation import check_int, check_positive_int

__all__ = [
    "LABELS_INPUT",
    "LABEL_EMBEDDING",
    "LATENT_AND_LABEL",
    "balanced_labels",
    "check_class_names",
    "check_labels",
    "check_prompts",
    "label_embedding_size",
    "label_input_and_embedding",
]

LABELS_INPUT = "labels"
LABEL_EMBEDDING = "label_embedding"
LATENT_AND_LABEL = "z_and_label"


def label_embedding_size(num_classes: int) -> int:
    """Size of the learned label vector: ``min(50, 4 * num_classes)``."""
    return min(50, 4 * check_int("num_classes", num_classes, minimum=2))


def label_input_and_embedding(num_classes: int):
    """A ``labels`` input and its ``label_embedding`` (every conditional network's label path).

    Returns:
        ``(labels, embedded)``: a `keras.Input` of int32 labels and the (batch, size)
        tensor of their learned vectors, size `label_embedding_size`.
    """
    size = label_embedding_size(num_classes)
    labels = keras.Input((), dtype="int32", name=LABELS_INPUT)
    embedded = keras.layers.Embedding(num_classes, size, name=LABEL_EMBEDDING)(labels)
    return labels, embedded


def balanced_labels(n: int, num_classes: int) -> np.ndarray:
    """`n` labels cycling through the classes (0, 1, ..., num_classes - 1, 0, 1, ...), int32."""
    n = check_positive_int("n", n)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    return (np.arange(n) % num_classes).astype(np.int32)


def check_labels(labels, n: int, num_classes: int | None):
    """Validate the class labels of `n` images for a model with `num_classes` (None: unconditional).

    Args:
        labels: None (unconditional), an int (the same class for all), `n` ints, or
            ``"balanced"`` (`balanced_labels`).
        n: number of images.
        num_classes: the model's number of classes, or None.

    Returns:
        int32 array (n,), or None for an unconditional model.

    Raises:
        ValueError / TypeError: labels given to an unconditional model, missing for a
            conditional one, not integers, of the wrong length or out of range.
    """
    if num_classes is None:
        if labels is not None:
            raise ValueError(
                f"This model is unconditional; labels must be None. Received: labels={labels!r}"
            )
        return None
    if labels is None:
        raise ValueError(
            f'This model is conditional: give labels (an int, {n} ints in [0, {num_classes}) or "balanced"). Received: labels=None'
        )
    if isinstance(labels, str) and labels == "balanced":
        return balanced_labels(n, num_classes)
    array = np.asarray(labels)
    if (
        array.dtype == object
        or not np.issubdtype(array.dtype, np.integer)
        or isinstance(labels, bool)
    ):
        raise TypeError(f"labels must be integers. Received: labels={labels!r}")
    array = np.broadcast_to(array, (n,)) if array.ndim == 0 else array
    if array.shape != (n,):
        raise ValueError(
            f"labels must be an int or an array of {n} ints. Received: labels.shape={array.shape}"
        )
    if array.min() < 0 or array.max() >= num_classes:
        raise ValueError(
            f"labels must be in [0, {num_classes}). Received: labels in [{array.min()}, {array.max()}]"
        )
    return array.astype(np.int32)


def check_class_names(class_names, num_classes: int | None) -> tuple[str, ...] | None:
    """Validate the names of a model's `num_classes` classes (None: no names).

    Returns:
        A tuple of `num_classes` distinct non-empty strings, or None.

    Raises:
        ValueError / TypeError: names for an unconditional model, not strings, repeated,
            or not one per class.
    """
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, (list, tuple)):
        raise TypeError(
            f"class_names must be a list or tuple of str. Received: class_names={class_names!r}"
        )
    names = tuple(class_names)
    if num_classes is None:
        raise ValueError(
            f"class_names are for conditional models (num_classes set). Received: class_names={names!r}"
        )
    if not all(isinstance(name, str) and name for name in names) or len(set(names)) != len(names):
        raise ValueError(
            f"class_names must be distinct non-empty strings. Received: class_names={names!r}"
        )
    if len(names) != num_classes:
        raise ValueError(
            f"class_names must have one name per class ({num_classes}). "
            f"Received: {len(names)} names"
        )
    return names


def check_prompts(prompts, n: int | None, text_encoder) -> list[str]:
    """Validate the prompts of `n` images for a model whose captions `text_encoder` reads.

    Args:
        prompts: a string (the prompt of every image) or a list of strings: one prompt
            for all images, or one per image.
        n: number of images; None takes it from the number of prompts.
        text_encoder: the model's `imgenlib.text.TextEncoder` (its vocabulary).

    Returns:
        A list of `n` prompts.

    Raises:
        ValueError: not strings, no prompts, an empty prompt or one whose words the model
            all does not know, or a number of prompts other than 1 or `n`. The message
            names the received value and the words the model knows. Unknown words in a
            partly known prompt are named in a `UserWarning` instead; so are prompts that
            are cut to the encoder's ``max_length`` words.
    """
    known = text_encoder.vocabulary
    shown = ", ".join(known[:40]) + (", ..." if len(known) > 40 else "")
    knows = f"The model knows {len(known)} words: {shown}."
    try:
        prompts = textlib.check_captions(prompts, name="prompts", allow_empty=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{error}. {knows}") from None
    words = text_encoder.tokenizer.words(prompts)
    for i, row in enumerate(words):
        if not set(row) & set(known):
            raise ValueError(
                f"prompts[{i}] has no word the model knows. Received: prompts[{i}]={prompts[i]!r}. {knows}"
            )
    text_encoder.report_unknown(prompts, "warn")
    long = [i for i, row in enumerate(words) if len(row) > text_encoder.max_length]
    if long:
        warnings.warn(
            f"prompts {long} have more than {text_encoder.max_length} words; the model reads "
            f"the first {text_encoder.max_length}. Received: prompts[{long[0]}]={prompts[long[0]]!r}",
            UserWarning,
            stacklevel=3,
        )
    n = len(prompts) if n is None else check_positive_int("n", n)
    if len(prompts) not in (1, n):
        raise ValueError(
            f"Give one prompt, or one per image ({n}). Received: {len(prompts)} prompts"
        )
    return prompts * n if len(prompts) == 1 else prompts


def text_encoder_for(captions=None, text_encoder=None, *, embed_dim: int, num_heads: int,
                     num_layers: int):  # fmt: skip
    """A text model's encoder: `text_encoder` as given, or a new one whose vocabulary is the
    words of the training `captions` (`imgenlib.text.build_text_encoder`).

    Raises:
        ValueError: neither or both of `captions` and `text_encoder`.
    """
    if (captions is None) == (text_encoder is None):
        raise ValueError("Give the training captions or a text_encoder (one of them).")
    if text_encoder is not None:
        return text_encoder
    return textlib.build_text_encoder(
        captions, embed_dim=embed_dim, num_heads=num_heads, num_layers=num_layers,
        name="text_encoder",
    )  # fmt: skip
