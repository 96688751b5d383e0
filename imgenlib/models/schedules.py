"""Noise schedules and the update algebra of diffusion models, as pure functions.

The forward process of a denoising diffusion model (Ho et al. 2020,
https://arxiv.org/abs/2006.11239) noises an image x_0 in T discrete steps; in closed form

    q(x_t | x_0) = N(sqrt(ᾱ_t) · x_0, (1 − ᾱ_t) · I),    ᾱ_t = ∏_{s ≤ t} (1 − β_s),

so x_t = sqrt(ᾱ_t) · x_0 + sqrt(1 − ᾱ_t) · ε with ε ~ N(0, I) (`noisy`). Timesteps here are
indices t = 0, ..., T − 1 (index t is the paper's step t + 1), and "t = −1" is the clean image,
ᾱ = 1. `NoiseSchedule` holds ᾱ for the linear β schedule of Ho et al. and the cosine
schedule of Nichol & Dhariwal 2021 (https://arxiv.org/abs/2102.09672).

The reverse updates go from level ᾱ_t to an earlier level ᾱ_s (s < t, any stride):

- `ddpm_posterior`: the mean and variance of q(x_s | x_t, x_0), the ancestral DDPM step
  when x_0 is the network's prediction;
- `ddim_update`: the DDIM step of Song et al. 2021 (https://arxiv.org/abs/2010.02502),
  x_s = sqrt(ᾱ_s) · x̂_0 + sqrt(1 − ᾱ_s − σ²) · ε̂ + σ · z, with σ from `ddim_sigma`; η = 0 is
  deterministic (and run from s to t it is DDIM inversion), η = 1 is the DDPM posterior.

The functions take TensorFlow tensors or NumPy arrays; ᾱ values broadcast against images
(shape (batch, 1, 1, 1) or scalars).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from imgenlib._validation import check_choice, check_float, check_int
from imgenlib.sampling_options import SPACINGS

__all__ = [
    "INVERSION_MIN_ALPHA_BAR",
    "PREDICTIONS",
    "SCHEDULES",
    "NoiseSchedule",
    "ddim_sigma",
    "ddim_update",
    "ddpm_posterior",
    "distinct_levels",
    "epsilon_from_prediction",
    "noisy",
    "predict_x0",
    "sampling_timesteps",
    "v_target",
]

SCHEDULES = ("cosine", "linear")
PREDICTIONS = ("epsilon", "v")
MAX_BETA = 0.999
INVERSION_MIN_ALPHA_BAR = 0.01


class NoiseSchedule:
    """ᾱ_t (and β_t) of a discrete noise schedule with `timesteps` steps.

    Args:
        kind: ``"cosine"`` (Nichol & Dhariwal 2021: ᾱ(t) = f(t)/f(0),
            f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008, β clipped at 0.999) or
            ``"linear"`` (Ho et al. 2020: β from 1e-4 to 0.02, scaled by 1000/T so that any
            T spans the same noise range).
        timesteps: T, the number of noising steps.

    Attributes:
        betas, alpha_bars: float64 NumPy arrays of shape (T,), indexed by t = 0, ..., T − 1.

    Raises:
        ValueError: an unknown kind or T < 2.
    """

    def __init__(self, kind: str = "cosine", timesteps: int = 1000):
        self.kind = check_choice("noise_schedule", kind, SCHEDULES)
        self.timesteps = check_int("timesteps", timesteps, minimum=2)
        steps = self.timesteps
        if self.kind == "cosine":
            s = 0.008
            f = np.cos((np.arange(steps + 1) / steps + s) / (1 + s) * math.pi / 2) ** 2
            betas = np.minimum(1.0 - f[1:] / f[:-1], MAX_BETA)
        else:
            scale = 1000.0 / steps
            betas = np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64)
        self.betas = betas
        self.alpha_bars = np.cumprod(1.0 - betas)

    def __repr__(self):
        return f"NoiseSchedule(kind={self.kind!r}, timesteps={self.timesteps})"

    def alpha_bar(self, t):
        """ᾱ_t as float32 for integer timesteps `t` (a tensor); ᾱ = 1 where t = −1."""
        table = tf.constant(np.concatenate([[1.0], self.alpha_bars]), tf.float32)
        return tf.gather(table, tf.cast(t, tf.int32) + 1)

    def inversion_level(self, min_alpha_bar: float = INVERSION_MIN_ALPHA_BAR) -> int:
        """The highest timestep t with ᾱ_t ≥ `min_alpha_bar`: where DDIM inversion stops.

        A DDIM step from level t divides by sqrt(ᾱ_t) (x̂_0 = (x_t − sqrt(1 − ᾱ_t)·ε̂)/sqrt(ᾱ_t)),
        so near ᾱ = 0 it multiplies any error in ε̂ by up to 1/sqrt(ᾱ_t): the cosine
        schedule's ᾱ_{T−1} ≈ 2.4e-9 (T = 1000) makes it ≈ 20,000, and inverting an image
        all the way to T − 1 leaves an x_{T−1} that holds essentially nothing of the image
        and from which the chain back amplifies the slightest mismatch of the network's
        noise estimates (a mean error of ~1e3 on pixels in [-1, 1] with the zoo model). The
        default floor 0.01 bounds that gain by 10 (t = 934 for the cosine schedule, 672 for
        the linear one, T = 1000).

        Raises:
            ValueError: min_alpha_bar not in (0, 1], or above every ᾱ_t.
        """
        check_float("min_alpha_bar", min_alpha_bar, minimum=0, maximum=1, min_inclusive=False)
        levels = np.flatnonzero(self.alpha_bars >= min_alpha_bar)
        if len(levels) == 0:
            raise ValueError(
                f"min_alpha_bar must be at most ᾱ_0 = {self.alpha_bars[0]:.6g}. "
                f"Received: min_alpha_bar={min_alpha_bar}"
            )
        return int(levels.max())

    def signal_to_noise(self) -> np.ndarray:
        """ᾱ_t / (1 − ᾱ_t) for every t, float64 (T,)."""
        return self.alpha_bars / (1.0 - self.alpha_bars)


def sampling_timesteps(
    timesteps: int, steps: int, start: int | None = None, spacing: str = "uniform"
) -> np.ndarray:
    """The `steps` timesteps a chain from `start` visits, descending, spaced by `spacing`.

    With K = `steps` and levels counted from 1 as in the papers (level t + 1 for timestep t,
    so that level 0 is the clean image and level start + 1 the first of the chain), step
    i = K, ..., 1 evaluates the network at

    - ``"uniform"`` (default): t_i = round(i · (start + 1) / K) − 1, evenly spaced: the
      DDIM paper's linear sub-sequence, rounded, and what diffusers calls ``"trailing"``
      (Lin et al. 2024, https://arxiv.org/abs/2305.08891, table 2, compare it with
      ``"linspace"`` and ``"leading"``, which does not start at T − 1 and is not offered);
    - ``"quadratic"``: t_i = ⌊i² · (start + 1) / K²⌋ − 1, the quadratic sub-sequence
      τ_i = ⌊c · i²⌋ of Song et al. 2021 (https://arxiv.org/abs/2010.02502, appendix D.2)
      with c set so that τ_K is the start: short strides near the clean image, long ones
      in the noise;
    - ``"linspace"``: round(linspace(start, 0, K)), both ends: the last network call at
      t = 0 (diffusers' ``"linspace"``).

    Every chain ends with a step from its last timestep to the clean image (ᾱ = 1), so the
    last timestep need not be 0: ``"uniform"`` and ``"quadratic"`` spend no call at t = 0,
    where the image is already all but clean; ``"linspace"`` does. Where rounding gives a
    repeat or −1 (``"quadratic"`` when K² > start + 1), each level moves to the nearest
    free one, ascending: at least one above the level below it and low enough to leave a
    level for each above it, so any K ≤ start + 1 gives K distinct levels. K = 1 gives
    [start] whatever the spacing, K = start + 1 every timestep. (Karras et al. 2022's
    ρ = 7 spacing of σ = sqrt((1 − ᾱ)/ᾱ) is not offered: over the cosine schedule's own
    σ range, about 0.006 to 20,000 for T = 1000 where EDM's is 0.002 to 80, it puts 7 of
    10 levels at t ≥ 990, where x_t is noise.)

    Args:
        timesteps: T, the model's number of noising steps.
        steps: K, network evaluations, 1..start + 1.
        start: the first timestep (the level of the chain's input); None: T − 1, pure
            noise. A chain from an inverted image starts lower
            (`NoiseSchedule.inversion_level`).
        spacing: one of `imgenlib.sampling_options.SPACINGS`.

    Returns:
        int32 array (steps,), strictly decreasing from `start`, the last entry ≥ 0.

    Raises:
        ValueError: an unknown spacing, start not in [0, T − 1] or steps not in
            [1, start + 1] (no spacing has more distinct levels).

    Example:
        >>> sampling_timesteps(1000, 5).tolist()
        [999, 799, 599, 399, 199]
        >>> sampling_timesteps(1000, 5, spacing="quadratic").tolist()
        [999, 639, 359, 159, 39]
    """
    timesteps = check_int("timesteps", timesteps, minimum=2)
    spacing = check_choice("spacing", spacing, SPACINGS)
    if start is None:
        start = timesteps - 1
    start = check_int("start", start, minimum=0, maximum=timesteps - 1)
    steps = check_int("steps", steps, minimum=1, maximum=start + 1)
    i = np.arange(1, steps + 1)
    if spacing == "uniform":
        grid = np.round(i * (start + 1) / steps).astype(np.int64) - 1
        return grid[::-1].astype(np.int32)
    if spacing == "quadratic":
        grid = (i * i * (start + 1)) // (steps * steps) - 1
    else:
        grid = np.round(np.linspace(start, 0, steps))[::-1]
    return distinct_levels(grid, start)[::-1].astype(np.int32)


def distinct_levels(levels, start: int) -> np.ndarray:
    """Ascending integer `levels` made distinct in [0, `start`], each moved as little as needed.

    Level j (of K) becomes the nearest value to it in [previous + 1, start − (K − 1 − j)]:
    above the one below it, leaving room for the ones above.

    Returns:
        int64 array (K,), strictly increasing, in [0, start].

    Raises:
        ValueError: more levels than [0, start] holds.
    """
    count = len(levels)
    if count > start + 1:
        raise ValueError(
            f"{count} distinct levels do not fit in 0..{start}. Received: {count} levels"
        )
    out = np.empty(count, np.int64)
    below = -1
    for j, level in enumerate(levels):
        below = min(max(int(level), below + 1), start - (count - 1 - j))
        out[j] = below
    return out


def noisy(x0, alpha_bar, noise):
    """Sample of q(x_t | x_0): sqrt(ᾱ_t) · x_0 + sqrt(1 − ᾱ_t) · ε."""
    return tf.sqrt(alpha_bar) * x0 + tf.sqrt(1.0 - alpha_bar) * noise


def v_target(x0, alpha_bar, noise):
    """The v-prediction target (Salimans & Ho 2022, https://arxiv.org/abs/2202.00512):
    v = sqrt(ᾱ) · ε − sqrt(1 − ᾱ) · x_0."""
    return tf.sqrt(alpha_bar) * noise - tf.sqrt(1.0 - alpha_bar) * x0


def min_snr_weight(alpha_bar, gamma: float, kind: str = "epsilon"):
    """Min-SNR-γ loss weight (Hang et al. 2023, https://arxiv.org/abs/2303.09556) of the
    squared error of a ``kind`` prediction at noise level ᾱ.

    The paper weights the x_0 error by min(SNR, γ), SNR = ᾱ / (1 − ᾱ), so that the many
    nearly clean timesteps (huge SNR) stop dominating the gradient. The ε error is the x_0
    error times SNR, and the v error the x_0 error times SNR + 1, so the same loss is
    min(SNR, γ) / SNR times the ε error or min(SNR, γ) / (SNR + 1) times the v error.
    """
    snr = alpha_bar / tf.maximum(1.0 - alpha_bar, 1e-12)
    if kind == "epsilon":  # min(SNR, γ) / SNR, written so that SNR → 0 gives 1
        return tf.minimum(1.0, gamma / tf.maximum(snr, 1e-30))
    if kind == "v":
        return tf.minimum(snr, gamma) / (snr + 1.0)
    raise ValueError(f"unknown prediction {kind!r}; expected one of {PREDICTIONS}")


def epsilon_from_prediction(prediction, x_t, alpha_bar, kind: str = "epsilon"):
    """ε̂ from the network's output: the output itself (``"epsilon"``) or, for ``"v"``,
    ε̂ = sqrt(ᾱ) · v̂ + sqrt(1 − ᾱ) · x_t."""
    if kind == "epsilon":
        return prediction
    if kind == "v":
        return tf.sqrt(alpha_bar) * prediction + tf.sqrt(1.0 - alpha_bar) * x_t
    raise ValueError(f"unknown prediction {kind!r}; expected one of {PREDICTIONS}")


def predict_x0(x_t, epsilon, alpha_bar):
    """x̂_0 = (x_t − sqrt(1 − ᾱ_t) · ε̂) / sqrt(ᾱ_t)."""
    return (x_t - tf.sqrt(1.0 - alpha_bar) * epsilon) / tf.sqrt(alpha_bar)


def ddpm_posterior(x0, x_t, alpha_bar_t, alpha_bar_s):
    """Mean and variance of q(x_s | x_t, x_0) for s < t (Ho et al. 2020, eq. 6–7, any stride).

    With α = ᾱ_t / ᾱ_s and β = 1 − α (the one step from s to t):

        mean = sqrt(ᾱ_s) · β / (1 − ᾱ_t) · x_0 + sqrt(α) · (1 − ᾱ_s) / (1 − ᾱ_t) · x_t
        variance = β · (1 − ᾱ_s) / (1 − ᾱ_t)

    Returns:
        ``(mean, variance)``; the variance has the shape of the ᾱ arguments.
    """
    alpha = alpha_bar_t / alpha_bar_s
    beta = 1.0 - alpha
    mean = (
        tf.sqrt(alpha_bar_s) * beta / (1.0 - alpha_bar_t) * x0
        + tf.sqrt(alpha) * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t) * x_t
    )
    return mean, beta * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t)


def ddim_sigma(alpha_bar_t, alpha_bar_s, eta):
    """σ of a DDIM step from ᾱ_t to ᾱ_s: η · sqrt((1 − ᾱ_s)/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_s)).

    η = 1 makes σ² the DDPM posterior variance; η = 0 makes the step deterministic.
    """
    return eta * tf.sqrt(
        (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t) * (1.0 - alpha_bar_t / alpha_bar_s)
    )


def ddim_update(x, epsilon, alpha_bar_from, alpha_bar_to, sigma=0.0, noise=None, x0=None):
    """Move `x` from level ᾱ_from to ᾱ_to along the DDIM path of ε̂ = `epsilon`.

    x_to = sqrt(ᾱ_to) · x̂_0 + sqrt(1 − ᾱ_to − σ²) · ε̂ + σ · noise, with x̂_0 from
    `predict_x0` unless given (e.g. clipped, with `epsilon` recomputed to match). With σ = 0
    this runs either way: to an earlier level (sampling) or a later one (DDIM inversion),
    and a step there and back returns `x`.

    Raises:
        ValueError: ``sigma`` given without ``noise``.
    """
    if x0 is None:
        x0 = predict_x0(x, epsilon, alpha_bar_from)
    direction = tf.sqrt(tf.maximum(1.0 - alpha_bar_to - sigma**2, 0.0)) * epsilon
    out = tf.sqrt(alpha_bar_to) * x0 + direction
    if noise is None:
        if isinstance(sigma, (int, float)) and sigma == 0:
            return out
        raise ValueError("ddim_update needs noise when sigma is not 0. Received: noise=None")
    return out + sigma * noise
