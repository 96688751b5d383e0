"""Intervals and stratified sampling against independent references (scipy.stats, brute force)."""

import numpy as np
import pytest
import scipy.stats

from imgenlib.resampling import (
    Interval,
    bootstrap_interval,
    class_counts,
    difference_interval,
    mean_interval,
    stratified_indices,
)


@pytest.mark.parametrize("n", [2, 5, 30])
def test_mean_interval_matches_scipy_t_interval(rng, n):
    values = rng.normal(3.0, 2.0, n)
    got = mean_interval(values, confidence=0.9)
    low, high = scipy.stats.t.interval(0.9, n - 1, loc=values.mean(), scale=scipy.stats.sem(values))
    assert got.estimate == pytest.approx(values.mean(), rel=1e-12)
    assert (got.low, got.high) == pytest.approx((low, high), rel=1e-10)
    assert got.confidence == 0.9 and got.contains(values.mean()) and not got.contains(high + 1)


def test_mean_interval_covers_the_true_mean_at_its_level(rng):
    # 10,000 experiments of 5 normal draws: a 95 % interval misses the true mean 5 % of the
    # time (binomial s.e. 0.002); a normal (z) interval would cover only ~88 %.
    hits = [mean_interval(rng.normal(1.0, 1.0, 5)).contains(1.0) for _ in range(10000)]
    assert np.mean(hits) == pytest.approx(0.95, abs=0.01)


def test_difference_interval_matches_scipy_welch(rng):
    a, b = rng.normal(0.0, 1.0, 7), rng.normal(0.5, 3.0, 12)
    got = difference_interval(a, b)
    reference = scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert got.estimate == pytest.approx(a.mean() - b.mean(), rel=1e-12)
    assert (got.low, got.high) == pytest.approx((reference.low, reference.high), rel=1e-9)


def test_difference_interval_of_constant_samples_is_a_point():
    got = difference_interval([2.0, 2.0], [1.0, 1.0, 1.0])
    assert got == Interval(1.0, 1.0, 1.0, 0.95)


def test_bootstrap_interval_agrees_with_scipy_bootstrap(rng):
    # One sample and two independent samples; percentile intervals agree up to Monte-Carlo noise.
    x, y = rng.exponential(1.0, 300), rng.normal(0.2, 1.0, 200)
    one = bootstrap_interval(np.mean, x, resamples=4000, seed=1)
    ref = scipy.stats.bootstrap(
        (x,), np.mean, n_resamples=4000, method="percentile", random_state=2
    ).confidence_interval
    assert one.estimate == pytest.approx(x.mean())
    assert (one.low, one.high) == pytest.approx((ref.low, ref.high), abs=0.02)

    def diff(u, v):
        return np.mean(u) - np.mean(v)

    two = bootstrap_interval(diff, x, y, resamples=4000, seed=1)
    ref = scipy.stats.bootstrap(
        (x, y), diff, n_resamples=4000, method="percentile", vectorized=False, random_state=2
    ).confidence_interval
    assert two.estimate == pytest.approx(x.mean() - y.mean())
    assert (two.low, two.high) == pytest.approx((ref.low, ref.high), abs=0.03)
    # and the width is the normal theory's, 2 · 1.96 · standard error
    se = np.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
    assert two.high - two.low == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_bootstrap_resamples_rows_of_2d_samples(rng):
    rows = rng.normal(size=(50, 3))
    got = bootstrap_interval(lambda a: a[:, 0].mean(), rows, resamples=200, seed=0)
    assert got.estimate == pytest.approx(rows[:, 0].mean())
    assert got.low < got.estimate < got.high
    assert bootstrap_interval(lambda a: a[:, 0].mean(), rows, resamples=200, seed=0) == got


def test_interval_formats_all_three_numbers():
    assert f"{Interval(1.23456, 1.1, 1.4, 0.95):.2f}" == "1.23 [1.10, 1.40]"


@pytest.mark.parametrize(
    ("n", "proportions"),
    [(10, [1, 1, 1]), (7, [0.5, 0.3, 0.2]), (1000, [5, 0, 1, 3]), (0, [1, 2]), (3, [1] * 10)],
)
def test_class_counts_sum_to_n_and_stay_within_one_of_the_share(n, proportions):
    counts = class_counts(n, proportions)
    shares = n * np.asarray(proportions, float) / np.sum(proportions)
    assert counts.sum() == n
    assert np.all(np.abs(counts - shares) < 1)
    assert np.all(counts[np.asarray(proportions) == 0] == 0)


def test_class_counts_give_leftovers_to_the_largest_remainders():
    # 10 · (0.24, 0.35, 0.41) = 2.4, 3.5, 4.1: floors 2, 3, 4 and one left for the .5.
    assert class_counts(10, [0.24, 0.35, 0.41]).tolist() == [2, 4, 4]
    assert class_counts(10, [1, 1, 1, 1]).tolist() == [3, 3, 2, 2]


def test_stratified_indices_keep_the_class_mix(rng):
    labels = np.repeat(np.arange(4), [400, 300, 200, 100])
    rng.shuffle(labels)
    picked = stratified_indices(labels, 100, seed=3)
    assert len(np.unique(picked)) == 100 and np.all(np.diff(picked) > 0)
    assert np.bincount(labels[picked]).tolist() == [40, 30, 20, 10]
    balanced = stratified_indices(labels, 80, proportions=[1, 1, 1, 1], seed=3)
    assert np.bincount(labels[balanced]).tolist() == [20, 20, 20, 20]
    assert not np.array_equal(picked, stratified_indices(labels, 100, seed=4))


def test_stratified_indices_refuse_what_they_cannot_draw():
    labels = np.array([0, 0, 0, 1])
    with pytest.raises(ValueError, match="Class 1 has 1 items"):
        stratified_indices(labels, 4, proportions=[1, 1])
    with pytest.raises(ValueError, match="one weight per class"):
        stratified_indices(labels, 2, proportions=[1, 1, 1])
    with pytest.raises(ValueError, match="1-D int array"):
        stratified_indices(np.array([0.0, 1.0]), 1)
    with pytest.raises(ValueError, match="n=5"):
        stratified_indices(labels, 5)


def test_bad_input_names_the_value():
    with pytest.raises(ValueError, match="at least 2 values"):
        mean_interval([1.0])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1.0, 2.0], confidence=1.5)
    with pytest.raises(TypeError, match="statistic must be callable"):
        bootstrap_interval("mean", np.ones(3))
    with pytest.raises(ValueError, match="samples\\[0\\] needs at least 2 rows"):
        bootstrap_interval(np.mean, np.ones(1))
    with pytest.raises(ValueError, match="proportions must be non-negative"):
        class_counts(3, [1, -1])


def test_bootstrap_of_fid_sits_above_the_estimate(rng):
    # The docstring's warning: resampling repeats rows, FID's small-sample bias grows, and the
    # bootstrap values of two samples of one Gaussian lie mostly above the estimate (a mean's
    # interval is centred on it: checked above).
    from imgenlib.metrics import fid_from_features

    a, b = rng.standard_normal((200, 4)), rng.standard_normal((200, 4))
    got = bootstrap_interval(fid_from_features, a, b, resamples=200, seed=0)
    assert (got.low + got.high) / 2 > 1.5 * got.estimate
    centred = bootstrap_interval(lambda u, v: u.mean() - v.mean(), a, b, resamples=200, seed=0)
    mid = (centred.low + centred.high) / 2
    assert abs(mid - centred.estimate) < 0.25 * (centred.high - centred.low)
