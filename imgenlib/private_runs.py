"""Private training runs: DP-SGD in ``train``, its noise calibrated and its ε accounted.

A run with ``dp_epsilon`` or ``dp_sigma`` (``python -m imgenlib train gan --dp-epsilon 10
...``) trains the part of the model that sees the data with DP-SGD (`imgenlib.privacy`):
a GAN's discriminator, a whole VAE. Diffusion is refused (not implemented).

- **Sampling**: every step draws its batch by Poisson sampling
  (`imgenlib.resume.poisson_batches`): each of the N training images joins with
  probability q = batch_size / N, independently, keyed on (seed, step). This is what the
  accountant assumes (``sampling="poisson"``); the shuffled fixed-size batches of an
  ordinary run are not, so a private run does not use them. An epoch is N // batch_size
  steps, as in an ordinary run.
- **Noise**: σ is `dp_sigma`, or calibrated (`imgenlib.privacy_accounting.
  calibrate_noise_multiplier`) so that the planned steps (`epochs` × steps per epoch)
  spend at most `dp_epsilon`. δ is `dp_delta` or `imgenlib.privacy_accounting.
  default_delta` of the training set (1e-5 below 100,000 images).
- **Budget**: training stops once the next step would spend more than `dp_epsilon`
  (`PrivacyBudget`); ``history.json`` gets the ε spent after every epoch (``epsilon``),
  ``metrics.json`` the final record (`PrivacyPlan.record`): ε for the steps actually
  taken (the private optimiser's step count), so a ``max_minutes`` stop reports what was
  spent.
- **Resume**: the plan (σ, δ, q, N) is written to ``DIR/privacy.json`` and reused, so a
  run resumed for more epochs keeps its σ and stops at its budget; a resume whose data or
  DP settings differ is refused, naming the setting. Data order and noise are keyed on
  the step, so a killed and resumed run spends exactly the ε of an uninterrupted one.
- **Networks**: BatchNorm mixes examples; a preset whose private network uses it gets
  GroupNorm instead (printed and recorded).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import keras

from imgenlib._validation import check_choice, check_float
from imgenlib.io import load_json, save_json

__all__ = [
    "MIN_BATCH_SIZE",
    "PLAN_FILE",
    "PrivacyBudget",
    "PrivacyPlan",
    "check_private_run",
    "plan_privacy",
]

PLAN_FILE = "privacy.json"
MIN_BATCH_SIZE = 32
_PRIVATE_PART = {"gan": "discriminator", "vae": "whole model"}


def check_private_run(config) -> dict:
    """Check the DP settings of a private `imgenlib.runs.RunConfig`; return them validated.

    Raises:
        ValueError: for a value out of range, a diffusion run, a multi-replica strategy,
            or ``dp_epsilon`` to calibrate for with no planned length (``max_minutes``
            alone, no ``dp_sigma``), naming the received values.
    """
    if config.kind not in _PRIVATE_PART:
        raise ValueError(
            "DP-SGD training is implemented for GANs and VAEs, not for diffusion. "
            f"Received: kind={config.kind!r} with dp_epsilon={config.dp_epsilon!r}, "
            f"dp_sigma={config.dp_sigma!r}"
        )
    values = {}
    for name, bounds in (
        ("dp_epsilon", {"minimum": 0, "min_inclusive": False}),
        ("dp_delta", {"minimum": 0, "min_inclusive": False, "maximum": 1, "max_inclusive": False}),
        ("dp_clip", {"minimum": 0, "min_inclusive": False}),
        ("dp_sigma", {"minimum": 0, "min_inclusive": False}),
    ):
        if getattr(config, name) is not None:
            values[name] = check_float(name, getattr(config, name), **bounds)
    if config.dp_accountant is not None:
        from imgenlib.privacy_accounting import ACCOUNTANTS

        check_choice("dp_accountant", config.dp_accountant, ACCOUNTANTS)
    if config.strategy != "default":
        raise ValueError(
            "DP-SGD training runs on one device (each replica would add its own noise). "
            f"Received: strategy={config.strategy!r}"
        )
    if config.dp_sigma is None and config.epochs is None and config.max_minutes is not None:
        raise ValueError(
            "dp_epsilon calibrates the noise for the planned number of steps: give epochs "
            "too (max_minutes may still stop earlier), or dp_sigma. "
            f"Received: epochs=None, max_minutes={config.max_minutes!r}"
        )
    return values


@dataclasses.dataclass(frozen=True)
class PrivacyPlan:
    """The DP-SGD settings of a private run and what they cost.

    Attributes:
        noise_multiplier: σ, given or calibrated (`calibrated`).
        clip_norm: C.
        delta: δ.
        sampling_rate: q = `expected_batch_size` / `dataset_size`.
        dataset_size: N, the training images.
        expected_batch_size: q·N, the run's batch size.
        accountant: ``"rdp"`` or ``"pld"``.
        target_epsilon: the ε budget, or None (no budget: ε is reported only).
        planned_steps: the steps σ was calibrated for (None when σ was given).
        calibrated: whether σ was calibrated for `target_epsilon`.
        sampling: ``"poisson"``: how batches are drawn and accounted.
    """

    noise_multiplier: float
    clip_norm: float
    delta: float
    sampling_rate: float
    dataset_size: int
    expected_batch_size: int
    accountant: str
    target_epsilon: float | None = None
    planned_steps: int | None = None
    calibrated: bool = False
    sampling: str = "poisson"

    def epsilon(self, steps: int) -> float:
        """ε spent by `steps` steps (`imgenlib.privacy_accounting.epsilon`)."""
        from imgenlib.privacy_accounting import epsilon

        return epsilon(
            self.noise_multiplier, self.sampling_rate, steps, self.delta,
            accountant=self.accountant, sampling=self.sampling,
        )  # fmt: skip

    def max_steps(self) -> int | None:
        """The most steps whose ε stays within `target_epsilon`; None without a budget."""
        if self.target_epsilon is None:
            return None
        low = self.planned_steps or 0  # calibration guarantees ε(planned) <= target
        high = max(2 * low, 1)
        while self.epsilon(high) <= self.target_epsilon:
            low, high = high, 2 * high
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (
                (middle, high) if self.epsilon(middle) <= self.target_epsilon else (low, middle)
            )
        return low

    def fit_epochs(self, epochs: int, steps_per_epoch: int, max_steps: int | None) -> int:
        """`epochs`, or fewer when `max_steps` ends the run earlier."""
        if max_steps is None:
            return epochs
        return min(epochs, math.ceil(max_steps / steps_per_epoch))

    def model_config(self, model_config, seed: int):
        """`model_config` with ``dp`` set, and GroupNorm where it had BatchNorm.

        Returns:
            ``(config, note)``; `note` says which normalisation was switched, or is None.
        """
        from imgenlib.privacy import DPConfig

        dp = DPConfig(
            clip_norm=self.clip_norm, noise_multiplier=self.noise_multiplier,
            expected_batch_size=self.expected_batch_size, seed=seed,
        )  # fmt: skip
        field, norm = ("d_norm", "discriminator_norm")
        if not hasattr(model_config, norm):
            field, norm = ("norm", "network_norm")
        note = None
        if getattr(model_config, norm)() == "batch":
            model_config = dataclasses.replace(model_config, **{field: "group"})
            note = f"{field}='group' (BatchNorm mixes the examples of a batch)"
        return dataclasses.replace(model_config, dp=dp), note

    def describe(self) -> str:
        """One line: σ and where it comes from, δ, C, the sampling and the accountant."""
        source = "given"
        if self.calibrated:
            source = f"calibrated for ε={self.target_epsilon:g} over {self.planned_steps:,} steps"
        budget = "" if self.calibrated or self.target_epsilon is None else (
            f", budget ε={self.target_epsilon:g}"
        )  # fmt: skip
        return (
            f"DP-SGD: noise multiplier {self.noise_multiplier:.4g} ({source}{budget}), "
            f"δ={self.delta:g}, clip {self.clip_norm:g}, Poisson sampling q={self.sampling_rate:.4g} "
            f"(expected batch {self.expected_batch_size} of {self.dataset_size:,}), "
            f"{self.accountant.upper()} accountant"
        )

    def record(self, steps: int, kind: str) -> dict:
        """The privacy record of ``metrics.json`` after `steps` private steps of a `kind` run."""
        spent = self.epsilon(steps)
        return {
            "epsilon": spent if math.isinf(spent) else round(spent, 6),
            **self.to_json(),
            "steps": int(steps),
            "private_part": _PRIVATE_PART[kind],
        }

    def to_json(self) -> dict:
        """The plan as a JSON-ready dict (``DIR/privacy.json``)."""
        return dataclasses.asdict(self)


def plan_privacy(config, dataset_size: int, steps_per_epoch: int, run_dir) -> PrivacyPlan:
    """The `PrivacyPlan` of a private `config` on `dataset_size` images.

    A plan already recorded in ``run_dir/privacy.json`` (by `PrivacyBudget` when training
    began) is reused, its σ too, after checking that this session derives the same
    settings from its data and options.

    Args:
        config: the `imgenlib.runs.RunConfig.planned` config of the run.
        dataset_size: N.
        steps_per_epoch: N // batch_size.
        run_dir: the run directory.

    Returns:
        The plan.

    Raises:
        ValueError: a batch size below `MIN_BATCH_SIZE`, a `dp_sigma` that overspends in
            one step, or a recorded plan that differs (naming the setting).
    """
    from imgenlib.privacy_accounting import calibrate_noise_multiplier, default_delta

    if config.batch_size < MIN_BATCH_SIZE:
        raise ValueError(
            f"batch_size must be at least {MIN_BATCH_SIZE} in a private run: Poisson sampling "
            "draws an empty batch (which the private step cannot take) with probability "
            f"about exp(-batch_size). Received: batch_size={config.batch_size}"
        )
    settings = {
        "clip_norm": config.dp_clip,
        "delta": config.dp_delta or default_delta(dataset_size),
        "sampling_rate": config.batch_size / dataset_size,
        "dataset_size": int(dataset_size),
        "expected_batch_size": config.batch_size,
        "accountant": config.dp_accountant,
        "target_epsilon": config.dp_epsilon,
    }
    path = Path(run_dir) / PLAN_FILE
    if path.is_file():
        plan = PrivacyPlan(**load_json(path))
        _check_same_plan(plan, settings, config.dp_sigma, path)
        return plan
    if config.dp_sigma is not None:
        plan = PrivacyPlan(noise_multiplier=config.dp_sigma, **settings)
        if plan.target_epsilon is not None and plan.epsilon(1) > plan.target_epsilon:
            raise ValueError(
                f"dp_sigma={config.dp_sigma} spends ε={plan.epsilon(1):.3g} in one step, more "
                f"than dp_epsilon={config.dp_epsilon}: raise dp_sigma or drop it to calibrate."
            )
    else:
        steps = config.epochs * steps_per_epoch
        sigma = calibrate_noise_multiplier(
            config.dp_epsilon, settings["delta"], settings["sampling_rate"], steps,
            accountant=config.dp_accountant,
        )  # fmt: skip
        plan = PrivacyPlan(sigma, **settings, planned_steps=steps, calibrated=True)
    return plan


def _check_same_plan(plan: PrivacyPlan, settings: dict, sigma, path: Path) -> None:
    if sigma is not None:
        settings = {**settings, "noise_multiplier": sigma}
    recorded = plan.to_json()
    differing = [
        f"{name}: {recorded[name]!r} → {value!r}"
        for name, value in settings.items()
        if recorded[name] != value
    ]
    if differing:
        raise ValueError(
            f"{str(path)!r} records a private run with other settings ({'; '.join(differing)}); "
            "resume with the same data and DP options, or choose another --out."
        )


class PrivacyBudget(keras.callbacks.Callback):
    """Log the ε spent after every epoch (``epsilon``); stop before the budget is exceeded.

    The steps are the private optimiser's step count (a GAN's ``d_optimizer``, a VAE's
    ``optimizer``), restored with the run, so they are the steps actually taken.

    When training begins it records the plan in ``run_dir/privacy.json``, for resumes.

    Args:
        plan: the run's `PrivacyPlan`.
        max_steps: ``plan.max_steps()`` (None: no budget).
        run_dir: the run directory.
    """

    def __init__(self, plan: PrivacyPlan, max_steps: int | None, run_dir):
        super().__init__()
        self.plan, self.max_steps, self.run_dir = plan, max_steps, Path(run_dir)
        self.steps = 0

    def _count(self) -> int:
        optimizer = self.model.d_optimizer if self.model.kind == "gan" else self.model.optimizer
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def on_train_begin(self, logs=None):
        save_json(self.plan.to_json(), self.run_dir / PLAN_FILE)
        self.steps = self._count()

    def on_train_batch_end(self, batch, logs=None):
        self.steps = self._count()
        if self.max_steps is not None and self.steps >= self.max_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.steps = self._count()
        if logs is not None:
            logs["epsilon"] = self.plan.epsilon(self.steps)

    def on_train_end(self, logs=None):
        self.steps = self._count()

    def record(self) -> dict:
        """`PrivacyPlan.record` of the steps taken, and whether the budget is spent."""
        spent = self.max_steps is not None and self.steps >= self.max_steps
        return {**self.plan.record(self.steps, self.model.kind), "budget_spent": spent}
