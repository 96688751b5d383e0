"""The embedded ``shapes`` dataset: coloured shapes drawn procedurally, with captions.

Each image shows one shape (circle, square, triangle or cross) in one of six colours and
two sizes on a black background, e.g. "small red circle". Shapes are drawn at 4x the
target resolution and box-filtered down, so edges are antialiased at any size. Scenes are
described in relative coordinates, so one seed gives the same scenes at every image size,
and the same seed always gives the same images: the set needs no download and is
reproducible bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

from imgenlib._validation import check_image_size, check_int, check_positive_int
from imgenlib.images import from_uint8

__all__ = [
    "COLOUR_NAMES",
    "COLOUR_RGB",
    "SHAPE_NAMES",
    "SIZE_NAMES",
    "Shapes",
    "caption",
    "load_shapes",
]

SHAPE_NAMES = ("circle", "square", "triangle", "cross")
COLOUR_NAMES = ("red", "green", "blue", "yellow", "magenta", "cyan")
SIZE_NAMES = ("small", "large")
COLOUR_RGB = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
    "yellow": (240, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 220, 230),
}
_RADIUS = {"small": (0.14, 0.22), "large": (0.28, 0.38)}  # half-extent, fraction of side
_SUPERSAMPLE = 4


class Shapes(NamedTuple):
    """Images of the ``shapes`` dataset and everything known about them.

    Attributes:
        images: float32 (N, H, W, 3) in [-1, 1].
        labels: int64 (N,) shape index into `SHAPE_NAMES` (the class label).
        colours: int64 (N,) index into `COLOUR_NAMES`.
        sizes: int64 (N,) index into `SIZE_NAMES`.
        captions: list of N strings such as ``"small red circle"``.
    """

    images: np.ndarray
    labels: np.ndarray
    colours: np.ndarray
    sizes: np.ndarray
    captions: list


def caption(shape: int, colour: int, size: int) -> str:
    """Return the caption of one scene from its integer labels, e.g. ``"large blue cross"``."""
    return f"{SIZE_NAMES[size]} {COLOUR_NAMES[colour]} {SHAPE_NAMES[shape]}"


def load_shapes(n: int = 10000, image_size=32, seed: int = 0) -> Shapes:
    """Draw `n` shape images deterministically from `seed`.

    Args:
        n: number of images.
        image_size: int or (height, width); default 32.
        seed: non-negative int; the same seed gives identical images and labels.

    Returns:
        A `Shapes` tuple (images, labels, colours, sizes, captions).

    Example:
        >>> data = load_shapes(4, seed=0)
        >>> data.images.shape
        (4, 32, 32, 3)
    """
    n = check_positive_int("n", n)
    height, width = check_image_size("image_size", image_size)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    shapes = rng.integers(len(SHAPE_NAMES), size=n)
    colours = rng.integers(len(COLOUR_NAMES), size=n)
    sizes = rng.integers(len(SIZE_NAMES), size=n)
    unit = rng.random((n, 3))  # radius within its size band, centre x, centre y
    raw = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        raw[i] = _draw(shapes[i], colours[i], sizes[i], unit[i], height, width)
    return Shapes(
        images=from_uint8(raw),
        labels=shapes.astype(np.int64),
        colours=colours.astype(np.int64),
        sizes=sizes.astype(np.int64),
        captions=[caption(s, c, z) for s, c, z in zip(shapes, colours, sizes, strict=True)],
    )


def _draw(shape, colour, size, unit, height, width) -> np.ndarray:
    big_h, big_w = height * _SUPERSAMPLE, width * _SUPERSAMPLE
    side = min(big_h, big_w)
    low, high = _RADIUS[SIZE_NAMES[size]]
    radius = (low + (high - low) * unit[0]) * side
    cx = radius + unit[1] * (big_w - 2 * radius)
    cy = radius + unit[2] * (big_h - 2 * radius)
    fill = COLOUR_RGB[COLOUR_NAMES[colour]]
    canvas = Image.new("RGB", (big_w, big_h))
    draw = ImageDraw.Draw(canvas)
    name = SHAPE_NAMES[shape]
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if name == "circle":
        draw.ellipse(box, fill=fill)
    elif name == "square":
        inset = radius * 0.15  # a square of equal half-extent looks bigger than a circle
        draw.rectangle((box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset), fill=fill)
    elif name == "triangle":
        draw.polygon(
            [(cx, cy - radius), (cx + radius, cy + radius), (cx - radius, cy + radius)], fill=fill
        )
    else:
        arm = radius * 0.3
        draw.rectangle((cx - radius, cy - arm, cx + radius, cy + arm), fill=fill)
        draw.rectangle((cx - arm, cy - radius, cx + arm, cy + radius), fill=fill)
    return np.asarray(canvas.resize((width, height), Image.Resampling.BOX))
