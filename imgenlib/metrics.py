"""Sample-quality metrics on feature vectors: FID, KID, Inception Score, precision/recall,
density/coverage.

Every function takes 2-D float arrays of features, one row per image, produced by a
feature extractor (see `imgenlib.features`): the metrics compare *distributions* of
features of real and generated images, never pixels.

- FID, Fréchet Inception Distance (Heusel et al. 2017, https://arxiv.org/abs/1706.08500):
  the Fréchet distance between Gaussians fitted to the two feature sets. Lower is better;
  biased upwards for small samples, so compare FIDs computed with the same n.
- KID, Kernel Inception Distance (Bińkowski et al. 2018, https://arxiv.org/abs/1801.01401):
  an unbiased estimate of the squared MMD with a cubic polynomial kernel, averaged over
  random subsets; 0 in expectation when the distributions are equal, usable at small n.
- IS, Inception Score (Salimans et al. 2016, https://arxiv.org/abs/1606.03498): from class
  probabilities; high when each image is confidently one class and all classes appear.
- Precision and recall (Kynkäänniemi et al. 2019, https://arxiv.org/abs/1904.06991):
  precision = share of fakes inside the real data's k-NN manifold (fidelity); recall =
  share of real images inside the fakes' manifold (coverage of the data's variety).
- Density and coverage (Naeem et al. 2020, https://arxiv.org/abs/2002.09797): versions of
  precision and recall that are robust to outliers.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import scipy.linalg

from imgenlib._validation import check_int, check_positive_int

__all__ = [
    "density_coverage",
    "FEATURE_METRICS",
    "default_split",
    "evaluate",
    "evaluate_images",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "kid_from_features",
    "precision_recall",
]

_CHUNK = 1024


def _features(name: str, value, *, min_rows: int = 2) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(
            f"{name} must be a numeric array. Received: {name} with dtype {array.dtype}"
        )
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (samples, features). Received: {name}.shape={array.shape}"
        )
    if len(array) < min_rows:
        raise ValueError(
            f"{name} needs at least {min_rows} samples. Received: {name}.shape={array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or Inf values.")
    return array.astype(np.float64)


def _pair(a, b, *, min_rows: int = 2):
    a = _features("real features", a, min_rows=min_rows)
    b = _features("fake features", b, min_rows=min_rows)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"Feature sizes differ: {a.shape[1]} and {b.shape[1]}. Received shapes {a.shape} and {b.shape}"
        )
    return a, b


def frechet_distance(mu1, sigma1, mu2, sigma2, *, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ``|mu1 - mu2|² + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½)``.

    The matrix square root comes from `scipy.linalg.sqrtm`. When the product is singular
    (fewer samples than features, or features that never vary) the root is not finite or
    not accurate (checked by its residual), so ``eps`` is added to both
    diagonals (as in the reference implementation); a complex root whose imaginary part
    is numerical noise is replaced by its real part, a large imaginary part is an error.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = (
        np.atleast_2d(sigma1).astype(np.float64),
        np.atleast_2d(sigma2).astype(np.float64),
    )
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if covmean is None:
        offset = np.eye(len(sigma1)) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset), required=True)
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"Matrix square root has a large imaginary part ({np.abs(covmean.imag).max():.3g})."
            )
        covmean = covmean.real
    return float(
        max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean), 0.0)
    )


def _sqrtm(matrix, *, required: bool = False):
    """Matrix square root, or None when it is not finite or not accurate (a singular matrix)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(matrix)
    if required:
        return root
    if not np.all(np.isfinite(root)):
        return None
    residual = np.linalg.norm(root @ root - matrix) / max(np.linalg.norm(matrix), 1e-300)
    return root if residual < 1e-6 else None


def fid_from_features(real, fake) -> float:
    """FID between two feature sets (rows = images). Lower is better; 0 for equal sets.

    Example:
        >>> fid = fid_from_features(extractor.features(real_images), extractor.features(samples))
    """
    real, fake = _pair(real, fake)
    return frechet_distance(
        real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False)
    )


def _polynomial_kernel(x, y):
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kid_from_features(
    real, fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: the unbiased squared MMD with kernel ``k(x, y) = (x·y / d + 1)³``, over random subsets.

    Args:
        real, fake: feature arrays.
        subsets: number of random subsets.
        subset_size: samples per subset, capped at the smaller set's size.
        seed: seed of the subset draws.

    Returns:
        ``(mean, std)`` over subsets. The mean is 0 in expectation for equal distributions
        (it can be slightly negative); report it with its std.
    """
    real, fake = _pair(real, fake)
    subsets = check_positive_int("subsets", subsets)
    m = min(check_int("subset_size", subset_size, minimum=2), len(real), len(fake))
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    values = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        k_xx, k_yy, k_xy = (
            _polynomial_kernel(x, x),
            _polynomial_kernel(y, y),
            _polynomial_kernel(x, y),
        )
        values[i] = (
            (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
            + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
            - 2 * k_xy.mean()
        )
    return float(values.mean()), float(values.std())


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Inception Score ``exp(E_x KL(p(y|x) || p(y)))`` from class probabilities (rows sum to 1).

    Returns:
        ``(mean, std)`` over `splits` equal parts. It lies between 1 (every image gets the
        same prediction) and the number of classes (confident and balanced).
    """
    probs = _features("probs", probs, min_rows=1)
    if probs.min() < 0 or not np.allclose(probs.sum(axis=1), 1, atol=1e-3):
        raise ValueError("probs must be class probabilities: non-negative rows that sum to 1.")
    splits = min(check_positive_int("splits", splits), len(probs))
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.where(
            part > 0,
            part * (np.log(np.maximum(part, 1e-300)) - np.log(np.maximum(marginal, 1e-300))),
            0,
        )
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(a, b):
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0.0)


