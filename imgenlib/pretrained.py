"""Small pretrained models shipped inside the package, loaded offline.

``pretrained.load("fashion_mnist_gan")`` returns a model with the usual
``generate(n=None, z=None, seed=None, labels=None)``, so the sampling, latent-exploration
and evaluation notebooks show good images without an hour of training.

What is shipped, per model (``imgenlib/weights/``):

- ``NAME.npz`` — the weights that sampling needs (a GAN's generator — its EMA copy when
  it has one —, a VAE's encoder and decoder, or a diffusion model's denoising network —
  its EMA copy), stored as float16 to halve the size. The
  archive is read with ``allow_pickle=False``: it holds plain arrays, never code.
- an entry in ``pretrained.json`` — the model's Keras config (architecture and settings),
  the file's SHA-256 (checked before loading), the exact command that trained it, its
  training time and the quality measured on the test split; for a diffusion model also
  the ``sampling`` settings (steps, η, guidance) that quality was measured with, which
  the demo uses for its grid.

A loaded GAN's discriminator is freshly initialised (it is not shipped): the model samples,
interpolates and exports, but to continue *training* it, train a run with the CLI.

`pack(model, name, ...)` writes these files from a trained model; the script
``benchmarks/train_pretrained.py`` trains every zoo model with the CLI and packs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from imgenlib._validation import check_choice
from imgenlib.io import atomic_path, save_json
from imgenlib.sampling_options import sampling_settings

__all__ = ["WEIGHTS_DIR", "available", "info", "load", "pack"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
REGISTRY = WEIGHTS_DIR / "pretrained.json"
_MAX_BYTES = 5 * 1024 * 1024


def _registry(registry: Path | None = None) -> dict:
    path = REGISTRY if registry is None else Path(registry)
    return json.loads(path.read_text()) if path.is_file() else {}


def available(*, registry=None) -> dict:
    """Names of the shipped models with a one-line description of each."""
    return {name: entry["description"] for name, entry in _registry(registry).items()}


def info(name: str, *, registry=None) -> dict:
    """Everything recorded about a shipped model: quality, command, time, size, checksum."""
    entries = _registry(registry)
    check_choice("pretrained model", name, entries)
    return {key: value for key, value in entries[name].items() if key != "config"}


def _networks(model) -> dict:
    """The sub-networks whose weights sampling needs, by role (the keys in the ``.npz``)."""
    kind = getattr(model, "kind", None)
    if kind == "gan" and hasattr(model, "text_encoder"):  # a TextGAN reads its prompts
        return {"generator": model.sampler(), "text_encoder": model.text_encoder}
    if kind == "gan":
        return {"generator": model.sampler()}
    if kind == "vae":
        return {"encoder": model.encoder, "decoder": model.decoder}
    if kind == "diffusion" and hasattr(model, "text_encoder"):  # a TextDiffusion
        return {"network": model.sampler(), "text_encoder": model.sampling_text_encoder()}
    if kind == "diffusion":
        return {"network": model.sampler()}
    raise TypeError(
        f"pack() takes an imgenlib GAN, VAE or Diffusion model. Received: a {type(model).__name__}"
    )


def _extra_variables(model) -> dict:
    """Model-level weights outside its sub-networks (e.g. a VAE's learned σ), by path."""
    inside = {id(v) for layer in model.layers for v in layer.weights}
    return {v.path: v for v in model.weights if id(v) not in inside}


def pack(
    model,
    name: str,
    *,
    description: str,
    command: str,
    train_seconds: float,
    quality: dict,
    directory=None,
    sampling: dict | None = None,
) -> Path:
    """Write `model`'s sampling weights (float16) and its registry entry.

    Args:
        model: a trained imgenlib GAN or VAE.
        name: the zoo name, e.g. ``"fashion_mnist_gan"``.
        description: one line for `available`.
        command: the exact command that trained it.
        train_seconds: its training time.
        quality: measured figures (FID, KID, ELBO, ...) with the command that measured them.
        directory: where to write (default: the package's weights folder).
        sampling: a diffusion model's sampling settings for its samples and `quality`
            (`imgenlib.sampling_options.sampling_settings`; default: its defaults);
            recorded as the entry's ``"sampling"``. Not for other models.

    Returns:
        The path of the ``.npz`` file.

    Raises:
        ValueError: the packed weights exceed 5 MB.
    """
    import keras

    from imgenlib.features import sha256

    directory = WEIGHTS_DIR if directory is None else Path(directory)
    networks = _networks(model)
    sampling = sampling_settings(model, sampling)
    arrays = {}
    for network_name, network in networks.items():
        for index, weight in enumerate(network.get_weights()):
            arrays[f"{network_name}/{index:03d}"] = weight.astype(np.float16)
    for path, variable in _extra_variables(model).items():
        arrays[f"model/{path}"] = np.asarray(variable).astype(np.float16)
    path = directory / f"{name}.npz"
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    size = path.stat().st_size
    if size > _MAX_BYTES:
        path.unlink()
        raise ValueError(f"{name}: packed weights are {size / 2**20:.1f} MB; the limit is 5 MB.")
    registry_path = directory / "pretrained.json"
    entries = _registry(registry_path)
    entries[name] = {
        "description": description,
        "class": type(model).__name__,
        "file": path.name,
        "bytes": size,
        "sha256": sha256(path),
        "latent_dim": model.latent_dim,
        "num_classes": model.num_classes,
        "image_shape": list(model.image_shape),
        "command": command,
        "train_seconds": round(float(train_seconds), 1),
        "quality": quality,
        **({} if sampling is None else {"sampling": sampling}),
        "config": keras.saving.serialize_keras_object(model),
    }
    save_json(entries, registry_path)
    return path


def load(name: str, *, registry=None):
    """Load a shipped model by name, offline.

    Args:
        name: one of `available()`, e.g. ``"fashion_mnist_gan"``.

    Returns:
        The model (a `GAN`, `VAE` or `Diffusion`), ready to ``generate`` (a diffusion
        model: with ``**model.pretrained_info["sampling"]`` for the recorded quality).

    Raises:
        ValueError: unknown name; the weight file is missing, or its SHA-256 differs from
            the recorded one (corrupt or modified).
    """
    import keras

    import imgenlib.models  # noqa: F401  (registers imgenlib's classes with Keras)
    from imgenlib.features import sha256

    registry_path = REGISTRY if registry is None else Path(registry)
    entries = _registry(registry_path)
    check_choice("pretrained model", name, entries)
    entry = entries[name]
    path = registry_path.parent / entry["file"]
    if not path.is_file():
        raise ValueError(f"Weights of {name!r} are missing: {str(path)!r} does not exist.")
    if sha256(path) != entry["sha256"]:
        raise ValueError(
            f"{path.name} does not match its recorded SHA-256 (file corrupt or modified)."
        )
    model = keras.saving.deserialize_keras_object(entry["config"], safe_mode=True)
    with np.load(path, allow_pickle=False) as archive:
        stored = {key: archive[key] for key in archive.files}
    networks = _networks(model)
    for network_name, network in networks.items():
        weights = [
            stored[f"{network_name}/{index:03d}"].astype(np.float32)
            for index in range(len(network.weights))
        ]
        network.set_weights(weights)
        trained = getattr(model, network_name)  # the trained copy beside an EMA sampler
        if network is not trained:
            trained.set_weights(weights)
    for variable_path, variable in _extra_variables(model).items():
        variable.assign(stored[f"model/{variable_path}"].astype(np.float32))
    model.pretrained_info = {key: value for key, value in entry.items() if key != "config"}
    return model
