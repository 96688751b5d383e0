"""Real datasets (fashion_mnist, mnist, cifar10): finding a local copy, reading its files.

`imgenlib.data.datasets.load_images` loads a real dataset through `load_real`: it reads
the first local copy `find_local_copy` finds (IDX files, ``mnist.npz`` or the CIFAR-10
binary batches), searching

1. the ``data_dir`` argument,
2. the directory in ``$IMGENLIB_DATA``,
3. Debian's dataset packages in `DEBIAN_DATASETS` (``apt-get install dataset-fashion-mnist``
   puts the IDX files in ``/usr/share/datasets/fashion-mnist``),
4. Keras' own cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``),

and only then fetches it with Keras' downloader; with no copy and no network it raises
`DatasetNotFoundError`, whose message says how to get the data.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from imgenlib.data.emoji import emoji_cache_dir

__all__ = ["DEBIAN_DATASETS", "DatasetNotFoundError", "find_local_copy", "load_real", "read_idx"]

DEBIAN_DATASETS = Path("/usr/share/datasets")


class DatasetNotFoundError(FileNotFoundError):
    """A real dataset has no local copy and could not be downloaded."""


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


def find_local_copy(name: str, data_dir=None) -> Path | None:
    """Return the first local file or directory that holds dataset `name`, or None."""
    if name == "emoji":
        cache = emoji_cache_dir(data_dir)
        return cache if any(cache.glob("*/manifest.json")) else None
    for directory in _candidate_dirs(name, data_dir):
        if _holds(name, directory):
            return directory
    return None


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


def load_real(name: str, split: str, data_dir=None):
    """The uint8 images (N, H, W, C) and labels (N,) of a real dataset's `split`.

    Args:
        name: ``"fashion_mnist"``, ``"mnist"`` or ``"cifar10"``.
        split: ``"train"`` or ``"test"``.
        data_dir: optional directory holding a local copy (searched first).

    Returns:
        ``(images, labels)`` as read: a local copy (`find_local_copy`) if there is one,
        else what Keras' downloader fetches (and caches).

    Raises:
        DatasetNotFoundError: no local copy, and the download failed.
        ValueError: a local IDX file is malformed (`read_idx`).

    Example:
        >>> images, labels = load_real("fashion_mnist", "test")  # doctest: +SKIP
        >>> images.shape, images.dtype
        ((10000, 28, 28, 1), dtype('uint8'))
    """
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
