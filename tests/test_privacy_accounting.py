"""The accountant wrapper against dp-accounting called directly, closed forms and a published ε."""

import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting import pld, rdp
from scipy.optimize import brentq
from scipy.special import gammaln, logsumexp
from scipy.stats import norm

from imgenlib import privacy_accounting as accounting


@pytest.mark.parametrize("name", ["rdp", "pld"])
def test_poisson_epsilon_matches_dp_accounting_called_directly(name):
    sigma, q, steps, delta = 1.1, 0.01, 300, 1e-5
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )
    engine = rdp.RdpAccountant() if name == "rdp" else pld.PLDAccountant()
    expected = engine.compose(event).get_epsilon(delta)
    got = accounting.epsilon(sigma, q, steps, delta, accountant=name)
    assert got == pytest.approx(expected, rel=1e-12)
    assert 0.1 < got < 10


def test_fixed_size_sampling_is_replace_one_with_twice_the_sensitivity():
    sigma, n, batch, steps, delta = 1.1, 1000, 50, 200, 1e-5
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.SampledWithoutReplacementDpEvent(
            n, batch, dp_accounting.GaussianDpEvent(sigma / 2)
        ),
        steps,
    )
    engine = rdp.RdpAccountant(neighboring_relation=dp_accounting.NeighboringRelation.REPLACE_ONE)
    expected = engine.compose(event).get_epsilon(delta)
    got = accounting.epsilon(
        sigma, batch / n, steps, delta, sampling="fixed", dataset_size=n, accountant="rdp"
    )
    assert got == pytest.approx(expected, rel=1e-12)
    # The same run under Poisson sampling (add/remove) is cheaper: fixed is not a free swap.
    assert got > accounting.epsilon(sigma, batch / n, steps, delta)


def _rdp_poisson_gaussian_integer_order(q, sigma, alpha):
    # Mironov, Talwar, Zhang 2019 (arXiv:1908.10530), Sec. 3.3, integer alpha:
    # A_alpha = sum_k C(alpha, k) (1-q)^(alpha-k) q^k exp((k^2 - k) / (2 sigma^2)).
    k = np.arange(alpha + 1)
    log_binom = gammaln(alpha + 1) - gammaln(k + 1) - gammaln(alpha - k + 1)
    terms = (
        log_binom + (alpha - k) * math.log1p(-q) + k * math.log(q) + (k * k - k) / (2 * sigma**2)
    )
    return logsumexp(terms) / (alpha - 1)


def test_rdp_reproduces_the_tensorflow_privacy_mnist_tutorial_epsilon():
    # TF Privacy's tutorials/README.md: N = 60,000, batch 256, σ = 1.12, 60 epochs,
    # δ = 1e-5 → "Privacy eps 2.92", from the classic conversion
    # ε = min_α RDP(α) + log(1/δ) / (α - 1). Our own RDP (integer orders) reproduces it,
    # and dp-accounting's tighter conversion can only give less.
    q, sigma, delta = 256 / 60_000, 1.12, 1e-5
    steps = math.ceil(60 * 60_000 / 256)
    orders = np.arange(2, 64)
    curve = steps * np.array([_rdp_poisson_gaussian_integer_order(q, sigma, a) for a in orders])
    classic = float(np.min(curve + math.log(1 / delta) / (orders - 1)))
    assert round(classic, 2) == 2.92
    ours = accounting.epsilon(sigma, q, steps, delta, accountant="rdp")
    assert 0.8 * classic < ours <= classic


def _exact_gaussian_epsilon(sigma, delta):
    # Balle & Wang 2018 (arXiv:1805.06530), Thm 8: the Gaussian mechanism with
    # sensitivity 1 and std sigma is (ε, δ)-DP iff
    # Φ(1/(2σ) - εσ) - e^ε Φ(-1/(2σ) - εσ) <= δ.
    def gap(eps):
        return (
            norm.cdf(1 / (2 * sigma) - eps * sigma)
            - math.exp(eps) * norm.cdf(-1 / (2 * sigma) - eps * sigma)
            - delta
        )

    return brentq(gap, 0, 100, xtol=1e-12)


@pytest.mark.parametrize(("sigma", "steps"), [(1.0, 1), (2.0, 10), (5.0, 100)])
def test_without_subsampling_pld_is_the_exact_gaussian_and_rdp_bounds_it(sigma, steps):
    # q = 1: T Gaussian steps compose exactly into one Gaussian with std σ/√T.
    exact = _exact_gaussian_epsilon(sigma / math.sqrt(steps), 1e-5)
    assert accounting.epsilon(sigma, 1.0, steps, 1e-5, accountant="pld") == pytest.approx(
        exact, rel=1e-4
    )
    assert exact < accounting.epsilon(sigma, 1.0, steps, 1e-5, accountant="rdp") < 1.2 * exact


