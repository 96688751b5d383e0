"""Deprecated keyword names, accepted for one release: ``width`` → ``width_multiplier``,
``ema`` → ``ema_decay``.

Old saved models and the shipped zoo load without warnings (their ``from_config`` maps the
names silently); code that passes an old name gets a `DeprecationWarning`.
"""

from __future__ import annotations

import functools
import warnings

__all__ = ["renamed_keywords", "with_defaults"]


def renamed_keywords(**renames):
    """Decorate a function or class to accept old keyword names for one release.

    ``@renamed_keywords(width="width_multiplier")`` maps ``width=`` to ``width_multiplier=``
    with a `DeprecationWarning`; giving both names raises `TypeError`. On a class (e.g. a
    frozen dataclass) it wraps ``__init__``; `dataclasses.replace` passes every field, so
    it needs the new names.
    """

    def decorate(function):
        if isinstance(function, type):
            function.__init__ = decorate(function.__init__)
            return function

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{old} is the deprecated name of {new}; give only {new}. "
                            f"Received: {old}={kwargs[old]!r}, {new}={kwargs[new]!r}"
                        )
                    warnings.warn(
                        f"{old} is deprecated; use {new} (the old name goes in the next release).",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        wrapper.renamed_keywords = dict(renames)
        return wrapper

    return decorate


def with_defaults(cls, defaults: dict, overrides: dict):
    """``cls(**defaults, **overrides)``, where an override under a deprecated keyword name
    (see `renamed_keywords`) replaces the default given under the new name."""
    renames = getattr(cls.__init__, "renamed_keywords", {})
    replaced = {renames[old] for old in overrides if old in renames}
    kept = {k: v for k, v in defaults.items() if k not in replaced}
    return cls(**{**kept, **overrides})
