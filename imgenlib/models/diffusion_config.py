"""`DiffusionConfig`: the settings of a `imgenlib.models.diffusion.Diffusion` model and its optimiser.

Kept apart from the model so that the model file reads in one sitting; build a model
from it with `imgenlib.models.diffusion.build_diffusion`.
"""

from __future__ import annotations

import dataclasses

__all__ = ["DiffusionConfig"]


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    """Everything that defines a diffusion model and its optimiser; vary it with `dataclasses.replace`.

    ``noise_schedule`` is the noise schedule (``schedule`` is the learning-rate schedule,
    as in the other configs). ``text_map`` is the channels of a text-conditional U-Net's
    learned caption layout (`imgenlib.models.unet.build_unet`; 0: none, and no effect on
    other models), ``word_loss`` the weight of its caption-word classifier
    (`imgenlib.models.diffusion_words`; 0: none) and ``word_dropout`` the probability of
    dropping each caption word in training (`TextDiffusion.drop_words`; 0: none);
    ``colour_words`` makes that classifier factorised (colour words read from colour, the
    others from the silhouette; empty: one CNN reads every word).
    ``scale_shift`` and ``patch`` are `build_unet`'s (AdaGN conditioning; the stem's patch
    side), ``text_pooling`` a `TextDiffusion`'s text vector (``"encoder"`` or ``"words"``),
    ``cross_attention`` whether its U-Net attends to the caption's tokens and ``text_tokens``
    what those are (`imgenlib.models.text_condition`). `tiny()` is a minimal network for tests.
    """

    noise_schedule: str = "cosine"
    timesteps: int = 1000
    prediction: str = "epsilon"
    widths: tuple = (32, 64, 128)
    blocks_per_level: int = 2
    attention: bool = True
    heads: int = 4
    dropout: float = 0.0
    embedding_dim: int | None = None
    ema_decay: float = 0.999
    label_dropout: float = 0.1
    min_snr_gamma: float | None = None
    text_map: int = 0
    word_loss: float = 0.0
    word_dropout: float = 0.0
    colour_words: tuple = ()
    scale_shift: bool = False
    text_pooling: str = "encoder"
    cross_attention: bool = False
    text_tokens: str = "encoder"
    patch: int = 1
    optimizer: str = "adam"
    learning_rate: float = 2e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    schedule: str | None = None
    decay_steps: int = 10000

    @classmethod
    def tiny(cls, **overrides) -> DiffusionConfig:
        """A minimal U-Net (widths 8, 16; one block per level) for tests and smoke runs."""
        defaults = {"widths": (8, 16), "blocks_per_level": 1, "heads": 2, "embedding_dim": 16}
        return cls(**{**defaults, **overrides})