def test_no_steps_cost_nothing_and_no_noise_costs_everything():
    assert accounting.epsilon(1.0, 0.01, 0, 1e-5) == 0.0
    assert accounting.epsilon(0.0, 0.01, 10, 1e-5) == math.inf
    assert accounting.epsilon(0.0, 0.01, 10, 1e-5, accountant="pld") == math.inf


@pytest.mark.parametrize("name", ["rdp", "pld"])
def test_calibration_hits_the_target_from_below_and_is_monotone(name):
    q, steps, delta = 0.02, 2000, 1e-5
    if name == "pld":  # PLD of a subsampled Gaussian costs seconds per evaluation
        q, steps = 0.05, 50
    sigmas = []
    for target in (1.0, 3.0, 10.0) if name == "rdp" else (2.0,):
        sigma = accounting.calibrate_noise_multiplier(
            target, delta, q, steps, accountant=name, tol=1e-4
        )
        spent = accounting.epsilon(sigma, q, steps, delta, accountant=name)
        assert spent <= target
        assert spent == pytest.approx(target, rel=1e-2)
        # 1 % less noise would overspend: the σ is (near) the smallest that fits.
        assert accounting.epsilon(0.99 * sigma, q, steps, delta, accountant=name) > target
        sigmas.append(sigma)
    assert sigmas == sorted(sigmas, reverse=True) and len(set(sigmas)) == len(sigmas)


def test_pld_calibration_without_subsampling_gives_the_exact_gaussian_sigma():
    # q = 1, T steps: ε(σ) is the exact Gaussian's at σ/√T, so the calibrated σ/√T must
    # solve Balle & Wang's equation for the target ε.
    target, steps = 2.0, 10
    sigma = accounting.calibrate_noise_multiplier(target, 1e-5, 1.0, steps, accountant="pld")
    exact = brentq(lambda s: _exact_gaussian_epsilon(s, 1e-5) - target, 0.1, 100, xtol=1e-10)
    assert sigma / math.sqrt(steps) == pytest.approx(exact, rel=1e-3)


def test_calibration_for_fixed_size_sampling():
    sigma = accounting.calibrate_noise_multiplier(
        5.0, 1e-5, 0.05, 500, sampling="fixed", dataset_size=1000
    )
    spent = accounting.epsilon(sigma, 0.05, 500, 1e-5, sampling="fixed", dataset_size=1000)
    assert spent <= 5.0
    assert spent == pytest.approx(5.0, rel=1e-2)


def test_default_delta():
    assert accounting.default_delta(60_000) == 1e-5
    assert accounting.default_delta(1_000) == 1e-5
    assert accounting.default_delta(200_000) == pytest.approx(5e-7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sampling_rate": 0.0}, r"sampling_rate must be > 0.*Received: sampling_rate=0.0"),
        ({"sampling_rate": 1.5}, r"sampling_rate must be <= 1.*Received: sampling_rate=1.5"),
        ({"delta": 0.0}, r"delta must be > 0.*Received: delta=0.0"),
        ({"delta": 1.0}, r"delta must be < 1.*Received: delta=1.0"),
        ({"noise_multiplier": -1.0}, r"Received: noise_multiplier=-1.0"),
        ({"steps": -3}, r"Received: steps=-3"),
        ({"accountant": "moments"}, r"Unknown accountant 'moments'; expected one of 'rdp', 'pld'"),
        ({"sampling": "shuffle"}, r"Unknown sampling 'shuffle'; expected one of"),
        ({"sampling": "fixed"}, r"needs dataset_size.*Received: dataset_size=None"),
        (
            {"sampling": "fixed", "dataset_size": 1000, "sampling_rate": 0.0125},
            r"whole batch size. Received: sampling_rate=0.0125, dataset_size=1000",
        ),
        (
            {"sampling": "fixed", "dataset_size": 1000, "accountant": "pld"},
            r"accountant='pld' supports only sampling='poisson'.*Received: sampling='fixed'",
        ),
    ],
)
def test_bad_accounting_arguments_name_the_received_value(kwargs, match):
    arguments = {"noise_multiplier": 1.0, "sampling_rate": 0.01, "steps": 10, "delta": 1e-5}
    with pytest.raises(ValueError, match=match):
        accounting.epsilon(**{**arguments, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_epsilon": 0.0}, r"Received: target_epsilon=0.0"),
        ({"steps": 0}, r"steps must be a positive int. Received: steps=0"),
        ({"tol": -1.0}, r"Received: tol=-1.0"),
        ({"accountant": "gdp"}, r"Unknown accountant 'gdp'"),
    ],
)
def test_bad_calibration_arguments_name_the_received_value(kwargs, match):
    arguments = {"target_epsilon": 1.0, "delta": 1e-5, "sampling_rate": 0.01, "steps": 10}
    with pytest.raises(ValueError, match=match):
        accounting.calibrate_noise_multiplier(**{**arguments, **kwargs})
