"""The training driver behind ``python -m imgenlib train``: one resumable run per directory.

`train` takes a `imgenlib.runs.RunConfig` (or its fields as arguments), loads the data,
builds the model from a preset, and runs ``model.fit`` with callbacks that make the run
safe to interrupt:

- ``DIR/backup/`` — Keras' `BackupAndRestore` state (weights, optimiser state, epoch),
  written crash-consistently at the end of every epoch (`imgenlib.resume.AtomicBackupAndRestore`).
  Re-running with the same ``DIR`` continues from the last finished epoch; an epoch cut
  short by a kill is redone from its start, with the same batches (`imgenlib.resume.epoch_batches`), so
  the resumed run ends with the weights of an uninterrupted one.
- ``DIR/model.keras`` — the whole model, rewritten atomically after every epoch
  (`imgenlib.callbacks.SaveModel`).
- ``DIR/history.json`` — Keras ``History.history`` form (metric → one value per finished
  epoch), continued across resumes (`imgenlib.callbacks.HistoryJSON`).
- ``DIR/samples.png`` and ``DIR/samples/epoch_NNN.png`` — a grid from fixed latent vectors.
- ``DIR/.lock`` — held while a session trains (`imgenlib.io.lock_directory`): a second
  ``train`` on the same directory is refused at once (`imgenlib.io.DirectoryInUse`, naming
  the holder); the lock dies with its process, so a killed run never blocks its resume.
- ``DIR/run.json`` — the run's settings (`RunConfig.to_json`, rewritten each session);
  re-running ``DIR`` with other values of `RunConfig.IDENTITY` is refused rather than
  silently mixing two runs.
- With ``tensorboard=True``: ``DIR/logs/`` — TensorBoard event files (scalars, a sample
  grid per epoch, the settings; `imgenlib.summaries.TensorBoardLogger`), the step being the
  absolute epoch, so resumed sessions continue the curves.
- ``DIR/metrics.json`` — wall time, throughput and final losses of the last session; for
  a VAE also the held-out −ELBO in nats per image and the reconstruction error
  (`imgenlib.reconstruction.evaluate_vae`); when no preset was named, the line saying which
  one was chosen for the data and why (``preset_choice``, also printed at the start); with
  ``precision="auto"`` the precision chosen for this hardware and why (``precision_choice``,
  printed too: `imgenlib.precision`); for a diffusion model the ``sampling`` settings
  (`imgenlib.sampling_options.sampling_settings` defaults: DDIM, min(50, T) steps, η 0)
  with which the sample grids and the
  ``eval_every`` FIDs were drawn.
- With ``eval_every=N``: KID and FID against the test split every N epochs (logged in
  ``history.json``; epochs in between carry the last value), ``DIR/best.keras`` — the
  model of the lowest FID so far, which survives resumes — and, with ``patience=P``,
  early stopping once FID has not improved for P epochs.

Private runs (``dp_epsilon`` or ``dp_sigma``; `imgenlib.private_runs`): DP-SGD on the
part that sees the data, Poisson-sampled batches keyed on the step
(`imgenlib.resume.poisson_batches`), ``DIR/privacy.json`` (σ, δ, q, N: reused on resume),
the ε spent after every epoch in ``history.json`` (``epsilon``) and the final record in
``metrics.json`` (``privacy``); training stops before the ε budget would be exceeded.

How long: `epochs` if given; else, with `max_minutes`, until the time budget (the preset's
length does not stop it first); else the preset's epochs, or for a preset with a step
budget (``small_colour``) the epochs that give that many steps on this data
(`RunConfig.planned`, recorded in ``run.json``).

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
import time
from pathlib import Path

import keras

from imgenlib import text_runs
from imgenlib._env import live_progress, quick_mode
from imgenlib.callbacks import TimeBudget
from imgenlib.distribute import start_strategy, worker_dir
from imgenlib.io import (
    ensure_writable_dir,
    load_json,
    lock_directory,
    remove_stale_temporaries,
    save_json,
)
from imgenlib.precision import resolve_auto, use_loss_scaling
from imgenlib.private_runs import PrivacyBudget, plan_privacy
from imgenlib.reconstruction import evaluate_vae
from imgenlib.resume import (
    AtomicBackupAndRestore,
    KeepLearningRates,
    epoch_batches,
    poisson_batches,
    to_device,
)
from imgenlib.run_callbacks import quality_monitor, run_callbacks
from imgenlib.runs import RunConfig, check_same_run, load_split, run_summary
from imgenlib.sampling_options import sampling_settings

__all__ = ["QUICK_MAX_IMAGES", "UNTIL_TIME_BUDGET", "train"]

QUICK_MAX_IMAGES = 2048
UNTIL_TIME_BUDGET = 1_000_000  # the epochs given to fit when max_minutes alone bounds a run


def train(
    kind: str | RunConfig,
    data: str | None = None,
    out=None,
    *,
    callbacks=None,
    verbose: int | str = "auto",
    **settings,
) -> dict:
    """Train a GAN or VAE on a dataset or folder, writing a resumable run into its directory.

    Two ways to call it, equivalent field for field::

        train(RunConfig(kind="gan", data="digits", out="runs/d", epochs=5))
        train("gan", "digits", "runs/d", epochs=5)   # builds that RunConfig

    Args:
        kind: a `imgenlib.runs.RunConfig` (then no other run settings may be given), or the
            model kind ``"gan"`` or ``"vae"``.
        data: with a kind, a dataset name (see `imgenlib.data.DATASETS`) or a folder of images.
        out: with a kind, the run directory; re-running with the same directory resumes.
        callbacks: extra Keras callbacks, called after imgenlib's own each epoch/step.
        verbose: Keras' ``fit`` verbosity (0, 1 or 2). ``"auto"``: the live progress bar on a
            terminal or in a notebook, else (output piped or redirected to a file) one line
            per epoch (``verbose=2``), so logs stay readable.
        **settings: with a kind, the other `RunConfig` fields (see there), e.g. ``preset``,
            ``epochs``, ``max_minutes``, ``conditional``, ``loss``, ``eval_every``.

    Returns:
        The summary also written to ``DIR/metrics.json``.

    Raises:
        ValueError / TypeError: bad names or values, an unwritable directory, or one that
            holds a run with different settings.
        imgenlib.io.DirectoryInUse: another process is training into the directory (a
            `ValueError`; the CLI exits with code 2).
        TrainingDiverged: a loss became NaN/Inf (``DIR`` keeps the last finished epoch).
    """
    config, choice = _choose_preset(_as_config(kind, data, out, settings))
    config, precision_choice = resolve_auto(config)
    notes = {"preset_choice": choice}
    if precision_choice:  # only for precision="auto"
        notes["precision_choice"] = precision_choice
    callbacks = _check_callbacks(callbacks)
    verbose = _fit_verbosity(verbose)
    ensure_writable_dir(config.out)
    for note in filter(None, notes.values() if verbose else ()):
        print(note, flush=True)
    distribution = start_strategy(config.strategy, deterministic=config.deterministic)
    run_dir = worker_dir(config.out, distribution)
    with lock_directory(run_dir, purpose="training"):
        return _train_locked(config, run_dir, distribution, callbacks, verbose, notes)


def _train_locked(config, run_dir, distribution, callbacks, verbose, notes) -> dict:
    _prepare_run_dir(config, run_dir)
    quality = quality_monitor(config)  # before the data loads: fails fast on a bad dataset
    images, labels, class_names = _load_training_data(config)
    num_classes = None if class_names is None else len(class_names)
    config = config.planned(len(images))
    steps_per_epoch = len(images) // config.batch_size
    backup, timer = AtomicBackupAndRestore(run_dir / "backup"), TimeBudget(config.max_minutes)
    first, epochs = backup.finished_epochs(), config.epochs or UNTIL_TIME_BUDGET
    model_config, budget = config.model_config(), []
    if config.private:
        plan = plan_privacy(config, len(images), steps_per_epoch, run_dir)
        model_config, note = plan.model_config(model_config, config.seed)
        budget = [PrivacyBudget(plan, plan.max_steps(), run_dir)]
        epochs = plan.fit_epochs(epochs, steps_per_epoch, budget[0].max_steps)
        if verbose:
            print(plan.describe() + (f"; {note}" if note else ""), flush=True)
    captions = labels if config.text else None
    model = _build_model(
        config, distribution, images.shape[1:], class_names, model_config, captions
    )
    save_json(config.to_json(), run_dir / "run.json")
    builtin = [
        backup,
        KeepLearningRates(),
        *budget,
        *run_callbacks(config, run_dir, images, num_classes, quality, backup, model),
        timer,
    ]
    if config.private:
        dataset = poisson_batches(
            images, labels, sampling_rate=plan.sampling_rate, seed=config.seed,
            steps=(first * steps_per_epoch, epochs * steps_per_epoch),
        )  # fmt: skip
    else:
        dataset = epoch_batches(
            images, labels, batch_size=config.batch_size, seed=config.seed, epochs=(first, epochs)
        )
    start = time.perf_counter()
    model.fit(
        to_device(dataset, distribution),  # on one GPU: the next batch copied during this step
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=builtin + callbacks,
        verbose=verbose,
        shuffle=False,
    )
    seconds = time.perf_counter() - start
    summary = run_summary(
        config, run_dir, images, num_classes, replicas=int(distribution.num_replicas_in_sync),
        steps=timer.steps, seconds=seconds, stopped=timer.stopped,
    )  # fmt: skip
    summary.update(notes)
    if budget:
        summary["privacy"] = budget[0].record()
    if config.text:
        summary["prompt_accuracy"] = text_runs.text_run_evaluation(model, config)
    if config.kind == "vae":
        summary["evaluation"] = evaluate_vae(
            model, config.data, config.image_size, config.conditional,
            background=config.background, style=config.style, condition=config.condition,
        )  # fmt: skip
    sampling = sampling_settings(model)
    if sampling is not None:  # how samples.png and the --eval-every FIDs were drawn
        summary["sampling"] = sampling
    save_json(summary, run_dir / "metrics.json")
    return summary


def _as_config(kind, data, out, settings) -> RunConfig:
    if isinstance(kind, RunConfig):
        positional = [name for name, value in (("data", data), ("out", out)) if value is not None]
        extra = [*positional, *sorted(settings)]
        if extra:
            raise TypeError(
                "train(config) takes no other run settings; vary the config with "
                f"dataclasses.replace(config, ...). Received: {', '.join(extra)}"
            )
        return kind
    return RunConfig(kind=kind, data=data, out=out, **settings)


def _choose_preset(config: RunConfig) -> tuple[RunConfig, str | None]:
    """The `resolved` config and, when the preset was chosen for the data, the line saying why."""
    if config.preset is not None:
        return config.resolved(), None
    from imgenlib.presets import choose_preset

    name, reason = choose_preset(config.kind, config.data, text=config.text)
    config = dataclasses.replace(config, preset=name).resolved()
    if config.epochs is None and config.max_minutes is not None:
        reason += f"; no epochs given: training until the {config.max_minutes:g}-minute budget"
    return config, reason


def _check_callbacks(callbacks) -> list:
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


def _fit_verbosity(verbose):
    if verbose not in ("auto", 0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    if verbose == "auto":
        return 1 if live_progress() else 2
    return verbose


def _prepare_run_dir(config: RunConfig, run_dir: Path) -> None:
    """Clear `run_dir` of temporaries and check that it holds the same run (under its lock)."""
    for directory in (run_dir, run_dir / "samples", run_dir / "backup"):
        remove_stale_temporaries(directory)  # left by a process killed mid-write
    if (run_dir / "run.json").exists():
        check_same_run(config, load_json(run_dir / "run.json"))


def _load_training_data(config: RunConfig):
    """Training images, labels and class names (conditional runs); capped in quick mode."""
    from imgenlib.data import label_names

    if config.text:  # the captions are the labels
        maximum = QUICK_MAX_IMAGES if quick_mode() else None
        images, captions = text_runs.load_text_training_data(config, maximum)
        return _enough_images(images, config), captions, None
    # Quick mode reads only the images it keeps (Fashion-MNIST: 2,048 of 60,000, ~4 s less
    # per run); the procedural shapes draw other scenes for another count, so they are cut.
    first = (
        QUICK_MAX_IMAGES
        if quick_mode() and config.data not in ("shapes", "shapes_captions")
        else None
    )
    images, labels, _ = load_split(
        config.data,
        "train",
        image_size=config.image_size,
        conditional=config.conditional,
        n=first,
        background=config.background,
        style=config.style,
        condition=config.condition,
    )
    if quick_mode():
        images = images[:QUICK_MAX_IMAGES]
        labels = None if labels is None else labels[:QUICK_MAX_IMAGES]
    class_names = label_names(config.data, config.condition) if config.conditional else None
    return _enough_images(images, config), labels, class_names


def _enough_images(images, config: RunConfig):
    if len(images) < config.batch_size:
        raise ValueError(
            f"batch_size must not exceed the number of training images ({len(images)}). "
            f"Received: batch_size={config.batch_size}"
        )
    return images


def _build_model(config: RunConfig, distribution, image_shape, class_names, model_config, captions):
    """The model of `model_config`, built with its optimisers inside the strategy, in `precision`."""
    from imgenlib import presets
    from imgenlib.distribute import prepare_model

    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(config.precision)  # layers take it when built
    try:
        with distribution.scope():
            model = presets.build(
                config.kind, model_config, image_shape, class_names=class_names,
                captions=captions, text_encoder=text_runs.run_text_encoder(config),
                seed=config.seed,
            )  # fmt: skip
            if config.precision == "mixed_float16":
                use_loss_scaling(model)
            model.build_for_training()
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    prepare_model(model, distribution)
    return model
