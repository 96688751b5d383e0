"""The latent arguments of ``generate``: ``n`` images from a ``seed``, or given latents ``z``.

Every family's ``generate`` (and `Diffusion.trajectory`) takes the same ``n``, ``z``,
``seed`` and ``labels``; `resolve_latents` turns them into one checked float32
(n, latent_dim) array, drawing z ~ N(0, I) with NumPy (the same seed gives the same
latents on any machine) through the model's ``sample_latent``.
"""

from __future__ import annotations

import numbers

import numpy as np

from imgenlib._validation import check_int, check_positive_int

__all__ = ["draw_latents", "resolve_latents"]


def draw_latents(n: int, latent_dim: int, seed: int | None = None) -> np.ndarray:
    """Draw `n` latent vectors z ~ N(0, I) as float32 (n, latent_dim) from `seed`.

    Args:
        n: number of vectors, > 0.
        latent_dim: size of each vector.
        seed: NumPy seed (≥ 0); None draws fresh randomness.

    Returns:
        float32 array (n, latent_dim).

    Raises:
        ValueError / TypeError: n not a positive int, or seed not an int ≥ 0.

    Example:
        >>> draw_latents(2, 3, seed=0).shape
        (2, 3)
    """
    n = check_positive_int("n", n)
    if seed is not None:
        seed = check_int("seed", seed, minimum=0)
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def resolve_latents(model, n, z, seed, labels) -> np.ndarray:
    """The latents of a ``generate(n, z, seed, labels)`` call of `model`.

    Args:
        model: has ``latent_dim`` and ``sample_latent(n, seed)`` (a `GenerativeModel`).
        n: number of images; may be omitted when `z`, or an array of `labels`, fixes it.
        z: given latents (k, latent_dim) or one vector (latent_dim,); overrides `seed`.
        seed: seed of drawn latents (see `draw_latents`).
        labels: the call's labels; only their count is used, when `n` and `z` are None.

    Returns:
        float32 array (n, latent_dim).

    Raises:
        ValueError / TypeError: n <= 0, n and z of different sizes, neither given, or a z
            that is not a finite numeric array of shape (n, latent_dim).

    Example:
        >>> model = build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=10)
        >>> z = resolve_latents(model, None, None, 0, [3, 1, 4])  # three labels: n = 3
        >>> z.shape == (3, model.latent_dim)
        True
    """
    if z is not None:
        if n is not None and check_positive_int("n", n) != len(np.asarray(z)):
            raise ValueError(
                f"Give n or z, not both with different sizes. Received: n={n}, len(z)={len(z)}"
            )
        z = np.asarray(z)
        if z.dtype == object or not np.issubdtype(z.dtype, np.number):
            raise TypeError(f"z must be a numeric array. Received: z with dtype {z.dtype}")
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != model.latent_dim or len(z) == 0:
            raise ValueError(
                f"z must have shape (n, latent_dim={model.latent_dim}). Received: z.shape={z.shape}"
            )
        if not np.all(np.isfinite(z)):
            raise ValueError("z contains NaN or Inf values.")
        return z.astype(np.float32)
    if n is None:
        if labels is not None and not isinstance(labels, (numbers.Integral, str)):
            n = len(np.asarray(labels))
        else:
            raise ValueError(
                "Give the number of images n (or latent vectors z). Received: n=None, z=None"
            )
    return model.sample_latent(check_positive_int("n", n), seed)
