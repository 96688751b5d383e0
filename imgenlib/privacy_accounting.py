"""Privacy accounting for DP-SGD with Google's ``dp-accounting``: ε for δ, and σ for a target ε.

A DP-SGD run is T steps of a subsampled Gaussian mechanism: each step draws a batch
from N examples, clips every example's gradient to norm C and adds N(0, (σ·C)²) noise
(`imgenlib.privacy`). Its (ε, δ) depends on σ (`noise_multiplier`), the sampling rate
q, T and *how* batches are drawn; this module builds the matching ``dp_accounting``
event and asks one of its accountants:

- ``"rdp"``: Rényi DP (Mironov 2017; Mironov, Talwar, Zhang 2019,
  https://arxiv.org/abs/1908.10530), the accountant the DP-GAN / GS-WGAN / DPDM papers
  report; fast (≈0.1 s for 14,000 steps) and an upper bound.
- ``"pld"``: privacy loss distributions (Koskela et al. 2020; Doroshenko et al. 2022),
  numerically near-exact and tighter (smaller ε for the same run); seconds per call.

Sampling, stated truthfully (the accountant is only correct for the sampling it assumes):

- ``sampling="poisson"`` (default): at every step each example joins the batch
  independently with probability q, so batch sizes vary around q·N. Neighbouring
  datasets differ by adding or removing one example. This is the setting of Abadi et al.
  2016 and of the RDP/PLD analyses above. A training loop gets it exactly by drawing the
  batch size from Binomial(N, q) and then that many distinct examples uniformly.
- ``sampling="fixed"``: at every step a batch of exactly B = q·N distinct examples is
  drawn uniformly at random, independently of the other steps. Neighbouring datasets
  differ by replacing one example (N is public), so the clipped sum's sensitivity is 2C
  and the event is built with noise multiplier σ/2; the RDP bound for it (Wang, Balle,
  Kasiviswanathan 2019, Thm 27, https://arxiv.org/abs/1808.00087) is looser, so the same
  run costs about twice the ε (5.2 vs 2.6 for the example below). Only ``"rdp"`` supports
  it in dp-accounting 0.6.0. Replace-one ε is not comparable to add/remove ε.
- Neither covers the usual "shuffle once per epoch and cut into batches" pipeline: its
  privacy is not what the Poisson analysis says (Chua et al. 2024,
  https://arxiv.org/abs/2403.17673, show it can be far worse). A private run must sample
  as the accountant assumes.

Example: N = 60,000, batch 256, σ = 1.1, 60 epochs (14,062 steps), δ = 1e-5 gives
ε ≈ 2.60 (RDP) and ≈ 2.38 (PLD).
"""

from __future__ import annotations

import math

import dp_accounting
from dp_accounting import pld, rdp

from imgenlib._validation import (
    check_choice,
    check_delta,
    check_float,
    check_int,
    check_positive_int,
)

__all__ = [
    "ACCOUNTANTS",
    "SAMPLINGS",
    "calibrate_noise_multiplier",
    "default_delta",
    "dp_sgd_event",
    "epsilon",
]

ACCOUNTANTS = ("rdp", "pld")
SAMPLINGS = ("poisson", "fixed")


def _check_sampling_rate(sampling_rate) -> float:
    return check_float("sampling_rate", sampling_rate, minimum=0, min_inclusive=False, maximum=1)


def default_delta(dataset_size: int) -> float:
    """The δ used when none is given: 1e-5, or 0.1/N if 1e-5 is not below 1/N.

    1e-5 is the δ of the published DP generative-model results on (Fashion-)MNIST
    (DP-GAN, GS-WGAN, DPDM), so ε values stay comparable; δ must stay well below 1/N
    (a mechanism that publishes one random example outright is (0, 1/N)-DP), hence
    the switch to 0.1/N for datasets of 100,000 examples or more.

    Args:
        dataset_size: N, the number of private training examples.

    Returns:
        δ as a float.

    Raises:
        ValueError: if `dataset_size` is not a positive int.

    Example:
        >>> default_delta(60_000)
        1e-05
    """
    dataset_size = check_positive_int("dataset_size", dataset_size)
    return 1e-5 if 1e-5 < 1.0 / dataset_size else 0.1 / dataset_size


