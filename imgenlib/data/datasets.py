"""Named datasets: the embedded ones (always offline) and real ones found on disk.

`load_images(name)` returns ``(images, labels)``: float32 NHWC in [-1, 1] and an int
label array (or ``None``). Real datasets are read by `imgenlib.data.real_datasets`: a
local copy first (the ``data_dir`` argument, ``$IMGENLIB_DATA``, Debian's dataset
packages, Keras' cache), and only then Keras' downloader. With no copy and no network the
loader raises `DatasetNotFoundError`, whose message says how to get the data.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from imgenlib._validation import check_choice, check_image_size, check_positive_int
from imgenlib.data.emoji import CATEGORIES as EMOJI_CATEGORIES
from imgenlib.data.emoji import EMOJI_PACKAGES, load_emoji
from imgenlib.data.real_datasets import (  # all but load_real: re-exported
    DatasetNotFoundError,
    find_local_copy,
    load_real,
    read_idx,
)
from imgenlib.images import from_uint8, resize_images

__all__ = [
    "DATASETS",
    "DatasetNotFoundError",
    "DatasetSpec",
    "dataset_info",
    "find_local_copy",
    "load_images",
    "read_idx",
]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a named dataset is: shapes, sizes, classes and where its files are named."""

    name: str
    image_shape: tuple[int, int, int]
    splits: dict
    class_names: tuple[str, ...]
    description: str
    embedded: bool = False
    licence: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_CIFAR_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
_DIGIT_CLASSES = tuple(str(i) for i in range(10))

DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "digits",
        (28, 28, 1),
        {"train": 1797},
        _DIGIT_CLASSES,
        "scikit-learn's bundled 8x8 handwritten digits, resized (embedded, offline)",
        embedded=True,
    ),
    "shapes": DatasetSpec(
        "shapes",
        (32, 32, 3),
        {"train": 10000, "test": 2000},
        ("circle", "square", "triangle", "cross"),
        "procedurally drawn coloured shapes with captions (embedded, any count)",
        embedded=True,
    ),
    "shapes_captions": DatasetSpec(
        "shapes_captions",
        (32, 32, 3),
        {"train": 10000, "test": 2000, "test_compositional": 2000},
        ("circle", "square", "triangle", "cross"),
        "one or two coloured shapes with captions and relations; held-out colour-shape "
        "pairs in test_compositional; labels: first shape (embedded, any count)",
        embedded=True,
    ),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        (28, 28, 1),
        {"train": 60000, "test": 10000},
        _FASHION_CLASSES,
        "Zalando's 28x28 grayscale clothing images",
    ),
    "mnist": DatasetSpec(
        "mnist",
        (28, 28, 1),
        {"train": 60000, "test": 10000},
        _DIGIT_CLASSES,
        "28x28 grayscale handwritten digits",
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        (32, 32, 3),
        {"train": 50000, "test": 10000},
        _CIFAR_CLASSES,
        "32x32 colour photos in 10 classes",
    ),
    "emoji": DatasetSpec(
        "emoji",
        (64, 64, 3),
        {"train": 3415, "test": 371},
        EMOJI_CATEGORIES,
        "64x64 colour emoji with names, 10 categories, two styles (twitter, google); "
        "split by emoji; counts are per style (`python -m imgenlib fetch emoji` once)",
        licence="twitter: "
        + EMOJI_PACKAGES["twitter"].licence
        + "; google: "
        + EMOJI_PACKAGES["google"].licence,
    ),
}


def dataset_info(name: str) -> DatasetSpec:
    """Return the `DatasetSpec` of a named dataset.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    return DATASETS[check_choice("dataset", name, DATASETS)]


def load_images(
    name: str,
    split: str = "train",
    image_size=None,
    data_dir=None,
    *,
    n: int | None = None,
    seed: int | None = None,
    style: str | None = None,
    background=None,
):
    """Load a named dataset as float32 NHWC images in [-1, 1] with integer labels.

    Args:
        name: one of `DATASETS`: ``"digits"``, ``"shapes"``, ``"shapes_captions"``
            (`load_shapes_captions` gives captions and attributes too), ``"fashion_mnist"``,
            ``"mnist"``, ``"cifar10"``, ``"emoji"`` (fetched once with
            ``python -m imgenlib fetch emoji``; labels are categories; `load_emoji` gives
            captions and styles too).
        split: ``"train"`` or ``"test"`` (``shapes_captions`` also has
            ``"test_compositional"``). ``digits`` has no official split: its only split,
            ``"train"``, holds all 1,797 images.
        image_size: optional int or (height, width) to resize to (antialiased bilinear).
            Default: the dataset's own size (``digits``: 28x28, upscaled from 8x8).
        data_dir: optional directory holding a local copy of a real dataset.
        n: keep only the first `n` images (for ``shapes``: generate `n` images).
        seed: for ``shapes`` and ``shapes_captions`` only, the drawing seed (``shapes``:
            default 0 for train, 1 for test; ``shapes_captions``: default 0, one stream
            per split).
        style: for ``emoji`` only: ``"twitter"`` (default), ``"google"`` or ``"all"``.
        background: for ``emoji`` only: the colour under transparent pixels, ``"white"``
            (default), ``"black"`` or (R, G, B).

    Returns:
        ``(images, labels)``: float32 array (N, H, W, C) in [-1, 1] and int64 array (N,)
        of class indices (``dataset_info(name).class_names`` names them).

    Raises:
        ValueError: unknown name or split, bad `image_size` or `n`.
        DatasetNotFoundError: a real dataset has no local copy and cannot be downloaded.

    Example:
        >>> images, labels = load_images("digits")
        >>> images.shape, images.dtype
        ((1797, 28, 28, 1), dtype('float32'))
    """
    spec = dataset_info(name)
    check_choice("split", split, spec.splits if name != "digits" else ("train",))
    if n is not None:
        n = check_positive_int("n", n)
    size = (
        spec.image_shape[:2] if image_size is None else check_image_size("image_size", image_size)
    )

    emoji_options = {"style": style, "background": background}
    if name == "emoji":
        options = {key: value for key, value in emoji_options.items() if value is not None}
        record = load_emoji(split, size, n=n, cache_dir=data_dir, **options)
        return record.images, record.labels
    for key, value in emoji_options.items():
        if value is not None:
            raise ValueError(
                f"{key} is only used by the 'emoji' dataset. Received: {key}={value!r}"
            )
    if name == "shapes":
        from imgenlib.data.shapes import load_shapes

        shapes = load_shapes(
            n if n is not None else spec.splits[split],
            image_size=size,
            seed=(0 if split == "train" else 1) if seed is None else seed,
        )
        return shapes.images, shapes.labels
    if name == "shapes_captions":
        from imgenlib.data.shapes_captions import load_shapes_captions

        scenes = load_shapes_captions(
            split,
            n if n is not None else spec.splits[split],
            size,
            seed=0 if seed is None else seed,
        )
        return scenes.images, scenes.labels
    if seed is not None:
        raise ValueError(
            "seed is only used by the 'shapes' and 'shapes_captions' datasets. "
            f"Received: seed={seed!r}"
        )

    if name == "digits":
        raw, labels = _load_digits()
    else:
        raw, labels = load_real(name, split, data_dir)
    if n is not None:
        raw, labels = raw[:n], labels[:n]
    images = resize_images(from_uint8(raw), size)
    return images, labels.astype(np.int64)


def _load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel values are 0..16; scale to 0..255 so they share the uint8 path.
    raw = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return raw[..., None], digits.target
