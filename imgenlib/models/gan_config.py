"""`GANConfig`: the settings of a `imgenlib.models.gan.GAN` and its optimisers.

Kept apart from the model so that the model file reads in one sitting; build a model
from it with `imgenlib.models.gan.build_gan` (also importable from `imgenlib.models.gan`).
"""

from __future__ import annotations

import dataclasses

from imgenlib.models.blocks import check_private_norm, resolve_norm
from imgenlib.models.renames import renamed_keywords, with_defaults
from imgenlib.privacy_config import DPConfig

__all__ = ["GANConfig"]


@renamed_keywords(width="width_multiplier", ema="ema_decay")
@dataclasses.dataclass(frozen=True)
class GANConfig:
    """Everything that defines a GAN and its optimisers; vary it with `dataclasses.replace`.

    The defaults are the DCGAN recipe (non-saturating loss, Adam 2e-4 with β1 = 0.5);
    `imgenlib.presets` holds tuned variants, and `tiny()` a minimal one for tests.
    ``width`` and ``ema`` are deprecated names of `width_multiplier` and `ema_decay`.
    `projection` is the conditional discriminator's (see `build_discriminator`).

    `d_norm` is the discriminator's normalisation (`imgenlib.models.blocks.NORMS`:
    ``"batch"``, ``"group"``, ``"layer"``, ``"none"``); None keeps the older
    `d_batch_norm` switch (None there: BatchNorm, except for ``wasserstein_gp``). `dp`
    (a `imgenlib.privacy.DPConfig`) trains the discriminator with DP-SGD; it needs a
    `d_norm` other than ``"batch"`` and no dropout (see `imgenlib.models.gan.GAN`).
    `hard_negatives`, `word_loss` and `caption_interpolation` are read by
    `imgenlib.models.text_gan.build_text_gan` only.
    """

    latent_dim: int = 128
    loss: str = "non_saturating"
    width_multiplier: float = 1.0
    spectral_norm: bool = False
    d_batch_norm: bool | None = None  # None: on, except for wasserstein_gp
    d_norm: str | None = None  # None: follow d_batch_norm
    dropout: float = 0.0
    gp_weight: float = 10.0
    d_steps: int = 1
    ema_decay: float = 0.0
    augment: str | None = None
    update: str = "alternating"
    projection: str = "flatten"
    optimizer: str = "adam"
    g_learning_rate: float = 2e-4
    d_learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    schedule: str | None = None
    decay_steps: int = 10000
    dp: DPConfig | None = None
    hard_negatives: float = 0.0  # TextGAN only: weight of shape-swapped captions (see there)
    word_loss: float = 0.0  # TextGAN only: weight of the caption-word classifier (see there)
    caption_interpolation: float = 0.0  # TextGAN only: weight of GAN-INT (see there)

    @classmethod
    def tiny(cls, **overrides) -> GANConfig:
        """A minimal GAN (few filters, latent size 8) for tests and smoke runs."""
        return with_defaults(cls, {"latent_dim": 8, "width_multiplier": 0.125}, overrides)

    def discriminator_norm(self) -> str:
        """The discriminator's normalisation, `d_norm` or what `d_batch_norm` and `loss` imply.

        Raises:
            ValueError: if `d_norm` is not one of `imgenlib.models.blocks.NORMS`, or `dp`
                is set with ``"batch"`` or with dropout (`check_private_norm`).
        """
        batch_norm = self.d_batch_norm if self.d_batch_norm is not None else (
            self.loss != "wasserstein_gp"
        )  # fmt: skip
        norm = resolve_norm(self.d_norm, batch_norm)
        if self.dp is not None:
            implied = f"d_batch_norm={self.d_batch_norm}, loss={self.loss!r}"
            check_private_norm("d_norm", norm, implied_by=None if self.d_norm else implied)
            if self.dropout:
                raise ValueError(
                    "dropout must be 0 in a private discriminator (its random masks would "
                    f"make the per-example gradients fall back to a slow loop). "
                    f"Received: dropout={self.dropout}"
                )
        return norm
