"""Feature extractors for the quality metrics: small domain classifiers trained by imgenlib.

FID and its relatives compare *features* of real and generated images. The usual
extractor, ImageNet's InceptionV3, needs weights from the internet and knows nothing about
28x28 grayscale clothes; for the datasets of this course imgenlib ships small CNN
classifiers trained on each dataset (weights inside the package, a few hundred KB each,
checked against recorded SHA-256 sums). Their penultimate layer (128 numbers) is the
feature vector; their softmax gives class probabilities for the Inception Score and the
class histogram. FIDs computed with these extractors are comparable with each other, not
with published InceptionV3 FIDs.

`train_classifier(name)` retrains one (``benchmarks/train_classifiers.py`` runs it for every
dataset and records accuracy, time and checksum in ``imgenlib/weights/classifiers.json``).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from imgenlib._env import progress
from imgenlib._validation import check_choice, check_positive_int
from imgenlib.images import check_images

__all__ = [
    "CLASSIFIERS",
    "FeatureExtractor",
    "STYLE_CLASSIFIER",
    "TRAINABLE",
    "build_classifier",
    "classifier_trainer",
    "inception_v3_extractor",
    "train_classifier",
]

WEIGHTS_DIR = Path(__file__).parent / "weights"
RECORD = WEIGHTS_DIR / "classifiers.json"
CLASSIFIERS = ("fashion_mnist", "digits", "shapes", "emoji")
STYLE_CLASSIFIER = "emoji_style"
"""Not a dataset's extractor: tells Twemoji from Noto (`imgenlib.styles.style_accuracy`)."""
TRAINABLE = ("fashion_mnist", "mnist", "digits", "shapes", "emoji", STYLE_CLASSIFIER)
FEATURE_DIM = 128


def build_classifier(image_shape, num_classes: int, *, name: str = "classifier"):
    """A small CNN: three strided 3x3 convolutions, global pooling, a 128-unit feature layer."""
    import keras

    inputs = keras.Input(tuple(image_shape), name="images")
    x = inputs
    for i, filters in enumerate((32, 64, 128)):
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", use_bias=False, name=f"conv{i}"
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(
            x
        )  # short runs: converge fast
        x = keras.layers.Activation("relu", name=f"relu{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", name="features")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(features)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, [features, logits], name=name)


CLASSIFIER_LEARNING_RATE = 2e-3
"""Adam's learning rate for `build_classifier`'s CNN (shipped extractors and TSTR)."""


