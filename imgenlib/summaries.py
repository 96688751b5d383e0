"""TensorBoard logs of a run: `TensorBoardLogger`, a Keras callback writing event files.

``train(..., tensorboard=True)`` (CLI: ``train --tensorboard``) adds it with ``DIR/logs``;
watch the run with ``tensorboard --logdir DIR/logs``. Per epoch it writes:

- scalars: every number in the epoch's logs (losses, ``d_real``/``d_fake``, KID and FID
  when evaluated, ...) and each optimiser's learning rate (``learning_rate/<optimizer>``);
- an image: a grid of samples from fixed latent vectors (``samples``);

and once per session the run's settings: as a text table (``run_config``, at the session's
first step) and, when the ``tensorboard`` package is installed, through its hparams plugin
(at the run's start only).

The step of everything is the absolute epoch number (1 for the first epoch), so a resumed
run continues the curves where the restored epoch left them, without duplicate steps.
Events are written with TensorFlow's own ``tf.summary.write`` in the formats of
TensorBoard's scalar, image and text plugins, so writing needs no ``tensorboard`` package
(viewing does).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from imgenlib._validation import check_int, check_positive_int
from imgenlib.plotting import grid_array, grid_png

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger(keras.callbacks.Callback):
    """Write a run's scalars, sample grids and settings as TensorBoard event files.

    Args:
        log_dir: the directory of the event files (created if needed).
        config: the run's settings (a dict of JSON values, e.g. ``RunConfig.to_json()``),
            logged as a text table and as hparams; None: none.
        n: samples in the per-epoch grid image.
        seed: seed of the grid's fixed latent vectors.
        labels: class labels for a conditional model (default: cycle through classes).
        initial_epoch: epochs finished before this session (a resumed run); the settings
            go to this step, and hparams are written only when it is 0.

    Example::

        model.fit(data, epochs=5, callbacks=[TensorBoardLogger("runs/a/logs")])
    """

    def __init__(
        self, log_dir, config=None, *, n: int = 64, seed: int = 0, labels=None,
        initial_epoch: int = 0,
    ):  # fmt: skip
        super().__init__()
        self.log_dir = Path(log_dir)
        self.config = None if config is None else dict(config)
        self.n = check_positive_int("n", n)
        self.seed = check_int("seed", seed, minimum=0)
        self.labels = labels
        self.initial_epoch = check_int("initial_epoch", initial_epoch, minimum=0)
        self.writer = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(self.log_dir))
        if self.config is not None:
            with self.writer.as_default():
                _write_text("run_config", _markdown_table(self.config), self.initial_epoch)
                if self.initial_epoch == 0:
                    _write_hparams(self.config)
            self.writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        scalars = {name: float(value) for name, value in (logs or {}).items() if _is_number(value)}
        scalars |= learning_rates(self.model)
        labels = self.labels
        if labels is None and getattr(self.model, "num_classes", None):
            labels = "balanced"
        images = self.model.generate(self.n, seed=self.seed, labels=labels)
        with self.writer.as_default():
            for name, value in sorted(scalars.items()):
                _write_scalar(name, value, step)
            _write_image("samples", images, step)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def learning_rates(model) -> dict[str, float]:
    """``{"learning_rate/<attribute>": rate}`` for each optimiser attribute of `model`."""
    rates = {}
    for name, value in vars(model).items():
        if isinstance(value, keras.optimizers.Optimizer) and not name.startswith("_"):
            rate = float(keras.ops.convert_to_numpy(value.learning_rate))
            rates[f"learning_rate/{name}"] = rate
    return rates


def _is_number(value) -> bool:
    if isinstance(value, (str, bytes, bool)):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return np.ndim(value) == 0


def _metadata(plugin: str):
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    return metadata


def _write_scalar(name: str, value: float, step: int) -> None:
    import tensorflow as tf

    tf.summary.write(name, tf.constant(value, tf.float32), step, metadata=_metadata("scalars"))


def _write_image(name: str, images, step: int) -> None:
    import tensorflow as tf

    height, width = grid_array(images).shape[:2]
    tensor = tf.constant([str(width), str(height), grid_png(images)], dtype=tf.string)
    tf.summary.write(name, tensor, step, metadata=_metadata("images"))


def _write_text(name: str, text: str, step: int) -> None:
    import tensorflow as tf

    tf.summary.write(name, tf.constant(text), step, metadata=_metadata("text"))


def _markdown_table(config: dict) -> str:
    rows = [f"| {key} | {value!r} |" for key, value in config.items()]
    return "\n".join(["| setting | value |", "|---|---|", *rows])


def _write_hparams(config: dict) -> bool:
    """The settings through TensorBoard's hparams plugin; False when it is not installed."""
    try:
        from tensorboard.plugins.hparams import api as hp
    except ImportError:
        return False
    hp.hparams(
        {
            key: value if isinstance(value, (bool, int, float, str)) else str(value)
            for key, value in config.items()
        }
    )
    return True
