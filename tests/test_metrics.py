"""Metrics against independent references: closed forms, brute-force sums, constructed clouds."""

import numpy as np
import pytest

from imgenlib.metrics import (
    density_coverage,
    fid_from_features,
    frechet_distance,
    inception_score,
    kid_from_features,
    precision_recall,
)


def test_fid_of_gaussian_samples_matches_the_closed_form(rng):
    # Diagonal covariances: the Fréchet distance is |mu1-mu2|^2 + sum((s1 - s2)^2) with s = std.
    d = 4
    mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.0, 2.0])
    std1, std2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([1.5, 1.0, 0.5, 3.0])
    closed_form = ((mu1 - mu2) ** 2).sum() + ((std1 - std2) ** 2).sum()
    a = mu1 + std1 * rng.standard_normal((200_000, d))
    b = mu2 + std2 * rng.standard_normal((200_000, d))
    assert fid_from_features(a, b) == pytest.approx(closed_form, rel=0.01)
    assert frechet_distance(mu1, np.diag(std1**2), mu2, np.diag(std2**2)) == pytest.approx(
        closed_form, rel=1e-9
    )


def test_frechet_distance_full_covariance_against_scipy_direct(rng):
    a, b = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    s1, s2 = a @ a.T + np.eye(5), b @ b.T + np.eye(5)
    # For SPD matrices tr((s1 s2)^½) = tr((s1^½ s2 s1^½)^½), a symmetric form computed independently.
    import scipy.linalg

    root1 = scipy.linalg.sqrtm(s1).real
    expected = (
        np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(root1 @ s2 @ root1).real)
    )
    assert frechet_distance(np.zeros(5), s1, np.zeros(5), s2) == pytest.approx(expected, rel=1e-8)


def test_fid_identical_sets_and_singular_covariance(rng):
    a = rng.standard_normal((500, 8))
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    few = rng.standard_normal((10, 32))  # fewer samples than features: singular covariance
    assert np.isfinite(fid_from_features(few, rng.standard_normal((10, 32))))


def _brute_force_mmd2(x, y):
    m = len(x)
    k = lambda u, v: (u @ v / x.shape[1] + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_is_the_unbiased_mmd_estimate(rng):
    x, y = rng.standard_normal((12, 3)), rng.standard_normal((12, 3)) + 0.3
    mean, std = kid_from_features(x, y, subsets=1, subset_size=12)
    assert mean == pytest.approx(_brute_force_mmd2(x, y), rel=1e-10)
    assert std == 0.0


def test_kid_zero_for_one_distribution_positive_for_shifted(rng):
    a, b = rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16))
    mean, std = kid_from_features(a, b, subsets=50, subset_size=500)
    assert abs(mean) < 3 * std + 1e-4
    shifted, _ = kid_from_features(a, b + 0.5, subsets=50, subset_size=500)
    assert shifted > 10 * max(std, 1e-4)
    small, _ = kid_from_features(a[:50], b[:30], subset_size=1000)  # capped at 30
    assert np.isfinite(small)


def test_inception_score_bounds():
    confident_uniform = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(confident_uniform, splits=10)[0] == pytest.approx(10.0)
    identical = np.tile([0.7, 0.2, 0.1], (100, 1))
    assert inception_score(identical)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="class probabilities"):
        inception_score(np.full((4, 3), 0.5))


def test_precision_recall_on_constructed_clouds(rng):
    real = rng.uniform(0, 1, (1000, 2))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    far = real + 100
    assert precision_recall(real, far) == (0.0, 0.0)
    corner = real[(real[:, 0] < 0.5) & (real[:, 1] < 0.5)]  # fakes cover a quarter of the data
    precision, recall = precision_recall(real, corner)
    assert precision == 1.0
    assert 0.15 < recall < 0.45