def classifier_trainer(image_shape, num_classes: int, *, name: str = "classifier", metrics=()):
    """`build_classifier`'s CNN and a compiled model over its logits, the way it is trained.

    Args:
        image_shape, num_classes, name: as in `build_classifier`.
        metrics: Keras metrics to compile with (e.g. ``["accuracy"]``).

    Returns:
        ``(network, trainer)``: the two-output network (features, logits) and a
        ``keras.Model`` sharing its weights that maps images to logits, compiled with Adam
        (`CLASSIFIER_LEARNING_RATE`) and sparse categorical cross-entropy on logits.
    """
    import keras

    network = build_classifier(image_shape, num_classes, name=name)
    trainer = keras.Model(network.input, network.output[1])
    trainer.compile(
        optimizer=keras.optimizers.Adam(CLASSIFIER_LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=list(metrics),
    )
    return network, trainer


class FeatureExtractor:
    """Features and class probabilities from imgenlib's shipped classifier for a dataset.

    Args:
        name: one of `CLASSIFIERS` (``"fashion_mnist"``, ``"digits"``, ``"shapes"``,
            ``"emoji"``), `STYLE_CLASSIFIER` (``"emoji_style"``: classes are the emoji
            drawing styles, ``twitter`` and ``google``), or ``"mnist"`` once its weights
            have been trained locally (MNIST has no offline copy where the shipped weights
            are built, so none ship).

    Raises:
        ValueError: unknown name, missing weight file (the message says how to train it),
            or a weight file whose SHA-256 does not match the recorded one (a corrupt or
            tampered file).

    Example:
        >>> extractor = FeatureExtractor("fashion_mnist")
        >>> fid = fid_from_features(extractor.features(real), extractor.features(fake))
    """

    def __init__(self, name: str):
        self.name = check_choice("classifier", name, TRAINABLE)
        record = _load_record().get(name)
        path = WEIGHTS_DIR / f"{name}_classifier.weights.h5"
        if record is None or not path.is_file():
            raise ValueError(
                f"No shipped classifier weights for {name!r} (imgenlib ships extractors for "
                f"{', '.join(CLASSIFIERS)}). With a local copy of the dataset (see `python -m "
                f"imgenlib datasets`), train them with `python benchmarks/train_classifiers.py {name}`."
            )
        digest = sha256(path)
        if digest != record["sha256"]:
            raise ValueError(
                f"{path.name} does not match its recorded SHA-256 (file corrupt or modified)."
            )
        self.image_shape = tuple(record["image_shape"])
        self.class_names = _class_names(name)
        self.test_accuracy = record["test_accuracy"]
        self.model = build_classifier(self.image_shape, len(self.class_names), name=f"{name}_classifier")  # fmt: skip
        self.model.load_weights(path)
        self._predict = None

    def features_and_logits(self, images, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Features (n, 128) and class logits (n, num_classes) in one pass, float64."""
        import tensorflow as tf

        images = check_images(images, channels=self.image_shape[-1])
        if images.shape[1:] != self.image_shape:
            raise ValueError(
                f"images must have shape (n, {', '.join(map(str, self.image_shape))}). Received: {images.shape}"
            )
        if self._predict is None:
            self._predict = tf.function(
                lambda x: self.model(x, training=False), reduce_retracing=True
            )
        batch_size = check_positive_int("batch_size", batch_size)
        features, logits = [], []
        starts = range(0, len(images), batch_size)
        for start in progress(starts, total=len(starts), desc="features"):
            batch_features, batch_logits = self._predict(images[start : start + batch_size])
            features.append(batch_features.numpy())
            logits.append(batch_logits.numpy())
        return np.concatenate(features).astype(np.float64), np.concatenate(logits).astype(
            np.float64
        )

    def upsampled(self, images) -> tuple[np.ndarray, list[int] | None]:
        """`images` at the extractor's size: smaller square ones of its channels upsampled.

        A model trained below its dataset's size (the ``emoji`` diffusion preset: 32x32)
        is measured at the extractor's size: its images are resized bilinearly and clipped
        to [-1, 1]. Its FID then includes the resolution loss; the floor (the test emoji
        taken to 32x32 and back, n = 371) is FID 5.37.

        Args:
            images: (n, H, W, C) in [-1, 1].

        Returns:
            ``(images, resized_from)``: the images at `image_shape`, and ``[H, W]`` when
            they were resized (None when they already had the extractor's shape).

        Raises:
            ValueError: other channels, or images larger or not square (naming both shapes).

        Example:
            >>> images, resized_from = FeatureExtractor("emoji").upsampled(samples_32)
        """
        from imgenlib.images import resize_images

        images = check_images(images)
        height, width, channels = self.image_shape
        shape = images.shape[1:]
        if shape == self.image_shape:
            return images, None
        if shape[2] == channels and shape[0] == shape[1] <= height and height == width:
            return resize_images(images, (height, width)), [shape[0], shape[1]]
        raise ValueError(
            f"images must have shape (n, {height}, {width}, {channels}) for the {self.name} "
            f"extractor, or be smaller square images with {channels} channel(s) (then "
            f"upsampled to {height}x{width}). Received: images.shape={images.shape}"
        )

    def features(self, images, batch_size: int = 500) -> np.ndarray:
        """Penultimate-layer features (n, 128) of images in [-1, 1]."""
        return self.features_and_logits(images, batch_size)[0]

    def probabilities(self, images, batch_size: int = 500) -> np.ndarray:
        """Class probabilities (n, num_classes)."""
        import scipy.special

        return scipy.special.softmax(self.features_and_logits(images, batch_size)[1], axis=1)


def inception_v3_extractor():
    """InceptionV3 (ImageNet weights, 2048-d pool features) for RGB datasets, if its weights can be had.

    Raises:
        RuntimeError: the weights are neither in Keras' cache nor downloadable (offline);
            the message names the offline alternative.
    """
    import keras

    try:
        return keras.applications.InceptionV3(include_top=False, pooling="avg", weights="imagenet")
    except Exception as error:  # Keras raises a bare Exception when the download fails
        raise RuntimeError(
            "InceptionV3's ImageNet weights are not available offline "
            f"({type(error).__name__}: {str(error).splitlines()[0][:120]}). Use imgenlib's shipped "
            f"extractors instead: FeatureExtractor(name) with name in {', '.join(CLASSIFIERS)}."
        ) from None


def sha256(path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _class_names(name: str) -> tuple[str, ...]:
    """The classes of classifier `name`: its dataset's, or the emoji styles."""
    if name == STYLE_CLASSIFIER:
        from imgenlib.data.emoji import STYLES

        return tuple(STYLES)
    from imgenlib.data import dataset_info

    return tuple(dataset_info(name).class_names)


def _labelled_split(name: str, split: str):
    """(images, labels) of a split for classifier `name`: ``emoji`` in both styles labelled
    by category; ``emoji_style`` the same images labelled by style."""
    from imgenlib.data import load_images

    if name == STYLE_CLASSIFIER:
        from imgenlib.data.splits import load_split

        images, labels, _ = load_split("emoji", split, conditional=True, style="all", condition="style")  # fmt: skip
        return images, labels
    return load_images(name, split, **({"style": "all"} if name == "emoji" else {}))


def _load_record() -> dict:
    return json.loads(RECORD.read_text()) if RECORD.is_file() else {}


def train_classifier(name: str, *, epochs: int = 5, seed: int = 0, verbose: int = 2) -> dict:
    """Train the shipped classifier for `name`, write its weights and record, return the record.

    ``digits`` has no test split, so a stratified 20% is held out (fixed by `seed`).
    ``mnist`` needs a local copy of MNIST (see `imgenlib.data.load_images`). ``emoji`` is
    trained on both styles and tested on the test split's emoji, which it never saw: its
    labels are the 10 categories. ``emoji_style`` sees the same images labelled by drawing
    style (twitter 0, google 1), tested on the unseen emoji of the test split.
    """
    import keras

    from imgenlib.data import load_images, make_dataset
    from imgenlib.io import atomic_path, save_json

    name = check_choice("classifier", name, TRAINABLE)
    if name == "digits":
        from sklearn.model_selection import train_test_split

        images, labels = load_images("digits")
        x_train, x_test, y_train, y_test = train_test_split(
            images, labels, test_size=0.2, stratify=labels, random_state=seed
        )
    else:
        x_train, y_train = _labelled_split(name, "train")
        x_test, y_test = _labelled_split(name, "test")
    keras.utils.set_random_seed(seed)
    model, trainer = classifier_trainer(
        x_train.shape[1:], len(_class_names(name)), name=f"{name}_classifier", metrics=["accuracy"]
    )
    start = time.perf_counter()
    trainer.fit(
        make_dataset(x_train, y_train, batch_size=128, seed=seed),
        epochs=epochs,
        verbose=verbose,
        shuffle=False,
    )
    seconds = time.perf_counter() - start
    accuracy = float(trainer.evaluate(x_test, y_test, batch_size=500, verbose=0)[1])
    path = WEIGHTS_DIR / f"{name}_classifier.weights.h5"
    with atomic_path(path) as tmp:
        model.save_weights(tmp)
    record = _load_record()
    record[name] = {
        "image_shape": list(x_train.shape[1:]),
        "test_accuracy": round(accuracy, 4),
        "test_images": int(len(x_test)),
        "train_images": int(len(x_train)),
        "epochs": epochs,
        "train_seconds": round(seconds, 1),
        "command": f"python benchmarks/train_classifiers.py {name}",
        "sha256": sha256(path),
    }
    save_json(record, RECORD)
    return record[name]
