"""Named training presets: a model config plus the batch size and epochs to train it with.

``python -m imgenlib train gan --data fashion_mnist`` (or ``train vae``) uses the dataset's recommended
preset; ``--preset NAME`` picks another. Presets are plain frozen dataclasses, so
``dataclasses.replace(presets.get("gan", "default").model, loss="hinge")`` varies one.
"""

from __future__ import annotations

import dataclasses

from imgenlib._validation import check_choice
from imgenlib.models.diffusion import DiffusionConfig, build_diffusion
from imgenlib.models.gan import GANConfig, build_gan
from imgenlib.models.vae import VAEConfig, build_vae

__all__ = ["PRESETS", "Preset", "available", "build", "default_preset", "get"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A model configuration with the batch size and epoch count it is meant for."""

    model: GANConfig | VAEConfig | DiffusionConfig
    batch_size: int
    epochs: int
    description: str


PRESETS: dict[str, dict[str, Preset]] = {
    "gan": {
        "default": Preset(
            GANConfig(), 128, 20, "DCGAN recipe: non-saturating loss, Adam 2e-4, beta_1 0.5"
        ),
        "tiny": Preset(GANConfig.tiny(), 32, 2, "minimal network for tests and smoke runs"),
        "demo": Preset(
            GANConfig(latent_dim=64, width_multiplier=0.5, ema_decay=0.99),
            64,
            30,
            "small DCGAN for the embedded digits (make demo), about two minutes on 2 CPU cores",
        ),
        "fashion_mnist": Preset(
            GANConfig(latent_dim=128, width_multiplier=0.5, ema_decay=0.999),
            128,
            100,
            "28x28 DCGAN with generator EMA for Fashion-MNIST; meant for --max-minutes",
        ),
        "emoji": Preset(
            GANConfig(
                latent_dim=128,
                width_multiplier=0.5,
                ema_decay=0.999,
                augment="color,translation,cutout",
            ),
            64,
            500,
            "the source article's 64x64 DCGAN (Dense -> 4x4 -> transposed convs), half width "
            "for 2 CPU cores, generator EMA and DiffAugment (3,415 images is small data); "
            "untuned first version, meant for --max-minutes",
        ),
    },
    "vae": {
        "default": Preset(
            VAEConfig(), 128, 20, "conv VAE, Bernoulli likelihood, latent 32, Adam 1e-3"
        ),
        "tiny": Preset(VAEConfig.tiny(), 32, 2, "minimal network for tests and smoke runs"),
        "demo": Preset(
            VAEConfig(latent_dim=16, width_multiplier=0.5),
            64,
            30,
            "small conv VAE for the embedded digits (make demo), one to two minutes on 2 CPU cores",
        ),
        "fashion_mnist": Preset(
            VAEConfig(latent_dim=32, width_multiplier=0.25, learning_rate=2e-3),
            128,
            100,
            "narrow 28x28 conv VAE for Fashion-MNIST (Bernoulli, latent 32, Adam 2e-3): "
            "the best test ELBO in 10 CPU minutes; meant for --max-minutes",
        ),
        "emoji": Preset(
            VAEConfig(latent_dim=64, width_multiplier=0.5, likelihood="gaussian_learned"),
            64,
            500,
            "64x64 colour conv VAE with a learned Gaussian sigma: a per-pixel Bernoulli on "
            "three colour channels is not a likelihood one can quote; untuned first version",
        ),
    },
    "diffusion": {
        "default": Preset(
            DiffusionConfig(),
            128,
            20,
            "U-Net (widths 32-64-128, attention at the lowest level), cosine schedule, "
            "epsilon objective, EMA 0.999, Adam 2e-4",
        ),
        "tiny": Preset(DiffusionConfig.tiny(), 32, 2, "minimal U-Net for tests and smoke runs"),
    },
}
_RECOMMENDED = {
    ("gan", "fashion_mnist"): "fashion_mnist",
    ("gan", "digits"): "demo",
    ("vae", "fashion_mnist"): "fashion_mnist",
    ("vae", "digits"): "demo",
    ("gan", "emoji"): "emoji",
    ("vae", "emoji"): "emoji",
}


def available(kind: str | None = None) -> dict:
    """Preset names and descriptions, for one model kind or all."""
    kinds = PRESETS if kind is None else {check_choice("model kind", kind, PRESETS): PRESETS[kind]}
    return {k: {name: p.description for name, p in presets.items()} for k, presets in kinds.items()}


def get(kind: str, name: str) -> Preset:
    """Return preset `name` for model `kind` (``"gan"`` or ``"vae"``)."""
    check_choice("model kind", kind, PRESETS)
    return PRESETS[kind][check_choice("preset", name, PRESETS[kind])]


def default_preset(kind: str, data: str) -> str:
    """The recommended preset for training `kind` on dataset `data` (else ``"default"``)."""
    return _RECOMMENDED.get((kind, data), "default")


def build(kind: str, config, image_shape, *, num_classes=None, class_names=None, seed: int = 0):
    """Build and compile a model of `kind` from its config.

    A conditional model gets `num_classes`, or `class_names` (then one class per name).
    """
    check_choice("model kind", kind, PRESETS)
    builder = {"gan": build_gan, "vae": build_vae, "diffusion": build_diffusion}[kind]
    if class_names is not None and num_classes is None:
        num_classes = len(class_names)
    return builder(config, image_shape, num_classes=num_classes, class_names=class_names, seed=seed)
