"""Sample-quality metrics on feature vectors: FID, KID, Inception Score, precision/recall,
density/coverage.

Every function takes 2-D float arrays of features, one row per image, produced by a
feature extractor (see `imgenlib.features`): the metrics compare *distributions* of
features of real and generated images, never pixels. Arrays in, numbers out: sampling a
model, loading extractors and real features is `imgenlib.evaluation`'s job.

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

`per_class_scores` computes FID or KID separately for each class (real and generated
features grouped by their labels): which classes a conditional model draws worst.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.special

from imgenlib._validation import check_int, check_positive_int
from imgenlib.neighbours import ball_counts, knn_radii

__all__ = [
    "density_coverage",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "evaluation_kid",
    "kid_from_features",
    "per_class_scores",
    "precision_recall",
]


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


def evaluation_kid(real, fake, seed: int = 0) -> tuple[float, float]:
    """KID as imgenlib's evaluations report it: `kid_from_features` over 50 subsets of
    min(1000, half the smaller set) rows, so that the subsets differ and the std means
    something. ``(mean, std)``."""
    subset_size = min(1000, max(2, min(len(real), len(fake)) // 2))
    return kid_from_features(real, fake, subsets=50, subset_size=subset_size, seed=seed)


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
        kl = scipy.special.rel_entr(part, marginal)
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


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
    precision = float((ball_counts(fake, real, knn_radii(real, k))[0] > 0).mean())
    recall = float((ball_counts(real, fake, knn_radii(fake, k))[0] > 0).mean())
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
    counts, covered = ball_counts(fake, real, knn_radii(real, k))
    return float(counts.sum() / (k * len(fake))), float(covered.mean())


def per_class_scores(
    real, real_labels, fake, fake_labels, *, metric: str = "fid", seed: int = 0
) -> dict[int, float]:
    """FID or KID of each class: real and fake features of class c compared with each other.

    Per-class FIDs are comparable with each other only when every class has the same
    number of samples (FID's bias depends on n: sample a conditional model with
    ``labels="balanced"``), and never with a FID of all classes pooled (more samples).
    KID is unbiased, so per-class KIDs have no such bias (only more noise).

    Args:
        real, fake: feature arrays (rows = images).
        real_labels, fake_labels: int class of each row (for a conditional model, the
            labels it was asked for).
        metric: ``"fid"`` or ``"kid"`` (`evaluation_kid`'s mean, as
            `imgenlib.evaluation.evaluate` reports it).
        seed: seed of KID's subsets.

    Returns:
        ``{class: score}`` for every class of `real_labels`, in increasing order.

    Raises:
        ValueError: labels of the wrong length or type, an unknown metric, or a class
            with fewer than 2 rows in either set (e.g. a class the model never drew).
    """
    real, fake = _pair(real, fake)
    real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
    for name, labels, rows in (
        ("real_labels", real_labels, real),
        ("fake_labels", fake_labels, fake),
    ):
        if labels.shape != (len(rows),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"{name} must be {len(rows)} ints, one per row. "
                f"Received: {name}.shape={labels.shape}, dtype {labels.dtype}"
            )
    if metric not in ("fid", "kid"):
        raise ValueError(f"metric must be 'fid' or 'kid'. Received: metric={metric!r}")
    seed = check_int("seed", seed, minimum=0)
    scores = {}
    for c in np.unique(real_labels):
        x, y = real[real_labels == c], fake[fake_labels == c]
        if min(len(x), len(y)) < 2:
            raise ValueError(
                f"Class {c} has {len(x)} real and {len(y)} fake rows; each needs at least 2."
            )
        if metric == "fid":
            scores[int(c)] = fid_from_features(x, y)
        else:
            scores[int(c)] = evaluation_kid(x, y, seed=seed)[0]
    return scores
