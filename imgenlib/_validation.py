"""Argument checks shared by every public function.

Each helper raises `TypeError` or `ValueError` with a message that names the argument,
says what was expected and shows the received value, Keras-style:
``"latent_dim must be a positive int. Received: latent_dim=0"``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return `value` as an int, or raise if it is not an integer within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int. Received: {name}={value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        bound = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {bound}. Received: {name}={value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an int <= {maximum}. Received: {name}={value!r}")
    return value


def check_positive_int(name: str, value) -> int:
    """Return `value` as an int, or raise unless it is an integer >= 1."""
    return check_int(name, value, minimum=1)


def check_float(
    name: str,
    value,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Return `value` as a finite float within the given bounds, or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number. Received: {name}={value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite. Received: {name}={value!r}")
    if minimum is not None and (value < minimum or (not min_inclusive and value == minimum)):
        op = ">=" if min_inclusive else ">"
        raise ValueError(f"{name} must be {op} {minimum}. Received: {name}={value!r}")
    if maximum is not None and (value > maximum or (not max_inclusive and value == maximum)):
        op = "<=" if max_inclusive else "<"
        raise ValueError(f"{name} must be {op} {maximum}. Received: {name}={value!r}")
    return value


def check_delta(delta) -> float:
    """A differential-privacy δ: strictly between 0 and 1."""
    return check_float(
        "delta", delta, minimum=0, min_inclusive=False, maximum=1, max_inclusive=False
    )


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """Return `value` if it is one of `choices`, else raise a ValueError listing them."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"Unknown {name} {value!r}; expected one of {expected}.")
    return value


def check_image_size(name: str, value) -> tuple[int, int]:
    """Normalise an image size given as an int or an (height, width) pair."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        size = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        size = tuple(value)
    else:
        raise TypeError(
            f"{name} must be an int or a (height, width) pair. Received: {name}={value!r}"
        )
    for side in size:
        if isinstance(side, bool) or not isinstance(side, numbers.Integral) or side < 1:
            raise ValueError(f"{name} must contain positive ints. Received: {name}={value!r}")
    return int(size[0]), int(size[1])


def check_array(name: str, value) -> np.ndarray:
    """Return `value` as a float64 array, or raise unless it is numeric and finite."""
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array. Received: {name}={value!r}")
    if array.size and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or Inf values.")
    return array.astype(np.float64)


def check_vector(name: str, value, latent_dim: int | None = None) -> np.ndarray:
    """Return one latent vector (d,) as float64; a (1, d) row is accepted."""
    array = check_array(name, value)
    if array.ndim == 2 and len(array) == 1:
        array = array[0]
    expected = "latent_dim" if latent_dim is None else f"latent_dim={latent_dim}"
    if array.ndim != 1 or array.size == 0 or (latent_dim is not None and len(array) != latent_dim):
        raise ValueError(
            f"{name} must be one latent vector of shape ({expected},). "
            f"Received: {name}.shape={array.shape}"
        )
    return array


def check_latents(name: str, value, latent_dim: int | None = None) -> np.ndarray:
    """Return a batch of latent vectors (n, d) as float64; one vector (d,) becomes (1, d)."""
    array = check_array(name, value)
    if array.ndim == 1:
        array = array[None]
    expected = "latent_dim" if latent_dim is None else f"latent_dim={latent_dim}"
    if (
        array.ndim != 2
        or array.size == 0
        or (latent_dim is not None and array.shape[1] != latent_dim)
    ):
        raise ValueError(
            f"{name} must have shape (n, {expected}). Received: {name}.shape={array.shape}"
        )
    return array


def check_values(name: str, value) -> np.ndarray:
    """Return a non-empty 1-D sequence of finite numbers as float64."""
    array = check_array(name, value)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence of numbers. Received: {name}={value!r}"
        )
    return array


def check_rows(name: str, value) -> np.ndarray:
    """Return a non-empty numeric batch (n, ...) flattened to rows (n, -1), dtype kept."""
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array. Received: dtype {array.dtype}")
    if array.ndim < 2 or len(array) == 0:
        raise ValueError(
            f"{name} must be a non-empty batch (n, ...). Received: {name}.shape={array.shape}"
        )
    return array.reshape(len(array), -1)


def check_image_labels(name: str, value, n: int) -> np.ndarray:
    """Return `value` as an int array with one class label per image, shape (n,), or raise.

    The integer dtype is kept; the range is not checked (a model or dataset knows its
    number of classes, this check does not).

    Args:
        name: the argument's name, for the message.
        value: the labels (array-like).
        n: the number of images they label.

    Returns:
        ``np.asarray(value)``, of shape (n,) and an integer dtype.

    Raises:
        ValueError: not n labels, or not integers.

    Example:
        >>> check_image_labels("labels", [0, 2, 1], 3)
        array([0, 2, 1])
    """
    array = np.asarray(value)
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must be {n} ints, one label per image. "
            f"Received: {name}.shape={array.shape} and {name}.dtype={array.dtype}"
        )
    return array


def check_class_labels(name: str, value, n: int, num_classes: int) -> np.ndarray:
    """`check_image_labels` plus the range: n int labels in ``[0, num_classes)``, as int64.

    Example:
        >>> check_class_labels("labels", [0, 2, 1], 3, num_classes=3)
        array([0, 2, 1])
    """
    array = check_image_labels(name, value, n)
    if n and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"{name} must be in [0, {num_classes}). "
            f"Received: {name} in [{array.min()}, {array.max()}]"
        )
    return array.astype(np.int64)


def check_latent_model(model) -> int:
    """Return the latent size of a model that can generate from z (a GAN or a VAE), or raise."""
    latent_dim = getattr(model, "latent_dim", None)
    if (
        isinstance(latent_dim, bool)
        or not isinstance(latent_dim, numbers.Integral)
        or latent_dim < 1
        or not callable(getattr(model, "generate", None))
    ):
        raise TypeError(
            "model must have an int latent_dim and a generate(z=..., labels=...) method "
            f"(a GAN or a VAE). Received: model={model!r}"
        )
    return int(latent_dim)


def check_same_size(names, *arrays) -> None:
    """Raise unless the arrays' last dimensions (their latent sizes) are equal."""
    sizes = [array.shape[-1] for array in arrays]
    if len(set(sizes)) != 1:
        listed = ", ".join(f"{n}: {s}" for n, s in zip(names, sizes, strict=True))
        raise ValueError(
            f"{' and '.join(names)} must have the same latent size. Received: {listed}"
        )


