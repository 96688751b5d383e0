"""Sample quality during training: KID/FID every few epochs, in Keras' logs.

`QualityMonitor` measures the generator against cached real features (the same code and
extractor as `imgenlib.evaluation.evaluate`) and writes the numbers into the epoch's
``logs``, so ``History``, ``EarlyStopping(monitor="kid")`` and
``ModelCheckpoint(monitor="kid", save_best_only=True)`` use them like any loss. A GAN's
losses say little about image quality (seed section 5.2 asks for early stopping; on a
GAN the losses cannot drive it, a quality metric can).

Between evaluations the last value is carried forward, because Keras' callbacks treat a
missing metric badly: ``ModelCheckpoint(save_best_only=True)`` *saves* on every epoch
whose logs lack the monitored value, and ``History`` lists would no longer line up with
epochs. A carried value never counts as an improvement, so checkpoints are only written
after a real evaluation; ``EarlyStopping``'s patience counts epochs, so set it to a
multiple of `every` (``patience=3 * every`` waits for three evaluations without
improvement).
"""

from __future__ import annotations

import keras
import numpy as np

from imgenlib._validation import check_choice, check_int, check_positive_int
from imgenlib.evaluation import (
    FEATURE_METRICS,
    default_split,
    extractor_for,
    generate_samples,
    score_images,
)

__all__ = ["QualityMonitor"]


class QualityMonitor(keras.callbacks.Callback):
    """Compute KID/FID (or other `imgenlib.evaluation.FEATURE_METRICS`) every `every` epochs.

    The metric names become keys of the epoch logs (``logs["kid"]``, ``logs["fid"]``).
    Put the monitor **before** ``EarlyStopping`` and ``ModelCheckpoint`` in the
    ``callbacks`` list: Keras calls callbacks in order, and they read the same logs. Give
    them ``mode="min"`` (``"max"`` for precision, recall, ...): Keras cannot infer the
    direction of a metric that is not one of the model's own and raises without it.

    Evaluations happen at the first epoch of each ``fit`` call and whenever
    ``(epoch + 1) % every == 0``; other epochs carry the last value forward (see the
    module docstring for why). The real evaluations alone are kept in `history`
    (``{"epoch": [...], "kid": [...], ...}``, epochs counted from 1).

    Args:
        dataset_name: dataset with a shipped feature extractor (`imgenlib.features.CLASSIFIERS`).
        every: evaluate every this many epochs.
        n: samples per evaluation (and real images; capped at the split's size). KID is
            fine at small n; FID is biased upwards at small n, so compare FIDs of equal n.
        metrics: names from `imgenlib.evaluation.FEATURE_METRICS`.
        seed: fixed seed of the samples (the same latents every time, so epochs differ by
            the model, not by the draw) and of KID's subsets.
        split: real split to compare with (default: test when the dataset has one).
        verbose: print the values after each evaluation.
        sampling: a diffusion model's sampling settings (steps, eta, guidance, sampler;
            `imgenlib.sampling_options.sampling_settings`; default: its defaults).

    Example:
        >>> model.fit(data, epochs=50, callbacks=[
        ...     QualityMonitor("fashion_mnist", every=5, n=2000),
        ...     keras.callbacks.EarlyStopping(monitor="kid", mode="min", patience=15),
        ...     keras.callbacks.ModelCheckpoint("best.keras", monitor="kid", mode="min",
        ...                                     save_best_only=True)])
    """

    def __init__(
        self,
        dataset_name: str,
        every: int = 1,
        n: int = 2000,
        metrics=("kid", "fid"),
        seed: int = 0,
        *,
        split: str | None = None,
        verbose: int = 0,
        sampling: dict | None = None,
    ):
        super().__init__()
        if isinstance(metrics, str):
            metrics = (metrics,)
        metrics = tuple(metrics)
        unknown = [name for name in metrics if name not in FEATURE_METRICS]
        if not metrics or unknown:
            raise ValueError(
                f"metrics must be a non-empty selection of {', '.join(FEATURE_METRICS)}. "
                f"Received: metrics={metrics!r}"
            )
        extractor_for(dataset_name)  # fail now, not after the first epoch, if there is none
        self.dataset_name = dataset_name
        self.every = check_positive_int("every", every)
        self.n = check_int("n", n, minimum=10)
        self.metrics = metrics
        self.seed = check_int("seed", seed, minimum=0)
        self.split = default_split(dataset_name) if split is None else split
        self.verbose = verbose
        self.sampling = sampling
        self.history: dict[str, list] = {"epoch": [], **{name: [] for name in metrics}}
        self._last: dict[str, float] | None = None

    def on_train_begin(self, logs=None):
        self._last = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._last is None or (epoch + 1) % self.every == 0:
            self._last = self.evaluate()
            self.history["epoch"].append(epoch + 1)
            for name, value in self._last.items():
                self.history[name].append(value)
            if self.verbose:
                values = ", ".join(f"{name} {value:.5g}" for name, value in self._last.items())
                print(f"\nEpoch {epoch + 1}: {values}")
        logs.update(self._last)

    def evaluate(self) -> dict:
        """Measure the model now; returns ``{metric: value}`` (unrounded floats)."""
        samples = generate_samples(self.model, self.n, self.seed, self.sampling)
        samples, _ = extractor_for(self.dataset_name).upsampled(samples)  # a 32x32 emoji run
        return score_images(
            samples,
            self.dataset_name,
            n_real=self.n,
            split=self.split,
            seed=self.seed,
            metrics=self.metrics,
        )

    def best(self, metric: str | None = None, mode: str = "min") -> tuple[int, float]:
        """``(epoch, value)`` of the best evaluation so far (epochs counted from 1)."""
        metric = self.metrics[0] if metric is None else metric
        mode = check_choice("mode", mode, ("min", "max"))
        if metric not in self.metrics or not self.history["epoch"]:
            raise ValueError(
                f"No evaluations of {metric!r} yet; monitored: {', '.join(self.metrics)}."
            )
        values = np.asarray(self.history[metric])
        index = int(values.argmin() if mode == "min" else values.argmax())
        return self.history["epoch"][index], float(values[index])