def _fixed_batch_size(sampling_rate: float, dataset_size) -> int:
    if dataset_size is None:
        raise ValueError(
            "sampling='fixed' needs dataset_size (the event is defined by N and B = q·N). "
            "Received: dataset_size=None"
        )
    dataset_size = check_positive_int("dataset_size", dataset_size)
    batch_size = sampling_rate * dataset_size
    if abs(batch_size - round(batch_size)) > 1e-6 or round(batch_size) < 1:
        raise ValueError(
            "sampling='fixed' needs sampling_rate * dataset_size to be a whole batch size. "
            f"Received: sampling_rate={sampling_rate!r}, dataset_size={dataset_size!r}"
        )
    return round(batch_size)


def dp_sgd_event(
    noise_multiplier: float,
    sampling_rate: float,
    steps: int,
    *,
    sampling: str = "poisson",
    dataset_size: int | None = None,
) -> dp_accounting.DpEvent:
    """The ``dp_accounting`` event of `steps` DP-SGD steps.

    Args:
        noise_multiplier: σ ≥ 0, the noise std divided by the clip norm C.
        sampling_rate: q in (0, 1], the expected (Poisson) or exact (fixed) fraction of
            the dataset in one batch.
        steps: number of steps T ≥ 0.
        sampling: ``"poisson"`` or ``"fixed"`` (see the module docstring).
        dataset_size: N; required for ``"fixed"``, where q·N must be a whole number.

    Returns:
        ``SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(σ)), T)``, or with
        ``SampledWithoutReplacementDpEvent(N, q·N, GaussianDpEvent(σ/2))`` for ``"fixed"``
        (replace-one sensitivity 2C).

    Raises:
        ValueError: for arguments out of range or an unknown `sampling`.

    Example:
        >>> dp_sgd_event(1.1, 256 / 60_000, 14_062)
    """
    sigma = check_float("noise_multiplier", noise_multiplier, minimum=0)
    sampling_rate = _check_sampling_rate(sampling_rate)
    steps = check_int("steps", steps, minimum=0)
    check_choice("sampling", sampling, SAMPLINGS)
    if sampling == "poisson":
        step = dp_accounting.PoissonSampledDpEvent(
            sampling_rate, dp_accounting.GaussianDpEvent(sigma)
        )
    else:
        batch_size = _fixed_batch_size(sampling_rate, dataset_size)
        step = dp_accounting.SampledWithoutReplacementDpEvent(
            int(dataset_size), batch_size, dp_accounting.GaussianDpEvent(sigma / 2)
        )
    return dp_accounting.SelfComposedDpEvent(step, steps)


def _make_accountant(accountant: str, sampling: str):
    check_choice("accountant", accountant, ACCOUNTANTS)
    relation = (
        dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE
        if sampling == "poisson"
        else dp_accounting.NeighboringRelation.REPLACE_ONE
    )
    if accountant == "pld":
        if sampling != "poisson":
            raise ValueError(
                f"accountant='pld' supports only sampling='poisson' in dp-accounting 0.6.0; "
                f"use accountant='rdp'. Received: sampling={sampling!r}"
            )
        return pld.PLDAccountant(neighboring_relation=relation)
    return rdp.RdpAccountant(neighboring_relation=relation)


