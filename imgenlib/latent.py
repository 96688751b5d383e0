"""Latent-space tools shared by GANs and VAEs: paths, traversals, arithmetic, grids, truncation, PCA.

Every function works with any model that has ``latent_dim``, ``num_classes`` and
``generate(z=..., labels=...)`` (GANs and VAEs alike); the few that map images to z also
need ``encode(images, labels=None) -> (z_mean, z_log_var)`` (VAEs). The latent
arithmetic itself is plain NumPy, so it is fast and testable without TensorFlow.

- `lerp`, `slerp`, `interpolate`: paths between two latents. In high dimension a Gaussian
  z lies near the sphere of radius sqrt(latent_dim); lerp's midpoints fall inside it
  (orthogonal endpoints: norm / sqrt(2)), slerp's stay on it (White 2016,
  https://arxiv.org/abs/1609.04468).
- `traverse`: one latent dimension or one direction over a range of values.
- `attribute_vector`, `latent_arithmetic`, `class_means` and `encode_latents` (in
  `imgenlib.encoding`, re-exported here): "mean z of
  group A minus mean z of group B" vectors and a - b + c (Radford et al. 2016,
  https://arxiv.org/abs/1511.06434; Larsen et al. 2016, https://arxiv.org/abs/1512.09300).
- `manifold_grid`: the 2-D latent manifold figure of Kingma & Welling 2014
  (https://arxiv.org/abs/1312.6114): evenly spaced quantiles mapped through the normal
  inverse CDF, so the grid covers the prior's probability mass evenly.
- `truncated_normal`, `truncate`: the truncation trick, trading variety for quality —
  BigGAN's resampling (Brock et al. 2019, https://arxiv.org/abs/1809.11096) and
  StyleGAN's ψ towards the mean latent (Karras et al. 2019, https://arxiv.org/abs/1812.04948).
- `pca_directions` (in `imgenlib.directions`, re-exported here): GANSpace (Härkönen et
  al. 2020, https://arxiv.org/abs/2004.02546), principal directions of the generator's
  outputs or of an intermediate layer, carried back to z by linear regression.
"""

from __future__ import annotations

import numbers

import numpy as np

from imgenlib._validation import (
    check_array,
    check_choice,
    check_float,
    check_int,
    check_latent_model,
    check_latents,
    check_positive_int,
    check_quantile_span,
    check_same_size,
    check_values,
    check_vector,
)
from imgenlib.directions import LatentDirections, pca_directions
from imgenlib.encoding import class_means, encode_latents

__all__ = [
    "LatentDirections",
    "attribute_vector",
    "class_means",
    "encode_latents",
    "interpolate",
    "latent_arithmetic",
    "lerp",
    "manifold_grid",
    "pca_directions",
    "slerp",
    "traversal_latents",
    "traverse",
    "truncate",
    "truncated_normal",
]

_PARALLEL = 1e-6  # radians: closer to 0 or pi than this, slerp's great circle is undefined


# --- interpolation --------------------------------------------------------------------


def lerp(z0, z1, steps: int) -> np.ndarray:
    """Linear interpolation ``(1 - t) z0 + t z1`` at `steps` evenly spaced t in [0, 1].

    Args:
        z0, z1: latent vectors of the same size d.
        steps: number of points, >= 2; the first is `z0` and the last `z1`.

    Returns:
        float32 array (steps, d).

    Raises:
        ValueError / TypeError: vectors of different sizes or non-numeric, steps < 2.
    """
    a, b = check_vector("z0", z0), check_vector("z1", z1)
    check_same_size(("z0", "z1"), a, b)
    steps = check_int("steps", steps, minimum=2)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1.0 - t) * a + t * b).astype(np.float32)


def slerp(z0, z1, steps: int) -> np.ndarray:
    """Spherical interpolation: equal angular steps on the great circle from z0 to z1.

    The direction turns at constant angular speed in the plane of z0 and z1,
    ``(sin((1-t)Ω) u0 + sin(tΩ) u1) / sin Ω`` with unit vectors u0, u1 at angle Ω, and the
    norm moves linearly from |z0| to |z1|. For endpoints of equal norm this is Shoemake's
    slerp; for different norms it keeps the angular steps equal (the common formula
    applied to unnormalised vectors does not). Vectors that are (nearly) parallel or
    opposite, or zero, span no plane: then this returns `lerp`.

    Args:
        z0, z1: latent vectors of the same size d.
        steps: number of points, >= 2; the first is `z0` and the last `z1` exactly.

    Returns:
        float32 array (steps, d).

    Raises:
        ValueError / TypeError: as `lerp`.
    """
    a, b = check_vector("z0", z0), check_vector("z1", z1)
    check_same_size(("z0", "z1"), a, b)
    steps = check_int("steps", steps, minimum=2)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0:
        return lerp(a, b, steps)
    u0, u1 = a / norm_a, b / norm_b
    omega = 2.0 * np.arctan2(np.linalg.norm(u0 - u1), np.linalg.norm(u0 + u1))  # stable angle
    if omega < _PARALLEL or np.pi - omega < _PARALLEL:
        return lerp(a, b, steps)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    direction = (np.sin((1.0 - t) * omega) * u0 + np.sin(t * omega) * u1) / np.sin(omega)
    path = ((1.0 - t) * norm_a + t * norm_b) * direction
    path[0], path[-1] = a, b
    return path.astype(np.float32)


