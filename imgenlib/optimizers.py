"""Optimisers and learning-rate schedules (the source article's §5.2), built from plain settings.

`make_optimizer("adam", 2e-4, beta_1=0.5)` returns a Keras optimiser; ``schedule`` adds a
Keras learning-rate schedule. GANs take two of these (one per network), which is how the
two time-scale update rule (TTUR, Heusel et al. 2017, https://arxiv.org/abs/1706.08500)
is expressed: a discriminator learning rate larger than the generator's.
"""

from __future__ import annotations

from imgenlib._validation import check_choice, check_float, check_positive_int

__all__ = ["OPTIMIZERS", "SCHEDULES", "make_optimizer", "optimizer_from_config"]

OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = (None, "cosine", "exponential")


def make_optimizer(
    name: str = "adam",
    learning_rate: float = 2e-4,
    *,
    beta_1: float = 0.5,
    beta_2: float = 0.999,
    momentum: float = 0.0,
    schedule: str | None = None,
    decay_steps: int = 10000,
    decay_rate: float = 0.5,
):
    """Build a Keras optimiser.

    Args:
        name: ``"adam"``, ``"rmsprop"`` or ``"sgd"``.
        learning_rate: initial learning rate.
        beta_1: Adam's first-moment decay. 0.5 (not Keras' 0.9) is the DCGAN setting
            (Radford et al. 2016): momentum that remembers less copes better with the
            moving target a GAN's loss is.
        beta_2: Adam's second-moment decay.
        momentum: SGD and RMSprop momentum.
        schedule: ``None`` (constant), ``"cosine"`` (to 0 over `decay_steps`) or
            ``"exponential"`` (multiply by `decay_rate` every `decay_steps`).
        decay_steps: schedule length in optimiser steps.
        decay_rate: exponential decay factor.

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    import keras

    check_choice("optimizer", name, OPTIMIZERS)
    learning_rate = check_float("learning_rate", learning_rate, minimum=0, min_inclusive=False)
    check_choice("schedule", schedule, SCHEDULES) if schedule is not None else None
    rate = learning_rate
    if schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, check_positive_int("decay_steps", decay_steps)
        )
    elif schedule == "exponential":
        rate = keras.optimizers.schedules.ExponentialDecay(
            learning_rate,
            check_positive_int("decay_steps", decay_steps),
            check_float("decay_rate", decay_rate, minimum=0, maximum=1, min_inclusive=False),
        )
    if name == "adam":
        return keras.optimizers.Adam(
            rate,
            beta_1=check_float("beta_1", beta_1, minimum=0, maximum=1, max_inclusive=False),
            beta_2=check_float("beta_2", beta_2, minimum=0, maximum=1, max_inclusive=False),
        )
    if name == "rmsprop":
        return keras.optimizers.RMSprop(
            rate, momentum=check_float("momentum", momentum, minimum=0, maximum=1)
        )
    return keras.optimizers.SGD(
        rate, momentum=check_float("momentum", momentum, minimum=0, maximum=1)
    )


def optimizer_from_config(config, learning_rate: float):
    """`make_optimizer` with the settings of a model config (`GANConfig`, `VAEConfig`, ...):
    its ``optimizer``, ``beta_1``, ``beta_2``, ``schedule`` and ``decay_steps``."""
    return make_optimizer(
        config.optimizer,
        learning_rate,
        beta_1=config.beta_1,
        beta_2=config.beta_2,
        schedule=config.schedule,
        decay_steps=config.decay_steps,
    )
