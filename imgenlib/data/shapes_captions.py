"""The embedded ``shapes_captions`` dataset: one or two shapes with captions and ground truth.

Each scene shows one or two objects on a black background. An object has a colour (6), a
shape (4), a size (2) and a position, one of nine regions of a 3x3 grid ("top left",
"top", ..., "centre", ..., "bottom right"). A two-object scene is described by the
relation of the first object to the second ("left of", "right of", "above", "below"):
both objects then lie in the same row (or column) of the grid and never overlap. Captions
come in several phrasings for the same scene::

    a small red circle in the top left       top-left: small red circle
    In the top left, a small red circle.     a large green cross to the left of a small cyan square

The attributes are returned with every caption (`ShapesCaptions`), so a test or an
evaluator can check an image against what its caption says.

**Held-out combinations.** The colour-shape pairs in `HELD_OUT_PAIRS` (a red triangle, a
green cross, a blue circle, a yellow square) never appear in the ``"train"`` split, in
any object. ``"test"`` holds seen combinations only (drawn from another random stream);
``"test_compositional"`` holds scenes whose first object is a held-out pair, so a model
must compose words it never saw together ("blue" and "circle").

Scenes are drawn from one uniform array, row by row, so the first `n` scenes of a split
do not depend on how many are drawn, and the image size changes only the resolution.
Shapes are rasterised with NumPy at 4x resolution and box-filtered (antialiased edges);
each shape's area centroid is its centre.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from imgenlib._validation import (
    check_choice,
    check_float,
    check_image_size,
    check_int,
    check_positive_int,
)
from imgenlib.data.shapes import COLOUR_NAMES, COLOUR_RGB, SHAPE_NAMES, SIZE_NAMES
from imgenlib.images import from_uint8

__all__ = [
    "HELD_OUT_PAIRS",
    "POSITION_NAMES",
    "RELATION_NAMES",
    "SPLITS",
    "ShapesCaptions",
    "describe",
    "load_shapes_captions",
]

POSITION_NAMES = (
    "top left", "top", "top right",
    "left", "centre", "right",
    "bottom left", "bottom", "bottom right",
)  # fmt: skip
RELATION_NAMES = ("left of", "right of", "above", "below")
HELD_OUT_PAIRS = (("red", "triangle"), ("green", "cross"), ("blue", "circle"), ("yellow", "square"))
SPLITS = ("train", "test", "test_compositional")

RADIUS = ((0.09, 0.11), (0.15, 0.18))  # half-extent per size, fraction of the shorter side
MARGIN = 0.03  # a centre lies at least this far inside its region
EDGE = 0.02  # a shape stays at least this far from the image border
GAP = 0.03  # between the bounding boxes of two objects
_SUPERSAMPLE = 4
_CHUNK = 256

_PREPOSITIONS = (
    "in the top left", "at the top", "in the top right",
    "on the left", "in the centre", "on the right",
    "in the bottom left", "at the bottom", "in the bottom right",
)  # fmt: skip
_SHORT = tuple(name.replace(" ", "-") for name in POSITION_NAMES)
_RELATION_LONG = ("to the left of", "to the right of", "above", "below")
ONE_OBJECT_TEMPLATES = (
    "a {a} {prep}",
    "{short}: {a}",
    "{Prep}, a {a}.",
    "there is a {a} {prep}",
    "{a}, {short}",
)
TWO_OBJECT_TEMPLATES = (
    "a {a} {rel} a {b}",
    "{a} {rel_long} {b}",
    "there is a {a} {rel_long} a {b}",
    "A {a}, {rel} a {b}.",
)


def _pair_index(colour: str, shape: str) -> int:
    return COLOUR_NAMES.index(colour) * len(SHAPE_NAMES) + SHAPE_NAMES.index(shape)


_HELD_OUT = np.array(sorted(_pair_index(c, s) for c, s in HELD_OUT_PAIRS))
_SEEN = np.setdiff1d(np.arange(len(COLOUR_NAMES) * len(SHAPE_NAMES)), _HELD_OUT)
_CELL_PAIRS = np.array([(0, 1), (0, 2), (1, 2)])


@dataclasses.dataclass(frozen=True)
class ShapesCaptions:
    """Captioned scenes with their ground truth; per-object arrays have two columns.

    The first column is the object a caption names first; in one-object scenes the second
    column is -1 (ints) or NaN (floats).

    Attributes:
        images: float32 (N, H, W, 3) in [-1, 1].
        captions: N strings.
        num_objects: int64 (N,), 1 or 2.
        colours: int64 (N, 2) index into `COLOUR_NAMES`.
        shapes: int64 (N, 2) index into `SHAPE_NAMES`.
        sizes: int64 (N, 2) index into `SIZE_NAMES`.
        positions: int64 (N, 2) region index into `POSITION_NAMES` (row-major 3x3 grid).
        relations: int64 (N,) index into `RELATION_NAMES`; -1 for one-object scenes.
        phrasings: int64 (N,) index into `ONE_OBJECT_TEMPLATES` or `TWO_OBJECT_TEMPLATES`.
        centres: float32 (N, 2, 2) object centres (x, y) as fractions of width and height.
        radii: float32 (N, 2) half-extents as fractions of the shorter side.
        held_out: bool (N,) whether any object is one of `HELD_OUT_PAIRS`.
    """

    images: np.ndarray
    captions: tuple[str, ...]
    num_objects: np.ndarray
    colours: np.ndarray
    shapes: np.ndarray
    sizes: np.ndarray
    positions: np.ndarray
    relations: np.ndarray
    phrasings: np.ndarray
    centres: np.ndarray
    radii: np.ndarray
    held_out: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> np.ndarray:
        """The class label of each scene: the shape of the first object (int64, (N,))."""
        return self.shapes[:, 0].copy()


def describe(colour: int, shape: int, size: int) -> str:
    """The words for one object, e.g. ``"small red circle"``."""
    return f"{SIZE_NAMES[size]} {COLOUR_NAMES[colour]} {SHAPE_NAMES[shape]}"


def load_shapes_captions(
    split: str = "train",
    n: int | None = None,
    image_size=32,
    *,
    seed: int = 0,
    two_object_fraction: float = 0.5,
) -> ShapesCaptions:
    """Draw captioned scenes of one split deterministically.

    Args:
        split: ``"train"`` (no held-out pair anywhere), ``"test"`` (seen pairs, another
            random stream) or ``"test_compositional"`` (the first object is a held-out pair).
        n: number of scenes; default 10,000 for train, 2,000 for the test splits.
        image_size: int or (height, width); 32 by default (64 for finer shapes).
        seed: non-negative int; the same seed and split give identical scenes. Every split
            draws from its own stream of the seed.
        two_object_fraction: share of scenes with two objects, in [0, 1].

    Returns:
        A `ShapesCaptions` record.

    Raises:
        ValueError: unknown split, bad `n`, `image_size`, `seed` or fraction.

    Example:
        >>> data = load_shapes_captions("train", n=4, seed=0)
        >>> data.images.shape, len(data.captions)
        ((4, 32, 32, 3), 4)
    """
    check_choice("split", split, SPLITS)
    n = (10000 if split == "train" else 2000) if n is None else check_positive_int("n", n)
    height, width = check_image_size("image_size", image_size)
    seed = check_int("seed", seed, minimum=0)
    fraction = check_float("two_object_fraction", two_object_fraction, minimum=0, maximum=1)
    scene = _draw_scenes(n, split, seed, fraction)
    raw = _render(scene, height, width)
    return ShapesCaptions(images=from_uint8(raw), captions=_captions(scene), **scene)


def _draw_scenes(n: int, split: str, seed: int, fraction: float) -> dict:
    u = np.random.default_rng([seed, SPLITS.index(split)]).random((n, 15))
    two = u[:, 0] < fraction
    first = _HELD_OUT if split == "test_compositional" else _SEEN
    pairs = np.stack([first[_pick(u[:, 1], len(first))], _SEEN[_pick(u[:, 2], len(_SEEN))]], 1)
    sizes = _pick(u[:, 3:5], len(SIZE_NAMES))
    low, high = np.array(RADIUS).T
    radii = low[sizes] + (high[sizes] - low[sizes]) * u[:, 5:7]

    relations = np.where(two, _pick(u[:, 7], len(RELATION_NAMES)), -1)
    vertical = relations >= 2
    line = _pick(u[:, 8], 3)
    cells = _CELL_PAIRS[_pick(u[:, 9], len(_CELL_PAIRS))]
    cells = np.where((relations == 1) | (relations == 3), cells[:, ::-1].T, cells.T).T
    # grid[i, k] = (row, column) of object k; one-object scenes use a region directly.
    region = _pick(u[:, 8], len(POSITION_NAMES))
    grid = np.zeros((n, 2, 2), np.int64)
    grid[:, 0] = np.stack([region // 3, region % 3], 1)
    grid[two, :, 0] = np.where(vertical[two, None], cells[two], line[two, None])
    grid[two, :, 1] = np.where(vertical[two, None], line[two, None], cells[two])

    # centres[i, k] = (x, y): each coordinate inside its cell, with a margin and the border.
    axis_cells = grid[:, :, ::-1]
    lo = np.maximum(axis_cells / 3 + MARGIN, radii[..., None] + EDGE)
    hi = np.minimum((axis_cells + 1) / 3 - MARGIN, 1 - radii[..., None] - EDGE)
    centres = lo + (hi - lo) * u[:, 10:14].reshape(n, 2, 2)
    rows = np.flatnonzero(two)
    axis = vertical[rows].astype(int)  # 0: x (left/right), 1: y (above/below)
    lower = (axis_cells[rows, 0, axis] > axis_cells[rows, 1, axis]).astype(int)
    upper = 1 - lower
    need = radii[rows].sum(1) + GAP
    lo_l, hi_l = lo[rows, lower, axis], hi[rows, lower, axis]
    top = np.minimum(hi_l, hi[rows, upper, axis] - need)
    placed_lower = lo_l + (top - lo_l) * u[rows, 10 + 2 * lower + axis]
    start = np.maximum(lo[rows, upper, axis], placed_lower + need)
    hi_u = hi[rows, upper, axis]
    centres[rows, lower, axis] = placed_lower
    centres[rows, upper, axis] = start + (hi_u - start) * u[rows, 10 + 2 * upper + axis]

    alone = ~two
    pairs[alone, 1], sizes[alone, 1], radii[alone, 1], centres[alone, 1] = -1, -1, np.nan, np.nan
    positions = grid[..., 0] * 3 + grid[..., 1]
    positions[alone, 1] = -1
    templates = np.where(two, len(TWO_OBJECT_TEMPLATES), len(ONE_OBJECT_TEMPLATES))
    colours = np.where(pairs >= 0, pairs // len(SHAPE_NAMES), -1)
    shapes = np.where(pairs >= 0, pairs % len(SHAPE_NAMES), -1)
    return {
        "num_objects": np.where(two, 2, 1).astype(np.int64),
        "colours": colours.astype(np.int64),
        "shapes": shapes.astype(np.int64),
        "sizes": sizes.astype(np.int64),
        "positions": positions.astype(np.int64),
        "relations": relations.astype(np.int64),
        "phrasings": np.minimum(np.floor(u[:, 14] * templates), templates - 1).astype(np.int64),
        "centres": centres.astype(np.float32),
        "radii": radii.astype(np.float32),
        "held_out": np.isin(pairs, _HELD_OUT).any(1),
    }


def _pick(u: np.ndarray, count: int) -> np.ndarray:
    return np.minimum(np.floor(u * count), count - 1).astype(np.int64)


def _captions(scene: dict) -> tuple[str, ...]:
    captions = []
    for i in range(len(scene["num_objects"])):
        a = describe(scene["colours"][i, 0], scene["shapes"][i, 0], scene["sizes"][i, 0])
        phrasing = scene["phrasings"][i]
        if scene["num_objects"][i] == 1:
            position = scene["positions"][i, 0]
            prep = _PREPOSITIONS[position]
            text = ONE_OBJECT_TEMPLATES[phrasing].format(
                a=a, prep=prep, Prep=prep[0].upper() + prep[1:], short=_SHORT[position]
            )
        else:
            b = describe(scene["colours"][i, 1], scene["shapes"][i, 1], scene["sizes"][i, 1])
            relation = scene["relations"][i]
            text = TWO_OBJECT_TEMPLATES[phrasing].format(
                a=a, b=b, rel=RELATION_NAMES[relation], rel_long=_RELATION_LONG[relation]
            )
        captions.append(text)
    return tuple(captions)


def _render(scene: dict, height: int, width: int) -> np.ndarray:
    """Rasterise every object at 4x inside a window around it, box-filter: uint8 (N, H, W, 3)."""
    s = _SUPERSAMPLE
    side = min(height, width)
    window = [min(extent, int(np.ceil(2 * RADIUS[-1][1] * side)) + 2) for extent in (height, width)]
    offsets = [(np.arange(w * s) + 0.5) / s for w in window]
    palette = np.array([COLOUR_RGB[name] for name in COLOUR_NAMES], np.float32)
    n = len(scene["num_objects"])
    canvas = np.zeros((n, height, width, 3), np.float32)
    for k in range(2):
        for shape in range(len(SHAPE_NAMES)):
            rows = np.flatnonzero(scene["shapes"][:, k] == shape)
            for chunk in np.array_split(rows, max(1, len(rows) // _CHUNK)):
                if len(chunk) == 0:
                    continue
                cx, cy = scene["centres"][chunk, k].T.astype(np.float64)
                ox = np.clip(np.floor(cx * width - window[1] / 2), 0, width - window[1])
                oy = np.clip(np.floor(cy * height - window[0] / 2), 0, height - window[0])
                radius = scene["radii"][chunk, k][:, None, None] * side
                dx = ox[:, None, None] + offsets[1][None, None, :] - cx[:, None, None] * width
                dy = oy[:, None, None] + offsets[0][None, :, None] - cy[:, None, None] * height
                mask = _inside(SHAPE_NAMES[shape], np.abs(dx) / radius, dy / radius)
                cover = mask.reshape(len(chunk), window[0], s, window[1], s).mean((2, 4))
                colour = palette[scene["colours"][chunk, k]][:, None, None]
                ys = oy.astype(int)[:, None, None] + np.arange(window[0])[None, :, None]
                xs = ox.astype(int)[:, None, None] + np.arange(window[1])[None, None, :]
                canvas[chunk[:, None, None], ys, xs] += cover[..., None] * colour
    return np.round(canvas, out=canvas).astype(np.uint8)  # objects never overlap: <= 255


def _inside(name: str, ax: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Points inside a shape of half-extent 1 centred at 0 (|dx| and dy given)."""
    ay = np.abs(dy)
    if name == "circle":
        return ax * ax + dy * dy <= 1.0
    if name == "square":
        return (ax <= 0.85) & (ay <= 0.85)
    if name == "triangle":  # apex (0, -1), base at y = 1/2: the centroid is the centre
        return (dy <= 0.5) & (ax <= (dy + 1.0) / 1.5)
    return ((ax <= 1.0) & (ay <= 0.3)) | ((ax <= 0.3) & (ay <= 1.0))