_PATHS = {"lerp": lerp, "slerp": slerp}


def interpolate(model, z0, z1, steps: int = 8, method: str = "slerp", labels=None) -> np.ndarray:
    """Images along a lerp or slerp path between two latents.

    Args:
        model: a GAN or VAE (anything with ``latent_dim`` and ``generate``).
        z0, z1: latent vectors (latent_dim,).
        steps: number of images, >= 2, endpoints included.
        method: ``"slerp"`` (default; stays on the Gaussian shell) or ``"lerp"``.
        labels: class label(s) for a conditional model (an int or `steps` ints).

    Returns:
        float32 images (steps, H, W, C) in [-1, 1].
    """
    latent_dim = check_latent_model(model)
    path = _PATHS[check_choice("method", method, _PATHS)]
    z = path(check_vector("z0", z0, latent_dim), check_vector("z1", z1, latent_dim), steps)
    return model.generate(z=z, labels=labels)


# --- traversal, attribute vectors, arithmetic -----------------------------------------


def traversal_latents(z, dim, values) -> np.ndarray:
    """Latents that vary `z` along one dimension or one direction.

    Args:
        z: the starting latent (d,).
        dim: an int dimension index: that coordinate is *set* to each value (the
            classic traversal figure of β-VAE papers); or a vector (d,): ``z + value *
            direction`` for each value (GANSpace-style edits; pass a unit vector so values
            are distances).
        values: 1-D sequence of values.

    Returns:
        float32 array (len(values), d).
    """
    z = check_vector("z", z)
    values = check_values("values", values)
    latents = np.repeat(z[None], len(values), axis=0)
    if isinstance(dim, numbers.Integral) and not isinstance(dim, bool):
        latents[:, check_int("dim", dim, minimum=-len(z), maximum=len(z) - 1)] = values
    elif isinstance(dim, bool):
        raise TypeError(f"dim must be an int or a direction vector. Received: dim={dim!r}")
    else:
        vector = check_vector("dim", dim, len(z))
        latents += values[:, None] * vector
    return latents.astype(np.float32)


def traverse(model, z, dim, values, labels=None) -> np.ndarray:
    """Images of `z` varied along one latent dimension or one direction (see `traversal_latents`).

    Args:
        model: a GAN or VAE.
        z: the starting latent (latent_dim,).
        dim: a dimension index in [-latent_dim, latent_dim) (its value is set to each of
            `values`), or a direction vector (latent_dim,) (``z + value * direction``).
        values: 1-D sequence, e.g. ``np.linspace(-3, 3, 9)``.
        labels: class label(s) for a conditional model.

    Returns:
        float32 images (len(values), H, W, C).

    Raises:
        ValueError: dim out of range, z or direction of the wrong size, empty values.
    """
    latent_dim = check_latent_model(model)
    latents = traversal_latents(check_vector("z", z, latent_dim), dim, values)
    return model.generate(z=latents, labels=labels)


def attribute_vector(z_a, z_b) -> np.ndarray:
    """``mean(z_a) - mean(z_b)``: the latent direction from group B towards group A.

    With z_a the latents of images with an attribute (or of class A) and z_b those
    without (class B), adding the vector to a latent adds the attribute.

    Args:
        z_a, z_b: latents (n_a, d) and (n_b, d) (or single vectors).

    Returns:
        float32 vector (d,).
    """
    a, b = check_latents("z_a", z_a), check_latents("z_b", z_b)
    check_same_size(("z_a", "z_b"), a, b)
    return (a.mean(axis=0) - b.mean(axis=0)).astype(np.float32)


def latent_arithmetic(a, b, c) -> np.ndarray:
    """``a - b + c`` ("man with glasses - man + woman"): vectors (d,) or batches (n, d) broadcast.

    Returns:
        float32 array of the broadcast shape.
    """
    arrays = [check_array(name, v) for name, v in (("a", a), ("b", b), ("c", c))]
    for name, array in zip("abc", arrays, strict=True):
        if array.ndim not in (1, 2) or array.size == 0:
            raise ValueError(
                f"{name} must be a latent vector (d,) or a batch (n, d). Received: {name}.shape={array.shape}"
            )
    check_same_size(("a", "b", "c"), *arrays)
    try:
        result = arrays[0] - arrays[1] + arrays[2]
    except ValueError:
        shapes = ", ".join(str(x.shape) for x in arrays)
        raise ValueError(f"a, b and c must broadcast together. Received shapes {shapes}") from None
    return result.astype(np.float32)


