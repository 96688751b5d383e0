"""Boxes, arrows and labels for the course's diagrams (`imgenlib.diagrams`), in one style.

Colours are the Okabe & Ito (2008) palette, which stays distinguishable under the common
colour-vision deficiencies; each colour has one role in every diagram, and every box also
says in words what it is, so no diagram relies on colour alone. Nothing here imports
pyplot or TensorFlow: a diagram is a `imgenlib.plotting.Figure` that shows itself in
Jupyter.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from imgenlib.plotting import Figure

__all__ = ["COLOURS", "FONT_SIZE", "TEXT_COLOURS", "arrow", "box", "canvas", "check_flag"]

# Okabe & Ito, "Color Universal Design" (2008), https://jfly.uni-koeln.de/color/
COLOURS = {
    "data": "#555555",  # images and labels that come from the data set
    "noise": "#E69F00",  # orange: random inputs (z, ε)
    "generator": "#0072B2",  # blue: networks that make images (G, decoder, ψ)
    "discriminator": "#D55E00",  # vermillion: networks that read images (D, encoder, φ)
    "label": "#009E73",  # bluish green: class labels and their embeddings
    "loss": "#CC79A7",  # reddish purple: losses, gradients and weight updates
    "neutral": "#56B4E9",  # sky blue: everything else (notebooks, outputs)
}
# Darker shades for text, where the light colours lack contrast on white.
TEXT_COLOURS = {**COLOURS, "data": "#000000", "noise": "#8A5D00", "neutral": "#1F6F9C"}
FONT_SIZE = 11
_FILL_ALPHA = 0.16


def check_flag(name: str, value) -> bool:
    """Return `value` if it is a bool, else raise a TypeError that shows it.

    Example:
        >>> check_flag("conditional", True)
        True
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False. Received: {name}={value!r}")
    return value


def canvas(ax, width: float, height: float, *, inches_per_unit: float = 0.85):
    """The (figure, axes) to draw a `width` × `height` diagram in (data units, y up).

    Args:
        ax: a matplotlib `Axes` to draw into, or None for a new figure sized
            `inches_per_unit` inches per data unit (readable at notebook width).
        width: extent of the diagram in data units.
        height: extent of the diagram in data units.
        inches_per_unit: scale of a new figure.

    Returns:
        ``(figure, axes)``; the axes have equal aspect, no frame and no ticks.

    Raises:
        TypeError: if `ax` is neither None nor a matplotlib `Axes`.

    Example:
        >>> figure, ax = canvas(None, 4.0, 2.0)
        >>> a = box(ax, (1, 1), "G\\ngenerator", "generator", bold_first_line=True)
        >>> b = box(ax, (3, 1), "D", "discriminator")
        >>> arrow(ax, a, b, label="fakes")  # doctest: +ELLIPSIS
        <matplotlib.patches.FancyArrowPatch object at ...>
    """
    if ax is None:
        figure = Figure(figsize=(width * inches_per_unit, height * inches_per_unit))
        ax = figure.add_axes((0, 0, 1, 1))
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None. Received: ax={ax!r}")
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax.figure, ax


def box(
    ax,
    xy,
    text: str,
    role: str,
    *,
    size=(1.6, 0.9),
    fontsize: float = FONT_SIZE,
    dashed: bool = False,
    bold_first_line: bool = True,
    linewidth: float = 1.6,
):
    """Draw a rounded box centred on `xy` with `text` in it, coloured by `role`.

    Args:
        ax: the axes.
        xy: centre in data units.
        text: the label; lines separated by newlines.
        role: a key of `COLOURS`.
        size: (width, height) in data units.
        fontsize: in points.
        dashed: dashed outline (random inputs that carry no weights).
        bold_first_line: set the first line in bold (the name of the thing).
        linewidth: of the outline, in points.

    Returns:
        The `FancyBboxPatch`, for `arrow` to attach to.

    Example:
        See `canvas`.
    """
    colour = COLOURS[role]
    width, height = size
    patch = FancyBboxPatch(
        (xy[0] - width / 2, xy[1] - height / 2),
        width,
        height,
        boxstyle="round,pad=0,rounding_size=0.12",
        facecolor=(*_rgb(colour), _FILL_ALPHA),
        edgecolor=colour,
        linewidth=linewidth,
        linestyle="--" if dashed else "-",
    )
    ax.add_patch(patch)
    first, _, rest = text.partition("\n")
    if bold_first_line and rest:
        line = 1.2 * fontsize / 72 / _inches_per_unit(ax)  # one line's height, data units
        split = xy[1] + (0.9 * (rest.count("\n") + 1) - 1) * line / 2
        gap = 0.08 * line
        ax.text(
            xy[0], split + gap, first, ha="center", va="bottom", fontsize=fontsize, weight="bold"
        )
        ax.text(xy[0], split - gap, rest, ha="center", va="top", fontsize=fontsize * 0.9)
    else:
        ax.text(xy[0], xy[1], text, ha="center", va="center", fontsize=fontsize)
    return patch


def arrow(
    ax,
    start,
    end,
    *,
    role: str = "data",
    label: str | None = None,
    label_offset=(0.0, 0.18),
    curve: float = 0.0,
    dashed: bool = False,
    fontsize: float = FONT_SIZE * 0.9,
):
    """Draw an arrow from `start` to `end`, points (x, y) or boxes from `box` (clipped at the edge).

    Args:
        ax: the axes.
        start: where the arrow leaves: a point or a patch (then from its centre, clipped).
        end: where it points to: a point or a patch.
        role: a key of `COLOURS`.
        label: text placed at the arrow's midpoint plus `label_offset` (data units).
        label_offset: (dx, dy) of the label from the midpoint.
        curve: curvature (``arc3`` radius); positive bends to the left of the direction.
        dashed: dashed line (gradients and weight updates).
        fontsize: of the label, in points.

    Returns:
        The `FancyArrowPatch`.

    Example:
        See `canvas`.
    """
    points = [_centre(p) for p in (start, end)]
    patch = FancyArrowPatch(
        points[0],
        points[1],
        patchA=start if isinstance(start, FancyBboxPatch) else None,
        patchB=end if isinstance(end, FancyBboxPatch) else None,
        arrowstyle="-|>,head_length=0.5,head_width=0.25",
        mutation_scale=14,
        connectionstyle=f"arc3,rad={curve}",
        color=COLOURS[role],
        linewidth=1.6,
        linestyle="--" if dashed else "-",
        shrinkA=3,
        shrinkB=3,
    )
    ax.add_patch(patch)
    if label:
        x = (points[0][0] + points[1][0]) / 2 + label_offset[0]
        y = (points[0][1] + points[1][1]) / 2 + label_offset[1]
        ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, color=TEXT_COLOURS[role])
    return patch


def _centre(point_or_patch):
    if isinstance(point_or_patch, FancyBboxPatch):
        return (
            point_or_patch.get_x() + point_or_patch.get_width() / 2,
            point_or_patch.get_y() + point_or_patch.get_height() / 2,
        )
    return tuple(point_or_patch)


def _inches_per_unit(ax) -> float:
    width = ax.figure.get_figwidth() * ax.get_position().width
    return width / (ax.get_xlim()[1] - ax.get_xlim()[0])


def _rgb(colour: str):
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
