"""Memorisation / privacy audit: does a generator reproduce its training images?

A generator trained on private data may emit near-copies of training images (seed sections
6.2 and 7, "data privacy"). The audit measures, for every generated sample, the distance to
its nearest *training* image, and compares it with the same distance measured for
*held-out* real images (the test split, never trained on). Held-out images show how close a
new, genuinely different image from the same distribution typically comes to the training
set; a sample much closer than that is suspicious.

The rules (all distances Euclidean, in the shipped extractor's feature space or in pixel
space on the [-1, 1] scale):

- **Near-copy flag.** A sample is flagged when its nearest-training distance is at most
  `threshold`: by default the `quantile` (1%) quantile of the held-out distances, so a
  generator that copies nothing has about 1% of its samples flagged by chance and a copying
  one far more. An absolute `threshold` can be given instead.
- **Relative distance (optional).** Carlini et al. 2023, "Extracting training data from
  diffusion models" (https://arxiv.org/abs/2301.13188) call a sample extracted when its
  nearest-neighbour distance is below ``ratio`` (they use 1/3) times its mean distance to
  its `ratio_k` (50) nearest training images: a copy is far closer to one training image
  than to the rest. With ``ratio`` set, those samples are flagged too.
- **Global test.** Meehan et al. 2020, "A non-parametric test to detect data-copying in
  generative models" (https://arxiv.org/abs/2004.05675) compare the two distance
  distributions with a Mann-Whitney U test. We report its z-score ``z_u`` (their
  :math:`Z_U` over one cell): ≈ 0 when samples are as far from the training set as new
  data, strongly negative (< -3) for data copying, positive for a model that stays away
  from the data (underfitting).

`plot_nearest_neighbours` draws samples above their nearest training images. The search
itself is `imgenlib.neighbours.nearest_neighbours` (re-exported here).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from imgenlib._validation import check_choice, check_float, check_int, check_positive_int
from imgenlib.evaluation import extractor_for, generate_samples
from imgenlib.images import check_images
from imgenlib.neighbours import nearest_neighbours

__all__ = [
    "AuditResult",
    "audit_model",
    "feature_space_extractor",
    "memorization_audit",
    "nearest_neighbours",
    "plot_nearest_neighbours",
]


@dataclasses.dataclass(frozen=True, eq=False)
class AuditResult:
    """What `memorization_audit` found.

    Attributes:
        distances: (n,) distance of each sample to its nearest training image.
        nearest: (n,) index of that training image.
        ratios: (n,) ``distances`` / mean distance to the `ratio_k` nearest training images.
        reference_distances: (m,) nearest-training distance of each held-out image.
        threshold: the distance at or below which a sample is flagged.
        flagged: indices of flagged samples, closest first.
        space: ``"features"`` or ``"pixels"``.
        samples: (n, H, W, C) the audited samples; neighbours: their nearest training images.
        quantile, ratio: the rule's settings (`quantile` is None for an absolute threshold).
    """

    distances: np.ndarray
    nearest: np.ndarray
    ratios: np.ndarray
    reference_distances: np.ndarray
    threshold: float
    flagged: np.ndarray
    space: str
    samples: np.ndarray
    neighbours: np.ndarray
    quantile: float | None
    ratio: float | None

    def summary(self) -> dict:
        """JSON-ready numbers: flagged share (and the share expected by chance), medians, z_u."""
        from scipy.stats import mannwhitneyu

        n, m = len(self.distances), len(self.reference_distances)
        u = mannwhitneyu(self.distances, self.reference_distances).statistic
        z_u = (u - n * m / 2) / np.sqrt(n * m * (n + m + 1) / 12)
        p_copying = mannwhitneyu(self.distances, self.reference_distances, alternative="less")
        return {
            "space": self.space,
            "samples": n,
            "heldout": m,
            "threshold": round(float(self.threshold), 5),
            "rule": (
                f"distance <= {self.quantile:g} quantile of held-out distances"
                if self.quantile is not None
                else "distance <= absolute threshold"
            )
            + (f", or distance/mean(k-NN) < {self.ratio:g}" if self.ratio is not None else ""),
            "flagged": int(len(self.flagged)),
            "flagged_fraction": round(len(self.flagged) / n, 4),
            "expected_fraction": self.quantile,
            "median_distance": round(float(np.median(self.distances)), 5),
            "median_heldout_distance": round(float(np.median(self.reference_distances)), 5),
            "z_u": round(float(z_u), 3),
            "p_copying": float(f"{p_copying.pvalue:.3g}"),
        }


def _embed(images, space, extractor):
    if space == "pixels":
        return images.reshape(len(images), -1)
    return extractor.features(images)


def feature_space_extractor(extractor):
    """The extractor of a ``space="features"`` comparison: a `FeatureExtractor` as given, or
    a dataset name's shipped one (`imgenlib.evaluation.extractor_for`).

    Raises:
        ValueError: if `extractor` is None.
    """
    if extractor is None:
        raise ValueError(
            "space='features' needs an extractor (a FeatureExtractor or a dataset name). "
            "Received: extractor=None"
        )
    return extractor_for(extractor) if isinstance(extractor, str) else extractor


def memorization_audit(
    samples,
    train_images,
    heldout_images,
    *,
    space: str = "features",
    extractor=None,
    quantile: float = 0.01,
    threshold: float | None = None,
    ratio: float | None = None,
    ratio_k: int = 50,
    chunk_size: int = 1024,
) -> AuditResult:
    """Flag generated samples that are closer to a training image than new data would be.

    Args:
        samples: generated images (n, H, W, C) in [-1, 1].
        train_images: the images the model was trained on (or a large subset).
        heldout_images: real images of the same distribution never trained on (test split).
        space: ``"features"`` (the shipped extractor's 128-d features; robust to pixel
            shifts, needs `extractor`) or ``"pixels"`` (raw [-1, 1] pixels).
        extractor: a `imgenlib.features.FeatureExtractor` or a dataset name, for features.
        quantile: flag samples at or below this quantile of the held-out distances.
        threshold: an absolute distance instead of the quantile rule.
        ratio: also flag samples whose distance is below ``ratio`` times their mean
            distance to the `ratio_k` nearest training images (Carlini et al. use 1/3).
        ratio_k: neighbours in that mean (capped at the training set size).
        chunk_size: block size of the nearest-neighbour search.

    Returns:
        An `AuditResult`; ``result.summary()`` gives the headline numbers.

    Raises:
        ValueError / TypeError: bad images or settings, or a missing extractor for features.
    """
    samples = check_images(samples, name="samples")
    train = check_images(train_images, name="train_images")
    heldout = check_images(heldout_images, name="heldout_images")
    for name, images in (("train_images", train), ("heldout_images", heldout)):
        if images.shape[1:] != samples.shape[1:]:
            raise ValueError(
                f"{name} must have the samples' image shape {samples.shape[1:]}. "
                f"Received: {images.shape[1:]}"
            )
    space = check_choice("space", space, ("features", "pixels"))
    if space == "features":
        extractor = feature_space_extractor(extractor)
    if threshold is None:
        quantile = check_float("quantile", quantile, minimum=0, maximum=1)
    else:
        threshold, quantile = check_float("threshold", threshold, minimum=0), None
    if ratio is not None:
        ratio = check_float("ratio", ratio, minimum=0, maximum=1, min_inclusive=False)
    ratio_k = min(check_positive_int("ratio_k", ratio_k), len(train))

    train_points = _embed(train, space, extractor)
    sample_d, sample_i = nearest_neighbours(
        _embed(samples, space, extractor), train_points, ratio_k, chunk_size=chunk_size
    )
    reference_d, _ = nearest_neighbours(
        _embed(heldout, space, extractor), train_points, 1, chunk_size=chunk_size
    )
    distances, reference = sample_d[:, 0], reference_d[:, 0]
    ratios = distances / np.maximum(sample_d.mean(axis=1), 1e-300)
    if threshold is None:
        threshold = float(np.quantile(reference, quantile))
    hits = distances <= threshold
    if ratio is not None:
        hits |= ratios < ratio
    flagged = np.flatnonzero(hits)
    flagged = flagged[np.argsort(distances[flagged], kind="stable")]
    return AuditResult(
        distances=distances,
        nearest=sample_i[:, 0],
        ratios=ratios,
        reference_distances=reference,
        threshold=float(threshold),
        flagged=flagged,
        space=space,
        samples=samples,
        neighbours=train[sample_i[:, 0]],
        quantile=quantile,
        ratio=ratio,
    )


def audit_model(
    model,
    dataset_name: str,
    n: int = 1000,
    seed: int = 0,
    *,
    n_train: int | None = None,
    n_heldout: int | None = None,
    space: str = "features",
    **rules,
) -> AuditResult:
    """Audit `n` samples of a generator trained on a named dataset (train vs test split).

    Args:
        model: has ``generate(n, seed=..., labels=...)`` (a conditional model gets its
            classes in equal shares).
        dataset_name: a dataset with a test split (``digits`` has none: audit it with
            `memorization_audit` and your own held-out images).
        n, seed: samples to audit and their seed.
        n_train, n_heldout: use only the first images of each split (default: all).
        space: ``"features"`` (the dataset's shipped extractor) or ``"pixels"``.
        **rules: `quantile`, `threshold`, `ratio`, `ratio_k`, `chunk_size` of
            `memorization_audit`.
    """
    from imgenlib.data import dataset_info, load_images

    if "test" not in dataset_info(dataset_name).splits:
        raise ValueError(
            f"{dataset_name!r} has no held-out test split to compare with; call "
            "memorization_audit(samples, train_images, heldout_images) with your own split."
        )
    n = check_positive_int("n", n)
    seed = check_int("seed", seed, minimum=0)
    train, _ = load_images(dataset_name, "train", n=n_train)
    heldout, _ = load_images(dataset_name, "test", n=n_heldout)
    samples = generate_samples(model, n, seed)
    return memorization_audit(
        samples,
        train,
        heldout,
        space=space,
        extractor=dataset_name if space == "features" else None,
        **rules,
    )


def plot_nearest_neighbours(
    result: AuditResult, n: int = 8, *, which: str = "closest", seed: int = 0, size: float = 1.0
):
    """Samples (top row) above their nearest training images (bottom row).

    Args:
        result: an `AuditResult`.
        n: number of pairs.
        which: ``"closest"`` (the samples nearest to the training set, the likeliest
            copies), ``"flagged"`` (flagged samples only, closest first) or ``"random"``.
        seed: seed of the ``"random"`` choice.
        size: inches per tile.

    Returns:
        `matplotlib.figure.Figure` (not shown; display or save it).
    """
    from imgenlib.plotting import image_grid

    if not isinstance(result, AuditResult):
        raise TypeError(f"result must be an AuditResult. Received: {type(result).__name__}")
    n = check_positive_int("n", n)
    which = check_choice("which", which, ("closest", "flagged", "random"))
    if which == "closest":
        chosen = np.argsort(result.distances, kind="stable")[:n]
    elif which == "flagged":
        chosen = result.flagged[:n]
        if len(chosen) == 0:
            raise ValueError("No sample was flagged; use which='closest' to see the nearest ones.")
    else:
        rng = np.random.default_rng(check_int("seed", seed, minimum=0))
        chosen = np.sort(rng.choice(len(result.distances), min(n, len(result.distances)), False))
    flagged = set(result.flagged.tolist())
    titles = [f"{'copy? ' if i in flagged else ''}d={result.distances[i]:.3g}" for i in chosen] + [
        f"train #{result.nearest[i]}" for i in chosen
    ]
    return image_grid(
        np.concatenate([result.samples[chosen], result.neighbours[chosen]]),
        ncols=len(chosen),
        titles=titles,
        title=f"Samples (top) and their nearest training images ({result.space} distance)",
        size=size,
    )
