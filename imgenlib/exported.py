"""Loading what `imgenlib.export` wrote: `load_exported`, `ExportedGenerator`, `compare_exported`.

A SavedModel runs on TensorFlow; a ``.tflite`` file on LiteRT (``ai-edge-litert``) where it
is installed, else on TensorFlow's deprecated ``tf.lite`` interpreter. The serving signature
is described in `imgenlib.export`, which re-exports everything here.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from imgenlib._validation import check_choice, check_int, check_positive_int

__all__ = [
    "SIGNATURE",
    "TFLITE_RUNTIMES",
    "ExportedGenerator",
    "compare_exported",
    "load_exported",
]

SIGNATURE = "serving_default"
TFLITE_RUNTIMES = ("litert", "tf.lite")


class ExportedGenerator:
    """A loaded SavedModel or TFLite export: call it as ``generator(z, labels=None)``.

    Attributes:
        format: ``"savedmodel"`` or ``"tflite"``.
        runtime: what runs it: ``"savedmodel"``, or for TFLite ``"litert"`` (the
            ``ai-edge-litert`` package, installed with imgenlib on Linux and Apple-silicon
            macOS) or ``"tf.lite"`` (TensorFlow's deprecated interpreter, the fallback).
        latent_dim, num_classes: from the export's ``metadata`` signature (num_classes is
            None for an unconditional model).
        steps, guidance: a diffusion export's fixed DDIM steps and guidance (steps is None
            for a one-call generator).
        num_threads: a TFLite interpreter's threads (None: the runtime's default); None for
            a SavedModel, which uses TensorFlow's process-wide thread pools.
    """

    def __init__(self, path, *, runtime: str | None = None, num_threads: int | None = None):
        path = Path(path)
        if runtime is not None:
            check_choice("runtime", runtime, TFLITE_RUNTIMES)
        if num_threads is not None:
            num_threads = check_positive_int("num_threads", num_threads)
        if path.is_dir() and (path / "saved_model.pb").is_file():
            for name, value in (("runtime", runtime), ("num_threads", num_threads)):
                if value is not None:
                    raise ValueError(
                        f"{name} is for .tflite files; {str(path)!r} is a SavedModel "
                        f"(TensorFlow's threads are set process-wide, see tf.config.threading). "
                        f"Received: {name}={value!r}"
                    )
            self.format = self.runtime = "savedmodel"
            self._run, metadata = _load_savedmodel(path)
        elif path.is_file() and path.suffix == ".tflite":
            self.format = "tflite"
            self.runtime = runtime or ("litert" if _litert_interpreter() else "tf.lite")
            self._run, metadata = _load_tflite(path, self.runtime, num_threads)
        else:
            raise ValueError(
                "path must be a SavedModel directory or a .tflite file written by imgenlib.export. "
                f"Received: path={str(path)!r}"
            )
        self.path, self.num_threads = path, num_threads
        self.latent_dim = int(metadata["latent_dim"])
        self.num_classes = int(metadata["num_classes"]) or None
        self.steps = int(metadata.get("steps", 0)) or None
        self.guidance = float(metadata.get("guidance", 1.0))

    def __call__(self, z, labels=None) -> np.ndarray:
        """Map z (batch, latent_dim) [and int labels (batch,)] to float32 images in [-1, 1]."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.latent_dim or len(z) == 0:
            raise ValueError(
                f"z must have shape (n, latent_dim={self.latent_dim}). Received: z.shape={z.shape}"
            )
        inputs = {"z": z}
        if self.num_classes is None:
            if labels is not None:
                raise ValueError(
                    f"This export is unconditional; labels must be None. Received: labels={labels!r}"
                )
        else:
            if labels is None:
                raise ValueError(
                    f"This export is conditional: give labels in [0, {self.num_classes}). Received: labels=None"
                )
            labels = np.broadcast_to(np.asarray(labels), (len(z),))
            if not np.issubdtype(labels.dtype, np.integer):
                raise TypeError(f"labels must be integers. Received: labels dtype {labels.dtype}")
            if labels.min() < 0 or labels.max() >= self.num_classes:
                raise ValueError(
                    f"labels must be in [0, {self.num_classes}). "
                    f"Received: labels in [{labels.min()}, {labels.max()}]"
                )
            inputs["labels"] = labels.astype(np.int32)
        return self._run(inputs)

    def __repr__(self):
        return (
            f"ExportedGenerator(format={self.format!r}, latent_dim={self.latent_dim}, "
            f"num_classes={self.num_classes}, steps={self.steps}, path={str(self.path)!r})"
        )


