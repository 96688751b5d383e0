"""Process-wide switches read from the environment."""

from __future__ import annotations

import os


def quick_mode() -> bool:
    """True when ``IMGENLIB_QUICK`` is set to a truthy value (tests and CI set it).

    Notebooks and the CLI shrink data and training steps in quick mode so that each runs
    in well under two minutes on a 2-core CPU.
    """
    return os.environ.get("IMGENLIB_QUICK", "").strip().lower() not in ("", "0", "false", "no")


def use_tensorflow_backend() -> None:
    """Select Keras' TensorFlow backend unless the user chose one; call before importing keras."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
