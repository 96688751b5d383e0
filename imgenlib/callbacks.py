"""Keras callbacks for generative training: sample grids and health checks.

- `SampleGrid` renders the same latent vectors after every epoch, so you watch one set of
  samples evolve instead of new random ones each time.
- `TrainingHealth` watches the losses and the samples for the classic GAN (and VAE)
  failures and says, in plain words, what is happening and what to try.
- `HistoryJSON`, `SaveModel`, `SaveBest` and `TimeBudget` keep a run directory
  (`imgenlib.training.train`): history, model files written atomically, a time budget.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from pathlib import Path

import keras
import numpy as np

from imgenlib._validation import check_choice, check_float, check_int, check_positive_int
from imgenlib.io import atomic_path, load_json, save_json
from imgenlib.neighbours import mean_pairwise_distance
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
        latest=None,
        scale: int = 2,
        gif: bool = False,
    ):
        super().__init__()
        self.directory = None if directory is None else Path(directory)
        self.n = check_positive_int("n", n)
        self.seed = check_int("seed", seed, minimum=0)
        self.labels = labels
        self.latest = None if latest is None else Path(latest)
        self.scale = check_positive_int("scale", scale)
        self.gif = bool(gif)
        self.paths: list[Path] = []
        self.history: list[tuple[int, np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        labels = self.labels
        if labels is None and getattr(self.model, "num_classes", None):
            labels = "balanced"
        images = self.model.generate(self.n, seed=self.seed, labels=labels)
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


class TrainingHealthWarning(UserWarning):
    """A training run shows a known failure pattern."""


class TrainingDiverged(RuntimeError):
    """Training produced NaN or Inf losses and was stopped."""


class TrainingHealth(keras.callbacks.Callback):
    """Detect divergence, an overpowering discriminator, mode collapse and frozen losses.

    Checks (each reported once per run, as a `TrainingHealthWarning` or by stopping). The
    discriminator and mode-collapse checks apply to GANs; a VAE (a model with an
    ``encoder``) gets the NaN, frozen-loss and posterior-collapse checks instead.

    - **NaN/Inf loss**: stop at once and raise `TrainingDiverged` naming the epoch and step.
      The epoch is not completed, so checkpoints keep the last good state.
    - **Discriminator wins outright**: over the last `window` steps D's loss stays below
      `d_loss_floor` while G's loss keeps rising: D rejects every fake and G gets no
      useful signal.
    - **Mode collapse**: at epoch end, the diversity of samples from fixed latents
      (mean pairwise distance) is below `collapse_ratio` times the diversity of
      `reference_images` *and* below half the best diversity seen in this run: G used
      to make varied images and now makes a few whatever z is. (A fresh generator's
      samples are all alike too; that is not collapse, so a fall is required.)
    - **Frozen losses**: the losses have not changed at all over `window` steps.
    - **Posterior collapse** (VAEs): at epoch end, once any KL warm-up is over, the KL term
      averages below `kl_floor` nats per image: the codes carry almost no information
      and the decoder ignores z.

    Args:
        window: steps per check.
        d_loss_floor: D loss regarded as "D always right" (BCE-family and LSGAN losses).
        collapse_ratio: sample diversity below this fraction of the data's is collapse.
        reference_images: a batch of real images (≥ 16) for the collapse check; None skips it.
        kl_floor: VAE KL (nats per image) regarded as posterior collapse.
        on_warning: ``"warn"`` (default), ``"stop"`` (also stop training) or ``"raise"``.
    """

    def __init__(
        self,
        *,
        window: int = 200,
        d_loss_floor: float = 0.05,
        collapse_ratio: float = 0.3,
        reference_images=None,
        kl_floor: float = 0.5,
        on_warning: str = "warn",
    ):
        super().__init__()
        self.window = check_int("window", window, minimum=4)
        self.d_loss_floor = check_float("d_loss_floor", d_loss_floor, minimum=0)
        self.collapse_ratio = check_float("collapse_ratio", collapse_ratio, minimum=0, maximum=1)
        self.kl_floor = check_float("kl_floor", kl_floor, minimum=0)
        self.on_warning = check_choice("on_warning", on_warning, ("warn", "stop", "raise"))
        self.reference_diversity = None
        if reference_images is not None:
            reference = np.asarray(reference_images, dtype=np.float32)
            if reference.ndim != 4 or len(reference) < 16:
                raise ValueError(
                    f"reference_images must be a batch of at least 16 images. Received shape {reference.shape}"
                )
            self.reference_diversity = diversity(reference[:256])
        self.problems: list[str] = []
        self._reported: set[str] = set()

    def on_train_begin(self, logs=None):
        self._epoch = 0
        # A stand-in generator without `kind` (a notebook demo, your own model) is a GAN.
        self._adversarial = getattr(self.model, "kind", "gan") == "gan"
        watched = ("d_loss", "g_loss") if self._adversarial else ("loss",)
        self._values = {name: deque(maxlen=self.window) for name in watched}
        self._previous = {}
        self.best_diversity_ratio = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._previous = {}

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        for name, value in logs.items():
            if not math.isfinite(float(value)):
                self.model.stop_training = True
                message = (
                    f"Training diverged at epoch {self._epoch + 1}, step {batch + 1}: {name} is {float(value)}. "
                    "Likely cause: a learning rate too high for this model (or an unstable loss). "
                    + (
                        "Lower the learning rates (e.g. divide by 10) or use spectral_norm=True / loss='hinge'. "
                        if self._adversarial
                        else "Lower the learning rate (e.g. divide by 10). "
                    )
                    + "The epoch was not completed, so the last checkpoint holds the last good weights."
                )
                self.problems.append(message)
                raise TrainingDiverged(message)
        for name in self._values:
            if name in logs:
                self._values[name].append(self._instant(name, batch, float(logs[name])))
        first = next(iter(self._values.values()))
        if (batch + 1) % self.window == 0 and len(first) == self.window:
            self._check_losses()

    def _instant(self, name, batch, running_mean):
        # Keras reports running means since the epoch began; recover this step's value.
        previous = self._previous.get(name)
        self._previous[name] = running_mean
        if batch == 0 or previous is None:
            return running_mean
        return (batch + 1) * running_mean - batch * previous

    def _check_losses(self):
        if all(np.ptp(np.asarray(values)) == 0 for values in self._values.values()):
            self._report(
                "frozen",
                f"The losses have not changed for {self.window} steps (epoch {self._epoch + 1}): nothing is "
                "learning. Check that the learning rates are above zero and that the model's weights are trainable.",
            )
        if not self._adversarial:
            return
        d = np.asarray(self._values["d_loss"])
        g = np.asarray(self._values["g_loss"])
        loss_name = getattr(self.model, "loss_name", "non_saturating")
        half = len(g) // 2
        if (
            loss_name != "wasserstein_gp"
            and d.mean() < self.d_loss_floor
            and g[half:].mean() > g[:half].mean()
        ):
            self._report(
                "discriminator_wins",
                f"The discriminator is winning outright (epoch {self._epoch + 1}): its loss averages "
                f"{d.mean():.3g} over {self.window} steps while the generator's keeps rising. It rejects every "
                "fake, so the generator learns nothing useful. Try a lower discriminator learning rate, "
                "dropout or spectral_norm=True in D, DiffAugment (augment='color,translation,cutout') on "
                "small data, or loss='hinge'.",
            )

    def on_epoch_end(self, epoch, logs=None):
        if not self._adversarial:
            self._check_posterior(epoch, logs or {})
            return
        if self.reference_diversity is None or not hasattr(self.model, "generate"):
            return
        labels = "balanced" if getattr(self.model, "num_classes", None) else None
        samples = self.model.generate(64, seed=0, labels=labels)
        ratio = diversity(samples) / self.reference_diversity
        self.best_diversity_ratio = max(self.best_diversity_ratio, ratio)
        if ratio < self.collapse_ratio and ratio < 0.5 * self.best_diversity_ratio:
            self._report(
                "mode_collapse",
                f"Possible mode collapse after epoch {epoch + 1}: samples from different latent vectors are "
                f"{ratio:.0%} as diverse as real images (best so far {self.best_diversity_ratio:.0%}). The generator is producing a few images whatever z "
                "is. Try loss='hinge' or 'wasserstein_gp', spectral_norm=True, a lower generator learning "
                "rate, or restart from an earlier checkpoint.",
            )

    def _check_posterior(self, epoch, logs):
        warmup = getattr(self.model, "kl_warmup_steps", 0)
        optimizer = getattr(self.model, "optimizer", None)
        if "kl_loss" not in logs or (warmup and int(optimizer.iterations) < warmup):
            return
        kl = float(logs["kl_loss"])
        if kl < self.kl_floor:
            self._report(
                "posterior_collapse",
                f"Possible posterior collapse after epoch {epoch + 1}: the KL term averages {kl:.3g} nats per "
                "image, so the codes z carry almost no information and the decoder ignores them (samples "
                "all look alike). Try KL warm-up (kl_warmup_steps), a smaller beta, a smaller sigma for a "
                "Gaussian likelihood, or a weaker decoder.",
            )

    def _report(self, kind, message):
        if kind in self._reported:
            return
        self._reported.add(kind)
        self.problems.append(message)
        if self.on_warning == "raise":
            self.model.stop_training = True
            raise RuntimeError(message)
        warnings.warn(message, TrainingHealthWarning, stacklevel=2)
        if self.on_warning == "stop":
            self.model.stop_training = True


def diversity(images) -> float:
    """Mean pairwise Euclidean distance between the images of a batch (a cheap diversity score)."""
    return mean_pairwise_distance(np.asarray(images).reshape(len(images), -1))


# Run-directory callbacks used by `imgenlib.training.train`.


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
