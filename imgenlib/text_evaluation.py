"""Does a text-to-image model draw every attribute its prompt names? `evaluate_text` (issue 16).

For each split, the prompts are the captions of `n` one-object ``shapes_captions`` scenes
(``"test"``: seen colour-shape pairs; ``"test_compositional"``: each names a pair held out
of training), drawn at the model's image size; the model draws one image per prompt. Each
image is then read back:

- **colour** and **position** by the pixel reader of `imgenlib.caption_accuracy` (no
  classifier whose own errors would mix in); the attribute classifier's reading of both is
  reported beside them under ``"classifier"`` as a cross-check;
- **shape** and **size** by `imgenlib.attribute_classifier.AttributeClassifier` (a CNN
  trained on real ``"train"`` scenes with blur/noise/resolution augmentation; measured
  on 2,000 real scenes per split: shape 0.9975 (``test``) and 1.000
  (``test_compositional``) at 32 px, 0.9555 and 0.955 at 16 px; size ≥ 0.9995);
- **exact match**: all four right at once.

The same reading of the split's real scenes is the ceiling (``"reference"``), and a
uniform guess the floor (``"chance"``: 1/6, 1/4, 1/2, 1/9; exact match 1/432).

Distribution quality (KID over 50 random subsets of min(n/2, 1000) images, with its std
across them): KID and FID between the classifier's 128 penultimate features of the
generated images and of the split's real scenes (`imgenlib.metrics`). Their
``"reference"`` compares the real scenes with other real scenes of the same split (seed + 1):
the sampling floor at this n. FID is biased upwards at small n (a warning says so below
1,280 images, ten per feature): compare FIDs at the same n, prefer KID.

CLIP score: reported (``"clip_score"``, mean ``100 * max(cos, 0)``, and its reference)
only when `imgenlib.clip_tasks.load_pretrained_clip("shapes_captions")` loads a shipped
Mini-CLIP (one is shipped: its record, ``pretrained_info``, gives its retrieval figures), so
the score depends on which Mini-CLIP file is shipped.

Measured once on a partly trained 32 px TextGAN (a snapshot of a ``text``-preset run,
n = 500): colour 0.986 / 0.978, shape 0.446 / 0.272, size 0.894 / 0.890, position
0.976 / 0.962, exact match 0.398 / 0.246 on ``test`` / ``test_compositional`` (reference
exact match 0.998 / 1.000): it draws the held-out pairs' colours but their shapes at
chance. The classifier's own colour and position readings of those generated images agreed
with the pixel reader's within 1.2 points.

    >>> from imgenlib.text_evaluation import evaluate_text
    >>> evaluate_text(text_gan, n=500)["test_compositional"]["exact_match"]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings

import numpy as np

from imgenlib._validation import check_choice, check_int
from imgenlib.caption_accuracy import image_side

__all__ = ["DATASETS", "FID_MIN_N", "SPLITS", "evaluate_text"]

DATASETS = ("shapes_captions",)
SPLITS = ("test", "test_compositional")
FID_MIN_N = 1280  # ten images per feature; below this FID's bias is large
_ATTRIBUTES = ("colour", "shape", "size", "position")


def _check_splits(splits) -> tuple[str, ...]:
    if isinstance(splits, str):
        splits = (splits,)
    try:
        splits = tuple(splits)
    except TypeError:
        raise TypeError(
            f"splits must be a sequence of split names. Received: splits={splits!r}"
        ) from None
    if not splits:
        raise ValueError(f"splits must name at least one split. Received: splits={splits!r}")
    for split in splits:
        check_choice("split", split, SPLITS)
    if len(set(splits)) != len(splits):
        raise ValueError(f"splits must not repeat a split. Received: splits={splits!r}")
    return splits


def _image_size(model) -> int:
    side = image_side(model, "evaluate_text")
    if not callable(getattr(model, "generate", None)):
        raise TypeError(
            "evaluate_text needs a text-conditional model with generate(prompts, seed=). "
            f"Received: {type(model).__name__}"
        )
    return side


def _read(classifier, images):
    """Features, the attribute readings (pixel reader for colour/position) and the CNN's."""
    from imgenlib.caption_accuracy import read_colour_and_position

    features, predicted = classifier.read(images)
    colours, positions = read_colour_and_position(images)
    read = {"colour": colours, "shape": predicted["shape"], "size": predicted["size"]}
    read["position"] = positions
    return features, read, predicted


def _scores(read: dict, truth: dict) -> dict:
    right = {a: read[a] == truth[a] for a in _ATTRIBUTES}
    scores = {a: float(right[a].mean()) for a in _ATTRIBUTES}
    scores["exact_match"] = float(np.logical_and.reduce([right[a] for a in _ATTRIBUTES]).mean())
    return scores


def _distances(real: np.ndarray, fake: np.ndarray, seed: int) -> dict:
    from imgenlib.metrics import evaluation_kid, fid_from_features

    kid, kid_std = evaluation_kid(real, fake, seed=seed)  # real and fake: n rows each
    return {"kid": kid, "kid_std": kid_std, "fid": fid_from_features(real, fake)}


