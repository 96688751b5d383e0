"""Error bars and class-balanced samples for evaluations: confidence intervals, the
bootstrap and stratified sampling.

A metric computed once (an FID, a held-out −ELBO) is one draw of a random quantity: other
samples, other real images or another seed give another value. Before two models are
called different, the difference must be larger than that noise. This module gives the
intervals, on plain arrays of numbers:

- `mean_interval`: mean of repeated measurements (e.g. one FID per evaluation seed) with
  a Student-t confidence interval;
- `difference_interval`: the difference of two means with Welch's t interval (unequal
  variances), e.g. FIDs of two models over the same number of seeds;
- `bootstrap_interval`: a percentile bootstrap interval of any statistic of one or more
  samples, each resampled with replacement independently (e.g. the difference of the
  mean −ELBO of two sets of images).

And the sampling side: `class_counts` splits n draws among classes in given proportions
(largest remainders, so the counts sum to n and each is within 1 of its share), and
`stratified_indices` picks that many items of each class from a labelled set, so an
evaluation sample has the class mix of the data (or any mix asked for) instead of a random
one. Notebook 06 ("Cross-validation and stratified sampling") uses all of them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.stats

from imgenlib._validation import check_float, check_int, check_values

__all__ = [
    "Interval",
    "bootstrap_interval",
    "class_counts",
    "difference_interval",
    "mean_interval",
    "stratified_indices",
]


class Interval(NamedTuple):
    """An estimate with a confidence interval ``[low, high]`` at level `confidence`.

    ``format(interval, ".3f")`` (or an f-string) applies the format to all three numbers:
    ``"1.234 [1.100, 1.368]"``.
    """

    estimate: float
    low: float
    high: float
    confidence: float

    def __format__(self, spec: str) -> str:
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def __str__(self) -> str:
        return format(self, ".4g")

    def contains(self, value: float) -> bool:
        """Whether `value` lies inside the interval (ends included)."""
        return bool(self.low <= value <= self.high)


def _confidence(confidence) -> float:
    return check_float("confidence", confidence, minimum=0, maximum=1, min_inclusive=False,
                       max_inclusive=False)  # fmt: skip


def _repeats(name: str, values) -> np.ndarray:
    values = check_values(name, values)
    if len(values) < 2:
        raise ValueError(
            f"{name} needs at least 2 values for an interval. Received: {name}={values!r}"
        )
    return values


def mean_interval(values, confidence: float = 0.95) -> Interval:
    """Mean of repeated measurements with a Student-t confidence interval.

    ``mean ± t_{(1+confidence)/2, n-1} · s / √n`` with `s` the sample standard deviation
    (ddof 1). Assumes the values are independent draws of roughly normal noise: e.g. a
    metric over evaluation seeds. With few values the interval is wide (t = 2.78 for 5).

    Args:
        values: at least 2 finite numbers.
        confidence: level in (0, 1).

    Returns:
        `Interval` (estimate = the mean).
    """
    values = _repeats("values", values)
    confidence = _confidence(confidence)
    mean = float(values.mean())
    half = _t(confidence, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return Interval(mean, mean - float(half), mean + float(half), confidence)


def _t(confidence: float, df: float) -> float:
    return float(scipy.stats.t.ppf((1 + confidence) / 2, df))


def difference_interval(a, b, confidence: float = 0.95) -> Interval:
    """``mean(a) - mean(b)`` with Welch's t interval (independent samples, unequal variances).

    Degrees of freedom by the Welch–Satterthwaite formula. When the interval excludes 0,
    the difference is significant at level ``1 - confidence``.

    Args:
        a, b: at least 2 finite numbers each (e.g. a metric of two models over seeds).
        confidence: level in (0, 1).

    Returns:
        `Interval` (estimate = the difference of the means).
    """
    a, b = _repeats("a", a), _repeats("b", b)
    confidence = _confidence(confidence)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    difference = float(a.mean() - b.mean())
    if va + vb == 0:
        return Interval(difference, difference, difference, confidence)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = _t(confidence, df) * float(np.sqrt(va + vb))
    return Interval(difference, difference - half, difference + half, confidence)


def bootstrap_interval(
    statistic, *samples, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> Interval:
    """Percentile bootstrap interval of ``statistic(*samples)``.

    Each sample (an array; its rows are the units) is resampled with replacement,
    independently of the others, `resamples` times; the interval is the
    ``(1 ± confidence)/2`` quantiles of the statistic over the resamples.

    Good for smooth statistics such as means and their differences. Not for FID: a
    resample repeats rows, which lowers the effective sample size, and FID is biased
    upwards at small n, so the bootstrap values sit above the estimate (for two samples
    of one Gaussian the interval's midpoint is above 1.5 times it: tests/test_resampling.py).

    Args:
        statistic: function of as many arrays as `samples`, returning a number.
        samples: one or more arrays with at least 2 rows each.
        confidence: level in (0, 1).
        resamples: number of bootstrap resamples (at least 10).
        seed: seed of the resampling.

    Returns:
        `Interval`; the estimate is the statistic of the original samples.
    """
    if not callable(statistic):
        raise TypeError(f"statistic must be callable. Received: statistic={statistic!r}")
    if not samples:
        raise ValueError("bootstrap_interval needs at least one sample after the statistic.")
    arrays = [np.asarray(sample) for sample in samples]
    for i, array in enumerate(arrays):
        if array.ndim == 0 or len(array) < 2:
            raise ValueError(f"samples[{i}] needs at least 2 rows. Received: shape {array.shape}")
    confidence = _confidence(confidence)
    resamples = check_int("resamples", resamples, minimum=10)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    values = np.empty(resamples)
    for r in range(resamples):
        values[r] = statistic(*(a[rng.integers(0, len(a), len(a))] for a in arrays))
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(float(statistic(*arrays)), float(low), float(high), confidence)


def class_counts(n: int, proportions) -> np.ndarray:
    """Split `n` draws among classes in the given proportions (largest remainders).

    Each class first gets ``floor(n · p)``; the draws left over go to the classes with the
    largest remainders (ties: the lower class). The counts sum to `n` and each is within 1
    of ``n · p``.

    Args:
        n: number of draws (>= 0).
        proportions: one non-negative weight per class (normalised to sum 1).

    Returns:
        int64 array of counts, one per class.
    """
    n = check_int("n", n, minimum=0)
    weights = check_values("proportions", proportions)
    if weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(
            f"proportions must be non-negative with a positive sum. Received: proportions={proportions!r}"
        )
    shares = n * weights / weights.sum()
    counts = np.floor(shares).astype(np.int64)
    leftover = n - int(counts.sum())
    order = np.argsort(-(shares - counts), kind="stable")
    counts[order[:leftover]] += 1
    return counts


def stratified_indices(labels, n: int, *, proportions=None, seed: int = 0) -> np.ndarray:
    """Indices of `n` items of a labelled set whose classes come in fixed shares.

    Args:
        labels: int class labels (0, 1, ...), one per item.
        n: number of indices to draw (without replacement).
        proportions: weight per class (length ``labels.max() + 1``); default: the classes'
            shares in `labels` itself, so the sample has the set's class mix exactly
            (up to rounding) instead of a random one.
        seed: seed of the choice within each class.

    Returns:
        int64 array of `n` distinct indices, sorted.

    Raises:
        ValueError: bad labels or proportions, or a class with fewer items than its count.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a non-empty 1-D int array. Received: shape {labels.shape}, dtype {labels.dtype}"
        )
    if labels.min() < 0:
        raise ValueError(f"labels must be >= 0. Received: a label {labels.min()}")
    n = check_int("n", n, minimum=1, maximum=len(labels))
    available = np.bincount(labels)
    if proportions is None:
        proportions = available
    proportions = check_values("proportions", proportions)
    if len(proportions) != len(available):
        raise ValueError(
            f"proportions needs one weight per class ({len(available)}). "
            f"Received: {len(proportions)} weights"
        )
    counts = class_counts(n, proportions)
    short = np.flatnonzero(counts > available)
    if len(short):
        c = int(short[0])
        raise ValueError(
            f"Class {c} has {available[c]} items; the proportions ask for {counts[c]}."
        )
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    picks = [
        rng.choice(np.flatnonzero(labels == c), count, replace=False)
        for c, count in enumerate(counts)
        if count
    ]
    return np.sort(np.concatenate(picks)).astype(np.int64)
