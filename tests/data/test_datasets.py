import gzip
import os
import struct

import numpy as np
import pytest

from imgenlib.data import (
    DATASETS,
    DatasetNotFoundError,
    dataset_info,
    find_local_copy,
    load_images,
    read_idx,
    real_datasets,
)

DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(
    not os.path.isdir(DEBIAN_FASHION) and not os.environ.get("CI"),
    reason="apt-get install dataset-fashion-mnist (CI installs it)",
)


def _write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(data)


@pytest.fixture
def tiny_mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 7), ("t10k", 3)):
        _write_idx(
            tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28))
        )
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.arange(count) % 10)
    return tmp_path


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """No local copies anywhere, and Keras' downloader fails as it does offline."""
    monkeypatch.delenv("IMGENLIB_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))
    monkeypatch.setattr(real_datasets, "DEBIAN_DATASETS", tmp_path / "no_debian")

    def fail(*args, **kwargs):
        raise Exception(
            "URL fetch failure on https://example.invalid: [Errno -2] Name or service not known"
        )

    import keras

    for module in (keras.datasets.mnist, keras.datasets.fashion_mnist, keras.datasets.cifar10):
        monkeypatch.setattr(module, "load_data", fail)


@needs_fashion
def test_fashion_mnist_from_the_debian_copy(monkeypatch):
    monkeypatch.delenv("IMGENLIB_DATA", raising=False)
    assert str(find_local_copy("fashion_mnist")) == DEBIAN_FASHION
    images, labels = load_images("fashion_mnist")
    assert images.shape == (60000, 28, 28, 1)
    assert images.dtype == np.float32
    assert images.min() == -1.0 and images.max() == 1.0
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 6000))
    test_images, test_labels = load_images("fashion_mnist", split="test")
    assert test_images.shape == (10000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(test_labels), np.full(10, 1000))


def test_digits_are_embedded_and_resized():
    images, labels = load_images("digits")
    assert images.shape == (1797, 28, 28, 1)
    assert images.dtype == np.float32
    assert -1.0 <= images.min() < -0.99 and 0.99 < images.max() <= 1.0
    assert sorted(set(labels.tolist())) == list(range(10))
    small, _ = load_images("digits", image_size=16, n=5)
    assert small.shape == (5, 16, 16, 1)
    with pytest.raises(ValueError, match="Unknown split 'test'"):
        load_images("digits", split="test")


def test_shapes_through_load_images():
    images, labels = load_images("shapes", n=50)
    assert images.shape == (50, 32, 32, 3)
    assert set(labels.tolist()) <= set(range(dataset_info("shapes").num_classes))
    train, _ = load_images("shapes", n=20)
    test, _ = load_images("shapes", split="test", n=20)
    assert not np.array_equal(train, test)  # different seeds per split


def test_local_directory_first_then_environment(tiny_mnist_dir, monkeypatch, no_download):
    images, labels = load_images("mnist", data_dir=tiny_mnist_dir)
    assert images.shape == (7, 28, 28, 1)
    np.testing.assert_array_equal(labels, np.arange(7))
    expected = read_idx(tiny_mnist_dir / "train-images-idx3-ubyte.gz")[..., None] / 127.5 - 1
    np.testing.assert_allclose(images, expected, atol=1e-6)
    monkeypatch.setenv("IMGENLIB_DATA", str(tiny_mnist_dir.parent))
    (tiny_mnist_dir.parent / "mnist").symlink_to(tiny_mnist_dir)
    images, _ = load_images("mnist", split="test")
    assert images.shape == (3, 28, 28, 1)


def test_keras_npz_in_cache_is_used(tmp_path, monkeypatch, no_download):
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(
        cache / "mnist.npz", x_train=x, y_train=np.arange(4), x_test=x[:2], y_test=np.arange(2)
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    images, labels = load_images("mnist", split="test")
    assert images.shape == (2, 28, 28, 1) and images.max() == -1.0


def test_cifar_binary_format(tmp_path, no_download):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (2, 3073), dtype=np.uint8)
        records[:, 0] = [3, 7]
        records.tofile(folder / name)
    images, labels = load_images("cifar10", data_dir=tmp_path)
    assert images.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(labels[:2], [3, 7])
    raw = np.fromfile(folder / "data_batch_1.bin", dtype=np.uint8).reshape(-1, 3073)
    red_channel = raw[0, 1:1025].reshape(32, 32)  # CIFAR stores planes R, G, B
    np.testing.assert_allclose(images[0, ..., 0], red_channel / 127.5 - 1, atol=1e-6)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_offline_without_copy_gives_one_clear_error(name, no_download):
    with pytest.raises(DatasetNotFoundError) as info:
        load_images(name)
    message = str(info.value)
    assert f"Dataset {name!r} has no local copy" in message
    assert "data_dir" in message and "IMGENLIB_DATA" in message
    assert info.value.__cause__ is None  # one error, not a chained TensorFlow traceback


def test_corrupt_idx_is_reported(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    _write_idx(path, np.zeros((3, 4, 4)))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(path)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        read_idx(tmp_path / "bad")


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"name": "imagenet"}, ValueError, "Unknown dataset 'imagenet'; expected one of 'digits'"),
        ({"name": "digits", "split": "validation"}, ValueError, "Unknown split 'validation'"),
        ({"name": "digits", "image_size": -3}, ValueError, "image_size"),
        ({"name": "digits", "n": 0}, ValueError, "n must be a positive int. Received: n=0"),
        ({"name": "digits", "seed": 3}, ValueError, "seed is only used by the 'shapes'"),
    ],
)
def test_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_images(**kwargs)


def test_registry_is_consistent():
    for name, spec in DATASETS.items():
        assert spec.name == name
        assert spec.num_classes == len(spec.class_names) >= 2
        assert "train" in spec.splits
