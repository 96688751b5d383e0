"""`imgenlib.caption_accuracy`: colour and position read back from pixels, and the prompt score."""

import numpy as np
import pytest

from imgenlib.caption_accuracy import prompt_accuracy, read_colour_and_position
from imgenlib.data import load_shapes_captions
from imgenlib.data.shapes import COLOUR_NAMES, COLOUR_RGB
from imgenlib.data.shapes_captions import POSITION_NAMES


@pytest.mark.parametrize("size", [16, 32])
def test_the_reading_is_right_on_real_one_object_scenes(size):
    scenes = load_shapes_captions("test", 300, image_size=size, seed=0, two_object_fraction=0)
    colours, positions = read_colour_and_position(scenes.images)
    assert np.mean(colours == scenes.colours[:, 0]) >= 0.98
    assert np.mean(positions == scenes.positions[:, 0]) == 1.0


def test_hand_drawn_squares_and_an_empty_image():
    images = -np.ones((3, 18, 18, 3), np.float32)  # black
    blue = np.array(COLOUR_RGB["blue"]) / 127.5 - 1
    magenta = np.array(COLOUR_RGB["magenta"]) / 127.5 - 1
    images[0, 1:5, 1:5] = blue  # top left
    images[1, 13:17, 7:11] = magenta  # bottom centre
    colours, positions = read_colour_and_position(images)
    assert [COLOUR_NAMES[c] for c in colours[:2]] == ["blue", "magenta"]
    assert [POSITION_NAMES[p] for p in positions[:2]] == [POSITION_NAMES[0], POSITION_NAMES[7]]
    assert colours[2] == positions[2] == -1  # nothing drawn
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\). Received shape \(18, 18, 3\)"):
        read_colour_and_position(images[0])


class Oracle:
    """Draws each prompt's own scene (the same deterministic draw prompt_accuracy makes)."""

    image_shape = (16, 16, 3)

    def __init__(self, split, blank=False):
        self.scenes = load_shapes_captions(split, 50, image_size=16, seed=0, two_object_fraction=0)
        self.blank = blank

    def generate(self, prompts, seed=None):
        assert prompts == list(self.scenes.captions)
        return -np.ones_like(self.scenes.images) if self.blank else self.scenes.images


@pytest.mark.parametrize("split", ["test", "test_compositional"])
def test_prompt_accuracy_pairs_each_prompt_with_its_image(split):
    result = prompt_accuracy(Oracle(split), split, n=50)
    assert {k: result[k] for k in ("colour", "position", "both")} == result["reference"]
    assert result["position"] == 1.0 and result["colour"] >= 0.96
    assert result["chance"] == pytest.approx({"colour": 1 / 6, "position": 1 / 9, "both": 1 / 54})
    assert result["n"] == 50 and result["split"] == split
    blank = prompt_accuracy(Oracle(split, blank=True), split, n=50)
    assert blank["colour"] == blank["position"] == blank["both"] == 0.0


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="split"):
        prompt_accuracy(Oracle("test"), "train", n=50)
    with pytest.raises(ValueError, match="n"):
        prompt_accuracy(Oracle("test"), n=0)

    class Grey(Oracle):
        image_shape = (28, 28, 1)

    with pytest.raises(ValueError, match=r"square RGB images.*image_shape=\(28, 28, 1\)"):
        prompt_accuracy(Grey("test"), n=50)
