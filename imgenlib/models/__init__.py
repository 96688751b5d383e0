"""Generative models: the `GenerativeModel` base, GANs and diffusion models (both also
text-conditional), VAEs and mean-embedding (DP-MERF) generators (and their networks), and
safe loading of saved models.

Importing this package registers imgenlib's classes with Keras, so `load_model` (or
``keras.saving.load_model`` after ``import imgenlib.models``) can restore ``.keras`` files.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from imgenlib.models.base import GenerativeModel, NoiseSalt
from imgenlib.models.conditions import balanced_labels
from imgenlib.models.diffusion import Diffusion, DiffusionConfig, build_diffusion
from imgenlib.models.elbo import LIKELIHOODS, Sampling, kl_divergence, reconstruction_nll
from imgenlib.models.gan import GAN, GANConfig, build_gan
from imgenlib.models.mean_embedding import MeanEmbeddingGenerator
from imgenlib.models.networks import (
    build_decoder,
    build_discriminator,
    build_encoder,
    build_generator,
    build_text_discriminator,
    build_text_generator,
)
from imgenlib.models.text_diffusion import TextDiffusion, build_text_diffusion
from imgenlib.models.text_gan import TextGAN, build_text_gan
from imgenlib.models.vae import VAE, VAEConfig, build_vae

__all__ = [
    "Diffusion",
    "DiffusionConfig",
    "GAN",
    "GANConfig",
    "LIKELIHOODS",
    "GenerativeModel",
    "MeanEmbeddingGenerator",
    "NoiseSalt",
    "Sampling",
    "TextDiffusion",
    "TextGAN",
    "VAE",
    "VAEConfig",
    "balanced_labels",
    "build_decoder",
    "build_diffusion",
    "build_discriminator",
    "build_encoder",
    "build_gan",
    "build_generator",
    "build_text_diffusion",
    "build_text_discriminator",
    "build_text_gan",
    "build_text_generator",
    "build_vae",
    "kl_divergence",
    "load_model",
    "reconstruction_nll",
]


def load_model(path, *, compile: bool = True):
    """Load a model saved with ``model.save("x.keras")``, in Keras' safe mode.

    Safe mode refuses to deserialise arbitrary Python code (Lambda layers, pickled
    functions), so a shared model file cannot run code on your machine.

    Args:
        path: a ``.keras`` file.
        compile: also restore the optimisers (needed to continue training).

    Returns:
        The model (a `GAN`, `TextGAN`, `VAE`, `Diffusion` or `TextDiffusion`), ready to ``generate`` and, with `compile`, ``fit``.

    Raises:
        ValueError: the file is missing, not a ``.keras`` archive, truncated or tampered
            with, or holds NaN/Inf weights or optimiser state.
    """
    import keras

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Expected a .keras file. Received: path={str(path)!r}")
    if not path.is_file():
        raise ValueError(f"Model file does not exist. Received: path={str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is not a valid .keras archive (truncated or not a Keras model file)."
        )
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError, EOFError) as error:
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise ValueError(f"Cannot load model from {str(path)!r}: {first_line[:300]}") from None
    _check_finite(model, path)
    return model


def _check_finite(model, path):
    """Refuse NaN/Inf in weights or optimiser state: the .h5 inside a .keras has no checksum,
    so corrupted tensor bytes load silently, and NaN is what flipped bits usually give."""
    import keras
    import numpy as np

    variables = list(model.weights)
    for value in vars(model).values():
        if isinstance(value, keras.optimizers.Optimizer):
            variables += list(value.variables)
    for variable in variables:
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable))):
            raise ValueError(
                f"Cannot load model from {str(path)!r}: {variable.path} holds NaN or Inf "
                "(the file is corrupt, or was saved from a diverged run)."
            )
