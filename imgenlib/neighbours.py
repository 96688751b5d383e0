"""Euclidean nearest neighbours and pairwise distances, chunked so n x m never sits in memory.

The one place where imgenlib measures distances between rows of two sets: the k-NN balls of
precision/recall and density/coverage (`imgenlib.metrics`), the memorisation audit's
nearest training image (`imgenlib.audit`) and the sample diversity of
`imgenlib.callbacks.TrainingHealth`. Built on scikit-learn:
`sklearn.neighbors.NearestNeighbors` (brute force, exact) for k nearest neighbours and
`sklearn.metrics.pairwise_distances_chunked` for everything that needs whole rows of
distances. Both work on blocks of at most `WORKING_MEMORY_MB` megabytes, so 10,000 x 10,000
distances cost a few dozen megabytes, not 800.
"""

from __future__ import annotations

import numpy as np

from imgenlib._validation import check_int, check_positive_int, check_rows

__all__ = [
    "WORKING_MEMORY_MB",
    "ball_counts",
    "knn_radii",
    "mean_pairwise_distance",
    "nearest_neighbours",
]

WORKING_MEMORY_MB = 64


def _same_width(names, a, b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same row size. Received: "
            f"{a.shape[1]} and {b.shape[1]}"
        )


def nearest_neighbours(queries, references, k: int = 1, *, chunk_size: int = 1024):
    """The `k` nearest references of each query (Euclidean), exact, in bounded memory.

    `sklearn.neighbors.NearestNeighbors` (brute force) answers `chunk_size` queries at a
    time. Both sets are converted to float64 (float32 distances would be off by ~1e-7
    relative), so the references cost 8 bytes per number.

    Args:
        queries: (n, ...) array; rows are flattened.
        references: (m, ...) array with the same row size.
        k: neighbours per query, 1 <= k <= m.
        chunk_size: queries per block.

    Returns:
        ``(distances, indices)``, both (n, k), nearest first.

    Raises:
        ValueError / TypeError: non-numeric or empty sets, different row sizes, bad k.
    """
    import sklearn
    from sklearn.neighbors import NearestNeighbors

    queries, references = check_rows("queries", queries), check_rows("references", references)
    _same_width(("queries", "references"), queries, references)
    k = check_int("k", k, minimum=1, maximum=len(references))
    chunk_size = check_positive_int("chunk_size", chunk_size)
    queries, references = queries.astype(np.float64), references.astype(np.float64)
    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(references)
    distances = np.empty((len(queries), k))
    indices = np.empty((len(queries), k), dtype=np.int64)
    with sklearn.config_context(working_memory=WORKING_MEMORY_MB):
        for start in range(0, len(queries), chunk_size):
            d, i = index.kneighbors(queries[start : start + chunk_size])
            distances[start : start + len(d)], indices[start : start + len(i)] = d, i
    return distances, indices


def knn_radii(points, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest *other* point (the k-NN ball radius).

    Args:
        points: (n, d) array.
        k: 1 <= k < n.

    Returns:
        float64 (n,).
    """
    import sklearn
    from sklearn.neighbors import NearestNeighbors

    points = check_rows("points", points).astype(np.float64)
    k = check_int("k", k, minimum=1, maximum=len(points) - 1)
    with sklearn.config_context(working_memory=WORKING_MEMORY_MB):
        distances, _ = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(points).kneighbors()
    return distances[:, -1].astype(np.float64)


def ball_counts(queries, centres, radii) -> tuple[np.ndarray, np.ndarray]:
    """Which closed balls ``B(centres[j], radii[j])`` contain which queries.

    Args:
        queries: (n, d) array.
        centres: (m, d) array.
        radii: (m,) radii.

    Returns:
        ``(counts, hit)``: int64 (n,) number of balls containing each query, and bool (m,)
        whether each ball contains at least one query.
    """
    from sklearn.metrics import pairwise_distances_chunked

    queries, centres = check_rows("queries", queries), check_rows("centres", centres)
    _same_width(("queries", "centres"), queries, centres)
    radii = np.asarray(radii, dtype=np.float64)
    if radii.shape != (len(centres),):
        raise ValueError(
            f"radii must have one entry per centre ({len(centres)}). Received: radii.shape={radii.shape}"
        )
    queries, centres = queries.astype(np.float64), centres.astype(np.float64)
    counts, hit = [], np.zeros(len(centres), dtype=bool)
    for block in pairwise_distances_chunked(queries, centres, working_memory=WORKING_MEMORY_MB):
        inside = block <= radii
        counts.append(inside.sum(axis=1))
        hit |= inside.any(axis=0)
    return np.concatenate(counts).astype(np.int64), hit


def mean_pairwise_distance(points) -> float:
    """Mean Euclidean distance between distinct rows of `points` (0.0 for fewer than two)."""
    from sklearn.metrics import pairwise_distances_chunked

    points = check_rows("points", points).astype(np.float64)
    n = len(points)
    if n < 2:
        return 0.0
    total = sum(
        block.sum()
        for block in pairwise_distances_chunked(points, working_memory=WORKING_MEMORY_MB)
    )
    return float(total / (n * (n - 1)))
