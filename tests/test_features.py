import json

import numpy as np
import pytest

from imgenlib import features
from imgenlib.data import load_images
from imgenlib.features import (
    CLASSIFIERS,
    STYLE_CLASSIFIER,
    FeatureExtractor,
    build_classifier,
    sha256,
)

RECORD = json.loads(features.RECORD.read_text())


@pytest.mark.parametrize("name", [*CLASSIFIERS, STYLE_CLASSIFIER])
def test_every_shipped_weight_file_matches_its_record(name):
    path = features.WEIGHTS_DIR / f"{name}_classifier.weights.h5"
    assert sha256(path) == RECORD[name]["sha256"]
    assert path.stat().st_size < 1_000_000


@pytest.mark.parametrize(
    ("name", "options"), [("fashion_mnist", {}), ("shapes", {}), ("emoji", {"style": "all"})]
)
def test_shipped_accuracy_is_reproduced(name, options):
    extractor = FeatureExtractor(name)
    images, labels = load_images(name, "test", n=2000, **options)
    accuracy = (extractor.probabilities(images).argmax(axis=1) == labels).mean()
    assert accuracy == pytest.approx(RECORD[name]["test_accuracy"], abs=0.02)
    feats = extractor.features(images[:10])
    assert feats.shape == (10, features.FEATURE_DIM) and feats.dtype == np.float64


def test_style_classifier_accuracy_is_reproduced_on_unseen_emoji():
    from imgenlib.data.splits import load_split

    extractor = FeatureExtractor(STYLE_CLASSIFIER)
    assert extractor.class_names == ("twitter", "google")
    images, styles, _ = load_split("emoji", "test", conditional=True, style="all", condition="style")  # fmt: skip
    accuracy = (extractor.probabilities(images).argmax(axis=1) == styles).mean()
    assert accuracy == pytest.approx(RECORD[STYLE_CLASSIFIER]["test_accuracy"], abs=0.01)
    assert RECORD[STYLE_CLASSIFIER]["test_images"] == len(images) == 2 * 371


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    original = features.WEIGHTS_DIR / "digits_classifier.weights.h5"
    (tmp_path / "digits_classifier.weights.h5").write_bytes(
        original.read_bytes()[:-10] + b"0123456789"
    )
    (tmp_path / "classifiers.json").write_text(features.RECORD.read_text())
    monkeypatch.setattr(features, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(features, "RECORD", tmp_path / "classifiers.json")
    with pytest.raises(ValueError, match="does not match its recorded SHA-256"):
        FeatureExtractor("digits")


def test_wrong_images_are_rejected():
    extractor = FeatureExtractor("digits")
    with pytest.raises(ValueError, match=r"must have shape \(n, 28, 28, 1\)"):
        extractor.features(np.zeros((2, 32, 32, 1), np.float32))
    with pytest.raises(ValueError, match="1 channel"):
        extractor.features(np.zeros((2, 28, 28, 3), np.float32))
    with pytest.raises(ValueError, match="Unknown classifier 'cifar10'"):
        FeatureExtractor("cifar10")


def test_inception_offline_error_names_the_alternative(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.applications.inception_v3.file_utils.get_file", offline)
    with pytest.raises(
        RuntimeError, match="FeatureExtractor\\(name\\) with name in fashion_mnist, digits, shapes"
    ):
        features.inception_v3_extractor()


def test_classifier_architecture():
    model = build_classifier((32, 32, 3), 4)
    feats, logits = model.outputs
    assert feats.shape[-1] == 128 and logits.shape[-1] == 4
    assert model.count_params() < 200_000


class ImagesAsModel:
    """A stand-in generator that 'generates' given images, to test the evaluation pipeline."""

    num_classes = None

    def __init__(self, images):
        self.images = images

    def generate(self, n, seed=0, labels=None):
        return self.images[:n]


@pytest.mark.slow
def test_evaluate_real_data_scores_near_the_floor_and_noise_far_above():
    from imgenlib.evaluation import evaluate

    train, _ = load_images("fashion_mnist", "train", n=2000)
    real = evaluate(ImagesAsModel(train), "fashion_mnist", n=2000)
    noise = np.random.default_rng(0).uniform(-1, 1, (2000, 28, 28, 1)).astype(np.float32)
    fake = evaluate(ImagesAsModel(noise), "fashion_mnist", n=2000)
    assert real["fid"] < 0.05 * fake["fid"]
    assert real["precision"] > 0.6 and real["recall"] > 0.6
    # Precision is fooled a little by outlying real images with huge k-NN balls (0.2 here);
    # density and coverage, designed against exactly that, are not.
    assert fake["recall"] < 0.01 and fake["density"] < 0.15 and fake["coverage"] < 0.05
    assert real["class_entropy"] > 0.97  # train images cover all ten classes evenly
    assert set(real) >= {
        "fid",
        "kid",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
        "inception_score",
    }


def test_mnist_has_no_shipped_weights_and_says_how_to_train_them():
    assert "mnist" in features.TRAINABLE and "mnist" not in CLASSIFIERS
    with pytest.raises(ValueError, match=r"No shipped classifier weights for 'mnist'") as error:
        FeatureExtractor("mnist")
    assert "python benchmarks/train_classifiers.py mnist" in str(error.value)
