"""The diffusion chains as a diagram: forward q adds noise, reverse p_θ removes it (Ho et al. 2020).

`diffusion_chain` is re-exported by `imgenlib.diagrams`, which has the other diagrams of the
course; the style is `imgenlib.drawing`'s.
"""

from __future__ import annotations

import numpy as np

from imgenlib._validation import check_int
from imgenlib.drawing import TEXT_COLOURS, arrow, box, canvas
from imgenlib.images import check_images, to_unit

__all__ = ["diffusion_chain"]


def diffusion_chain(images=None, *, timesteps=None, ax=None):
    """Draw the diffusion chains: forward q(x_t | x_{t−1}) adds noise, reverse p_θ removes it.

    Without `images`, the chain is x_0 → x_1 → ⋯ → x_{t−1} → x_t → ⋯ → x_T with one
    forward and one reverse step labelled. With `images` (e.g. one image noised to a few
    timesteps with `imgenlib.models.schedules.noisy`), each node shows its thumbnail.

    Args:
        images: None, or 2 to 12 library images (N, H, W, C) in [-1, 1], from x_0 (data)
            to x_T (noise).
        timesteps: with `images`, the t of each image (ints, increasing), used as labels;
            by default x_0, x_{t_1}, ..., x_T.
        ax: a matplotlib `Axes` to draw into; by default a new figure.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: if `images` are not 2 to 12 valid images, or `timesteps` does not give
            one increasing int per image (or is given without images).
        TypeError: if `ax` is not an `Axes`.

    Example:
        >>> from imgenlib import diagrams
        >>> fig = diagrams.diffusion_chain()
        >>> steps = [0, 100, 400, 999]
        >>> fig = diagrams.diffusion_chain(noised_images, timesteps=steps)  # doctest: +SKIP
    """
    labels, thumbnails = _chain_nodes(images, timesteps)
    step, height, y = (1.85 if thumbnails is None else 2.1), 3.7, 1.95
    width = step * (len(labels) - 1) + 2.4
    figure, ax = canvas(ax, width, height)
    nodes = []
    for i, label in enumerate(labels):
        centre = (1.2 + i * step, y)
        role = "data" if i == 0 else "noise" if i == len(labels) - 1 else "neutral"
        if label == "⋯":
            nodes.append(box(ax, centre, label, role, size=(0.5, 0.5), fontsize=20))
            nodes[-1].set_visible(False)
        elif thumbnails is None:
            nodes.append(box(ax, centre, label, role, size=(1.1, 0.9), fontsize=14))
        else:
            nodes.append(box(ax, centre, "", role, size=(1.3, 1.3)))
            image = thumbnails[i]
            ax.imshow(
                image[..., 0] if image.shape[-1] == 1 else image,
                cmap="gray",
                vmin=0,
                vmax=1,
                extent=(centre[0] - 0.55, centre[0] + 0.55, y - 0.55, y + 0.55),
                interpolation="nearest",
                zorder=3,
            )
            ax.text(centre[0], y - 0.8, label, ha="center", va="top", fontsize=13)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    middle = (len(labels) - 1) // 2 if thumbnails is None else None
    for i in range(len(labels) - 1):
        named = i == middle
        arrow(
            ax,
            nodes[i],
            nodes[i + 1],
            role="noise",
            curve=-0.45,
            fontsize=12,
            label="q($x_t$ | $x_{t-1}$)" if named else None,
            label_offset=(0, 0.78),
        )
        arrow(
            ax,
            nodes[i + 1],
            nodes[i],
            role="generator",
            curve=-0.45,
            fontsize=12,
            label="$p_\\theta$($x_{t-1}$ | $x_t$)" if named else None,
            label_offset=(0, -0.78),
        )
    ax.text(
        0.15,
        height - 0.2,
        "forward process q: fixed, adds a little Gaussian noise each step",
        ha="left",
        va="top",
        fontsize=11,
        color=TEXT_COLOURS["noise"],
    )
    ax.text(
        0.15,
        0.15,
        "reverse process $p_\\theta$: learned, a network predicts the noise ε in $x_t$",
        ha="left",
        va="bottom",
        fontsize=11,
        color=TEXT_COLOURS["generator"],
    )
    return figure


def _chain_nodes(images, timesteps):
    """(node labels, thumbnails in [0, 1] or None) of `diffusion_chain`."""
    if images is None:
        if timesteps is not None:
            raise ValueError(f"timesteps needs images. Received: timesteps={timesteps!r}")
        return ["$x_0$", "$x_1$", "⋯", "$x_{t-1}$", "$x_t$", "⋯", "$x_T$"], None
    images = check_images(images)
    if not 2 <= len(images) <= 12:
        raise ValueError(
            f"images must hold 2 to 12 images (x_0 ... x_T). Received: {len(images)} images"
        )
    if timesteps is None:
        middle = [f"$x_{{t_{i}}}$" for i in range(1, len(images) - 1)]
        return ["$x_0$", *middle, "$x_T$"], to_unit(images)
    steps = [check_int("timesteps", t, minimum=0) for t in np.ravel(timesteps).tolist()]
    if len(steps) != len(images) or any(b <= a for a, b in zip(steps[:-1], steps[1:], strict=True)):
        raise ValueError(
            f"timesteps must give one increasing t per image ({len(images)}). "
            f"Received: timesteps={timesteps!r}"
        )
    return [f"$x_{{{t}}}$" for t in steps], to_unit(images)
