"""Shared helpers of the benchmark scripts: the checkout's imgenlib, machine facts, results.

Every script imports this first (``from _common import ...``); it puts the repository root
first on ``sys.path`` so the benchmarks measure this checkout, not an installed copy.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def machine() -> dict:
    """CPU model, core count, Python/TF/Keras/imgenlib versions of this process."""
    cpu = platform.processor() or "unknown"
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("unknown", "x86_64", ""):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    import keras
    import tensorflow as tf

    import imgenlib

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": "amx_tile" in flags,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "imgenlib": imgenlib.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def write_result(name: str, result: dict, markdown: str | None = None, out_dir=None) -> Path:
    """Write ``results/NAME.json`` (and ``NAME.md``) atomically; returns the JSON path."""
    from imgenlib.io import atomic_path, save_json

    out_dir = Path(out_dir or RESULTS)
    path = save_json(result, out_dir / f"{name}.json")
    if markdown is not None:
        with atomic_path(out_dir / f"{name}.md") as tmp:
            tmp.write_text(markdown)
    return path


def print_json_line(result: dict) -> None:
    """The last line of every script's stdout: the result as one JSON object."""
    print(json.dumps(result, default=float), flush=True)


def timed(function, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def training_images(n: int | None = None, image_size=None):
    """Fashion-MNIST training images in [-1, 1] (the first `n`); `digits` if it is missing."""
    from imgenlib.data import DatasetNotFoundError, load_images

    try:  # load_images(n=...) converts only the first n (the same images as slicing after)
        images, _ = load_images("fashion_mnist", image_size=image_size, n=n)
        name = "fashion_mnist"
    except DatasetNotFoundError:
        images, _ = load_images("digits", image_size=image_size or 28, n=n)
        name = "digits"
    return images, name
