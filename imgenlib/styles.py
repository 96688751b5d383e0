"""Style conditioning: one model draws the same concept in either drawing style.

The emoji dataset has two styles of every emoji (``twitter``: Twemoji, ``google``: Noto).
A conditional model trained on both (``style="all"``) with ``condition="style"`` (classes
twitter 0, google 1) or ``condition="category_style"`` (20 classes,
``category * 2 + style``, named "Smileys & Emotion / google") can redraw what a latent z
holds in the other style: the source article's "artworks in different styles" (conditional
GANs: Mirza & Osindero 2014, https://arxiv.org/abs/1411.1784)::

    python -m imgenlib train gan --data emoji --style all --conditional \\
        --condition category_style --out runs/emoji_styles

    model = imgenlib.load_run_model("runs/emoji_styles")
    pairs = style_swap(model, seed=0)                  # (10, 2, 64, 64, 3): z in both styles
    fig = category_style_figure(model, seed=0)         # categories × styles, one z
    style_accuracy(model, n=500)                       # are the samples drawn in their style?

The model's `class_names` (set by `imgenlib.training.train`, see
`imgenlib.data.label_names`) say what its labels mean, so these functions work on a model
loaded from its run directory. They work for conditional GANs, VAEs (the cVAE decoder) and
diffusion models (extra keyword arguments, e.g. ``steps=``, go to ``generate``).
"""

from __future__ import annotations

import numbers

import numpy as np

from imgenlib._validation import check_int, check_latent_model, check_latents, check_vector
from imgenlib.data.emoji import CATEGORIES, STYLES, emoji_class_names

__all__ = [
    "STYLE_CONDITIONS",
    "category_style_figure",
    "category_style_grid",
    "style_accuracy",
    "style_condition",
    "style_swap",
]

STYLE_CONDITIONS = ("style", "category_style")
DEFAULT_ROWS = 8


def style_condition(model) -> str:
    """What a style-conditioned model's labels mean: ``"style"`` or ``"category_style"``.

    Read from the model's `class_names` (`imgenlib.data.emoji.emoji_class_names`).

    Raises:
        TypeError: not a generative model with ``latent_dim`` and ``generate``.
        ValueError: an unconditional model, or one not trained with a style condition.
    """
    check_latent_model(model)
    if getattr(model, "num_classes", None) is None:
        raise ValueError(
            "This needs a conditional model trained with a style condition; received an "
            f"unconditional {type(model).__name__} (num_classes=None)."
        )
    names = tuple(getattr(model, "class_names", None) or ())
    for condition in STYLE_CONDITIONS:
        if names == emoji_class_names(condition):
            return condition
    shown = f"class_names={list(names[:3])}{'...' if len(names) > 3 else ''}"
    raise ValueError(
        "This needs a model trained with a style condition (train --data emoji --style all "
        "--conditional --condition style|category_style). Received: a model with "
        f"num_classes={model.num_classes} and {shown if names else 'no class_names'}"
    )


def _category_indices(categories) -> list[int]:
    """Category indices from None (all), one index or name, or a sequence of them."""
    if categories is None:
        return list(range(len(CATEGORIES)))
    single = isinstance(categories, (str, numbers.Integral))
    values = [categories] if single else list(np.asarray(categories, dtype=object).ravel())
    if not values:
        raise ValueError(f"categories must not be empty. Received: categories={categories!r}")
    indices = []
    for value in values:
        if isinstance(value, str):
            if value not in CATEGORIES:
                raise ValueError(
                    f"Unknown category {value!r}; expected one of {', '.join(CATEGORIES)} "
                    f"or an index in [0, {len(CATEGORIES)})"
                )
            indices.append(CATEGORIES.index(value))
        else:
            indices.append(check_int("categories", value, minimum=0, maximum=len(CATEGORIES) - 1))
    return indices


def _rows(model, condition, z, categories, seed):
    """The latents (rows, latent_dim) and category indices (rows,) or None of each row."""
    if condition == "style" and categories is not None:
        raise ValueError(
            "categories are for models conditioned on category_style; this one is conditioned "
            f"on style only. Received: categories={categories!r}"
        )
    indices = None if condition == "style" else _category_indices(categories)
    if z is None:
        rows = DEFAULT_ROWS if indices is None or len(indices) == 1 else len(indices)
        seed = check_int("seed", seed, minimum=0)
        z = np.random.default_rng(seed).standard_normal((rows, model.latent_dim))
    z = check_latents("z", z, model.latent_dim)
    if indices is None:
        return z, None
    rows = max(len(z), len(indices))
    if len(z) not in (1, rows) or len(indices) not in (1, rows):
        raise ValueError(
            "z and categories must have the same number of rows (or one of them one). "
            f"Received: {len(z)} latents and {len(indices)} categories"
        )
    return np.broadcast_to(z, (rows, z.shape[1])), np.broadcast_to(indices, (rows,))