def _check_sampling(sampling) -> dict:
    if sampling is None:
        return {}
    if not isinstance(sampling, dict) or "seed" in sampling or "prompts" in sampling:
        raise ValueError(
            "sampling must be a dict of generate's keyword arguments other than seed and "
            f"prompts (e.g. {{'guidance': 3.0}}). Received: sampling={sampling!r}"
        )
    return dict(sampling)


def evaluate_text(
    model,
    data: str = "shapes_captions",
    *,
    n: int = 500,
    seed: int = 0,
    sample_seed: int = 1,
    splits=SPLITS,
    classifier=None,
    sampling: dict | None = None,
) -> dict:
    """Per-attribute accuracy, exact match, KID/FID (and CLIP score) of a text-to-image model.

    Args:
        model: a text-conditional model of square RGB images with
            ``generate(prompts, seed=)`` and ``image_shape`` (e.g. `TextGAN`).
        data: ``"shapes_captions"`` (the only dataset with attribute ground truth).
        n: prompts (one-object scenes) per split; at least 2.
        seed: seed of the scenes (the same seed, the same prompts).
        sample_seed: seed of the model's latents.
        splits: any of ``"test"``, ``"test_compositional"``.
        classifier: an `AttributeClassifier` to reuse (default: the shipped one).
        sampling: keyword arguments of the model's ``generate``, e.g. a text-conditional
            diffusion model's ``{"steps": 25, "guidance": 3.0}`` (default: its defaults).

    Returns:
        ``{split: result}``; each result holds ``"colour"``, ``"shape"``, ``"size"``,
        ``"position"``, ``"exact_match"`` (accuracies in [0, 1]), ``"classifier"`` (the
        CNN's own colour and position accuracy), ``"reference"`` (the same five on the real
        scenes: the ceiling, plus ``"kid"``/``"fid"`` of real against other real scenes:
        the floor), ``"chance"``, ``"kid"``, ``"kid_std"``, ``"fid"``, ``"n"``,
        ``"image_size"`` and, only when a pretrained Mini-CLIP loads, ``"clip_score"``.

    Raises:
        ValueError: an unknown dataset or split, n < 2, a model that does not draw square
            RGB images, or images of the wrong count or shape (each names the value).
        TypeError: a model without ``generate``, or non-integer n/seed.

    Warns:
        UserWarning: n below `FID_MIN_N`: FID is biased upwards at this n.
    """
    from imgenlib.attribute_classifier import AttributeClassifier, attribute_class_counts, labels_of
    from imgenlib.clip_tasks import mean_clip_score, pretrained_clip_or_none
    from imgenlib.data.shapes_captions import load_shapes_captions

    check_choice("dataset", data, DATASETS)
    n = check_int("n", n, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    sample_seed = check_int("sample_seed", sample_seed, minimum=0)
    splits = _check_splits(splits)
    sampling = _check_sampling(sampling)
    size = _image_size(model)
    if n < FID_MIN_N:
        warnings.warn(
            f"FID is biased upwards at small n (n={n} < {FID_MIN_N}, ten images per "
            "feature): compare FIDs at the same n only, and prefer KID.",
            UserWarning,
            stacklevel=2,
        )
    classifier = classifier or AttributeClassifier()
    clip = pretrained_clip_or_none("shapes_captions")
    counts = attribute_class_counts()
    chance = {a: 1 / counts[a] for a in _ATTRIBUTES}
    chance["exact_match"] = float(np.prod([chance[a] for a in _ATTRIBUTES]))
    results = {}
    for split in splits:
        scenes = load_shapes_captions(split, n, size, seed=seed, two_object_fraction=0)
        others = load_shapes_captions(split, n, size, seed=seed + 1, two_object_fraction=0)
        images = np.asarray(model.generate(list(scenes.captions), seed=sample_seed, **sampling))
        if images.shape != scenes.images.shape:
            raise ValueError(
                f"model.generate returned images of shape {images.shape} for {n} prompts; "
                f"expected {scenes.images.shape}"
            )
        truth = labels_of(scenes)
        fake_features, read, predicted = _read(classifier, images)
        real_features, real_read, _ = _read(classifier, scenes.images)
        other_features = classifier.features(others.images)
        result = _scores(read, truth)
        result["classifier"] = {
            a: float(np.mean(predicted[a] == truth[a])) for a in ("colour", "position")
        }
        result["reference"] = {
            **_scores(real_read, truth),
            **_distances(real_features, other_features, seed),
        }
        result["chance"] = dict(chance)
        result.update(_distances(real_features, fake_features, seed))
        if clip is not None:
            result["clip_score"] = mean_clip_score(clip, images, scenes.captions)
            result["reference"]["clip_score"] = mean_clip_score(
                clip, scenes.images, scenes.captions
            )
        result["n"], result["image_size"] = n, size
        results[split] = result
    return results


def format_results(results: dict) -> str:
    """A plain-text table of `evaluate_text`'s result: one row per split (model / reference)."""
    columns = (*_ATTRIBUTES, "exact_match")
    lines = [f"{'split':<26}" + "  ".join(f"{c:>11}" for c in columns) + "        kid"]
    for split, result in results.items():
        for label, row in (("", result), (" (real)", result["reference"])):
            cells = "  ".join(f"{row[c]:>11.3f}" for c in columns)
            lines.append(f"{(split + label):<26}{cells}  {row['kid']:>9.4f}")
    return "\n".join(lines)
