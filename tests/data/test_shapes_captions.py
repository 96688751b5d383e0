import re

import numpy as np
import pytest

from imgenlib.data import (
    COLOUR_NAMES,
    HELD_OUT_PAIRS,
    POSITION_NAMES,
    RELATION_NAMES,
    SHAPE_NAMES,
    SIZE_NAMES,
    dataset_info,
    load_images,
    load_shapes_captions,
)
from imgenlib.data.shapes import COLOUR_RGB

RELATION_WORDS = {"left": "left of", "right": "right of", "above": "above", "below": "below"}


def parse(caption):
    """Read a caption back by keywords alone (independent of the generator's templates)."""
    words = re.findall(r"[a-z]+", caption.lower())
    colours = [w for w in words if w in COLOUR_NAMES]
    shapes = [w for w in words if w in SHAPE_NAMES]
    sizes = [w for w in words if w in SIZE_NAMES]
    assert len(colours) == len(shapes) == len(sizes) in (1, 2), caption
    parsed = {"objects": list(zip(colours, shapes, sizes, strict=True))}
    if len(shapes) == 1:
        row = 0 if "top" in words else 2 if "bottom" in words else 1
        column = 0 if "left" in words else 2 if "right" in words else 1
        assert (row, column) != (1, 1) or "centre" in words, caption
        parsed["position"] = row * 3 + column
    else:
        (relation,) = [RELATION_WORDS[w] for w in words if w in RELATION_WORDS]
        parsed["relation"] = relation
    return parsed


@pytest.fixture(scope="module")
def train():
    return load_shapes_captions("train", n=3000, seed=0)


def test_captions_state_the_ground_truth(train):
    assert len(train) == 3000 and train.images.shape == (3000, 32, 32, 3)
    assert train.images.dtype == np.float32
    assert train.images.min() >= -1 and train.images.max() <= 1
    for i, caption in enumerate(train.captions):
        parsed = parse(caption)
        count = train.num_objects[i]
        assert len(parsed["objects"]) == count
        for k, (colour, shape, size) in enumerate(parsed["objects"]):
            assert COLOUR_NAMES[train.colours[i, k]] == colour, caption
            assert SHAPE_NAMES[train.shapes[i, k]] == shape, caption
            assert SIZE_NAMES[train.sizes[i, k]] == size, caption
        if count == 1:
            assert parsed["position"] == train.positions[i, 0], caption
            assert train.relations[i] == -1 and train.colours[i, 1] == -1
        else:
            assert RELATION_NAMES[train.relations[i]] == parsed["relation"], caption
    assert 0.4 < (train.num_objects == 2).mean() < 0.6
    assert set(train.positions[train.num_objects == 1, 0]) == set(range(len(POSITION_NAMES)))


def _pairs(data):
    found = set()
    for caption in data.captions:
        found |= {(colour, shape) for colour, shape, _ in parse(caption)["objects"]}
    return found


def test_held_out_pairs_never_in_train_and_always_in_the_compositional_split(train):
    held_out = set(HELD_OUT_PAIRS)
    seen = _pairs(train)
    assert not seen & held_out
    assert len(seen) == len(COLOUR_NAMES) * len(SHAPE_NAMES) - len(held_out)
    assert not train.held_out.any()
    test = load_shapes_captions("test", n=500)
    assert not _pairs(test) & held_out and not test.held_out.any()
    compositional = load_shapes_captions("test_compositional", n=500)
    assert compositional.held_out.all()
    for caption in compositional.captions:
        colour, shape, _ = parse(caption)["objects"][0]
        assert (colour, shape) in held_out, caption
    assert _pairs(compositional) >= held_out


def test_deterministic_prefix_stable_and_split_streams_differ():
    a = load_shapes_captions("train", n=40, seed=5)
    b = load_shapes_captions("train", n=200, seed=5)
    np.testing.assert_array_equal(a.images, b.images[:40])
    assert a.captions == b.captions[:40]
    np.testing.assert_array_equal(a.centres, b.centres[:40])
    again = load_shapes_captions("train", n=40, seed=5)
    np.testing.assert_array_equal(a.images, again.images)
    other = load_shapes_captions("train", n=40, seed=6)
    assert a.captions != other.captions
    assert a.captions != load_shapes_captions("test", n=40, seed=5).captions
    big = load_shapes_captions("train", n=40, image_size=64, seed=5)
    assert big.images.shape == (40, 64, 64, 3) and big.captions == a.captions


