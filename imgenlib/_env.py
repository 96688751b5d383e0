"""Process-wide switches read from the environment."""

from __future__ import annotations

import os
import re
import sys
import tempfile


def quick_mode() -> bool:
    """True when ``IMGENLIB_QUICK`` is set to a truthy value (tests and CI set it).

    Notebooks and the CLI shrink data and training steps in quick mode so that each runs
    in well under two minutes on a 2-core CPU.
    """
    return os.environ.get("IMGENLIB_QUICK", "").strip().lower() not in ("", "0", "false", "no")


def use_tensorflow_backend() -> None:
    """Select Keras' TensorFlow backend unless the user chose one; call before importing keras."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


TF_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] .*)$"
)


def quiet_tensorflow():
    """Import TensorFlow without its C++ start-up INFO lines and return the module.

    TensorFlow's native code writes informational lines ("oneDNN custom operations are
    on", "Could not find cuda drivers") straight to file descriptor 2 while it loads, and
    ``TF_CPP_MIN_LOG_LEVEL`` does not silence all of them. They clutter notebook outputs
    and CLI runs. This function sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless already set,
    captures fd 2 during the import, and writes back every captured line that is not one
    of those INFO lines, so real warnings and errors still reach you.

    Example:
        >>> tf = quiet_tensorflow()
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        kept = [
            line
            for line in capture.read().decode(errors="replace").splitlines()
            if line.strip() and not TF_STARTUP_NOISE.match(line)
        ]
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")
    return tensorflow


def in_notebook() -> bool:
    """True inside a Jupyter (IPython kernel) process."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def live_progress() -> bool:
    """True when a live progress bar is readable: stdout is a terminal, or in a notebook.

    Piped or redirected to a file, a bar redrawn at every step becomes one ANSI-coloured
    line per step; callers then print one line per epoch instead.
    """
    try:
        terminal = sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        terminal = False
    return terminal or in_notebook()


def progress(iterable, *, total: int, desc: str, min_total: int = 8):
    """`iterable` wrapped in a `tqdm` bar on a terminal for long loops; unchanged otherwise.

    The bar appears only when stderr is a terminal and the loop has at least `min_total`
    steps (sampling 10,000 images, extracting features of a test split), and it is
    removed when the loop ends. Piped output, notebooks and short loops get no bar.
    """
    if total < min_total:
        return iterable
    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if not terminal:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="batch", leave=False, file=sys.stderr)
