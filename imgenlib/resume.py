"""Exact resume: crash-consistent backups, epoch-keyed data order, learning rates kept.

A run killed at any moment and started again must end exactly where an uninterrupted run
ends. Keras' `BackupAndRestore` restores weights and optimiser state (and with them the
stateless training noise, keyed on the optimiser step); three gaps remain, closed here:

- `AtomicBackupAndRestore`: Keras writes the backup's weights in place and its epoch in a
  second file, so a kill can truncate the weights or pair them with the wrong epoch.
- `epoch_batches`: a `tf.data` shuffle's order depends on how many times *this process*
  iterated the dataset, so a resumed run would replay epoch 0's order; here epoch e's
  order depends on (seed, e) only. `poisson_batches`, the batches of a private run, are
  keyed on (seed, step) in the same way.
- `KeepLearningRates`: restoring a backup also restores each optimiser's learning-rate
  variable, which would undo a ``--learning-rate`` lowered after a divergence.

`imgenlib.training.train` uses all three; ``tests/test_training.py`` kills a run with
SIGKILL and compares the resumed result with an uninterrupted run bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from imgenlib.io import atomic_path, load_json, remove_stale_temporaries, save_json

__all__ = [
    "AtomicBackupAndRestore",
    "KeepLearningRates",
    "epoch_batches",
    "poisson_batches",
    "to_device",
]


def epoch_batches(images, labels=None, *, batch_size: int, seed: int, epochs: tuple[int, int]):
    """Batches for epochs ``[first, last)``, epoch e shuffled by ``(seed, e)`` alone.

    A `tf.data` shuffle reshuffles per *iteration*, so a run resumed at epoch 2 would see
    epoch 0's order again. Keying each epoch's order on its absolute number makes the
    batches of a resumed run exactly those of an uninterrupted one. Incomplete batches
    are dropped; pass ``steps_per_epoch=len(images) // batch_size`` to ``fit``. `labels`
    are class labels (int32 in the batches) or captions (strings).
    """
    first, last = epochs
    count = len(images)
    images = tf.constant(images)
    if labels is not None:  # class labels, or captions (strings) for a text-conditional model
        labels = np.asarray(labels)
        labels = tf.constant(labels if labels.dtype.kind in "OUS" else labels.astype(np.int32))

    def one_epoch(epoch):
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.argsort(tf.random.stateless_uniform([count], key))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True)

    def gather(indices):
        batch = tf.gather(images, indices)
        return batch if labels is None else (batch, tf.gather(labels, indices))

    dataset = tf.data.Dataset.range(first, max(first, last)).flat_map(one_epoch)
    dataset = dataset.map(gather)
    return dataset.prefetch(tf.data.AUTOTUNE)


def poisson_batches(
    images, labels=None, *, sampling_rate: float, seed: int, steps: tuple[int, int]
):
    """Poisson-sampled batches for steps ``[first, last)``, step t drawn from ``(seed, t)``.

    Every step includes each image independently with probability `sampling_rate`
    (`imgenlib.privacy.poisson_sample`), so batch sizes vary around ``sampling_rate * N``:
    the sampling that `imgenlib.privacy_accounting` accounts by default. Keyed on the
    absolute step, a resumed run draws the batches of an uninterrupted one. An empty draw
    (probability ``(1 - q)^N``) stops the pipeline with an error rather than being
    skipped or redrawn, which would change the sampling; `imgenlib.private_runs` keeps
    the expected batch at least 32, so this practically never happens.

    Args:
        images: the N training images (an array).
        labels: their labels, or None.
        sampling_rate: q in (0, 1].
        seed: the run's seed (an int >= 0).
        steps: ``(first, last)`` absolute step numbers.

    Returns:
        A `tf.data.Dataset` of ``last - first`` batches (``(images, labels)`` pairs with
        labels); pass ``steps_per_epoch`` to ``fit``.

    Raises:
        ValueError: if `sampling_rate` is not in (0, 1].

    Example:
        >>> batches = poisson_batches(images, sampling_rate=128 / len(images), seed=0,
        ...                           steps=(0, 100))
    """
    from imgenlib.privacy import poisson_sample

    first, last = steps
    count = len(images)
    poisson_sample(count, sampling_rate, [seed, first])  # validates the arguments
    images = tf.constant(images)
    if labels is not None:  # class labels, or captions (strings) for a text-conditional model
        labels = np.asarray(labels)
        labels = tf.constant(labels if labels.dtype.kind in "OUS" else labels.astype(np.int32))

    def draw(step):
        indices = poisson_sample(
            count, sampling_rate, tf.stack([tf.constant(seed, tf.int64), step])
        )
        check = tf.debugging.assert_positive(
            tf.size(indices), message="Poisson sampling drew an empty batch"
        )
        with tf.control_dependencies([check]):
            batch = tf.gather(images, indices)
        return batch if labels is None else (batch, tf.gather(labels, indices))

    dataset = tf.data.Dataset.range(first, max(first, last)).map(draw)
    return dataset.prefetch(tf.data.AUTOTUNE)


def to_device(dataset, strategy=None, *, device: str | None = None):
    """`dataset` with its batches copied to the accelerator ahead of the step that needs them.

    On one GPU Keras' ``fit`` (the default strategy) hands host batches to the step, which
    then waits for each copy; `tf.data.experimental.prefetch_to_device` makes the copy of
    batch k + 1 overlap step k. A `tf.distribute` strategy other than the default already
    prefetches to its replicas' devices, so its datasets are returned unchanged, as they are
    where there is no GPU.

    Args:
        dataset: the batched `tf.data.Dataset` (this is its last transformation).
        strategy: the run's `tf.distribute.Strategy` (None: the current one).
        device: the device to prefetch to (default: the first GPU, if any). Tests pass
            ``"/cpu:0"`` to exercise the path on a CPU.

    Returns:
        The dataset, prefetched to `device` where that applies.
    """
    if tf.distribute.has_strategy() or (
        strategy is not None and strategy is not tf.distribute.get_strategy()
    ):
        return dataset  # inside or given a non-default strategy: it distributes the batches
    if device is None:
        gpus = tf.config.list_logical_devices("GPU")
        if not gpus:
            return dataset
        device = gpus[0].name
    return dataset.apply(tf.data.experimental.prefetch_to_device(device, buffer_size=2))


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore` (state saved after every epoch), crash-consistent.

    Keras writes ``latest.weights.h5`` in place and then the epoch number in a separate
    JSON file, so a kill during the weight write leaves a truncated file (the run can no
    longer resume), and a kill between the two writes pairs new weights with the old
    epoch (an epoch is trained twice). Here each epoch's weights go to their own file
    (``epoch-0003.weights.h5``, written via rename), then ``state.json`` names the file and
    the epoch in one atomic write, then older weight files are removed: any kill leaves a
    matching (weights, epoch) pair.
    """

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.directory = Path(backup_dir)

    def finished_epochs(self) -> int:
        """Epochs completed according to the backup (0 without one)."""
        state = self.directory / "state.json"
        return int(load_json(state)["epoch"]) if state.is_file() else 0

    def _load_model(self):
        state = self.directory / "state.json"
        if not state.is_file():
            return
        recorded = load_json(state)
        self.model.load_weights(self.directory / recorded["weights"])
        self.model._initial_epoch = int(recorded["epoch"])

    def _save_model(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{self._current_epoch:04d}.weights.h5"
        with atomic_path(self.directory / name) as tmp:
            self.model.save_weights(tmp)
        save_json({"epoch": self._current_epoch, "weights": name}, self.directory / "state.json")
        for old in self.directory.glob("epoch-*.weights.h5"):
            if old.name != name:
                old.unlink()
        remove_stale_temporaries(self.directory)


class KeepLearningRates(keras.callbacks.Callback):
    """Keep the learning rates the model was built with when `BackupAndRestore` restores a run.

    A checkpoint holds each optimiser's learning-rate variable; without this, resuming a
    diverged run with a lower ``learning_rate`` would silently bring the old rate back.
    Place it right after `BackupAndRestore`. Learning-rate schedules are left alone.
    """

    def set_model(self, model):
        super().set_model(model)
        self._rates = [
            (o, float(keras.ops.convert_to_numpy(o.learning_rate)))
            for o in _optimizers(model)
            if _constant_rate(o)
        ]

    def on_train_begin(self, logs=None):
        for optimizer, rate in self._rates:
            optimizer.learning_rate = rate


def _optimizers(model):
    found = [v for v in vars(model).values() if isinstance(v, keras.optimizers.Optimizer)]
    return list({id(o): o for o in found}.values())


def _constant_rate(optimizer):
    return not isinstance(
        optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule
    ) and not callable(optimizer._learning_rate)
