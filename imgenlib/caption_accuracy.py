"""Does a text-to-image model draw what its prompt says? Read the answer from the pixels.

A ``shapes_captions`` scene with one object is a plain black background with one shape of
one of six saturated colours in one of nine regions. Two of its attributes can be read
back from any image with no model at all, which makes them an independent check of a
generator (no classifier whose own errors would mix in):

- **colour**: the mean colour of the image's bright pixels (max channel > 0.4 in [0, 1])
  → the nearest of the six palette colours;
- **position**: the centroid of the image's brightness (pixels brighter than 0.2) → the
  cell of the 3×3 grid it falls in (`imgenlib.data.shapes_captions.POSITION_NAMES`).

On the real test scenes the reading is right for ≥ 98.7 % of colours and 100 % of positions
(`prompt_accuracy` reports this ``reference`` next to the model's figures, as the ceiling).
Shape and size need a classifier; they are not read here.

    >>> from imgenlib.caption_accuracy import prompt_accuracy
    >>> prompt_accuracy(text_gan, n=300)  # doctest: +SKIP
    {'colour': 0.71, 'position': 0.95, 'chance': {'colour': 0.167, 'position': 0.111}, ...}
"""

from __future__ import annotations

import numpy as np

from imgenlib._validation import check_choice, check_int, check_positive_int
from imgenlib.sampling_options import sampling_settings

__all__ = ["SPLITS", "image_side", "prompt_accuracy", "read_colour_and_position"]

SPLITS = ("test", "test_compositional")
BRIGHT = 0.4  # a pixel whose largest channel exceeds this (in [0, 1]) belongs to the object
GLOW = 0.2  # pixels brighter than this weigh in the centroid


def read_colour_and_position(images) -> tuple[np.ndarray, np.ndarray]:
    """Read each image's single object from its pixels.

    Args:
        images: (N, H, W, 3) in [-1, 1] (what ``generate`` returns).

    Returns:
        ``(colours, positions)``: int arrays of length N, indices into
        `imgenlib.data.shapes.COLOUR_NAMES` and `imgenlib.data.shapes_captions.POSITION_NAMES`;
        -1 where no pixel is bright (nothing drawn).

    Raises:
        ValueError: `images` is not a batch of RGB images.
    """
    from imgenlib.data.shapes import COLOUR_NAMES, COLOUR_RGB

    x = (np.asarray(images, np.float64) + 1) / 2
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3). Received shape {x.shape}")
    palette = np.array([COLOUR_RGB[name] for name in COLOUR_NAMES], np.float64) / 255
    brightness = x.max(-1)
    mask = brightness > BRIGHT
    counts = mask.sum((1, 2))
    means = (x * mask[..., None]).sum((1, 2)) / np.maximum(counts, 1)[:, None]
    colours = ((means[:, None] - palette[None]) ** 2).sum(-1).argmin(1)
    weights = brightness * (brightness > GLOW)
    total = np.maximum(weights.sum((1, 2)), 1e-9)
    height, width = x.shape[1:3]
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    cy = (weights * rows).sum((1, 2)) / total / height
    cx = (weights * columns).sum((1, 2)) / total / width
    positions = np.minimum((cy * 3).astype(int), 2) * 3 + np.minimum((cx * 3).astype(int), 2)
    return np.where(counts > 0, colours, -1), np.where(counts > 0, positions, -1)


def image_side(model, user: str) -> int:
    """The side of `model`'s square RGB images, what a caption score draws prompts at.

    Raises:
        ValueError: the model's ``image_shape`` is not (S, S, 3); the message names `user`.
    """
    shape = tuple(getattr(model, "image_shape", ()) or ())
    if len(shape) != 3 or shape[-1] != 3 or shape[0] != shape[1]:
        raise ValueError(
            f"{user} needs a model of square RGB images. Received image_shape={shape or None}"
        )
    return int(shape[0])


def prompt_accuracy(
    model,
    split: str = "test",
    n: int = 300,
    *,
    seed: int = 0,
    sample_seed: int = 1,
    sampling: dict | None = None,
) -> dict:
    """How often a text-conditional model draws the colour and position its prompt names.

    The prompts are the captions of `n` one-object ``shapes_captions`` scenes of `split`
    (``"test_compositional"``: each names a colour–shape pair held out of training), drawn
    at the model's image size; one image per prompt from the latents of `sample_seed`.

    Args:
        model: a text-conditional model, ``generate(prompts, seed=)`` (e.g. `TextGAN`).
        split: ``"test"`` or ``"test_compositional"``.
        n: prompts (scenes).
        seed: seed of the scenes (the same seed, the same prompts).
        sample_seed: seed of the model's latents.
        sampling: a diffusion model's sampling settings (``steps``, ``guidance``, ...;
            `imgenlib.sampling_options.sampling_settings`; default: its defaults).

    Returns:
        ``{"colour", "position", "both"}`` accuracies, ``"reference"`` (the same reading
        on the real scenes: the ceiling), ``"chance"``, ``"n"``, ``"split"``.

    Raises:
        ValueError: a bad split or n, or a model that does not draw RGB images.
    """
    from imgenlib.data.shapes import COLOUR_NAMES
    from imgenlib.data.shapes_captions import POSITION_NAMES, load_shapes_captions

    split = check_choice("split", split, SPLITS)
    n = check_positive_int("n", n)
    seed = check_int("seed", seed, minimum=0)
    side = image_side(model, "prompt_accuracy")
    scenes = load_shapes_captions(split, n, image_size=side, seed=seed, two_object_fraction=0)
    truth = scenes.colours[:, 0], scenes.positions[:, 0]
    settings = sampling_settings(model, sampling) or {}
    drawn = model.generate(list(scenes.captions), seed=sample_seed, **settings)
    drawn = read_colour_and_position(drawn)
    real = read_colour_and_position(scenes.images)

    def scores(read):
        colour, position = read[0] == truth[0], read[1] == truth[1]
        return {
            "colour": float(colour.mean()),
            "position": float(position.mean()),
            "both": float((colour & position).mean()),
        }

    return {
        **scores(drawn),
        "reference": scores(real),
        "chance": {
            "colour": 1 / len(COLOUR_NAMES),
            "position": 1 / len(POSITION_NAMES),
            "both": 1 / (len(COLOUR_NAMES) * len(POSITION_NAMES)),
        },
        "n": n,
        "split": split,
        **({"sampling": settings} if settings else {}),
    }
