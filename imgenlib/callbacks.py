"""Keras callbacks for generative training: sample grids and health checks.

- `SampleGrid` renders the same latent vectors after every epoch, so you watch one set of
  samples evolve instead of new random ones each time.
- `TrainingHealth` (defined in `imgenlib.health`, re-exported here) watches the losses and
  the samples for the classic GAN (and VAE) failures and says, in plain words, what is
  happening and what to try.
- `HistoryJSON`, `SaveModel`, `SaveBest` and `TimeBudget` keep a run directory
  (`imgenlib.training.train`): history, model files written atomically, a time budget.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np

from imgenlib._validation import check_int, check_positive_int
from imgenlib.health import (
    TrainingDiverged,
    TrainingHealth,
    TrainingHealthWarning,
    diversity,
    model_samples,
)
from imgenlib.io import atomic_path, load_json, save_json
from imgenlib.plotting import save_grid

__all__ = [
    "HistoryJSON",
    "SampleGrid",
    "SaveBest",
    "SaveModel",
    "TimeBudget",
    "TrainingDiverged",
    "TrainingHealth",
    "TrainingHealthWarning",
    "diversity",
]


class SampleGrid(keras.callbacks.Callback):
    """Save a grid of samples from fixed latent vectors at the end of every epoch.

    The samples of every epoch are also kept in memory, in `history` (a list of
    ``(epoch, images)`` pairs), for plotting in a notebook.

    Args:
        directory: where ``epoch_001.png``, ``epoch_002.png``, ... are written; None to
            keep the samples in memory only.
        n: number of samples.
        seed: seed of the fixed latent vectors.
        labels: class labels for a conditional model (default: cycle through classes).
        prompts: the prompts of a text-conditional model (one, or one per sample).
        latest: optional extra path (e.g. ``run/samples.png``) always holding the newest grid.
        scale: pixel upscaling of the PNGs.
        gif: also write ``progress.gif`` (one frame per epoch) when training ends.
    """

    def __init__(
        self,
        directory,
        n: int = 64,
        seed: int = 0,
        labels=None,
        *,
        prompts=None,
        latest=None,
        scale: int = 2,
        gif: bool = False,
    ):
        super().__init__()
        self.directory = None if directory is None else Path(directory)
        self.n = check_positive_int("n", n)
        self.seed = check_int("seed", seed, minimum=0)
        self.labels, self.prompts = labels, prompts
        self.latest = None if latest is None else Path(latest)
        self.scale = check_positive_int("scale", scale)
        self.gif = bool(gif)
        self.paths: list[Path] = []
        self.history: list[tuple[int, np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        images = model_samples(self.model, self.n, self.seed, self.labels, self.prompts)
        self.history.append((epoch + 1, images))
        if self.directory is not None:
            self.paths.append(
                save_grid(images, self.directory / f"epoch_{epoch + 1:03d}.png", scale=self.scale)
            )
        if self.latest is not None:
            save_grid(images, self.latest, scale=self.scale)

    def on_train_end(self, logs=None):
        if self.gif and self.paths:
            from PIL import Image

            from imgenlib.io import atomic_path

            frames = [
                Image.open(p).convert("P", palette=Image.Palette.ADAPTIVE)
                for p in sorted(set(self.paths))
            ]
            with atomic_path(self.directory / "progress.gif") as tmp:
                frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=400, loop=0)


class HistoryJSON(keras.callbacks.Callback):
    """Write Keras ``History.history`` to JSON after every epoch, continuing across resumes.

    Epochs are numbered absolutely (Keras passes the resumed epoch index), so a resumed run
    truncates any entries past its restored epoch before appending: values are never lost
    or duplicated.

    Args:
        path: the JSON file (metric name → one value per finished epoch).
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


class SaveModel(keras.callbacks.Callback):
    """Save the whole model to a ``.keras`` file atomically after every epoch.

    Args:
        path: the ``.keras`` file; a kill mid-write leaves the previous one intact.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def save(self):
        """Write the model now (via a temporary file and a rename)."""
        with atomic_path(self.path) as tmp:
            self.model.save(tmp)


class SaveBest(SaveModel):
    """Save the model atomically whenever `monitor` (lower is better) reaches a new minimum.

    The best value so far is read back from ``history.json`` when training (re)starts, so a
    resumed run only replaces ``best.keras`` with a model that beats every earlier epoch.

    Args:
        path: the ``.keras`` file of the best model.
        history_path: the run's `HistoryJSON` file.
        monitor: the logged metric to minimise, e.g. ``"fid"``.
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


class TimeBudget(keras.callbacks.Callback):
    """Stop training at the first step past a wall-clock budget; counts steps run.

    Args:
        max_minutes: the budget, or None for none (steps are still counted).
    """

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
