"""Utility of a conditional generator: train on synthetic, test on real (TSTR).

The differentially private generative-model literature (DP-GAN, GS-WGAN, Chen et al. 2020,
https://arxiv.org/abs/2006.08265; DPDM, Dockhorn et al. 2022, https://arxiv.org/abs/2210.09929)
reports utility as the accuracy of a classifier trained only on labelled samples of the
generator and tested on the real test split: a generator whose samples carry the right
class features for every class scores near a classifier trained on real data; one that
collapses, blurs or mixes classes scores near chance.

`tstr_accuracy` draws `n_per_class` samples of every class (those papers use 6,000, i.e.
60,000 like the real training set), trains the small CNN of the shipped feature extractors
(`imgenlib.features.build_classifier`, the same optimiser as `train_classifier`: Adam 2e-3,
batches of 128) on them and reports its accuracy on the real images; given real training
images it also trains the same classifier on as many real ones, for scale.
`fit_classifier` and `classifier_accuracy` are those two steps alone.

Deterministic on CPU for a fixed `seed`: the weights, the shuffling and the samples all
derive from it (`keras.utils.set_random_seed` is called, which reseeds Python, NumPy and
TensorFlow globally).
"""

from __future__ import annotations

import numpy as np

from imgenlib._validation import check_class_labels, check_int, check_positive_int
from imgenlib.images import check_images

__all__ = ["classifier_accuracy", "fit_classifier", "tstr_accuracy"]


def fit_classifier(
    images, labels, num_classes: int, *, epochs: int = 8, batch_size: int = 128, seed: int = 0
):
    """Train `imgenlib.features.build_classifier`'s CNN on labelled images.

    Args:
        images: (n, H, W, C) in [-1, 1].
        labels: (n,) ints in [0, num_classes).
        num_classes: number of classes (>= 2).
        epochs: passes over the images.
        batch_size: images per step (the last, smaller batch is kept).
        seed: seed of the initial weights and of the shuffling.

    Returns:
        The trained `keras.Model` mapping images to class logits.

    Raises:
        ValueError / TypeError: bad images, labels or settings.

    Example:
        >>> classifier = fit_classifier(images, labels, 10, epochs=3)
        >>> classifier_accuracy(classifier, test_images, test_labels)  # doctest: +SKIP
    """
    import keras

    from imgenlib.data import make_dataset
    from imgenlib.features import classifier_trainer

    images = check_images(images)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    labels = check_class_labels("labels", labels, len(images), num_classes)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    _, classifier = classifier_trainer(images.shape[1:], num_classes, name="tstr_classifier")
    dataset = make_dataset(
        images, labels, batch_size=min(batch_size, len(images)), seed=seed, drop_remainder=False
    )
    classifier.fit(dataset, epochs=epochs, verbose=0, shuffle=False)
    return classifier


def classifier_accuracy(classifier, images, labels, *, batch_size: int = 500) -> float:
    """Share of `images` whose highest logit is their label.

    Args:
        classifier: a Keras model mapping images to logits (n, num_classes).
        images: (n, H, W, C) in [-1, 1].
        labels: (n,) ints.
        batch_size: images per forward pass.

    Returns:
        Accuracy in [0, 1].

    Example:
        >>> classifier_accuracy(classifier, test_images, test_labels)  # doctest: +SKIP
    """
    images = check_images(images)
    num_classes = int(classifier.output_shape[-1])
    labels = check_class_labels("labels", labels, len(images), num_classes)
    batch_size = check_positive_int("batch_size", batch_size)
    predicted = [
        np.asarray(classifier(images[start : start + batch_size], training=False)).argmax(axis=1)
        for start in range(0, len(images), batch_size)
    ]
    return float(np.mean(np.concatenate(predicted) == labels))


def _real_subset(images, labels, n_per_class, num_classes, seed):
    images = check_images(images, name="real_images")
    labels = check_class_labels("real_labels", labels, len(images), num_classes)
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(num_classes):
        rows = np.flatnonzero(labels == k)
        if len(rows) < n_per_class:
            raise ValueError(
                f"real_images must hold n_per_class={n_per_class} images of every class. "
                f"Received: {len(rows)} of class {k}"
            )
        chosen.append(rng.choice(rows, n_per_class, replace=False))
    chosen = np.sort(np.concatenate(chosen))
    return images[chosen], labels[chosen]


