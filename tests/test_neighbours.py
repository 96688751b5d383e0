"""Distance helpers against brute-force NumPy, and their memory bound at 10,000 x 10,000."""

import tracemalloc

import numpy as np
import pytest

from imgenlib import neighbours
from imgenlib.metrics import density_coverage, precision_recall
from imgenlib.neighbours import ball_counts, knn_radii, mean_pairwise_distance, nearest_neighbours


def _direct(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def test_knn_radii_is_the_kth_other_point(rng):
    points = rng.standard_normal((200, 6))
    expected = np.sort(_direct(points, points), axis=1)[:, 3]  # column 0 is the point itself
    np.testing.assert_allclose(knn_radii(points, 3), expected, rtol=1e-9)


def test_ball_counts_and_hits_match_brute_force(rng):
    queries, centres = rng.standard_normal((300, 4)), rng.standard_normal((250, 4))
    radii = rng.uniform(0.2, 1.0, 250)
    inside = _direct(queries, centres) <= radii
    counts, hit = ball_counts(queries, centres, radii)
    np.testing.assert_array_equal(counts, inside.sum(axis=1))
    np.testing.assert_array_equal(hit, inside.any(axis=0))
    with pytest.raises(ValueError, match="one entry per centre"):
        ball_counts(queries, centres, radii[:3])


def test_mean_pairwise_distance(rng):
    points = rng.standard_normal((40, 7))
    direct = _direct(points, points)
    assert mean_pairwise_distance(points) == pytest.approx(direct.sum() / (40 * 39), rel=1e-9)
    assert mean_pairwise_distance(points[:1]) == 0.0


def test_small_blocks_give_the_same_answers(rng, monkeypatch):
    real, fake = rng.standard_normal((500, 8)), rng.standard_normal((400, 8)) + 0.2
    expected = precision_recall(real, fake), density_coverage(real, fake)
    distances, indices = nearest_neighbours(fake, real, k=4)
    monkeypatch.setattr(neighbours, "WORKING_MEMORY_MB", 0.05)  # blocks of a few rows
    assert (precision_recall(real, fake), density_coverage(real, fake)) == expected
    small_d, small_i = nearest_neighbours(fake, real, k=4, chunk_size=7)
    np.testing.assert_array_equal(small_i, indices)
    np.testing.assert_allclose(small_d, distances, rtol=1e-12)


@pytest.mark.slow
def test_ten_thousand_squared_never_holds_the_full_matrix(rng):
    real = rng.standard_normal((10_000, 16))
    fake = rng.standard_normal((10_000, 16))
    tracemalloc.start()
    try:
        precision, recall = precision_recall(real, fake)
        density, coverage = density_coverage(real, fake)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.5 < precision <= 1 and 0.5 < recall <= 1 and 0.5 < coverage <= 1 and density > 0.5
    full_matrix = 10_000 * 10_000 * 8
    assert peak < full_matrix / 4, f"peak {peak / 2**20:.0f} MiB"
