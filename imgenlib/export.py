"""Export a generator for real-time serving: TF SavedModel and TFLite, and a loader for both.

What is exported is the sampling network of a model with ``latent_dim``, ``num_classes``
and ``sampler()`` (a `GAN` — its EMA copy when it has one — or a VAE's decoder): a
function from latent vectors z (and, for a conditional model, class labels) to images.
The exported files need neither imgenlib nor Keras to run.

Serving signature (the same names in both formats):

- ``serving_default``: inputs ``z`` float32 ``(batch, latent_dim)`` and, for a conditional
  model only, ``labels`` int32 ``(batch,)`` in ``[0, num_classes)``; output ``images``
  float32 ``(batch, H, W, C)`` in [-1, 1]. The batch size is free.
- ``metadata``: no inputs; outputs ``latent_dim`` and ``num_classes`` (0 when unconditional)
  as int32 scalars, ``steps`` (int32, 0 for a one-call generator) and ``guidance`` (float32).

A `Diffusion` model exports the same signature: z is the initial noise x_T flattened
(``latent_dim = H·W·C``), and the graph runs deterministic DDIM (η = 0) with the number of
steps (and, conditional models, the guidance scale) fixed at export, all steps inside one
``tf.while_loop``: ``export_savedmodel(model, path, steps=25)``.

Use them without imgenlib::

    loaded = tf.saved_model.load("gen_savedmodel")
    images = loaded.signatures["serving_default"](z=z)["images"]

    from ai_edge_litert.interpreter import Interpreter   # LiteRT (tf.lite.Interpreter is deprecated)
    images = Interpreter("gen.tflite").get_signature_runner("serving_default")(z=z)["images"]

or with imgenlib: ``generate = load_exported(path); images = generate(z, labels)``.

TFLite quantization (`export_tflite`), measured on a Fashion-MNIST conditional GAN after one
epoch (256 latents, against the Keras model; PSNR over the [-1, 1] range):

==========  =========  ===============  ========  =====================================
format      size       max abs error    PSNR      note
==========  =========  ===============  ========  =====================================
float32     1×         1e-6             141 dB    same maths, other kernel order
float16     ½          1e-3             86 dB     weights stored in float16
int8        ¼          0.06             50 dB     dynamic range: int8 weights, float I/O
==========  =========  ===============  ========  =====================================

"Holds quality" here means PSNR ≥ 40 dB and max abs error ≤ 0.1 (13 grey levels of 255):
dynamic-range int8 does, so it ships; full-integer int8 with a representative set of z
(45 dB, max error 0.125) does not, so it is not offered. On this x86 CPU dynamic-range
int8 is much *slower* than float32 (its transposed convolutions run on reference
kernels, not XNNPACK): use it for size, float16/float32 for speed. `compare_exported`
measures any export against its model; ``benchmarks/sampling.py`` times them.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from imgenlib._validation import check_choice, check_int, check_positive_int
from imgenlib.io import atomic_path
from imgenlib.sampling_options import sampling_settings

__all__ = [
    "QUANTIZATIONS",
    "SIGNATURE",
    "TFLITE_RUNTIMES",
    "ExportedGenerator",
    "compare_exported",
    "export_savedmodel",
    "export_tflite",
    "load_exported",
]

SIGNATURE = "serving_default"
QUANTIZATIONS = ("float16", "int8")
TFLITE_RUNTIMES = ("litert", "tf.lite")


def _check_model(model):
    latent_dim = getattr(model, "latent_dim", None)
    if not callable(getattr(model, "sampler", None)) or latent_dim is None:
        raise TypeError(
            "model must be an imgenlib generative model (with latent_dim and a sampler), "
            f"such as a GAN. Received: model={type(model).__name__}"
        )
    return check_positive_int("latent_dim", latent_dim), getattr(model, "num_classes", None)


def _archive(model, steps=None, guidance=None):
    """A `keras.export.ExportArchive` holding the two endpoints of the module docstring."""
    import keras
    import tensorflow as tf

    latent_dim, num_classes = _check_model(model)
    sampling = sampling_settings(model, {"steps": steps, "guidance": guidance})
    sampler = model.sampler()
    archive = keras.export.ExportArchive()
    archive.track(sampler)
    if sampling is None:
        generate = sampler
    else:
        generate = model.diffusion_sampler("ddim").serving_function(
            sampling["steps"], sampling.get("guidance", 1.0)
        )
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    if num_classes is None:
        archive.add_endpoint(
            SIGNATURE,
            lambda z: {"images": generate(z, training=False)},
            input_signature=[z_spec],
        )
    else:
        archive.add_endpoint(
            SIGNATURE,
            lambda z, labels: {"images": generate([z, labels], training=False)},
            input_signature=[z_spec, tf.TensorSpec([None], tf.int32, name="labels")],
        )
    sampling = sampling or {}
    archive.add_endpoint(
        "metadata",
        lambda: {
            "latent_dim": tf.constant(latent_dim, tf.int32),
            "num_classes": tf.constant(num_classes or 0, tf.int32),
            "steps": tf.constant(sampling.get("steps", 0), tf.int32),
            "guidance": tf.constant(sampling.get("guidance", 1.0), tf.float32),
        },
        input_signature=[],
    )
    return archive


@contextlib.contextmanager
def _no_info_logs():
    """Hold TensorFlow's Python logger at WARNING: saving logs "INFO: Assets written to <tmp>"."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def export_savedmodel(
    model, path, *, steps: int | None = None, guidance: float | None = None
) -> Path:
    """Write the model's generator as a TF SavedModel directory (see the module docstring).

    Args:
        model: a `GAN` (or any model with ``latent_dim``, ``num_classes``, ``sampler()``),
            or a `Diffusion` model.
        path: the directory to create (replaced if it exists and holds a SavedModel).
        steps: a diffusion model's DDIM steps, fixed in the export (default min(50, T)).
        guidance: a conditional diffusion model's guidance scale, fixed (default 1).

    Returns:
        The path. ``tf.saved_model.load(path).signatures["serving_default"]`` serves it.

    Raises:
        TypeError: `model` is not a generative model.
        ValueError: `path` is an existing file or a non-empty directory that is not a SavedModel.
    """
    import shutil

    archive = _archive(model, steps, guidance)
    path = Path(path)
    if path.exists() and (
        not path.is_dir() or (any(path.iterdir()) and not (path / "saved_model.pb").exists())
    ):
        raise ValueError(
            f"path must be a new directory or an existing SavedModel. Received: path={str(path)!r}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp,
        _no_info_logs(),
    ):
        archive.write_out(str(Path(tmp) / "model"), verbose=False)
        if path.exists():
            shutil.rmtree(path)
        (Path(tmp) / "model").rename(path)
    return path


