import numpy as np
import pytest

from imgenlib.images import check_images, from_uint8, resize_images, to_uint8, to_unit


def test_round_trip_uint8_is_exact():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    images = from_uint8(pixels)
    assert images.dtype == np.float32
    assert images.min() == -1.0 and images.max() == 1.0
    np.testing.assert_array_equal(to_uint8(images), pixels)
    np.testing.assert_allclose(to_unit(images), pixels / 255.0, atol=1e-6)


def test_out_of_range_values_are_clipped_at_the_edges():
    np.testing.assert_array_equal(to_uint8(np.array([-3.0, 0.0, 3.0])), [0, 128, 255])


def test_check_images_accepts_single_image_when_asked():
    assert check_images(np.zeros((5, 5, 3)), allow_single=True).shape == (1, 5, 5, 3)
    with pytest.raises(ValueError, match=r"Received: images.shape=\(5, 5, 3\)"):
        check_images(np.zeros((5, 5, 3)))


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (np.zeros((0, 4, 4, 1)), "at least one image"),
        (np.full((1, 4, 4, 1), np.nan), "NaN"),
        (np.zeros((1, 4, 4, 4)), "1 or 3 channels"),
    ],
)
def test_check_images_errors(bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_images(bad)


def test_check_images_channel_requirement():
    with pytest.raises(ValueError, match="must have 3 channel"):
        check_images(np.zeros((1, 4, 4, 1)), channels=3)


def test_resize_antialiased_downscale_preserves_mean():
    checker = np.indices((32, 32)).sum(axis=0) % 2 * 2.0 - 1.0
    images = checker[None, :, :, None].astype(np.float32)
    small = resize_images(images, 8)
    assert small.shape == (1, 8, 8, 1)
    # Antialiasing averages the 1-px checkerboard to grey; aliased sampling would not.
    np.testing.assert_allclose(small, 0.0, atol=0.05)
    assert resize_images(images, (32, 32)) is not None
