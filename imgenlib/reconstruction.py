"""Reconstruction quality of VAE-like models: MSE, PSNR, SSIM and the negative ELBO.

A VAE is judged on two things a GAN lacks: how well it reconstructs its input (MSE,
PSNR, SSIM of ``decode(encode(x))`` against ``x``) and how much probability it gives to
held-out data (the ELBO, a lower bound on ``log p(x)``; we report its negative in nats,
lower is better). All image comparisons are made on the [0, 1] scale:

- MSE: mean squared error per pixel.
- PSNR, peak signal-to-noise ratio: ``10 log10(1 / MSE)`` dB per image (data range 1),
  averaged over images; an exact reconstruction is capped at 100 dB (MSE 1e-10) so the
  number stays finite and JSON-safe.
- SSIM, structural similarity (Wang et al. 2004,
  https://ece.uwaterloo.ca/~z70wang/publications/ssim.pdf): `tf.image.ssim` with an
  11x11 Gaussian window (σ 1.5), ``max_val=1``; 1 for identical images. It tracks
  perceived blur and structure better than MSE: VAE reconstructions are typically blurry,
  which costs SSIM more than PSNR.

`reconstruction_metrics` works with any model that has ``reconstruct(images, labels=None)``
returning images in [-1, 1] (duck typing), and reports ``negative_elbo(images, labels)``
when the model has it. `evaluate_vae` is the shorter summary that `imgenlib.training.train`
writes to a VAE run's ``metrics.json``: held-out -ELBO with its standard error and the
reconstruction MSE, on the run's own data.
"""

from __future__ import annotations

import math

import numpy as np

from imgenlib._env import quick_mode
from imgenlib._validation import check_image_labels, check_int, check_positive_int
from imgenlib.images import check_images, to_unit
from imgenlib.models.elbo import DISCRETE_LIKELIHOODS

__all__ = ["QUICK_EVAL_IMAGES", "evaluate_vae", "psnr", "reconstruction_metrics", "ssim"]

PSNR_CAP = 100.0


def _pair(images, reconstructions):
    images = check_images(images)
    reconstructions = check_images(reconstructions, name="reconstructions")
    if images.shape != reconstructions.shape:
        raise ValueError(
            f"images and reconstructions must have the same shape. Received: {images.shape} "
            f"and {reconstructions.shape}"
        )
    return to_unit(images).astype(np.float64), to_unit(reconstructions).astype(np.float64)


def psnr(images, reconstructions) -> np.ndarray:
    """Per-image PSNR in dB of [-1, 1] images, computed on the [0, 1] scale (data range 1).

    Returns:
        float64 array (n,): ``10 log10(1 / MSE_i)``, capped at `PSNR_CAP` (100 dB).
    """
    a, b = _pair(images, reconstructions)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    return np.minimum(10.0 * np.log10(1.0 / np.maximum(mse, 1e-300)), PSNR_CAP)


def ssim(images, reconstructions, *, batch_size: int = 512) -> np.ndarray:
    """Per-image SSIM of [-1, 1] images via `tf.image.ssim` on the [0, 1] scale (max_val=1).

    Uses the standard 11x11 Gaussian window (σ 1.5, k1 0.01, k2 0.03); images smaller than
    11 pixels get a window of their size. Colour images: the mean over channels.

    Returns:
        float64 array (n,) in [-1, 1]; 1 for identical images.
    """
    import tensorflow as tf

    a, b = _pair(images, reconstructions)
    batch_size = check_positive_int("batch_size", batch_size)
    filter_size = min(11, a.shape[1], a.shape[2])
    values = [
        tf.image.ssim(
            tf.constant(a[start : start + batch_size], tf.float32),
            tf.constant(b[start : start + batch_size], tf.float32),
            max_val=1.0,
            filter_size=filter_size,
        ).numpy()
        for start in range(0, len(a), batch_size)
    ]
    return np.concatenate(values).astype(np.float64)