def epsilon(
    noise_multiplier: float,
    sampling_rate: float,
    steps: int,
    delta: float,
    *,
    accountant: str = "rdp",
    sampling: str = "poisson",
    dataset_size: int | None = None,
) -> float:
    """ε of `steps` DP-SGD steps at the given δ.

    Args:
        noise_multiplier: σ ≥ 0 (0 means no noise: ε is infinite).
        sampling_rate: q in (0, 1].
        steps: T ≥ 0 (0 steps: ε = 0).
        delta: δ in (0, 1), e.g. `default_delta(N)`.
        accountant: ``"rdp"`` or ``"pld"``.
        sampling: ``"poisson"`` or ``"fixed"`` (see the module docstring).
        dataset_size: N; required for ``"fixed"``.

    Returns:
        ε as a float (``math.inf`` when σ = 0 and T > 0).

    Raises:
        ValueError: for arguments out of range, an unknown `accountant` or `sampling`,
            or a combination dp-accounting does not support (``"pld"`` with ``"fixed"``).

    Example:
        >>> round(epsilon(1.1, 256 / 60_000, 14_062, 1e-5), 2)
        2.6
    """
    event = dp_sgd_event(
        noise_multiplier, sampling_rate, steps, sampling=sampling, dataset_size=dataset_size
    )
    delta = check_delta(delta)
    engine = _make_accountant(accountant, sampling)
    if event.count == 0:
        return 0.0
    if float(noise_multiplier) == 0:
        return math.inf
    return float(engine.compose(event).get_epsilon(delta))


def calibrate_noise_multiplier(
    target_epsilon: float,
    delta: float,
    sampling_rate: float,
    steps: int,
    *,
    accountant: str = "rdp",
    sampling: str = "poisson",
    dataset_size: int | None = None,
    tol: float = 1e-4,
) -> float:
    """The smallest σ (within `tol`) whose `steps` DP-SGD steps spend at most `target_epsilon`.

    Brackets σ by doubling/halving from 1, then calls
    ``dp_accounting.calibrate_dp_mechanism`` (Brent's method), which guarantees that the
    returned σ satisfies ε(σ) ≤ `target_epsilon`: plan the run with the planned number
    of steps and the ε budget is not exceeded.

    Args:
        target_epsilon: the ε budget, > 0.
        delta: δ in (0, 1).
        sampling_rate: q in (0, 1].
        steps: planned number of steps, ≥ 1.
        accountant: ``"rdp"`` or ``"pld"``.
        sampling: ``"poisson"`` or ``"fixed"``.
        dataset_size: N; required for ``"fixed"``.
        tol: absolute tolerance on σ, > 0.

    Returns:
        σ as a float.

    Raises:
        ValueError: for arguments out of range, or a target that needs σ above 2**20.

    Example:
        >>> sigma = calibrate_noise_multiplier(10.0, 1e-5, 256 / 60_000, 14_062)
    """
    target_epsilon = check_float("target_epsilon", target_epsilon, minimum=0, min_inclusive=False)
    delta = check_delta(delta)
    steps = check_positive_int("steps", steps)
    tol = check_float("tol", tol, minimum=0, min_inclusive=False)
    dp_sgd_event(1.0, sampling_rate, steps, sampling=sampling, dataset_size=dataset_size)
    _make_accountant(accountant, sampling)

    def spent(sigma: float) -> float:
        return epsilon(
            sigma, sampling_rate, steps, delta,
            accountant=accountant, sampling=sampling, dataset_size=dataset_size,
        )  # fmt: skip

    high = 1.0
    if spent(high) > target_epsilon:
        while True:
            low, high = high, 2 * high
            if high > 2**20:
                raise ValueError(
                    f"target_epsilon={target_epsilon!r} needs a noise multiplier above 2**20 "
                    f"for sampling_rate={sampling_rate!r}, steps={steps!r}, delta={delta!r}."
                )
            if spent(high) <= target_epsilon:
                break
    else:
        while True:
            low = high / 2
            if low < tol:
                return float(high)
            if spent(low) > target_epsilon:
                break
            high = low
    sigma = dp_accounting.calibrate_dp_mechanism(
        lambda: _make_accountant(accountant, sampling),
        lambda s: dp_sgd_event(
            s, sampling_rate, steps, sampling=sampling, dataset_size=dataset_size
        ),
        target_epsilon,
        delta,
        dp_accounting.ExplicitBracketInterval(low, high),
        tol=tol,
    )
    return float(sigma)
