"""The callbacks of a training run (`imgenlib.training.train`) between its backup and its
time budget: the quality monitor and what follows from it (``best.keras``, early stopping),
TensorBoard, and the writers of the run directory (``history.json``, ``model.keras``, the
sample grids) with the health checks.

Kept apart from the driver so that `imgenlib.training` reads in one sitting.
"""

from __future__ import annotations

import keras

from imgenlib import text_runs
from imgenlib.callbacks import HistoryJSON, SampleGrid, SaveBest, SaveModel, TrainingHealth
from imgenlib.runs import RunConfig
from imgenlib.summaries import TensorBoardLogger

__all__ = ["quality_monitor", "run_callbacks"]


def quality_monitor(config: RunConfig):
    """KID and FID every `config.eval_every` epochs (`imgenlib.monitoring.QualityMonitor`), or
    None when the run does not evaluate."""
    if config.eval_every is None:
        return None
    from imgenlib.monitoring import QualityMonitor

    return QualityMonitor(
        config.data, every=config.eval_every, n=config.eval_n, metrics=("kid", "fid"),
        seed=config.seed,
    )  # fmt: skip


def run_callbacks(config, run_dir, images, num_classes, quality, backup, model) -> list:
    """The callbacks between the backup and the time budget: quality first (the writers
    read its logs), then the files of the run directory and the health checks."""
    prompts = (
        text_runs.grid_prompts(config, text_encoder=model.text_encoder) if config.text else None
    )
    quality_callbacks = []
    if quality is not None:
        quality_callbacks = [
            quality,
            SaveBest(run_dir / "best.keras", run_dir / "history.json", "fid"),
        ]
        if config.patience is not None:
            quality_callbacks.append(
                keras.callbacks.EarlyStopping(monitor="fid", mode="min", patience=config.patience)
            )
    if config.tensorboard:
        quality_callbacks.append(
            TensorBoardLogger(
                run_dir / "logs",
                config.to_json(),
                seed=config.seed,
                initial_epoch=backup.finished_epochs(),
            )  # fmt: skip
        )
    return [
        *quality_callbacks,
        HistoryJSON(run_dir / "history.json"),
        SaveModel(run_dir / "model.keras"),
        SampleGrid(
            run_dir / "samples",
            n=64,
            seed=config.seed,
            labels="balanced" if num_classes else None,
            prompts=prompts,
            latest=run_dir / "samples.png",
        ),
        TrainingHealth(reference_images=images[:256], prompts=prompts),
    ]