def check_quantile_span(name: str, span) -> tuple[float, float]:
    """Return ``(low, high)`` quantiles from a float p in (0.5, 1) (1 - p to p) or a pair."""
    if isinstance(span, (tuple, list)) and len(span) == 2:
        low = check_float(f"{name}[0]", span[0], minimum=0, min_inclusive=False)
        high = check_float(f"{name}[1]", span[1], maximum=1, max_inclusive=False)
        if low >= high:
            raise ValueError(
                f"{name} must be (low, high) with low < high. Received: {name}={span!r}"
            )
        return low, high
    if isinstance(span, numbers.Real) and not isinstance(span, bool):
        high = check_float(
            name, span, minimum=0.5, maximum=1, min_inclusive=False, max_inclusive=False
        )
        return 1.0 - high, high
    raise TypeError(
        f"{name} must be a float in (0.5, 1) or a (low, high) pair of quantiles. "
        f"Received: {name}={span!r}"
    )


BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0)}


def check_background(value) -> tuple[int, int, int]:
    """RGB colour under transparent pixels: ``"white"``, ``"black"``, ``"R,G,B"`` or a triple."""
    if isinstance(value, str) and value in BACKGROUNDS:
        return BACKGROUNDS[value]
    colour = value.split(",") if isinstance(value, str) else value
    try:
        rgb = tuple(int(c) for c in colour)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or min(rgb) < 0 or max(rgb) > 255:
        raise ValueError(
            "background must be 'white', 'black' or an (R, G, B) colour with values in 0..255 "
            f"(also as 'R,G,B'). Received: background={value!r}"
        )
    return rgb
