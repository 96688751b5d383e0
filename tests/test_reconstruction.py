"""Reconstruction metrics against independent references: PSNR's closed form, scikit-image's SSIM."""

import numpy as np
import pytest

from imgenlib.data import load_images
from imgenlib.reconstruction import PSNR_CAP, psnr, reconstruction_metrics, ssim

DIGITS, DIGIT_LABELS = load_images("digits", n=40)


class NoisyIdentityVAE:
    """VAE-like stand-in: reconstructs by adding fixed noise; -ELBO = a known per-image sum."""

    def __init__(self, noise=0.2, conditional=False):
        self.noise = noise
        self.conditional = conditional
        self.seen_labels = []

    def _noise(self, images):
        rng = np.random.default_rng(len(images))
        return self.noise * rng.standard_normal(images.shape).astype(np.float32)

    def reconstruct(self, images, labels=None):
        if self.conditional:
            self.seen_labels.append(np.asarray(labels))
        return np.clip(images + self._noise(images), -1, 1)

    def negative_elbo(self, images, labels=None, *, batch_size=256, seed=0):
        return 100.0 + np.abs(images).reshape(len(images), -1).sum(axis=1)


def skimage_ssim(a, b):
    structural_similarity = pytest.importorskip("skimage.metrics").structural_similarity
    unit = lambda x: (np.asarray(x, np.float64) + 1) / 2  # noqa: E731
    return np.array(
        [
            structural_similarity(
                unit(x),
                unit(y),
                data_range=1.0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                channel_axis=-1,
            )
            for x, y in zip(a, b, strict=True)
        ]
    )


def test_psnr_closed_form_for_a_constant_offset(rng):
    unit = rng.uniform(0.2, 0.8, (5, 16, 16, 1))
    offset = np.array([0.01, 0.02, 0.05, 0.1, 0.2])[:, None, None, None]
    images, shifted = (
        (unit * 2 - 1).astype(np.float32),
        ((unit + offset) * 2 - 1).astype(np.float32),
    )
    # MSE on the [0, 1] scale is offset², so PSNR = -20 log10(offset).
    np.testing.assert_allclose(psnr(images, shifted), -20 * np.log10(offset.ravel()), rtol=1e-5)
    assert np.all(psnr(images, images) == PSNR_CAP)


def test_ssim_matches_scikit_image_gray_and_colour(rng):
    noisy = np.clip(DIGITS + 0.3 * rng.standard_normal(DIGITS.shape), -1, 1).astype(np.float32)
    np.testing.assert_allclose(ssim(DIGITS, noisy), skimage_ssim(DIGITS, noisy), atol=1e-5)
    shapes, _ = load_images("shapes", n=6)
    blurred = np.clip(shapes + 0.2 * rng.standard_normal(shapes.shape), -1, 1).astype(np.float32)
    np.testing.assert_allclose(ssim(shapes, blurred), skimage_ssim(shapes, blurred), atol=1e-5)
    np.testing.assert_allclose(ssim(shapes, shapes), 1.0, atol=1e-6)


def test_reconstruction_metrics_of_a_noisy_identity():
    model = NoisyIdentityVAE(noise=0.2)
    result = reconstruction_metrics(model, DIGITS, batch_size=16)
    recon = np.concatenate([model.reconstruct(DIGITS[i : i + 16]) for i in range(0, 40, 16)])
    a, b = (DIGITS + 1) / 2, (recon + 1) / 2
    mse = ((a - b) ** 2).reshape(40, -1).mean(axis=1)
    assert result["n"] == 40
    assert result["mse"] == pytest.approx(mse.mean(), abs=1e-6)
    assert result["psnr"] == pytest.approx((10 * np.log10(1 / mse)).mean(), abs=1e-3)
    assert result["ssim"] == pytest.approx(skimage_ssim(DIGITS, recon).mean(), abs=1e-4)
    nelbo = model.negative_elbo(DIGITS)
    assert result["negative_elbo"] == pytest.approx(nelbo.mean(), abs=1e-3)
    assert result["negative_elbo_std"] == pytest.approx(nelbo.std(), abs=1e-3)
    worse = reconstruction_metrics(NoisyIdentityVAE(noise=0.5), DIGITS)
    assert worse["psnr"] < result["psnr"] and worse["ssim"] < result["ssim"]


def test_labels_reach_a_conditional_model_in_batches():
    model = NoisyIdentityVAE(conditional=True)
    reconstruction_metrics(model, DIGITS, DIGIT_LABELS, batch_size=16)
    np.testing.assert_array_equal(np.concatenate(model.seen_labels), DIGIT_LABELS)
    assert [len(chunk) for chunk in model.seen_labels] == [16, 16, 8]


def test_without_negative_elbo_only_image_metrics():
    class Identity:
        def reconstruct(self, images, labels=None):
            return images

    result = reconstruction_metrics(Identity(), DIGITS)
    assert result["mse"] == 0 and result["psnr"] == PSNR_CAP and result["ssim"] == 1.0
    assert "negative_elbo" not in result


@pytest.mark.parametrize(
    ("model", "kwargs", "error", "pattern"),
    [
        (object(), {}, TypeError, "must be VAE-like.*Received: object"),
        (NoisyIdentityVAE(), {"labels": [1, 2]}, ValueError, "one label per image"),
        (NoisyIdentityVAE(), {"batch_size": 0}, ValueError, "batch_size=0"),
    ],
)
def test_bad_input(model, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        reconstruction_metrics(model, DIGITS, **kwargs)


def test_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        psnr(DIGITS, DIGITS[:3])
