"""What a trained `imgenlib.clip.MiniCLIP` is for: scores, retrieval, zero-shot labels.

- `clip_score(model, images, captions)`: how well each image matches its caption,
  ``100 * max(cos, 0)`` (CLIPScore of Hessel et al. 2021, https://arxiv.org/abs/2104.08718,
  with w = 100 instead of their 2.5: the convention of torchmetrics' ``CLIPScore``).
- `retrieve(model, images, captions, k)`: text → image and image → text recall@k.
- `zero_shot_classify(model, images, class_prompts)`: each image gets the class whose
  prompt (or averaged prompt ensemble, as CLIP does) it is most similar to.
- `shapes_class_prompts(attribute)`: prompt ensembles for the shapes attributes.
- `caption_keys(data)`: what a ``shapes_captions`` caption pins down, so that retrieval
  can count every image that fits a caption as a hit.
- `pack_mini_clip` / `load_pretrained_clip`: the shipped models, SHA-256 checked.

None of these needs TensorFlow beyond the model's own calls; similarities are float64.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from imgenlib._validation import check_choice, check_image_labels, check_positive_int
from imgenlib.features import sha256

__all__ = [
    "PRETRAINED_CLIP",
    "ZeroShotResult",
    "caption_keys",
    "clip_score",
    "load_pretrained_clip",
    "mean_clip_score",
    "pack_mini_clip",
    "pretrained_clip_or_none",
    "retrieve",
    "shapes_class_prompts",
    "similarity",
    "zero_shot_classify",
]

WEIGHTS_DIR = Path(__file__).parent / "weights"
RECORD_NAME = "mini_clip.json"
PRETRAINED_CLIP = ("shapes_captions", "emoji")


def _check_captions(captions, **kwargs) -> list[str]:
    """`imgenlib.text.check_captions`, imported on first use.

    This module never imports TensorFlow or `imgenlib.text` when it is imported, so
    `imgenlib.clip` can re-export it while Keras' registration hook runs.
    """
    from imgenlib.text import check_captions as check

    return check(captions, **kwargs)


def _pairs(model, images, captions):
    images = model.check_images(images)
    captions = _check_captions(captions)
    if len(images) != len(captions):
        raise ValueError(
            "images and captions must pair up one to one. Received: "
            f"{len(images)} images and {len(captions)} captions"
        )
    return images, captions


def similarity(
    model, images, captions, *, batch_size: int = 256, unknown: str = "warn"
) -> np.ndarray:
    """Cosine similarities (n_images, n_captions) between every image and every caption.

    `unknown` (``"warn"``, ``"raise"``, ``"ignore"``) says what unknown words cause here
    and in the functions below.
    """
    images = model.check_images(images)
    text = model.embed_captions(captions, batch_size=batch_size, unknown=unknown)
    return model.embed_images(images, batch_size=batch_size) @ text.T


def clip_score(
    model, images, captions, *, batch_size: int = 256, unknown: str = "warn"
) -> np.ndarray:
    """Per pair ``100 * max(cos(image_i, caption_i), 0)``: float64 (N,) in [0, 100].

    Args:
        model: a trained `MiniCLIP`.
        images: (N, H, W, C) in [-1, 1], the model's image shape.
        captions: N strings (unknown words are warned about).

    Raises:
        ValueError, TypeError: mismatched lengths, no images or captions, a wrong shape.
    """
    images, captions = _pairs(model, images, captions)
    image = model.embed_images(images, batch_size=batch_size)
    text = model.embed_captions(captions, batch_size=batch_size, unknown=unknown)
    return 100.0 * np.maximum(np.sum(image * text, axis=1), 0.0)


def _recall(scores: np.ndarray, matches: np.ndarray, ks) -> dict:
    """Rows are queries: hit@k when a match outranks all but at most k - 1 non-matches."""
    best_match = np.where(matches, scores, -np.inf).max(axis=1, keepdims=True)
    rank = np.sum(scores > best_match, axis=1)
    return {k: float(np.mean(rank < k)) for k in ks}


def retrieve(
    model, images, captions, k=(1, 5), *, keys=None, batch_size: int = 256, unknown="warn",
    gallery: int | None = None,
) -> dict[str, float]:  # fmt: skip
    """Recall@k of text → image and image → text retrieval among the N given pairs.

    For caption i the images are ranked by similarity; a hit@k is an image *matching* i
    among the top k. Image i's caption and image j's caption match when their `keys` are
    equal (default: the caption strings, so identical captions are interchangeable; pass
    `caption_keys(data)` to count every scene a caption describes). Image → text
    likewise. Chance level is about k / N.

    Args:
        model: a trained `MiniCLIP`.
        images, captions: N pairs.
        k: an int or a sequence of ints.
        keys: optional N hashable keys (see above).
        gallery: rank within consecutive galleries of this many pairs (a remainder smaller
            than a gallery is left out) and average the recalls: CLIP-style retrieval
            among `gallery` candidates, whatever N. None: one gallery of all N.

    Returns:
        ``{"text_to_image@1": ..., "image_to_text@1": ..., ...}`` fractions in [0, 1].

    Raises:
        ValueError, TypeError: mismatched lengths, empty input, a wrong image shape, bad k.
    """
    images, captions = _pairs(model, images, captions)
    if gallery is not None:
        size = min(check_positive_int("gallery", gallery), len(images))
        parts = [
            retrieve(model, images[start : start + size], captions[start : start + size], k,
                     keys=None if keys is None else list(keys)[start : start + size],
                     batch_size=batch_size, unknown=unknown)
            for start in range(0, len(images) - size + 1, size)
        ]  # fmt: skip
        return {key: float(np.mean([part[key] for part in parts])) for key in parts[0]}
    ks = (k,) if isinstance(k, (int, np.integer)) else tuple(k)
    if not ks:
        raise ValueError(f"k must be a positive int or a sequence of them. Received: k={k!r}")
    ks = tuple(check_positive_int("k", value) for value in ks)
    keys = list(captions) if keys is None else list(keys)
    if len(keys) != len(captions):
        raise ValueError(
            f"keys must have one entry per pair ({len(captions)}). Received: {len(keys)}"
        )
    codes = np.unique(np.array([repr(key) for key in keys]), return_inverse=True)[1]
    matches = codes[:, None] == codes[None, :]
    scores = similarity(
        model, images, captions, batch_size=batch_size, unknown=unknown
    )  # (image, caption)
    text_to_image = _recall(scores.T, matches, ks)
    image_to_text = _recall(scores, matches, ks)
    result = {f"text_to_image@{value}": text_to_image[value] for value in ks}
    result.update({f"image_to_text@{value}": image_to_text[value] for value in ks})
    return result


@dataclasses.dataclass(frozen=True)
class ZeroShotResult:
    """Zero-shot predictions of `zero_shot_classify`.

    Attributes:
        predictions: int64 (N,) index of the best class prompt per image.
        similarities: float64 (N, num_classes) cosine similarity to each class.
        accuracy: fraction of predictions equal to the given labels, or None.
    """

    predictions: np.ndarray
    similarities: np.ndarray
    accuracy: float | None


def zero_shot_classify(
    model, images, class_prompts, *, labels=None, batch_size: int = 256, unknown: str = "warn"
) -> ZeroShotResult:
    """Label images by the most similar class prompt, with no training on the classes.

    A class is one prompt ("a red circle") or a list of prompts whose unit embeddings are
    averaged and renormalised (CLIP's prompt ensembling: ``["a small red circle", "a large
    red square", ...]`` describes "red" better than any single caption).

    Args:
        model: a trained `MiniCLIP`.
        images: (N, H, W, C) in [-1, 1].
        class_prompts: one string or list of strings per class (at least two classes).
        labels: optional int (N,) true classes; then `accuracy` is filled in.

    Raises:
        ValueError, TypeError: fewer than two classes, an empty class, bad labels or images.
    """
    images = model.check_images(images)
    if isinstance(class_prompts, str) or not isinstance(class_prompts, (list, tuple)):
        raise TypeError(
            f"class_prompts must be a list with one prompt (or list of prompts) per class. "
            f"Received: class_prompts={class_prompts!r}"
        )
    if len(class_prompts) < 2:
        raise ValueError(
            f"class_prompts needs at least two classes. Received: class_prompts={class_prompts!r}"
        )
    groups = [_check_captions(prompts, name=f"class_prompts[{i}]", allow_empty=False)
              for i, prompts in enumerate(class_prompts)]  # fmt: skip
    prompts = [prompt for group in groups for prompt in group]
    text = model.embed_captions(prompts, batch_size=batch_size, unknown=unknown)
    bounds = np.cumsum([0] + [len(group) for group in groups])
    classes = np.stack([text[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    classes /= np.linalg.norm(classes, axis=1, keepdims=True)
    similarities = model.embed_images(images, batch_size=batch_size) @ classes.T
    predictions = np.argmax(similarities, axis=1).astype(np.int64)
    accuracy = None
    if labels is not None:
        labels = check_image_labels("labels", labels, len(images))
        accuracy = float(np.mean(predictions == labels))
    return ZeroShotResult(predictions, similarities, accuracy)


SHAPES_ATTRIBUTES = ("colour", "shape", "size", "position")


def shapes_class_prompts(attribute: str) -> list[list[str]]:
    """Prompt ensembles for zero-shot classification of one-object ``shapes_captions`` scenes.

    Class c of `attribute` gets every caption ``"{position}: {size} {colour} {shape}"``
    with that value, over all values of the other attributes (held-out colour-shape pairs
    included), e.g. ``shapes_class_prompts("colour")[0]`` holds the 72 red ones.

    Args:
        attribute: ``"colour"``, ``"shape"``, ``"size"`` or ``"position"``; the class index
            is the index into ``COLOUR_NAMES``, ``SHAPE_NAMES``, ``SIZE_NAMES`` or
            ``POSITION_NAMES``, as in the record's arrays.
    """
    import itertools

    from imgenlib.data import COLOUR_NAMES, POSITION_NAMES, SHAPE_NAMES, SIZE_NAMES

    check_choice("attribute", attribute, SHAPES_ATTRIBUTES)
    values = (COLOUR_NAMES, SHAPE_NAMES, SIZE_NAMES, POSITION_NAMES)
    names = dict(zip(SHAPES_ATTRIBUTES, values, strict=True))
    prompts = [[] for _ in names[attribute]]
    for colour, shape, size, position in itertools.product(*names.values()):
        value = {"colour": colour, "shape": shape, "size": size, "position": position}
        index = names[attribute].index(value[attribute])
        prompts[index].append(f"{position}: {size} {colour} {shape}")
    return prompts


def caption_keys(data) -> list[tuple]:
    """What each ``shapes_captions`` caption says, whatever its phrasing: one key per scene.

    One object: (size, colour, shape, position); two objects: both objects' (size,
    colour, shape) and the relation (the caption names no grid row or column). Scenes
    with equal keys fit each other's captions.
    """
    keys = []
    for i in range(len(data.num_objects)):
        first = (int(data.sizes[i, 0]), int(data.colours[i, 0]), int(data.shapes[i, 0]))
        if data.num_objects[i] == 1:
            keys.append((*first, int(data.positions[i, 0])))
        else:
            second = (int(data.sizes[i, 1]), int(data.colours[i, 1]), int(data.shapes[i, 1]))
            keys.append((*first, int(data.relations[i]), *second))
    return keys


def pack_mini_clip(model, name: str, record: dict, *, directory=None) -> Path:
    """Write `model` (weights and vocabulary, no optimiser state) as ``mini_clip_NAME.keras``
    and its `record` plus SHA-256 into ``mini_clip.json``; returns the model's path.

    Args:
        model: a trained `MiniCLIP`.
        name: one of `PRETRAINED_CLIP`.
        record: JSON-able facts to ship with it (metrics, training command, time).
        directory: where to write (default: the package's weights folder).
    """
    from imgenlib.io import atomic_path, load_json, save_json

    check_choice("pretrained clip", name, PRETRAINED_CLIP)
    directory = Path(directory or WEIGHTS_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    bare = type(model).from_config(model.get_config())  # no optimiser: a smaller file
    bare.set_weights(model.get_weights())
    path = directory / f"mini_clip_{name}.keras"
    with atomic_path(path) as tmp:
        bare.save(tmp)
    registry = directory / RECORD_NAME
    entries = load_json(registry) if registry.is_file() else {}
    entries[name] = {**record, "file": path.name, "sha256": sha256(path)}
    save_json(entries, registry)
    return path


def load_pretrained_clip(name: str = "shapes_captions", *, directory=None):
    """The shipped `MiniCLIP` for a dataset, after checking its SHA-256.

    The record (``model.pretrained_info``) states the model's measured retrieval recall and
    zero-shot accuracies.

    Raises:
        ValueError: unknown name, a missing file (the message says how to train it) or a
            checksum mismatch (a corrupt or modified file).
    """
    from imgenlib.models import load_model

    check_choice("pretrained clip", name, PRETRAINED_CLIP)
    directory = Path(directory or WEIGHTS_DIR)
    registry = directory / RECORD_NAME
    entry = json.loads(registry.read_text()).get(name) if registry.is_file() else None
    path = directory / f"mini_clip_{name}.keras"
    if entry is None or not path.is_file():
        raise ValueError(
            f"No Mini-CLIP weights for {name!r} in {directory}. Train and pack them with "
            f"`python benchmarks/train_mini_clip.py --data {name}`."
        )
    if sha256(path) != entry["sha256"]:
        raise ValueError(f"{path.name} does not match its recorded SHA-256 (corrupt or modified).")
    model = load_model(path, compile=False)
    model.pretrained_info = {key: value for key, value in entry.items() if key != "sha256"}
    return model


@functools.cache
def _shared_pretrained_clip(name: str):
    """One loaded copy per process of a shipped Mini-CLIP used for scoring (a fresh copy per
    call re-traced its graphs each time; TensorFlow warned about the retracing)."""
    return load_pretrained_clip(name)


def pretrained_clip_or_none(name: str = "shapes_captions"):
    """`load_pretrained_clip(name)`, or None when no Mini-CLIP is shipped for `name`.

    A shipped file that fails its check (corrupt or modified) also gives None, with a
    warning naming the problem: a CLIP score is an extra in a report, not a reason to fail.
    """
    import warnings

    check_choice("pretrained clip", name, PRETRAINED_CLIP)  # a wrong name is an error
    try:
        return _shared_pretrained_clip(name)
    except ValueError as error:
        if "No Mini-CLIP weights" not in str(error):
            warnings.warn(f"No CLIP score: {error}", UserWarning, stacklevel=3)
        return None


def mean_clip_score(model, images, captions) -> float:
    """Mean `clip_score` of image–caption pairs; images of another side are resized to the
    model's (`imgenlib.images.resize_images`) and unknown words are ignored."""
    from imgenlib.images import resize_images

    size = tuple(model.image_shape[:2])
    if np.shape(images)[1:3] != size:
        images = resize_images(images, size)
    return float(clip_score(model, images, list(captions), unknown="ignore").mean())