def test_density_coverage_on_constructed_clouds(rng):
    real = rng.standard_normal((1500, 3))
    density, coverage = density_coverage(real, rng.standard_normal((1500, 3)))
    assert 0.8 < density < 1.2 and coverage > 0.9
    assert density_coverage(real, real + 50) == (0.0, 0.0)
    density, coverage = density_coverage(
        real, real[:10].repeat(150, axis=0)
    )  # all fakes on 10 points
    assert coverage < 0.05


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (
            lambda: fid_from_features(np.zeros(5), np.zeros((5, 2))),
            ValueError,
            r"2-D array .*Received: real features.shape=\(5,\)",
        ),
        (
            lambda: fid_from_features(np.zeros((5, 2)), np.zeros((5, 3))),
            ValueError,
            "Feature sizes differ: 2 and 3",
        ),
        (
            lambda: fid_from_features(np.zeros((1, 2)), np.zeros((5, 2))),
            ValueError,
            "at least 2 samples",
        ),
        (lambda: fid_from_features(np.full((3, 2), np.nan), np.zeros((3, 2))), ValueError, "NaN"),
        (
            lambda: kid_from_features(np.zeros((5, 2)), np.zeros((5, 2)), subsets=0),
            ValueError,
            "subsets=0",
        ),
        (
            lambda: precision_recall(np.zeros((3, 2)), np.zeros((3, 2)), k=3),
            ValueError,
            "k must be smaller",
        ),
        (lambda: fid_from_features([["a"]], np.zeros((3, 2))), TypeError, "numeric"),
    ],
)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_evaluate_images_computes_only_the_metrics_asked_for():
    from imgenlib.data import load_images
    from imgenlib.evaluation import evaluate_images

    images, _ = load_images("digits", n=200)
    everything = evaluate_images(images, "digits", seed=0)
    some = evaluate_images(images, "digits", seed=0, metrics=("fid", "kid"))
    assert set(some) == {"dataset", "split", "n", "n_real", "fid", "kid"}
    assert (some["fid"], some["kid"]) == (everything["fid"], everything["kid"])
    with pytest.raises(ValueError, match="Unknown metric"):
        evaluate_images(images, "digits", metrics=("sharpness",))


def _eigen_fid(x, y):
    # Independent FID: eigendecompositions only, via tr((S1 S2)^½) = tr((S1^½ S2 S1^½)^½).
    def root(m):
        values, vectors = np.linalg.eigh(m)
        return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T

    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    r1 = root(s1)
    diff = x.mean(0) - y.mean(0)
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root(r1 @ s2 @ r1))


def test_per_class_scores_are_the_scores_of_each_class_alone(rng):
    from imgenlib.metrics import per_class_scores

    real_labels, fake_labels = rng.integers(0, 3, 600), rng.integers(0, 3, 450)
    real = rng.standard_normal((600, 4)) + real_labels[:, None]
    fake = rng.standard_normal((450, 4)) * 1.3 + fake_labels[:, None] + 0.2
    fids = per_class_scores(real, real_labels, fake, fake_labels)
    assert list(fids) == [0, 1, 2]
    for c, value in fids.items():
        x, y = real[real_labels == c], fake[fake_labels == c]
        assert value == pytest.approx(_eigen_fid(x, y), rel=1e-6)
    # Pooling mixes the class means into the covariances: not the average of the classes.
    assert fid_from_features(real, fake) != pytest.approx(np.mean(list(fids.values())), rel=0.05)
    kids = per_class_scores(real, real_labels, fake, fake_labels, metric="kid", seed=1)
    for c, value in kids.items():
        x, y = real[real_labels == c], fake[fake_labels == c]
        size = min(len(x), len(y)) // 2
        assert value == pytest.approx(kid_from_features(x, y, 50, size, seed=1)[0], rel=1e-12)
        assert value > 0.0  # the fakes are shifted and wider


def test_per_class_scores_refuse_a_missing_class_and_bad_labels(rng):
    from imgenlib.metrics import per_class_scores

    real, fake = rng.standard_normal((20, 2)), rng.standard_normal((20, 2))
    labels = np.repeat([0, 1], 10)
    with pytest.raises(ValueError, match="Class 1 has 10 real and 0 fake"):
        per_class_scores(real, labels, fake, np.zeros(20, int))
    with pytest.raises(ValueError, match="fake_labels must be 20 ints"):
        per_class_scores(real, labels, fake, labels[:5])
    with pytest.raises(ValueError, match="metric='is'"):
        per_class_scores(real, labels, fake, labels, metric="is")
