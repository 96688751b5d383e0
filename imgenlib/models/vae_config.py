"""`VAEConfig`: the settings of a `imgenlib.models.vae.VAE` and its optimiser.

Kept apart from the model so that the model file reads in one sitting; build a model
from it with `imgenlib.models.vae.build_vae` (also importable from `imgenlib.models.vae`).
"""

from __future__ import annotations

import dataclasses

from imgenlib.models.blocks import check_private_norm, resolve_norm
from imgenlib.models.renames import renamed_keywords, with_defaults
from imgenlib.privacy_config import DPConfig

__all__ = ["VAEConfig"]


@renamed_keywords(width="width_multiplier")
@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Everything that defines a VAE and its optimiser; vary it with `dataclasses.replace`.

    `imgenlib.presets` holds tuned variants, and `tiny()` a minimal one for tests.
    ``width`` is the deprecated name of `width_multiplier`.

    `norm` is the encoder's and decoder's normalisation (`imgenlib.models.blocks.NORMS`:
    ``"batch"``, ``"group"``, ``"layer"``, ``"none"``); None keeps the older `batch_norm`
    switch (off by default). `dp` (a `imgenlib.privacy.DPConfig`) trains the whole VAE
    with DP-SGD and needs a `norm` other than ``"batch"`` (see `imgenlib.models.vae.VAE`).
    """

    latent_dim: int = 32
    likelihood: str = "bernoulli"
    sigma: float = 0.1
    beta: float = 1.0
    kl_warmup_steps: int = 0
    width_multiplier: float = 1.0
    batch_norm: bool = False
    norm: str | None = None  # None: follow batch_norm
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    schedule: str | None = None
    decay_steps: int = 10000
    dp: DPConfig | None = None

    @classmethod
    def tiny(cls, **overrides) -> VAEConfig:
        """A minimal VAE (few filters, latent size 8) for tests and smoke runs."""
        return with_defaults(cls, {"latent_dim": 8, "width_multiplier": 0.125}, overrides)

    def network_norm(self) -> str:
        """The networks' normalisation: `norm`, or what `batch_norm` implies.

        Raises:
            ValueError: if `norm` is not one of `imgenlib.models.blocks.NORMS`, or `dp` is
                set with ``"batch"`` (`imgenlib.models.blocks.check_private_norm`).
        """
        norm = resolve_norm(self.norm, self.batch_norm)
        if self.dp is not None:
            implied = f"batch_norm={self.batch_norm}"
            check_private_norm("norm", norm, implied_by=None if self.norm else implied)
        return norm
