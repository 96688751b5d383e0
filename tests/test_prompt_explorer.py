"""`PromptExplorer` on a text-conditional GAN: prompts, seeds, bad and partly unknown prompts."""

import io

import keras
import numpy as np
import pytest
from PIL import Image

from imgenlib.contrastive import caption_dataset
from imgenlib.data import load_shapes_captions
from imgenlib.models import GANConfig, build_text_gan
from imgenlib.plotting import grid_png
from imgenlib.widgets import PromptExplorer

PROMPT = "a small red circle in the top left"


@pytest.fixture(scope="module")
def model():
    scenes = load_shapes_captions("train", n=64, image_size=16, two_object_fraction=0, seed=0)
    keras.utils.set_random_seed(1)
    gan = build_text_gan(GANConfig.tiny(), (16, 16, 3), scenes.captions, text_dim=16)
    batch = caption_dataset(scenes.images, scenes.captions, batch_size=16, shuffle=False)
    gan.fit(batch.take(1), epochs=1, verbose=0)  # one step: G depends on the prompt
    return gan


def test_the_frame_is_the_models_images_of_the_prompt(model):
    explorer = PromptExplorer(model, PROMPT, n=4, seed=3, scale=2)
    expected = grid_png(model.generate(PROMPT, n=4, seed=3), ncols=4, scale=2)
    assert explorer.image.value == explorer.png == expected
    assert Image.open(io.BytesIO(expected)).size == (4 * 2 * 16 + 3 * 2, 2 * 16)  # 2-px gaps
    assert explorer.snapshot_png() == expected and np.isfinite(explorer.last_frame_ms)
    assert f"4 images of {PROMPT!r}, seed 3: frame" in explorer.status.value
    assert repr(explorer) == f"PromptExplorer(prompt={PROMPT!r}, seed=3, n=4)"


def test_typing_and_the_seed_slider_redraw(model):
    explorer = PromptExplorer(model, PROMPT, n=4)
    first = explorer.png
    explorer.text.value = "a large blue square in the bottom right"  # as typing does
    assert explorer.prompt == "a large blue square in the bottom right"
    assert explorer.png != first
    explorer.text.value = PROMPT
    assert explorer.png == first  # same prompt and seed, same picture
    explorer.seed_slider.value = 7
    assert explorer.seed == 7 and explorer.png != first
    assert explorer.set_seed(0) == first and explorer.seed_slider.value == 0


def test_a_prompt_the_model_cannot_read_keeps_the_picture_and_says_why(model):
    explorer = PromptExplorer(model, PROMPT, n=2)
    before = explorer.png
    for bad in ("", "   ", "zebra unicorn"):
        assert explorer.set_prompt(bad) == before and explorer.image.value == before
        assert explorer.prompt == PROMPT
        assert explorer.status.value.startswith("not drawn: ")
        assert "The model knows" in explorer.status.value and "circle" in explorer.status.value
    explorer.set_prompt("a small red zebra in the top left")  # one unknown word: drawn
    assert explorer.prompt == "a small red zebra in the top left" and explorer.png != before
    assert "zebra" in explorer.message and "zebra" in explorer.status.value
    empty = PromptExplorer(model, "", n=2)  # nothing drawn yet: no picture, the reason shown
    assert empty.png == b"" and empty.snapshot_png() == b"" and empty.prompt is None
    assert empty.set_seed(2) == b""


def test_bad_arguments_name_the_value(model):
    with pytest.raises(TypeError, match="needs a text-conditional model.*model=int"):
        PromptExplorer(3, PROMPT)
    with pytest.raises(ValueError, match="guidance is for models whose generate takes one"):
        PromptExplorer(model, PROMPT, guidance=2.0)
    with pytest.raises(ValueError, match="n"):
        PromptExplorer(model, PROMPT, n=0)
    explorer = PromptExplorer(model, PROMPT, n=1)
    assert explorer.guidance_slider is None
    with pytest.raises(ValueError, match="guidance is for models"):
        explorer.set_guidance(1.0)


def test_a_guidance_slider_for_models_that_take_guidance(model):
    """A diffusion-like model (``generate`` takes ``guidance``) gets a slider whose value
    reaches ``generate``; here a wrapper records what the TextGAN was asked."""

    class Guided:
        text_encoder = model.text_encoder

        def __init__(self):
            self.calls = []

        def generate(self, prompts, n=None, seed=None, guidance=1.0):
            self.calls.append(guidance)
            return model.generate(prompts, n=n, seed=seed)

    guided = Guided()
    explorer = PromptExplorer(guided, PROMPT, n=2, guidance=3.0)
    assert explorer.guidance_slider.value == 3.0 and guided.calls == [3.0]
    explorer.guidance_slider.value = 5.0
    assert explorer.guidance == 5.0 and guided.calls == [3.0, 5.0]
    assert PromptExplorer(guided, PROMPT, n=2).guidance_slider.value == 1.0  # model default
    assert guided.calls[-1] == 1.0
