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
from pathlib import Path

from imgenlib._validation import check_choice, check_positive_int
from imgenlib.exported import (
    SIGNATURE,
    TFLITE_RUNTIMES,
    ExportedGenerator,
    compare_exported,
    load_exported,
)
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

QUANTIZATIONS = ("float16", "int8")


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
