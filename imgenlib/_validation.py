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