def style_swap(model, z=None, *, categories=None, seed: int = 0, **generate_options):
    """The same latent z drawn in every style: row i is ``z[i]`` as twitter, then as google.

    A ``condition="category_style"`` model keeps the category of a row and changes only the
    style; a ``condition="style"`` model has no category to keep.

    Args:
        model: a conditional GAN, VAE or diffusion model trained on emoji with
            ``style="all"`` and ``condition="style"`` or ``"category_style"``.
        z: latents (rows, latent_dim), or one latent (latent_dim,) for every row; None:
            one latent per row drawn from `seed` (rows: one per category, or 8 for a style
            model or a single category).
        categories: category_style models only: None (every category, one per row), a
            category (index or name, e.g. ``"Animals & Nature"``) for every row, or one per
            row.
        seed: seed of the latents drawn when `z` is None (also passed to ``generate``,
            which a diffusion model uses for its sampler's noise).
        **generate_options: passed to ``model.generate`` (e.g. ``steps=`` for diffusion).

    Returns:
        float32 array (rows, len(STYLES), H, W, C) in [-1, 1]; ``[i, s]`` is row i in
        style ``STYLES[s]``.

    Raises:
        TypeError / ValueError: not a style-conditioned model (`style_condition`),
            categories for a style model, unknown categories, a bad z or counts that do not
            match.
    """
    condition = style_condition(model)
    z, indices = _rows(model, condition, z, categories, seed)
    styles = len(STYLES)
    names = model.class_names
    if indices is None:
        labels = np.tile([names.index(style) for style in STYLES], len(z))
    else:
        labels = np.array(
            [names.index(f"{CATEGORIES[c]} / {style}") for c in indices for style in STYLES]
        )
    images = model.generate(
        z=np.repeat(z, styles, axis=0).astype(np.float32),
        labels=labels.astype(np.int32),
        seed=check_int("seed", seed, minimum=0),
        **generate_options,
    )
    images = np.asarray(images, dtype=np.float32)
    return images.reshape(len(z), styles, *images.shape[1:])


def category_style_grid(model, z=None, *, seed: int = 0, **generate_options) -> np.ndarray:
    """Every category in every style from one latent: rows categories, columns styles.

    Args:
        model: a conditional model trained with ``condition="category_style"``.
        z: one latent (latent_dim,); None: drawn from `seed`.
        seed: seed of z when it is None (and of a diffusion model's sampler noise).
        **generate_options: passed to ``model.generate``.

    Returns:
        float32 array (len(CATEGORIES), len(STYLES), H, W, C) in [-1, 1]; ``[c, s]`` is
        category ``CATEGORIES[c]`` in style ``STYLES[s]``, all from the same z.

    Raises:
        ValueError: not a category_style model, or a z that is not one latent.
    """
    condition = style_condition(model)
    if condition != "category_style":
        raise ValueError(
            "category_style_grid needs a model conditioned on category_style (this one knows "
            f"the style only; use style_swap). Received: condition={condition!r}"
        )
    if z is None:
        z = np.random.default_rng(check_int("seed", seed, minimum=0)).standard_normal(
            model.latent_dim
        )
    z = check_vector("z", z, model.latent_dim)
    return style_swap(model, z, seed=seed, **generate_options)


def category_style_figure(
    model, z=None, *, seed: int = 0, size: float = 1.0, title: str | None = None,
    **generate_options,
):  # fmt: skip
    """`category_style_grid` drawn as a figure, categories left and styles on top.

    Returns:
        `matplotlib.figure.Figure` (`imgenlib.plotting.labelled_grid`; not shown).
    """
    from imgenlib.plotting import labelled_grid

    grid = category_style_grid(model, z, seed=seed, **generate_options)
    return labelled_grid(grid, CATEGORIES, STYLES, title=title, size=size)


def style_accuracy(model, n: int = 500, *, seed: int = 0, batch_size: int = 250, **generate_options) -> dict:  # fmt: skip
    """How often samples are drawn in the style they were asked for, by the shipped style
    classifier (`imgenlib.features.STYLE_CLASSIFIER`, trained on the emoji training split
    of both styles; its accuracy on the unseen test emoji is ``real_accuracy``).

    Draws `n` latents (categories cycle through all ten for a ``category_style`` model) and
    generates each latent in both styles, as `style_swap` does: 2·n images. A model that
    ignores its style label scores about 0.5; ``both_right`` is the share of latents whose
    two images are both recognised as their own style, i.e. a working style swap.

    Args:
        model: a style-conditioned model (`style_condition`).
        n: latents (each drawn twice).
        seed: seed of the latents (and of a diffusion model's sampler noise).
        batch_size: latents per `style_swap` call.
        **generate_options: passed to ``model.generate`` (e.g. ``steps=``).

    Returns:
        dict: ``accuracy`` (all 2·n images), ``per_style`` ({style: accuracy}),
        ``both_right``, ``n``, ``real_accuracy``.

    Raises:
        TypeError / ValueError: not a style-conditioned model; n or batch_size below 1.
    """
    from imgenlib.evaluation import extractor_for
    from imgenlib.features import STYLE_CLASSIFIER

    condition = style_condition(model)
    n = check_int("n", n, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    z = np.random.default_rng(check_int("seed", seed, minimum=0)).standard_normal((n, model.latent_dim))  # fmt: skip
    categories = None if condition == "style" else list(np.arange(n) % len(CATEGORIES))
    extractor = extractor_for(STYLE_CLASSIFIER)  # loaded and SHA-checked once per process
    right = []
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        pairs = style_swap(model, z[rows], categories=None if categories is None else categories[rows], seed=seed, **generate_options)  # fmt: skip
        images, _ = extractor.upsampled(pairs.reshape(-1, *pairs.shape[2:]))
        predicted = extractor.probabilities(images).argmax(axis=1).reshape(len(pairs), len(STYLES))  # fmt: skip
        right.append(predicted == np.arange(len(STYLES)))
    right = np.concatenate(right)
    return {
        "accuracy": float(right.mean()),
        "per_style": {style: float(right[:, s].mean()) for s, style in enumerate(STYLES)},
        "both_right": float(right.all(axis=1).mean()),
        "n": n,
        "real_accuracy": extractor.test_accuracy,
    }
