"""Memorisation audit: copies are flagged, held-out images are not, the NN search is exact."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from imgenlib.audit import (
    AuditResult,
    audit_model,
    memorization_audit,
    nearest_neighbours,
    plot_nearest_neighbours,
)
from imgenlib.data import load_images

TRAIN, _ = load_images("fashion_mnist", "train", n=3000)
TEST, _ = load_images("fashion_mnist", "test", n=2000)
HELDOUT, UNSEEN = TEST[:1000], TEST[1000:]


class ReturnsImages:
    """A 'generator' that emits given images, in order."""

    num_classes = None

    def __init__(self, images):
        self.images = images

    def generate(self, n, seed=0, labels=None):
        return self.images[:n]


def test_chunked_search_matches_brute_force(rng):
    queries, references = rng.standard_normal((300, 5)), rng.standard_normal((1000, 5))
    distances, indices = nearest_neighbours(queries, references, k=3, chunk_size=64)
    full = np.linalg.norm(queries[:, None, :] - references[None, :, :], axis=-1)
    expected = np.argsort(full, axis=1)[:, :3]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(distances, np.take_along_axis(full, expected, axis=1), rtol=1e-9)
    one, _ = nearest_neighbours(queries, references, chunk_size=4096)  # a single block
    np.testing.assert_allclose(one[:, 0], full.min(axis=1), rtol=1e-9)


@pytest.mark.parametrize("space", ["pixels", "features"])
def test_training_copies_are_flagged_and_heldout_images_are_not(space):
    kwargs = {"space": space, "extractor": "fashion_mnist" if space == "features" else None}
    copies = memorization_audit(TRAIN[500:1000], TRAIN, HELDOUT, ratio=1 / 3, **kwargs)
    assert len(copies.flagged) == 500  # every copy
    np.testing.assert_array_equal(copies.nearest, np.arange(500, 1000))
    assert copies.distances.max() < 1e-3 < copies.threshold
    summary = copies.summary()
    assert summary["flagged_fraction"] == 1.0 and summary["z_u"] < -10

    fresh = memorization_audit(UNSEEN, TRAIN, HELDOUT, ratio=1 / 3, **kwargs)
    # Same distribution as the reference: ~1% below its 1% quantile by chance.
    assert len(fresh.flagged) / len(UNSEEN) < 0.035
    assert abs(fresh.summary()["z_u"]) < 3.5


def test_absolute_threshold_and_ratio_rule():
    near = np.clip(TRAIN[:50] + 0.01, -1, 1)  # near-copies: a faint brightness shift
    result = memorization_audit(near, TRAIN, HELDOUT, space="pixels", threshold=0.5)
    assert result.quantile is None and result.threshold == 0.5
    assert len(result.flagged) == 50
    by_ratio = memorization_audit(near, TRAIN, HELDOUT, space="pixels", threshold=0.0, ratio=1 / 3)
    assert len(by_ratio.flagged) == 50 and np.all(by_ratio.ratios < 1 / 3)


def test_audit_model_and_figure():
    result = audit_model(
        ReturnsImages(TRAIN[:20]),
        "fashion_mnist",
        n=20,
        n_train=3000,
        n_heldout=500,
        space="pixels",
    )
    assert isinstance(result, AuditResult) and len(result.flagged) == 20
    figure = plot_nearest_neighbours(result, n=6)
    assert isinstance(figure, Figure) and len(figure.axes) == 12
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[0].startswith("copy? d=") and titles[6].startswith("train #")
    assert len(plot_nearest_neighbours(result, n=4, which="random").axes) == 8


def test_bad_input():
    with pytest.raises(ValueError, match="needs an extractor"):
        memorization_audit(TRAIN[:5], TRAIN[:50], HELDOUT[:50])
    with pytest.raises(ValueError, match="image shape"):
        memorization_audit(TRAIN[:5], TRAIN[:50, :14], HELDOUT[:50], space="pixels")
    with pytest.raises(ValueError, match="no held-out test split"):
        audit_model(ReturnsImages(TRAIN), "digits")
    with pytest.raises(ValueError, match="Unknown space 'latent'"):
        memorization_audit(TRAIN[:5], TRAIN[:50], HELDOUT[:50], space="latent")
    with pytest.raises(ValueError, match="k must be an int <= 4"):
        nearest_neighbours(np.zeros((2, 3)), np.zeros((4, 3)), k=5)
    fresh = memorization_audit(UNSEEN[:20], TRAIN[:200], HELDOUT[:200], space="pixels", quantile=0)
    with pytest.raises(ValueError, match="No sample was flagged"):
        plot_nearest_neighbours(fresh, which="flagged")
