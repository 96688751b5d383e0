"""`DPConfig`: the DP-SGD settings of a private model (re-exported by `imgenlib.privacy`).

A frozen dataclass held by a `imgenlib.models.VAE` (the whole model) or a
`imgenlib.models.GAN` (its discriminator) as ``dp=`` and saved in its config. What the
settings mean and how each step uses them: `imgenlib.privacy.clip_and_noise`; what they
cost in (ε, δ): `imgenlib.privacy_accounting`.
"""

from __future__ import annotations

import dataclasses

from imgenlib._validation import check_float, check_int, check_positive_int

__all__ = ["DPConfig"]


@dataclasses.dataclass(frozen=True)
class DPConfig:
    """The DP-SGD settings of a model: clip norm C, noise multiplier σ, expected batch size.

    Every step of the private part of the model clips each example's gradient to global
    norm `clip_norm`, adds N(0, (σ·C)²) noise to the sum and divides by
    `expected_batch_size` (a constant; see `imgenlib.privacy.clip_and_noise`). The
    sampling rate the accountant needs is ``expected_batch_size / N`` for N training
    examples (`sampling_rate`); batches must really be drawn that way (Poisson sampling,
    `imgenlib.privacy.poisson_sample`, or fixed-size batches accounted as such).

    The noise of step t is drawn from a stateless seed built from `seed`, the model's seed
    and t (the optimiser's iteration count), so a resumed run draws the same noise as an
    uninterrupted one. The formal guarantee assumes the noise is unknown to the adversary:
    keep the seeds of a run you publish secret, as you would a key.

    Attributes:
        clip_norm: C > 0, the bound on each example's global gradient norm.
        noise_multiplier: σ ≥ 0 (0: clipping only, no privacy).
        expected_batch_size: examples per step, q·N under Poisson sampling or the fixed
            batch size B (> 0): the constant denominator of the private gradient.
        seed: folded into the noise seed (an int ≥ 0).
        microbatches: None (clip each example) or m, the number of microbatches of
            every (fixed-size) batch (see `imgenlib.privacy.per_example_gradients`): m
            clipped units per step, so the denominator is m (`denominator`).

    Example:
        >>> dp = DPConfig(clip_norm=1.0, noise_multiplier=1.1, expected_batch_size=256)
        >>> DPConfig.from_dict(dp.to_dict()) == dp
        True
        >>> dp.sampling_rate(60_000)
        0.004266666666666667
    """

    clip_norm: float
    noise_multiplier: float
    expected_batch_size: float
    seed: int = 0
    microbatches: int | None = None

    def __post_init__(self):
        set_value = object.__setattr__
        set_value(
            self,
            "clip_norm",
            check_float("clip_norm", self.clip_norm, minimum=0, min_inclusive=False),
        )
        set_value(
            self,
            "noise_multiplier",
            check_float("noise_multiplier", self.noise_multiplier, minimum=0),
        )
        set_value(
            self,
            "expected_batch_size",
            check_float(
                "expected_batch_size", self.expected_batch_size, minimum=0, min_inclusive=False
            ),
        )
        set_value(self, "seed", check_int("seed", self.seed, minimum=0))
        if self.microbatches is not None:
            set_value(self, "microbatches", check_positive_int("microbatches", self.microbatches))

    def sampling_rate(self, dataset_size: int) -> float:
        """q = expected_batch_size / N, the sampling rate to give the accountant.

        Raises:
            ValueError: if `dataset_size` is not a positive int or is smaller than the
                expected batch size (q would exceed 1).
        """
        dataset_size = check_positive_int("dataset_size", dataset_size)
        if self.expected_batch_size > dataset_size:
            raise ValueError(
                f"dataset_size must be at least the expected batch size "
                f"{self.expected_batch_size:g}. Received: dataset_size={dataset_size}"
            )
        return self.expected_batch_size / dataset_size

    @property
    def denominator(self) -> float:
        """What the sum of clipped units is divided by: the expected units per step."""
        return self.expected_batch_size if self.microbatches is None else self.microbatches

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict (for a model's ``get_config``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record) -> DPConfig | None:
        """A `DPConfig` from `to_dict`'s output; None and an existing `DPConfig` pass through.

        Raises:
            ValueError: if `record` holds unknown or missing settings.
        """
        if record is None or isinstance(record, cls):
            return record
        if not isinstance(record, dict):
            raise ValueError(f"dp must be a DPConfig, a dict or None. Received: dp={record!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ValueError(f"dp has unknown settings {unknown}. Received: dp={record!r}")
        try:
            return cls(**record)
        except TypeError:
            raise ValueError(
                "dp needs clip_norm, noise_multiplier and expected_batch_size. "
                f"Received: dp={record!r}"
            ) from None