def reconstruction_metrics(
    model, images, labels=None, *, batch_size: int = 256, seed: int = 0
) -> dict:
    """Reconstruction quality and, when available, the negative ELBO of a VAE-like model.

    Args:
        model: has ``reconstruct(images, labels=None)`` returning [-1, 1] images of the
            same shape; optionally ``negative_elbo(images, labels=None, *, batch_size,
            seed)`` returning per-image -ELBO in nats.
        images: (n, H, W, C) in [-1, 1], typically the test split.
        labels: class labels for a conditional model (length n), else None.
        batch_size: images per call of the model.
        seed: seed of the ELBO's sampled latents.

    Returns:
        ``{"n", "mse", "psnr", "psnr_std", "ssim", "ssim_std"}`` plus
        ``"negative_elbo"`` and ``"negative_elbo_std"`` (nats per image) when the model
        has ``negative_elbo``, and ``"bits_per_dim"`` when its likelihood is discretised
        (`imgenlib.models.elbo.DISCRETE_LIKELIHOODS`). Means over images; stds are across
        images.

    Raises:
        TypeError: the model has no ``reconstruct`` method.
        ValueError: bad images or labels, or reconstructions of the wrong shape or range.
    """
    if not callable(getattr(model, "reconstruct", None)):
        raise TypeError(
            "model must be VAE-like, with a reconstruct(images, labels=None) method. "
            f"Received: {type(model).__name__}"
        )
    images = check_images(images)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_int("seed", seed, minimum=0)
    if labels is not None:
        labels = check_image_labels("labels", labels, len(images))
    chunks = []
    for start in range(0, len(images), batch_size):
        part = None if labels is None else labels[start : start + batch_size]
        chunks.append(
            np.asarray(model.reconstruct(images[start : start + batch_size], labels=part))
        )
    reconstructions = check_images(np.concatenate(chunks), name="reconstructions")
    a, b = _pair(images, reconstructions)
    per_image_psnr = psnr(images, reconstructions)
    per_image_ssim = ssim(images, reconstructions)
    result = {
        "n": int(len(images)),
        "mse": round(float(((a - b) ** 2).mean()), 6),
        "psnr": round(float(per_image_psnr.mean()), 3),
        "psnr_std": round(float(per_image_psnr.std()), 3),
        "ssim": round(float(per_image_ssim.mean()), 4),
        "ssim_std": round(float(per_image_ssim.std()), 4),
    }
    if callable(getattr(model, "negative_elbo", None)):
        nelbo = np.asarray(
            model.negative_elbo(images, labels, batch_size=batch_size, seed=seed), np.float64
        )
        if nelbo.shape != (len(images),) or not np.all(np.isfinite(nelbo)):
            raise ValueError(
                "negative_elbo must return one finite value per image. "
                f"Received: shape {nelbo.shape}, finite: {bool(np.all(np.isfinite(nelbo)))}"
            )
        result["negative_elbo"] = round(float(nelbo.mean()), 3)
        result["negative_elbo_std"] = round(float(nelbo.std()), 3)
        if getattr(model, "likelihood", None) in DISCRETE_LIKELIHOODS:
            result["bits_per_dim"] = _bits_per_dim(nelbo, images)
    return result


def _bits_per_dim(nelbo, images) -> float:
    """Mean −ELBO in nats per image → bits per dimension (over H·W·C·log 2)."""
    return round(float(np.mean(nelbo)) / (images[0].size * math.log(2)), 4)


QUICK_EVAL_IMAGES = 512


def evaluate_vae(
    model,
    data: str,
    image_size=None,
    conditional: bool = False,
    *,
    n=None,
    background=None,
    style=None,
    condition=None,
) -> dict:
    """Held-out −ELBO (nats per image) and reconstruction error of a VAE on its dataset.

    Uses `imgenlib.runs.default_split` (the test split when the dataset has one, else the
    training images, and says so); at most `n` images (default: all, or
    `QUICK_EVAL_IMAGES` in quick mode). `background`, `style` and `condition` are the
    run's (see `imgenlib.data.load_split`), so the images and labels are those it trained
    on. ``imgenlib.training.train`` stores the result in a VAE run's ``metrics.json``.

    Returns:
        A dict: ``split``, ``images``, ``likelihood``, ``negative_elbo_nats`` (mean per
        image, one-sample estimate with seed 0; see `VAE.negative_elbo` for what the nats
        measure) with its ``standard_error``, and ``reconstruction_mse``: the mean squared
        error of `reconstruct` per pixel on the [0, 1] scale; for a discretised likelihood
        also ``bits_per_dim`` (the −ELBO over H·W·C·log 2, an upper bound on the data's
        bits per dimension under the model, as the literature quotes it).
    """
    from imgenlib.data.splits import load_split

    n = n or (QUICK_EVAL_IMAGES if quick_mode() else None)
    images, labels, split = load_split(
        data, image_size=image_size, conditional=conditional, n=n, background=background,
        style=style, condition=condition,
    )  # fmt: skip
    nelbo = model.negative_elbo(images, labels, seed=0)
    recon = model.reconstruct(images, labels)
    mse = float(np.mean(((recon - images) * 0.5) ** 2))
    standard_error = float(nelbo.std(ddof=1) / np.sqrt(len(nelbo))) if len(nelbo) > 1 else None
    result = {
        "split": split,
        "images": int(len(images)),
        "likelihood": model.likelihood,
        "negative_elbo_nats": round(float(nelbo.mean()), 3),
        "standard_error": None if standard_error is None else round(standard_error, 3),
        "reconstruction_mse": round(mse, 6),
    }
    if model.likelihood in DISCRETE_LIKELIHOODS:  # a probability of 8-bit levels
        result["bits_per_dim"] = _bits_per_dim(nelbo, images)
    return result
