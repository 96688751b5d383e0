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
when the model has it.
"""

from __future__ import annotations

import numpy as np

from imgenlib._validation import check_int, check_positive_int
from imgenlib.images import check_images, to_unit

__all__ = ["psnr", "reconstruction_metrics", "ssim"]

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
        has ``negative_elbo``. Means over images; stds are across images.

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
        labels = np.asarray(labels)
        if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be an int array with one label per image ({len(images)}). "
                f"Received: labels with shape {labels.shape} and dtype {labels.dtype}"
            )
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
    return result