# --- manifold grid --------------------------------------------------------------------


def manifold_grid(model, n: int = 15, dims=(0, 1), span=0.95, *, z=None, labels=None):
    """Images on an n x n grid over two latent dimensions, at normal quantiles.

    Coordinates are ``scipy.stats.norm.ppf`` of `n` evenly spaced quantiles, so each
    cell covers the same prior probability (Kingma & Welling 2014, fig. 4). The other
    dimensions stay at `z` (default: 0, the prior mean).

    Args:
        model: a GAN or VAE with latent_dim >= 2.
        n: grid side (>= 2).
        dims: the two latent dimensions (x along columns, y along rows).
        span: a float p in (0.5, 1): quantiles from 1 - p to p (0.95: 0.05 ... 0.95); or
            explicit (low, high) quantile bounds in (0, 1).
        z: base latent (latent_dim,) for the other dimensions.
        labels: class label(s) for a conditional model.

    Returns:
        ``(images, coords)``: float32 images (n*n, H, W, C) in row-major order, and float64
        coords (n, n, 2) with ``coords[i, j] = (x_j, y_i)``; y decreases down the rows, so
        the grid reads like a plot with the y axis pointing up.

    Raises:
        ValueError: n < 2, dims not two distinct in-range dimensions, span out of range.
    """
    from scipy.stats import norm

    latent_dim = check_latent_model(model)
    n = check_int("n", n, minimum=2)
    if (
        not isinstance(dims, (tuple, list))
        or len(dims) != 2
        or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in dims)
    ):
        raise TypeError(f"dims must be a pair of ints. Received: dims={dims!r}")
    if not all(0 <= d < latent_dim for d in dims) or dims[0] == dims[1]:
        raise ValueError(
            f"dims must be two different dimensions in [0, {latent_dim}). Received: dims={dims!r}"
        )
    low, high = check_quantile_span("span", span)
    values = norm.ppf(np.linspace(low, high, n))
    xs, ys = np.meshgrid(values, values[::-1])
    coords = np.stack([xs, ys], axis=-1)
    base = np.zeros(latent_dim) if z is None else check_vector("z", z, latent_dim)
    latents = np.repeat(base[None], n * n, axis=0)
    latents[:, dims[0]] = xs.ravel()
    latents[:, dims[1]] = ys.ravel()
    return model.generate(z=latents.astype(np.float32), labels=labels), coords


# --- truncation -----------------------------------------------------------------------


def truncated_normal(n: int, latent_dim: int, truncation: float = 1.0, seed=None) -> np.ndarray:
    """z from N(0, I) truncated to [-truncation, truncation] in every coordinate (BigGAN).

    BigGAN resamples each coordinate with |z_i| > truncation until it falls inside, which
    gives exactly the normal distribution cut at ±truncation; `scipy.stats.truncnorm` draws
    from that distribution directly (by its inverse CDF), however small the threshold.
    Lower thresholds give more typical, higher-quality but less varied samples.

    Args:
        n: number of latents.
        latent_dim: their size.
        truncation: threshold > 0.
        seed: NumPy seed; None for random.

    Returns:
        float32 array (n, latent_dim) with every |value| <= truncation.
    """
    from scipy.stats import truncnorm

    n = check_positive_int("n", n)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    truncation = check_float("truncation", truncation, minimum=0, min_inclusive=False)
    if seed is not None:
        seed = check_int("seed", seed, minimum=0)
    z = truncnorm.rvs(
        -truncation, truncation, size=(n, latent_dim), random_state=np.random.default_rng(seed)
    )
    return np.clip(z, -truncation, truncation).astype(np.float32)


def truncate(z, psi: float, mean=None) -> np.ndarray:
    """Pull latents towards the mean latent: ``mean + psi * (z - mean)`` (StyleGAN's ψ).

    ψ = 1 leaves z unchanged, ψ = 0 gives the mean (the "average" image); values in
    between trade variety for typicality. For a z-space GAN the mean latent is the prior
    mean 0, so this scales z by ψ.

    Args:
        z: latents (d,) or (n, d).
        psi: the truncation factor (usually in [0, 1]).
        mean: the mean latent (d,); default zeros.

    Returns:
        float32 array shaped like `z`.
    """
    array = check_array("z", z)
    if array.ndim not in (1, 2) or array.size == 0:
        raise ValueError(f"z must have shape (d,) or (n, d). Received: z.shape={array.shape}")
    psi = check_float("psi", psi)
    center = (
        np.zeros(array.shape[-1]) if mean is None else check_vector("mean", mean, array.shape[-1])
    )
    return (center + psi * (array - center)).astype(np.float32)
