"""Named datasets: the embedded ones (always offline) and real ones found on disk.

`load_images(name)` returns ``(images, labels)``: float32 NHWC in [-1, 1] and an int
label array (or ``None``). Real datasets are looked up locally first, in this order:

1. the ``data_dir`` argument,
2. the directory in ``$IMGENLIB_DATA``,
3. Debian's dataset packages (``apt-get install dataset-fashion-mnist`` puts the IDX
   files in ``/usr/share/datasets/fashion-mnist``),
4. Keras' own cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``),

and only then fetched with Keras' downloader. With no copy and no network the loader
raises `DatasetNotFoundError`, whose message says how to get the data.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from pathlib import Path

import numpy as np

from imgenlib._validation import check_choice, check_image_size, check_positive_int
from imgenlib.data.emoji import CATEGORIES as EMOJI_CATEGORIES
from imgenlib.data.emoji import EMOJI_PACKAGES, emoji_cache_dir, load_emoji
from imgenlib.images import from_uint8, resize_images

__all__ = ["DATASETS", "DatasetNotFoundError", "DatasetSpec", "dataset_info", "load_images"]

DEBIAN_DATASETS = Path("/usr/share/datasets")


class DatasetNotFoundError(FileNotFoundError):
    """A real dataset has no local copy and could not be downloaded."""


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

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_HOW_TO_GET = {
    "fashion_mnist": "On Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`. "
    "Elsewhere: run once with internet access (Keras caches it in ~/.keras/datasets), or "
    "put the four *-ubyte.gz files from github.com/zalandoresearch/fashion-mnist in a "
    "directory and pass data_dir=... or set IMGENLIB_DATA.",
    "mnist": "Run once with internet access (Keras caches mnist.npz in ~/.keras/datasets), "
    "or put mnist.npz or the four MNIST *-ubyte(.gz) files in a directory and pass "
    "data_dir=... or set IMGENLIB_DATA.",
    "cifar10": "Run once with internet access (Keras caches it in ~/.keras/datasets), or "
    "extract the CIFAR-10 *binary* version (cifar-10-batches-bin) into a directory and pass "
    "data_dir=... or set IMGENLIB_DATA.",
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
        raw, labels = _load_real(name, split, data_dir)
    if n is not None:
        raw, labels = raw[:n], labels[:n]
    images = resize_images(from_uint8(raw), size)
    return images, labels.astype(np.int64)


def find_local_copy(name: str, data_dir=None) -> Path | None:
    """Return the first local file or directory that holds dataset `name`, or None."""
    if name == "emoji":
        cache = emoji_cache_dir(data_dir)
        return cache if any(cache.glob("*/manifest.json")) else None
    for directory in _candidate_dirs(name, data_dir):
        if _holds(name, directory):
            return directory
    return None


def _load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel values are 0..16; scale to 0..255 so they share the uint8 path.
    raw = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return raw[..., None], digits.target


def _candidate_dirs(name: str, data_dir=None):
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    if os.environ.get("IMGENLIB_DATA"):
        roots.append(Path(os.environ["IMGENLIB_DATA"]))
    dashed = name.replace("_", "-")
    for root in roots:
        yield root
        yield root / name
        yield root / dashed
    yield DEBIAN_DATASETS / dashed
    keras_cache = _keras_datasets_dir()
    yield keras_cache / dashed
    yield keras_cache
    yield keras_cache / "cifar-10-batches-py-target"


def _keras_datasets_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _holds(name: str, directory: Path) -> bool:
    if not directory.is_dir():
        return False
    if name in ("fashion_mnist", "mnist"):
        if all(_find(directory, stem) for pair in _IDX_FILES.values() for stem in pair):
            return True
        return name == "mnist" and (directory / "mnist.npz").is_file()
    if name == "cifar10":
        return _cifar_dir(directory) is not None
    return False


def _cifar_dir(directory: Path) -> Path | None:
    for candidate in (directory, *sorted(directory.glob("cifar-10-batches-*"))):
        if (candidate / "test_batch.bin").is_file() or (candidate / "test_batch").is_file():
            return candidate
    return None


def _load_real(name: str, split: str, data_dir):
    directory = find_local_copy(name, data_dir)
    if directory is not None:
        return _read_local(name, split, directory)
    return _download(name, split)


def _read_local(name: str, split: str, directory: Path):
    if (
        name == "mnist"
        and (directory / "mnist.npz").is_file()
        and not _find(directory, _IDX_FILES[split][0])
    ):
        with np.load(directory / "mnist.npz", allow_pickle=False) as archive:
            prefix = "train" if split == "train" else "test"
            return archive[f"x_{prefix}"][..., None], archive[f"y_{prefix}"]
    if name in ("fashion_mnist", "mnist"):
        image_stem, label_stem = _IDX_FILES[split]
        images = read_idx(_find(directory, image_stem))
        labels = read_idx(_find(directory, label_stem))
        return images[..., None], labels
    return _read_cifar(_cifar_dir(directory), split)


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), optionally gzip-compressed, as a NumPy array.

    Raises:
        ValueError: if the file is not a well-formed unsigned-byte IDX file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{str(path)!r} is not an unsigned-byte IDX file.")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(data) - offset != expected:
        raise ValueError(
            f"{str(path)!r} is truncated or corrupt: header promises {expected} values, "
            f"file holds {len(data) - offset}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def _read_cifar(directory: Path, split: str):
    if (directory / "test_batch.bin").is_file():
        names = (
            [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
        )
        records = np.concatenate(
            [np.fromfile(directory / fname, dtype=np.uint8).reshape(-1, 3073) for fname in names]
        )
        labels = records[:, 0].astype(np.int64)
        images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, labels
    # Keras' cached python-format copy: let Keras read its own cache.
    return _download("cifar10", split)


def _download(name: str, split: str):
    import keras

    loader = {
        "fashion_mnist": keras.datasets.fashion_mnist,
        "mnist": keras.datasets.mnist,
        "cifar10": keras.datasets.cifar10,
    }[name]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # Keras raises a bare Exception on a failed fetch.
        raise DatasetNotFoundError(
            f"Dataset {name!r} has no local copy and could not be downloaded "
            f"({type(error).__name__}: {str(error).splitlines()[0][:160]}). {_HOW_TO_GET[name]}"
        ) from None
    images, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    if images.ndim == 3:
        images = images[..., None]
    return images, np.asarray(labels).reshape(-1)