def tstr_accuracy(
    model,
    test_images,
    test_labels,
    *,
    n_per_class: int = 6000,
    epochs: int = 8,
    seed: int = 0,
    batch_size: int = 128,
    real_images=None,
    real_labels=None,
    sampling: dict | None = None,
) -> dict:
    """Train on synthetic, test on real: a classifier fitted to samples, scored on real images.

    Args:
        model: a conditional generator with ``num_classes`` and
            ``generate(n, seed=..., labels=...)`` (a GAN, VAE or diffusion model).
        test_images: real (n, H, W, C) images in [-1, 1], the model's image shape (the
            dataset's test split).
        test_labels: their (n,) labels.
        n_per_class: samples drawn per class (the DP literature uses 6,000 on
            Fashion-MNIST: 60,000 in all).
        epochs: epochs of the classifier (the shipped Fashion-MNIST extractor: 8).
        seed: seed of the samples, the classifier's weights and its shuffling.
        batch_size: the classifier's batch size.
        real_images, real_labels: real training images; if given, the same classifier is
            also trained on `n_per_class` of them per class (drawn with `seed`) and its
            accuracy reported as ``real_accuracy``.
        sampling: a diffusion model's sampling settings
            (`imgenlib.sampling_options.sampling_settings`).

    Returns:
        ``{"accuracy", "n_train", "n_per_class", "epochs", "seed", "n_test"}`` plus
        ``"real_accuracy"`` when real images are given; accuracies in [0, 1].

    Raises:
        ValueError / TypeError: an unconditional model or one without ``generate``, bad
            images, labels or settings, or too few real images of a class.

    Example:
        >>> result = tstr_accuracy(gan, test_images, test_labels, n_per_class=6000, epochs=8,
        ...                        real_images=train_images, real_labels=train_labels)
        >>> result["accuracy"], result["real_accuracy"]  # doctest: +SKIP
    """
    from imgenlib.sampling_options import sampling_settings

    if not callable(getattr(model, "generate", None)):
        raise TypeError(
            "model must have a generate(n, seed=..., labels=...) method. "
            f"Received: {type(model).__name__}"
        )
    num_classes = getattr(model, "num_classes", None)
    if num_classes is None:
        raise ValueError(
            "tstr_accuracy needs a conditional model (one with num_classes) to draw labelled "
            f"samples. Received: {type(model).__name__} with num_classes=None"
        )
    num_classes = check_int("num_classes", num_classes, minimum=2)
    test_images = check_images(test_images, name="test_images")
    test_labels = check_class_labels("test_labels", test_labels, len(test_images), num_classes)
    n_per_class = check_positive_int("n_per_class", n_per_class)
    seed = check_int("seed", seed, minimum=0)
    settings = sampling_settings(model, sampling) or {}
    if (real_images is None) != (real_labels is None):
        raise ValueError(
            "real_images and real_labels go together. Received: "
            f"real_images={'None' if real_images is None else 'given'}, "
            f"real_labels={'None' if real_labels is None else 'given'}"
        )
    real = None
    if real_images is not None:
        real = _real_subset(real_images, real_labels, n_per_class, num_classes, seed)

    labels = np.repeat(np.arange(num_classes, dtype=np.int32), n_per_class)
    samples = check_images(
        model.generate(len(labels), seed=seed, labels=labels, **settings), name="samples"
    )
    if samples.shape[1:] != test_images.shape[1:]:
        raise ValueError(
            f"test_images must have the samples' shape {samples.shape[1:]}. "
            f"Received: {test_images.shape[1:]}"
        )
    options = {"epochs": epochs, "batch_size": batch_size, "seed": seed}
    classifier = fit_classifier(samples, labels, num_classes, **options)
    result = {
        "accuracy": classifier_accuracy(classifier, test_images, test_labels),
        "n_train": len(labels),
        "n_per_class": n_per_class,
        "epochs": epochs,
        "seed": seed,
        "n_test": len(test_images),
    }
    if real is not None:
        classifier = fit_classifier(*real, num_classes, **options)
        result["real_accuracy"] = classifier_accuracy(classifier, test_images, test_labels)
    return result