def load_exported(
    path, *, runtime: str | None = None, num_threads: int | None = None
) -> ExportedGenerator:
    """Load a SavedModel directory or ``.tflite`` file written by this module.

    Args:
        path: the SavedModel directory or ``.tflite`` file.
        runtime: for a ``.tflite`` file, ``"litert"`` or ``"tf.lite"`` (see
            `ExportedGenerator.runtime`); None: LiteRT when it is installed, else tf.lite.
            Measured here (``benchmarks/sampling.py``): which of the two is faster depends on
            the machine and the build, so compare both on yours.
        num_threads: for a ``.tflite`` file, the interpreter's threads (None: the runtime's
            default). One image gains nothing from a second thread; batches do.

    Returns:
        An `ExportedGenerator`: ``images = load_exported(path)(z, labels=None)``.

    Raises:
        ValueError: `path` is neither; a `runtime` or `num_threads` for a SavedModel;
            ``"litert"`` when ``ai-edge-litert`` is not installed; `num_threads` < 1.
    """
    return ExportedGenerator(path, runtime=runtime, num_threads=num_threads)


def _load_savedmodel(path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if "metadata" not in loaded.signatures or SIGNATURE not in loaded.signatures:
        raise ValueError(f"{str(path)!r} is a SavedModel but not one written by imgenlib.export.")
    serve = loaded.signatures[SIGNATURE]
    metadata = {key: value.numpy() for key, value in loaded.signatures["metadata"]().items()}

    def run(inputs):
        return serve(**{k: tf.constant(v) for k, v in inputs.items()})["images"].numpy()

    run.loaded = loaded  # keeps the restored variables alive
    return run, metadata


def _litert_interpreter():
    """LiteRT's ``Interpreter`` class, or None when ``ai-edge-litert`` is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    return Interpreter


def _tflite_interpreter(path, runtime: str, num_threads: int | None = None):
    if runtime == "litert":
        return _litert_interpreter()(model_path=str(path), num_threads=num_threads)
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        return tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)


def _load_tflite(path, runtime: str, num_threads: int | None = None):
    if runtime == "litert" and _litert_interpreter() is None:
        raise ValueError(
            "runtime='litert' needs the ai-edge-litert package: pip install ai-edge-litert "
            "(wheels for Linux and Apple-silicon macOS), or use runtime='tf.lite'. "
            f"Received: runtime={runtime!r}"
        )
    try:
        interpreter = _tflite_interpreter(path, runtime, num_threads)
        signatures = interpreter.get_signature_list()
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"Cannot load {str(path)!r} as TFLite: {str(error)[:200]}") from None
    if "metadata" not in signatures or SIGNATURE not in signatures:
        raise ValueError(f"{str(path)!r} is a TFLite model but not one written by imgenlib.export.")
    serve = interpreter.get_signature_runner(SIGNATURE)
    metadata = interpreter.get_signature_runner("metadata")()

    def run(inputs):
        return serve(**inputs)["images"].copy()

    return run, metadata


def compare_exported(model, exported, *, n: int = 256, seed: int = 0) -> dict:
    """Measure how far an export's images are from the Keras model's on `n` random latents.

    Args:
        model: the source model (its ``generate(z=..., labels=...)`` is the reference).
        exported: an `ExportedGenerator` or a path for `load_exported`.
        n: number of latent vectors, drawn from `seed` (labels cycle through the classes).

    Returns:
        ``{"max_abs_error", "mean_abs_error", "psnr_db"}``; PSNR uses the [-1, 1] range
        (peak-to-peak 2), so 40 dB is an RMS error of 0.02 (≈ 2.5 grey levels of 255).
    """
    n = check_positive_int("n", n)
    seed = check_int("seed", seed, minimum=0)
    if not isinstance(exported, ExportedGenerator):
        exported = load_exported(exported)
    z = model.sample_latent(n, seed)
    from imgenlib.models.conditions import balanced_labels

    labels = None if exported.num_classes is None else balanced_labels(n, exported.num_classes)
    settings = {}
    if exported.steps is not None:
        settings = {"steps": exported.steps, "eta": 0.0}
        if exported.num_classes is not None:
            settings["guidance"] = exported.guidance
    reference = model.generate(z=z, labels=labels, **settings)
    error = exported(z, labels) - reference
    mse = float(np.mean(error**2))
    return {
        "max_abs_error": float(np.abs(error).max()),
        "mean_abs_error": float(np.abs(error).mean()),
        "psnr_db": float("inf") if mse == 0 else float(10 * np.log10(4.0 / mse)),
    }
