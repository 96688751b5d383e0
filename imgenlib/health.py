"""`TrainingHealth`: the classic GAN (and VAE) failures, caught while training and named.

The callback watches the losses and the samples of fixed latents and says, in plain words,
what is happening and what to try (`imgenlib.callbacks` re-exports it with its warning and
error classes; `imgenlib.training.train` adds it to every run). `model_samples` is how the
callbacks draw samples of any model: of prompts for a text-conditional one, of balanced
labels for a class-conditional one.
"""

from __future__ import annotations

import math
import warnings
from collections import deque

import keras
import numpy as np

from imgenlib._validation import check_choice, check_float, check_int
from imgenlib.neighbours import mean_pairwise_distance

__all__ = [
    "TrainingDiverged",
    "TrainingHealth",
    "TrainingHealthWarning",
    "diversity",
    "model_samples",
]


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
        prompts: a text-conditional model's prompts for the collapse check's samples.
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
        prompts=None,
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
        self.prompts = prompts
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
        samples = model_samples(self.model, 64, 0, prompts=self.prompts)
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


def model_samples(model, n: int, seed: int, labels=None, prompts=None):
    """`n` samples of `model` from `seed`: of `prompts` for a text-conditional model (one with
    a ``text_encoder``), else of `labels` (a conditional model's default: ``"balanced"``)."""
    if hasattr(model, "text_encoder"):
        if prompts is None:
            raise ValueError("A text-conditional model samples from prompts: pass prompts=.")
        return model.generate(prompts, n=n, seed=seed)
    if labels is None and getattr(model, "num_classes", None):
        labels = "balanced"
    return model.generate(n, seed=seed, labels=labels)


def diversity(images) -> float:
    """Mean pairwise Euclidean distance between the images of a batch (a cheap diversity score)."""
    return mean_pairwise_distance(np.asarray(images).reshape(len(images), -1))


# Run-directory callbacks used by `imgenlib.training.train`.