def _knn_radii(points, k):
    """Distance from each point to its k-th nearest other point (chunked: n×n never held at once)."""
    radii = np.empty(len(points))
    for start in range(0, len(points), _CHUNK):
        block = _squared_distances(points[start : start + _CHUNK], points)
        radii[start : start + _CHUNK] = np.sqrt(
            np.partition(block, k, axis=1)[:, k]
        )  # index 0 is the point itself
    return radii


def _inside_counts(queries, centres, radii):
    """For each query, how many balls B(centre_i, radius_i) contain it."""
    counts = np.empty(len(queries), dtype=np.int64)
    squared = radii**2
    for start in range(0, len(queries), _CHUNK):
        counts[start : start + _CHUNK] = (
            _squared_distances(queries[start : start + _CHUNK], centres) <= squared
        ).sum(1)
    return counts


def precision_recall(real_feats, fake_feats, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of Kynkäänniemi et al. (2019).

    Each set's manifold is the union of balls around its points with radius the distance
    to the k-th nearest neighbour. Precision: share of fakes inside the real manifold.
    Recall: share of real points inside the fake manifold.
    """
    real, fake = _pair(real_feats, fake_feats)
    k = check_positive_int("k", k)
    if k >= min(len(real), len(fake)):
        raise ValueError(
            f"k must be smaller than both sample counts ({len(real)}, {len(fake)}). Received: k={k}"
        )
    precision = float((_inside_counts(fake, real, _knn_radii(real, k)) > 0).mean())
    recall = float((_inside_counts(real, fake, _knn_radii(fake, k)) > 0).mean())
    return precision, recall


def density_coverage(real_feats, fake_feats, k: int = 5) -> tuple[float, float]:
    """Density and coverage of Naeem et al. (2020), using k-NN balls around *real* points only.

    Density: average number of real balls containing each fake, divided by k (≈ 1 when
    the distributions match; can exceed 1). Coverage: share of real balls that contain
    at least one fake.
    """
    real, fake = _pair(real_feats, fake_feats)
    k = check_positive_int("k", k)
    if k >= len(real):
        raise ValueError(
            f"k must be smaller than the number of real samples ({len(real)}). Received: k={k}"
        )
    radii = _knn_radii(real, k)
    density = float(_inside_counts(fake, real, radii).sum() / (k * len(fake)))
    covered = np.zeros(len(real), dtype=bool)
    squared = radii**2
    for start in range(0, len(fake), _CHUNK):
        covered |= (_squared_distances(fake[start : start + _CHUNK], real) <= squared[None, :]).any(
            axis=0
        )
    return density, float(covered.mean())


FEATURE_METRICS = (
    "fid",
    "kid",
    "kid_std",
    "precision",
    "recall",
    "density",
    "coverage",
    "inception_score",
    "class_entropy",
)
_DECIMALS = {"fid": 3, "kid": 5, "kid_std": 5, "inception_score": 3}


@functools.lru_cache(maxsize=4)
def _extractor(dataset_name: str):
    from imgenlib.features import FeatureExtractor

    return FeatureExtractor(dataset_name)


def default_split(dataset_name: str) -> str:
    """The split metrics compare against: ``"test"`` when the dataset has one, else ``"train"``.

    ``digits`` has a single split, so its samples are compared with the training images.
    """
    from imgenlib.data import dataset_info

    return "test" if "test" in dataset_info(dataset_name).splits else "train"


@functools.lru_cache(maxsize=8)
def _real_features(dataset_name: str, split: str, n: int) -> np.ndarray:
    """Features of the first `n` images of a split (read-only, cached for the process)."""
    from imgenlib.data import load_images

    images, _ = load_images(dataset_name, split, n=n)
    features = _extractor(dataset_name).features(images)
    features.setflags(write=False)
    return features


def _generate(model, n: int, seed: int) -> np.ndarray:
    """`n` samples of a generator; a conditional one gets its classes in equal shares."""
    if not callable(getattr(model, "generate", None)):
        raise TypeError(
            f"model must have a generate(n, seed=..., labels=...) method. Received: {type(model).__name__}"
        )
    labels = None
    if getattr(model, "num_classes", None):
        labels = np.arange(n) % model.num_classes
    return model.generate(n, seed=seed, labels=labels)


def _score(
    images, dataset_name: str, *, n_real: int, split: str | None, seed: int, names=FEATURE_METRICS
) -> dict:
    """Unrounded metrics `names` of `images` against `n_real` real images (shared by
    `evaluate`, `evaluate_images` and `imgenlib.monitoring.QualityMonitor`)."""
    names = tuple(names)
    unknown = sorted(set(names) - set(FEATURE_METRICS))
    if unknown:
        raise ValueError(
            f"Unknown metric(s) {unknown}; expected any of {', '.join(FEATURE_METRICS)}."
        )
    split = default_split(dataset_name) if split is None else split
    extractor = _extractor(dataset_name)
    real = _real_features(dataset_name, split, n_real)
    fake, logits = extractor._outputs(images, 500)
    result = {}
    if "fid" in names:
        result["fid"] = fid_from_features(real, fake)
    if {"kid", "kid_std"} & set(names):
        # Subsets of at most half the data, so they differ and kid_std means something.
        subset_size = min(1000, max(2, min(len(real), len(fake)) // 2))
        result["kid"], result["kid_std"] = kid_from_features(
            real, fake, subsets=50, subset_size=subset_size, seed=seed
        )
    if {"precision", "recall"} & set(names):
        result["precision"], result["recall"] = precision_recall(real, fake, k=3)
    if {"density", "coverage"} & set(names):
        result["density"], result["coverage"] = density_coverage(real, fake, k=5)
    if {"inception_score", "class_entropy"} & set(names):
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        histogram = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]) / len(probs)
        nonzero = histogram[histogram > 0]
        result["inception_score"] = inception_score(probs)[0]
        entropy = -(nonzero * np.log(nonzero)).sum() / np.log(len(histogram))
        result["class_entropy"] = float(entropy) + 0.0  # -0.0 for a single class
    return {name: float(result[name]) for name in names}


def _report(scores: dict, dataset_name: str, split: str | None, n: int, n_real: int) -> dict:
    split = default_split(dataset_name) if split is None else split
    rounded = {name: round(value, _DECIMALS.get(name, 4)) for name, value in scores.items()}
    return {"dataset": dataset_name, "split": split, "n": n, "n_real": n_real, **rounded}


def evaluate(
    model, dataset_name: str, n: int = 10000, seed: int = 0, *, split: str | None = None
) -> dict:
    """Measure a generator against a dataset with imgenlib's shipped feature extractor.

    Draws `n` samples (for a conditional model, classes in equal shares) and compares them
    with the first `n` real images of `split` (fewer if the split is smaller; features
    cached per process).

    Args:
        model: anything with ``generate(n, seed=..., labels=...)`` returning images in
            [-1, 1] (and ``num_classes`` for a conditional model).
        dataset_name: a dataset with a shipped extractor (`imgenlib.features.CLASSIFIERS`).
        n: number of samples.
        seed: seed of the samples and of KID's subsets.
        split: real split to compare with; default `default_split` (test when there is one).

    Returns:
        A dict with ``dataset``, ``split``, ``n``, ``n_real``, ``fid``, ``kid`` and
        ``kid_std`` (50 subsets of min(1000, n/2) images), ``precision`` and ``recall`` (k=3), ``density`` and ``coverage``
        (k=5), ``inception_score``, and ``class_entropy``: the entropy of the
        predicted-class histogram of the samples divided by log(classes) (1 = all classes
        equally often; low = missing modes).

    Raises:
        ValueError: unknown dataset or no shipped extractor for it; bad `n` or `seed`.
    """
    n = check_int("n", n, minimum=10)
    seed = check_int("seed", seed, minimum=0)
    _extractor(dataset_name)
    samples = _generate(model, n, seed)
    return evaluate_images(samples, dataset_name, seed=seed, split=split, n_real=n)


def evaluate_images(
    images,
    dataset_name: str,
    *,
    seed: int = 0,
    split: str | None = None,
    n_real: int | None = None,
    metrics=FEATURE_METRICS,
) -> dict:
    """`evaluate` for a given batch of images instead of a model (e.g. a data split: the floor).

    Args:
        images: (n, H, W, C) in [-1, 1] with n >= 10, the extractor's image shape.
        dataset_name, seed, split: as in `evaluate`.
        n_real: number of real images (default: ``len(images)``).
        metrics: the subset of `FEATURE_METRICS` to compute (default all; the
            nearest-neighbour ones — precision, recall, density, coverage — cost most).

    Returns:
        The dict of `evaluate`.
    """
    from imgenlib.images import check_images

    images = check_images(images)
    if len(images) < 10:
        raise ValueError(f"images must hold at least 10 images. Received: {len(images)}")
    seed = check_int("seed", seed, minimum=0)
    n_real = len(images) if n_real is None else check_int("n_real", n_real, minimum=10)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    scores = _score(images, dataset_name, n_real=n_real, split=split, seed=seed, names=metrics)
    split = default_split(dataset_name) if split is None else split
    actual_real = len(_real_features(dataset_name, split, n_real))
    return _report(scores, dataset_name, split, len(images), actual_real)
