"""The training driver behind ``python -m imgenlib train``: one resumable run per directory.

`train(kind, data, out, ...)` loads the data, builds the model from a preset, and runs
``model.fit`` with callbacks that make the run safe to interrupt:

- ``DIR/backup/`` — Keras' `BackupAndRestore` state (weights, optimiser state, epoch),
  written crash-consistently at the end of every epoch (`imgenlib.resume.AtomicBackupAndRestore`).
  Re-running with the same ``DIR`` continues from the last finished epoch; an epoch cut
  short by a kill is redone from its start, with the same batches (`imgenlib.resume.epoch_batches`), so
  the resumed run ends with the weights of an uninterrupted one.
- ``DIR/model.keras`` — the whole model, rewritten atomically after every epoch.
- ``DIR/history.json`` — Keras ``History.history`` form (metric → one value per finished
  epoch), continued across resumes.
- ``DIR/samples.png`` and ``DIR/samples/epoch_NNN.png`` — a grid from fixed latent vectors.
- ``DIR/run.json`` — the settings that define the run; re-running ``DIR`` with different
  ones is refused rather than silently mixing two runs.
- ``DIR/metrics.json`` — wall time, throughput and final losses of the last session; for
  a VAE also the held-out −ELBO in nats per image and the reconstruction error.
- With ``eval_every=N``: KID and FID against the test split every N epochs (logged in
  ``history.json``; epochs in between carry the last value), ``DIR/best.keras`` — the
  model of the lowest FID so far, which survives resumes — and, with ``patience=P``,
  early stopping once FID has not improved for P epochs.

Scale-out (`strategy`): the model and its optimisers are built inside the strategy's scope
(``"mirrored"``: all local GPUs or logical CPUs; ``"multiworker"``: one process per machine,
``TF_CONFIG`` set on each). Worker 0 writes ``DIR``; worker ``i > 0`` writes its own copy
to ``DIR/worker-i`` (every worker needs its own backup to resume in step with the others).
Noise is replica-invariant (`imgenlib.distribute`), so a run may be resumed with another
strategy. ``deterministic=True`` turns on TensorFlow's op determinism for the process.

Every file is written via a temporary file and a rename, so a kill never leaves a
truncated file behind.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from imgenlib._env import quick_mode
from imgenlib._validation import check_choice, check_float, check_int, check_positive_int
from imgenlib.io import (
    atomic_path,
    ensure_writable_dir,
    load_json,
    remove_stale_temporaries,
    save_json,
)

__all__ = ["KINDS", "evaluate_vae", "load_run_data", "load_run_model", "train"]

KINDS = ("gan", "vae")
PRECISIONS = ("float32", "mixed_bfloat16")
_LEARNING_RATE_FIELDS = ("learning_rate", "g_learning_rate", "d_learning_rate")
QUICK_MAX_IMAGES = 2048
QUICK_EVAL_IMAGES = 512
_RUN_IDENTITY = (
    "kind",
    "data",
    "preset",
    "conditional",
    "loss",
    "batch_size",
    "seed",
    "image_size",
)


def train(
    kind: str,
    data: str,
    out,
    *,
    preset: str | None = None,
    epochs: int | None = None,
    max_minutes: float | None = None,
    conditional: bool = False,
    loss: str | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
    learning_rate: float | None = None,
    strategy: str = "default",
    deterministic: bool = False,
    eval_every: int | None = None,
    patience: int | None = None,
    eval_n: int = 2000,
    precision: str = "float32",
    callbacks=None,
    verbose: int | str = "auto",
) -> dict:
    """Train a GAN or VAE on a dataset or folder, writing a resumable run into `out`.

    Args:
        kind: ``"gan"`` or ``"vae"``.
        data: a dataset name (see `imgenlib.data.DATASETS`) or a folder of images.
        out: run directory; re-running with the same directory resumes.
        preset: preset name (see `imgenlib.presets.available`); default: the dataset's
            recommended preset if there is one, else ``"default"``.
        epochs: number of epochs (default: the preset's).
        max_minutes: wall-clock budget; training stops at the first step past it.
        conditional: train a class-conditional model (needs a labelled dataset).
        loss: GAN loss override (``"non_saturating"``, ``"hinge"``, ...).
        batch_size: batch size override.
        seed: seeds data order, initialisation and sampling noise.
        image_size: resize images to this square size (folders default to 64).
        learning_rate: sets every learning rate of the preset (a GAN's generator and
            discriminator alike). May differ from the first session's: resuming after a
            divergence with a lower rate continues from the last good epoch with it.
        strategy: ``"default"`` (one device), ``"mirrored"`` or ``"multiworker"`` (see
            `imgenlib.distribute.make_strategy`); ``"multiworker"`` must be chosen before
            TensorFlow runs any operation in this process.
        deterministic: call `tf.config.experimental.enable_op_determinism` (it stays on for
            the process). Runs on one machine are then bit-identical even for ops whose
            kernels would otherwise race; it silently disables XLA (``jit_compile``).
        eval_every: measure KID and FID (`imgenlib.monitoring.QualityMonitor`, `eval_n`
            samples against as many test images) every this many epochs and keep the
            lowest-FID model in ``DIR/best.keras``. Needs a dataset with a shipped feature
            extractor (`imgenlib.features.CLASSIFIERS`); not for VAEs' ELBO, which
            ``metrics.json`` reports anyway, but it works for them too.
        patience: with `eval_every`, stop once FID has not improved for this many epochs
            (counted within this session: a resumed run starts counting afresh).
        eval_n: samples per quality evaluation (FID is biased upwards at small n, so only
            compare FIDs measured with the same n).
        precision: ``"float32"`` or ``"mixed_bfloat16"`` (GANs only): layers compute in
            bfloat16 and keep float32 variables; losses are computed in float32. Whether it
            is faster depends on the hardware (CPUs with AVX512_BF16 or AMX, recent GPUs):
            measure it first (``benchmarks/options.py``, notebook 07). The saved model keeps
            the policy, so its sampling runs in bfloat16 too. (VAEs are refused: their ELBO
            sums hundreds of per-pixel log-likelihoods, too many for bfloat16's 8-bit
            mantissa.) Not part of the run's identity: a run may be resumed with the other.
        callbacks: extra Keras callbacks, called after imgenlib's own each epoch/step.
        verbose: Keras progress bar setting.

    Returns:
        The summary also written to ``out/metrics.json``.

    Raises:
        ValueError / TypeError: bad names or values, an unwritable `out`, or an `out` that
            holds a run with different settings.
        TrainingDiverged: a loss became NaN/Inf (``DIR`` keeps the last finished epoch).
    """
    from imgenlib import presets

    kind = check_choice("model kind", kind, KINDS)
    if epochs is not None:
        epochs = check_positive_int("epochs", epochs)
    if max_minutes is not None:
        max_minutes = check_float("max_minutes", max_minutes, minimum=0, min_inclusive=False)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    seed = check_int("seed", seed, minimum=0)
    if image_size is not None:
        image_size = check_positive_int("image_size", image_size)
    for flag_name, flag in (("conditional", conditional), ("deterministic", deterministic)):
        if not isinstance(flag, bool):
            raise TypeError(f"{flag_name} must be a bool. Received: {flag_name}={flag!r}")
    if learning_rate is not None:
        learning_rate = check_float("learning_rate", learning_rate, minimum=0, min_inclusive=False)
    if eval_every is not None:
        eval_every = check_positive_int("eval_every", eval_every)
    if patience is not None:
        patience = check_positive_int("patience", patience)
        if eval_every is None:
            raise ValueError(
                f"patience needs eval_every (early stopping watches FID). Received: patience={patience}"
            )
    eval_n = check_int("eval_n", eval_n, minimum=10)
    precision = check_choice("precision", precision, PRECISIONS)
    if precision != "float32" and kind != "gan":
        raise ValueError(
            f"precision={precision!r} is for GANs only: a VAE's ELBO needs float32. "
            f"Received: precision={precision!r} for a {kind}"
        )
    callbacks = _check_callbacks(callbacks)
    from imgenlib.distribute import STRATEGIES

    strategy = check_choice("strategy", strategy, STRATEGIES)
    preset_name = preset or presets.default_preset(kind, data)
    chosen = presets.get(kind, preset_name)
    model_config = chosen.model
    if loss is not None:
        from imgenlib.losses import LOSSES

        check_choice("loss", loss, LOSSES)
        if kind != "gan":
            raise ValueError(f"loss applies to GANs only. Received: loss={loss!r} for a {kind}")
        model_config = dataclasses.replace(model_config, loss=loss)
    if learning_rate is not None:
        model_config = _with_learning_rate(model_config, learning_rate)
    batch_size = batch_size or chosen.batch_size
    epochs = epochs or chosen.epochs

    out = ensure_writable_dir(out)
    distribution = _start_strategy(strategy, deterministic)
    out = _worker_dir(out, distribution)
    for directory in (out, out / "samples", out / "backup"):
        remove_stale_temporaries(directory)  # left by a process killed mid-write
    identity = {
        "kind": kind, "data": data, "preset": preset_name, "conditional": conditional,
        "loss": loss, "batch_size": batch_size, "seed": seed, "image_size": image_size,
    }  # fmt: skip
    _check_same_run(out, identity)

    quality = None
    if eval_every is not None:
        from imgenlib.features import CLASSIFIERS
        from imgenlib.monitoring import QualityMonitor

        if data not in CLASSIFIERS:
            raise ValueError(
                "eval_every measures FID with a shipped feature extractor, and there is one for "
                f"{', '.join(CLASSIFIERS)} only. Received: data={data!r}"
            )
        # Built before the data loads: a dataset without an extractor fails at once.
        quality = QualityMonitor(
            data, every=eval_every, n=eval_n, metrics=("kid", "fid"), seed=seed
        )
    images, labels, num_classes = _load_data(data, image_size, conditional)
    if len(images) < batch_size:
        raise ValueError(
            f"batch_size must not exceed the number of training images ({len(images)}). "
            f"Received: batch_size={batch_size}"
        )

    import keras

    from imgenlib.callbacks import SampleGrid, TrainingHealth
    from imgenlib.distribute import prepare_model
    from imgenlib.resume import AtomicBackupAndRestore, KeepLearningRates, epoch_batches

    keras.utils.set_random_seed(seed)
    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)  # layers take the policy when built
    try:
        with distribution.scope():
            model = presets.build(
                kind, model_config, images.shape[1:], num_classes=num_classes, seed=seed
            )
            model.build_for_training()
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    prepare_model(model, distribution)
    if not (out / "run.json").exists():
        save_json(identity, out / "run.json")
    steps_per_epoch = len(images) // batch_size
    backup = AtomicBackupAndRestore(out / "backup")
    dataset = epoch_batches(
        images, labels, batch_size=batch_size, seed=seed, epochs=(backup.finished_epochs(), epochs)
    )

    history_cb = HistoryJSON(out / "history.json")
    timer = TimeBudget(max_minutes)
    quality_callbacks = []
    if quality is not None:  # before HistoryJSON and the savers: they read its logs
        quality_callbacks = [quality, SaveBest(out / "best.keras", out / "history.json", "fid")]
        if patience is not None:
            quality_callbacks.append(
                keras.callbacks.EarlyStopping(monitor="fid", mode="min", patience=patience)
            )
    builtin = [
        backup,
        KeepLearningRates(),
        *quality_callbacks,
        history_cb,
        SaveModel(out / "model.keras"),
        SampleGrid(
            out / "samples",
            n=64,
            seed=seed,
            labels=_grid_labels(num_classes, 64),
            latest=out / "samples.png",
        ),
        TrainingHealth(reference_images=images[:256]),
        timer,
    ]
    start = time.perf_counter()
    model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=builtin + callbacks,
        verbose=verbose,
        shuffle=False,
    )
    seconds = time.perf_counter() - start

    history = load_json(out / "history.json") if (out / "history.json").exists() else {}
    summary = {
        "kind": kind,
        "data": data,
        "preset": preset_name,
        "conditional": conditional,
        "epochs_completed": len(next(iter(history.values()), [])),
        "epochs_requested": epochs,
        "steps_this_session": timer.steps,
        "seconds_this_session": round(seconds, 1),
        "images_per_second": round(timer.steps * batch_size / seconds, 1) if seconds > 0 else None,
        "stopped_by_time_budget": timer.stopped,
        "final": {name: round(float(values[-1]), 5) for name, values in history.items() if values},
        "train_images": int(len(images)),
        "image_shape": list(images.shape[1:]),
        "num_classes": num_classes,
        "strategy": strategy,
        "replicas": int(distribution.num_replicas_in_sync),
        "deterministic": deterministic,
        "precision": precision,
    }
    if kind == "vae":
        summary["evaluation"] = evaluate_vae(model, data, image_size, conditional)
    fids = history.get("fid", [])
    if any(math.isfinite(value) for value in fids):
        best = int(np.nanargmin(fids))
        summary["best"] = {"epoch": best + 1, "fid": round(fids[best], 4), "file": "best.keras", "eval_n": eval_n}  # fmt: skip
    save_json(summary, out / "metrics.json")
    return summary


def load_run_model(run_dir):
    """Load ``run_dir/model.keras`` (safe mode), with a clear error when there is none."""
    from imgenlib.models import load_model

    path = Path(run_dir) / "model.keras"
    if not Path(run_dir).is_dir():
        raise ValueError(f"Run directory does not exist. Received: {str(run_dir)!r}")
    if not path.is_file():
        raise ValueError(
            f"No model.keras in {str(run_dir)!r}: train first with "
            f"`python -m imgenlib train gan|vae --data NAME --out {run_dir}`."
        )
    return load_model(path)


def load_run_data(run_dir, split: str | None = None, n: int | None = None):
    """Load the images a run was trained on (as recorded in its ``run.json``), from `split`.

    Args:
        run_dir: a run directory written by `train`.
        split: ``"train"`` or ``"test"``; default: ``"test"`` when the dataset has one.
        n: keep the first `n` images.

    Returns:
        ``(images, labels, split)``; labels are None unless the run is conditional.
    """
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise ValueError(f"No run.json in {str(run_dir)!r}: not a run directory written by train.")
    run = load_json(path)
    return _split_images(run["data"], split, run.get("image_size"), run.get("conditional"), n)


def _split_images(data, split, image_size, conditional, n):
    from imgenlib.data import DATASETS, dataset_info, load_folder, load_images

    if n is not None:
        n = check_positive_int("n", n)
    if data not in DATASETS:
        if split not in (None, "train"):
            raise ValueError(
                f"A folder of images has only a 'train' split. Received: split={split!r}"
            )
        images = load_folder(data, image_size or 64)
        return images[:n], None, "train"
    if split is None:
        split = "test" if "test" in dataset_info(data).splits and data != "digits" else "train"
    images, labels = load_images(data, split, image_size, n=n)
    return images, (labels if conditional else None), split


def evaluate_vae(model, data: str, image_size=None, conditional: bool = False, *, n=None) -> dict:
    """Held-out −ELBO (nats per image) and reconstruction error of a VAE on its dataset.

    Uses the test split when the dataset has one (else the training images, and says so);
    at most `n` images (default: all, or `QUICK_EVAL_IMAGES` in quick mode).

    Returns:
        A dict: ``split``, ``images``, ``likelihood``, ``negative_elbo_nats`` (mean per
        image, one-sample estimate with seed 0; see `VAE.negative_elbo` for what the nats
        measure) with its ``standard_error``, and ``reconstruction_mse``: the mean squared error of `reconstruct` per pixel on the
        [0, 1] scale.
    """
    n = n or (QUICK_EVAL_IMAGES if quick_mode() else None)
    images, labels, split = _split_images(data, None, image_size, conditional, n)
    nelbo = model.negative_elbo(images, labels, seed=0)
    recon = model.reconstruct(images, labels)
    mse = float(np.mean(((recon - images) * 0.5) ** 2))
    return {
        "split": split,
        "images": int(len(images)),
        "likelihood": model.likelihood,
        "negative_elbo_nats": round(float(nelbo.mean()), 3),
        "standard_error": round(float(nelbo.std(ddof=1) / np.sqrt(len(nelbo))), 3)
        if len(nelbo) > 1
        else None,
        "reconstruction_mse": round(mse, 6),
    }


def _with_learning_rate(config, learning_rate):
    fields = [f.name for f in dataclasses.fields(config) if f.name in _LEARNING_RATE_FIELDS]
    if not fields:
        raise ValueError(f"{type(config).__name__} has no learning rate to set.")
    return dataclasses.replace(config, **dict.fromkeys(fields, learning_rate))


def _start_strategy(name, deterministic):
    """Create the strategy (and op determinism) before the first TensorFlow op of the run."""
    import tensorflow as tf

    from imgenlib.distribute import make_strategy

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    try:
        return make_strategy(name)
    except RuntimeError as error:
        raise ValueError(
            f"strategy {name!r} must be set up before TensorFlow runs anything in this process "
            f"(start a fresh process, e.g. the CLI). TensorFlow said: {str(error).splitlines()[0]}"
        ) from None


def _worker_dir(out: Path, distribution) -> Path:
    import tensorflow as tf

    if isinstance(distribution, tf.distribute.MultiWorkerMirroredStrategy):
        task_id = distribution.cluster_resolver.task_id
        if task_id:
            return ensure_writable_dir(out / f"worker-{task_id}")
    return out


def _grid_labels(num_classes, n):
    if not num_classes:
        return None
    return np.arange(n) % num_classes


def _load_data(data, image_size, conditional):
    from imgenlib.data import DATASETS, dataset_info, load_folder, load_images

    if data in DATASETS:
        images, labels = load_images(data, "train", image_size)
        num_classes = dataset_info(data).num_classes
    elif Path(data).is_dir():
        images, labels, num_classes = load_folder(data, image_size or 64), None, None
    else:
        known = ", ".join(repr(name) for name in DATASETS)
        raise ValueError(
            f"Unknown dataset {data!r}; expected one of {known} or a folder of images."
        )
    if conditional and labels is None:
        raise ValueError(f"--conditional needs a labelled dataset; {data!r} has no labels.")
    if quick_mode():
        images = images[:QUICK_MAX_IMAGES]
        labels = None if labels is None else labels[:QUICK_MAX_IMAGES]
    if not conditional:
        labels, num_classes = None, None
    return images, labels, num_classes


def _check_same_run(out: Path, identity: dict) -> None:
    path = out / "run.json"
    if not path.exists():
        return
    recorded = load_json(path)
    differing = [
        f"{key}: {recorded.get(key)!r} → {identity[key]!r}"
        for key in _RUN_IDENTITY
        if recorded.get(key) != identity[key]
    ]
    if differing:
        raise ValueError(
            f"{str(out)!r} holds a run with other settings ({'; '.join(differing)}); "
            "re-run with the same settings to resume, or choose another --out."
        )


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class HistoryJSON(_keras_callback_base()):
    """Write Keras ``History.history`` to JSON after every epoch, continuing across resumes.

    Epochs are numbered absolutely (Keras passes the resumed epoch index), so a resumed run
    truncates any entries past its restored epoch before appending: values are never lost
    or duplicated.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        history = load_json(self.path) if self.path.exists() else {}
        for name, value in (logs or {}).items():
            values = history.setdefault(name, [])[:epoch]
            values += [math.nan] * (epoch - len(values)) + [float(value)]
            history[name] = values
        save_json(history, self.path)


class SaveModel(_keras_callback_base()):
    """Save the whole model to a ``.keras`` file atomically after every epoch."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def save(self):
        with atomic_path(self.path) as tmp:
            self.model.save(tmp)


class SaveBest(SaveModel):
    """Save the model atomically whenever `monitor` (lower is better) reaches a new minimum.

    The best value so far is read back from ``history.json`` when training (re)starts, so a
    resumed run only replaces ``best.keras`` with a model that beats every earlier epoch.
    """

    def __init__(self, path, history_path, monitor: str):
        super().__init__(path)
        self.history_path, self.monitor = Path(history_path), monitor
        self.best = math.inf

    def on_train_begin(self, logs=None):
        self.best = math.inf
        if self.history_path.exists() and self.path.exists():
            values = [
                v for v in load_json(self.history_path).get(self.monitor, []) if math.isfinite(v)
            ]
            self.best = min(values, default=math.inf)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or float(value) >= self.best:
            return
        self.best = float(value)
        self.save()


def _check_callbacks(callbacks) -> list:
    import keras

    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                f"callbacks must be keras.callbacks.Callback instances. Received: {callback!r}"
            )
    return callbacks


class TimeBudget(_keras_callback_base()):
    """Stop training at the first step past a wall-clock budget; counts steps run."""

    def __init__(self, max_minutes: float | None):
        super().__init__()
        self.max_seconds = None if max_minutes is None else 60.0 * max_minutes
        self.steps = 0
        self.stopped = False

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.max_seconds is not None and time.perf_counter() - self._start > self.max_seconds:
            self.stopped = True
            self.model.stop_training = True