def export_tflite(
    model,
    path,
    *,
    quantization: str | None = None,
    steps: int | None = None,
    guidance: float | None = None,
) -> Path:
    """Convert the model's generator to a TFLite flatbuffer with the same signatures.

    Args:
        model: as for `export_savedmodel`.
        path: the ``.tflite`` file to write (atomically).
        quantization: None (float32), ``"float16"`` (float16 weights) or ``"int8"``
            (dynamic-range: int8 weights, float inputs and outputs).
        steps, guidance: as for `export_savedmodel`.

    Returns:
        The path.

    Raises:
        TypeError / ValueError: not a generative model, an unknown quantization, a path
            that does not end in ``.tflite``.
    """
    import tensorflow as tf

    if quantization is not None:
        check_choice("quantization", quantization, QUANTIZATIONS)
    path = Path(path)
    if path.suffix != ".tflite":
        raise ValueError(f"path must end in .tflite. Received: path={str(path)!r}")
    archive = _archive(model, steps, guidance)
    with tempfile.TemporaryDirectory() as tmp, _no_info_logs():
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            tmp, signature_keys=[SIGNATURE, "metadata"]
        )
        if quantization is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        flatbuffer = converter.convert()
    with atomic_path(path) as tmp_path:
        tmp_path.write_bytes(flatbuffer)
    return path


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
    """

    def __init__(self, path, *, runtime: str | None = None):
        path = Path(path)
        if runtime is not None:
            check_choice("runtime", runtime, TFLITE_RUNTIMES)
        if path.is_dir() and (path / "saved_model.pb").is_file():
            if runtime is not None:
                raise ValueError(
                    f"runtime is for .tflite files; {str(path)!r} is a SavedModel. "
                    f"Received: runtime={runtime!r}"
                )
            self.format = self.runtime = "savedmodel"
            self._run, metadata = _load_savedmodel(path)
        elif path.is_file() and path.suffix == ".tflite":
            self.format = "tflite"
            self.runtime = runtime or ("litert" if _litert_interpreter() else "tf.lite")
            self._run, metadata = _load_tflite(path, self.runtime)
        else:
            raise ValueError(
                "path must be a SavedModel directory or a .tflite file written by imgenlib.export. "
                f"Received: path={str(path)!r}"
            )
        self.path = path
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


def load_exported(path, *, runtime: str | None = None) -> ExportedGenerator:
    """Load a SavedModel directory or ``.tflite`` file written by this module.

    Args:
        path: the SavedModel directory or ``.tflite`` file.
        runtime: for a ``.tflite`` file, ``"litert"`` or ``"tf.lite"`` (see
            `ExportedGenerator.runtime`); None: LiteRT when it is installed, else tf.lite.

    Returns:
        An `ExportedGenerator`: ``images = load_exported(path)(z, labels=None)``.

    Raises:
        ValueError: `path` is neither; a `runtime` for a SavedModel; ``"litert"`` when
            ``ai-edge-litert`` is not installed.
    """
    return ExportedGenerator(path, runtime=runtime)


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


def _tflite_interpreter(path, runtime: str):
    if runtime == "litert":
        return _litert_interpreter()(model_path=str(path))
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        return tf.lite.Interpreter(model_path=str(path))


def _load_tflite(path, runtime: str):
    if runtime == "litert" and _litert_interpreter() is None:
        raise ValueError(
            "runtime='litert' needs the ai-edge-litert package: pip install ai-edge-litert "
            "(wheels for Linux and Apple-silicon macOS), or use runtime='tf.lite'. "
            f"Received: runtime={runtime!r}"
        )
    try:
        interpreter = _tflite_interpreter(path, runtime)
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