def _colour_masses(image):
    """Per palette colour, the coverage of every pixel (antialiased edges are scaled colours)."""
    pixels = (image.astype(np.float64) + 1) * 127.5
    palette = np.array([COLOUR_RGB[name] for name in COLOUR_NAMES], np.float64)
    direction = palette / np.linalg.norm(palette, axis=1, keepdims=True)
    lit = pixels.max(-1) > 12
    nearest = np.argmax(pixels @ direction.T, axis=-1)
    coverage = np.linalg.norm(pixels, axis=-1) / np.linalg.norm(palette[nearest], axis=-1)
    return {c: np.where(lit & (nearest == c), coverage, 0.0) for c in range(len(palette))}


def _centroid(mass):
    ys, xs = np.indices(mass.shape) + 0.5  # pixel centres
    total = mass.sum()
    assert total > 3, "the object is visible"
    return (xs * mass).sum() / total / mass.shape[1], (ys * mass).sum() / total / mass.shape[0]


def test_pixels_are_where_the_caption_says(train):
    checked_pairs = 0
    for i in range(600):
        parsed = parse(train.captions[i])
        masses = _colour_masses(train.images[i])
        colours = [COLOUR_NAMES.index(colour) for colour, _, _ in parsed["objects"]]
        assert sum(masses[c].sum() for c in range(len(COLOUR_NAMES)) if c not in colours) < 1
        if len(colours) == 1:
            x, y = _centroid(masses[colours[0]])
            assert int(y * 3) * 3 + int(x * 3) == parsed["position"], (i, train.captions[i])
        elif colours[0] != colours[1]:
            (xa, ya), (xb, yb) = (_centroid(masses[c]) for c in colours)
            relation = parsed["relation"]
            along, across = (xb - xa, yb - ya) if "of" in relation else (yb - ya, xb - xa)
            sign = -1 if relation in ("right of", "below") else 1
            assert sign * along > 0.15 and abs(across) < 1 / 3, (i, train.captions[i])
            checked_pairs += 1
    assert checked_pairs > 150


def test_sizes_differ_in_area_and_objects_never_overlap(train):
    one = train.num_objects == 1
    area = ((train.images.max(-1) > -0.5).sum((1, 2)))[one]
    sizes, shapes = train.sizes[one, 0], train.shapes[one, 0]
    for shape in range(len(SHAPE_NAMES)):  # every large shape covers more than any small one
        small, large = (
            area[(sizes == 0) & (shapes == shape)],
            area[(sizes == 1) & (shapes == shape)],
        )
        assert large.min() > small.max() and large.mean() > 1.8 * small.mean(), SHAPE_NAMES[shape]
    two = np.flatnonzero(~one)
    delta = np.abs(train.centres[two, 0] - train.centres[two, 1])  # (n, 2): |dx|, |dy|
    reach = train.radii[two].sum(1)
    assert np.all(delta.max(1) >= reach), "bounding boxes are separated along one axis"


def test_several_phrasings_for_the_same_attributes(train):
    def skeleton(caption):
        words = re.sub(r"[a-z]+", lambda m: "_" if m[0] in COLOUR_NAMES + SHAPE_NAMES else m[0],
                       caption.lower())  # fmt: skip
        return re.sub(r"(small|large)", "_", words)

    one = {skeleton(c) for c, k in zip(train.captions, train.num_objects, strict=True) if k == 1}
    two = {skeleton(c) for c, k in zip(train.captions, train.num_objects, strict=True) if k == 2}
    top_left = {s for s in one if "top" in s and "left" in s}
    assert len(top_left) >= 4, top_left  # "in the top left", "top-left:", "In the top left, ..."
    assert len(two) >= 3 * len(RELATION_NAMES)
    assert len(set(train.phrasings[train.num_objects == 1])) >= 4
    assert any(c[0].isupper() for c in train.captions) and any(":" in c for c in train.captions)


def test_load_images_and_dataset_info():
    spec = dataset_info("shapes_captions")
    assert spec.embedded and set(spec.splits) == {"train", "test", "test_compositional"}
    images, labels = load_images("shapes_captions", "test_compositional", n=12, seed=3)
    record = load_shapes_captions("test_compositional", n=12, seed=3)
    np.testing.assert_array_equal(images, record.images)
    np.testing.assert_array_equal(labels, record.shapes[:, 0])
    assert labels.dtype == np.int64
    small, _ = load_images("shapes_captions", n=4, image_size=16)
    assert small.shape == (4, 16, 16, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"split": "validation"}, ValueError, "Unknown split 'validation'"),
        ({"n": 0}, ValueError, "n must be a positive int. Received: n=0"),
        ({"seed": -1}, ValueError, "seed"),
        ({"image_size": 0}, ValueError, "image_size"),
        ({"two_object_fraction": 1.5}, ValueError, "two_object_fraction"),
    ],
)
def test_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_shapes_captions(**kwargs)
