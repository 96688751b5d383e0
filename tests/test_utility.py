"""Train on synthetic, test on real: real images score like real data, noise like chance."""

import numpy as np
import pytest

from imgenlib.data import load_images
from imgenlib.utility import tstr_accuracy

TRAIN, TRAIN_LABELS = load_images("fashion_mnist", "train", n=3000)
TEST, TEST_LABELS = load_images("fashion_mnist", "test", n=1000)


class ReturnsRealImages:
    """A conditional 'generator' whose samples are real training images of the asked class,
    taken from the end of each class's rows (not those `tstr_accuracy` draws for scale)."""

    num_classes = 10

    def generate(self, n, seed=None, labels=None):
        samples = np.empty((len(labels), *TRAIN.shape[1:]), np.float32)
        for k in range(self.num_classes):
            wanted = np.flatnonzero(labels == k)
            rows = np.flatnonzero(TRAIN_LABELS == k)[::-1][: len(wanted)]
            samples[wanted] = TRAIN[rows]
        return samples


class ReturnsNoise:
    num_classes = 10

    def generate(self, n, seed=None, labels=None):
        return np.random.default_rng(seed).uniform(-1, 1, (n, 28, 28, 1)).astype(np.float32)


@pytest.mark.slow
def test_real_samples_score_like_a_classifier_trained_on_real_data():
    result = tstr_accuracy(
        ReturnsRealImages(),
        TEST,
        TEST_LABELS,
        n_per_class=100,
        epochs=20,
        seed=0,
        real_images=TRAIN[:1500],
        real_labels=TRAIN_LABELS[:1500],
    )
    assert result["n_train"] == 1000 and result["n_test"] == 1000
    # Two classifiers on disjoint sets of 1,000 real images; measured (seeds 0, 1, 2):
    # 0.754 vs 0.791, 0.752 vs 0.776, 0.749 vs 0.790.
    assert result["accuracy"] > 0.65 and result["real_accuracy"] > 0.65
    assert abs(result["accuracy"] - result["real_accuracy"]) < 0.08


def test_noise_scores_chance_and_runs_are_deterministic():
    first = tstr_accuracy(ReturnsNoise(), TEST, TEST_LABELS, n_per_class=20, epochs=3, seed=1)
    assert first["accuracy"] < 0.2  # 10 balanced-ish classes: chance is about 0.1
    again = tstr_accuracy(ReturnsNoise(), TEST, TEST_LABELS, n_per_class=20, epochs=3, seed=1)
    assert again == first
    real = {"real_images": TRAIN, "real_labels": TRAIN_LABELS}
    small = tstr_accuracy(
        ReturnsRealImages(), TEST, TEST_LABELS, n_per_class=10, epochs=2, seed=0, **real
    )
    assert small == tstr_accuracy(
        ReturnsRealImages(), TEST, TEST_LABELS, n_per_class=10, epochs=2, seed=0, **real
    )


def test_bad_input_names_the_received_value():
    class Unconditional:
        num_classes = None

        def generate(self, n, seed=None, labels=None):
            raise AssertionError("not reached")

    with pytest.raises(ValueError, match="Received: Unconditional with num_classes=None"):
        tstr_accuracy(Unconditional(), TEST, TEST_LABELS)
    with pytest.raises(TypeError, match="Received: str"):
        tstr_accuracy("gan", TEST, TEST_LABELS)
    with pytest.raises(ValueError, match=r"Received: test_labels.shape=\(3,\)"):
        tstr_accuracy(ReturnsNoise(), TEST, TEST_LABELS[:3])
    with pytest.raises(ValueError, match=r"Received: test_labels in \[0, 10\]"):
        tstr_accuracy(ReturnsNoise(), TEST[:2], np.array([0, 10]))
    with pytest.raises(ValueError, match="real_images=given, real_labels=None"):
        tstr_accuracy(ReturnsNoise(), TEST, TEST_LABELS, n_per_class=2, real_images=TRAIN)
    with pytest.raises(ValueError, match=r"Received: \(32, 32, 1\)"):
        tstr_accuracy(ReturnsNoise(), np.zeros((2, 32, 32, 1)), np.array([0, 1]), n_per_class=2)
    with pytest.raises(
        ValueError, match=r"n_per_class=400 images of every class. Received: \d+ of class 0"
    ):
        tstr_accuracy(
            ReturnsNoise(), TEST, TEST_LABELS, n_per_class=400, epochs=1,
            real_images=TRAIN[:30], real_labels=TRAIN_LABELS[:30],
        )  # fmt: skip
