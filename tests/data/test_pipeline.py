import numpy as np
import pytest

from imgenlib.data import augmentation, make_dataset


@pytest.fixture
def images(rng):
    return rng.uniform(-1, 1, (20, 8, 8, 1)).astype(np.float32)


def test_batches_shapes_and_labels(images):
    labels = np.arange(20) % 4
    dataset = make_dataset(images, labels, batch_size=6, shuffle=False)
    batches = list(dataset)
    assert len(batches) == 3  # the incomplete last batch is dropped
    first_images, first_labels = batches[0]
    np.testing.assert_array_equal(first_images.numpy(), images[:6])
    np.testing.assert_array_equal(first_labels.numpy(), labels[:6])
    assert first_labels.dtype.name == "int32"
    kept = list(make_dataset(images, batch_size=6, shuffle=False, drop_remainder=False))
    assert [len(b) for b in kept] == [6, 6, 6, 2]


def test_shuffle_is_seeded_and_reshuffles_each_epoch(images):
    first = np.concatenate([b.numpy() for b in make_dataset(images, batch_size=5, seed=3)])
    again = np.concatenate([b.numpy() for b in make_dataset(images, batch_size=5, seed=3)])
    np.testing.assert_array_equal(first, again)
    dataset = make_dataset(images, batch_size=20, seed=3)
    epoch1, epoch2 = (next(iter(dataset)).numpy() for _ in range(2))
    assert not np.array_equal(epoch1, epoch2)
    np.testing.assert_allclose(np.sort(epoch1.ravel()), np.sort(images.ravel()))


def test_augmentation_changes_images_and_keeps_range(rng):
    data = rng.uniform(-1, 1, (16, 16, 16, 3)).astype(np.float32)
    plain = next(iter(make_dataset(data, batch_size=16, shuffle=False))).numpy()
    augmented = next(
        iter(make_dataset(data, batch_size=16, shuffle=False, augment=True, seed=1))
    ).numpy()
    assert augmented.shape == plain.shape
    assert augmented.min() >= -1 and augmented.max() <= 1
    assert np.abs(augmented - plain).mean() > 0.05
    flip_only = augmentation(flip=True, rotation=0, zoom=0, translation=0, seed=0)
    flipped = next(
        iter(make_dataset(data, batch_size=16, shuffle=False, augment=flip_only))
    ).numpy()
    for original, out in zip(data, flipped, strict=True):
        assert np.array_equal(out, original) or np.array_equal(out, original[:, ::-1])


def test_custom_callable(images):
    dataset = make_dataset(images, batch_size=4, shuffle=False, augment=lambda batch: -batch)
    np.testing.assert_allclose(next(iter(dataset)).numpy(), -images[:4])


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"labels": np.arange(3)}, ValueError, r"labels.shape=\(3,\)"),
        ({"labels": np.ones(20) * 0.5}, TypeError, "labels must be integers"),
        ({"labels": -np.ones(20, int)}, ValueError, "labels must be >= 0"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"batch_size": 50}, ValueError, "must not exceed the number of images"),
        ({"augment": "yes"}, TypeError, "augment='yes'"),
    ],
)
def test_bad_arguments(images, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        make_dataset(images, **{"batch_size": 4, **kwargs})


@pytest.mark.parametrize(
    ("bad", "error", "pattern"),
    [
        (np.zeros((4, 8, 8)), ValueError, "shape"),
        (np.full((4, 8, 8, 1), 255.0), ValueError, r"\[-1, 1\].*from_uint8"),
        (np.zeros((4, 8, 8, 2)), ValueError, "1 or 3 channels"),
        (np.array([["a"]]), TypeError, "numeric"),
    ],
)
def test_bad_images(bad, error, pattern):
    with pytest.raises(error, match=pattern):
        make_dataset(bad, batch_size=1)


def test_augmentation_bad_arguments():
    with pytest.raises(ValueError, match="rotation must be < 1"):
        augmentation(rotation=1.5)
    with pytest.raises(ValueError, match="Unknown fill_mode 'mirror'"):
        augmentation(fill_mode="mirror")


def test_constant_fill_uses_the_background_value():
    shift = augmentation(flip=False, rotation=0, zoom=0, translation=0.5, seed=0)
    shifted = shift(np.ones((8, 16, 16, 1), np.float32), training=True).numpy()
    assert shifted.min() == pytest.approx(-1.0)  # filled with black, not reflected content
