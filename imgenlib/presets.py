"""Named training presets: a model config plus the batch size and epochs (or steps) to train it with.

``python -m imgenlib train gan --data fashion_mnist`` (or ``train vae``) uses the dataset's recommended
preset; ``--preset NAME`` picks another. A folder of your own images gets a preset chosen
from what it holds (`choose_preset`): ``small_colour`` for at most `SMALL_FOLDER_IMAGES`
colour images, else ``default``. Presets are plain frozen dataclasses, so
``dataclasses.replace(presets.get("gan", "default").model, loss="hinge")`` varies one.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from imgenlib._validation import check_choice, check_positive_int
from imgenlib.models.diffusion import DiffusionConfig, build_diffusion
from imgenlib.models.gan import GANConfig, build_gan
from imgenlib.models.vae import VAEConfig, build_vae

__all__ = [
    "PRESETS",
    "SMALL_FOLDER_IMAGES",
    "Preset",
    "available",
    "build",
    "choose_preset",
    "default_preset",
    "get",
]

SMALL_FOLDER_IMAGES = 20_000
SMALL_COLOUR_STEPS = 4_000


@dataclasses.dataclass(frozen=True)
class Preset:
    """A model configuration with the batch size and training length it is meant for.

    The length is either `epochs` or a budget of optimiser `steps` (one of the two is None):
    a step budget gives a folder of 500 images and one of 5,000 the same amount of training.

    Attributes:
        model: the model config.
        batch_size: images per step.
        epochs: passes over the data, or None with `steps`.
        description: one line for ``python -m imgenlib presets``.
        steps: optimiser steps, or None with `epochs`.
        image_size: the square side the preset is meant for, used when a run gives none
            (`imgenlib.runs.RunConfig.resolved`); an explicit ``--image-size`` wins. None:
            the data's own size (folders: 64).
    """

    model: GANConfig | VAEConfig | DiffusionConfig
    batch_size: int
    epochs: int | None
    description: str
    steps: int | None = None
    image_size: int | None = None

    def __post_init__(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError(
                "A preset needs either epochs or steps. "
                f"Received: epochs={self.epochs!r}, steps={self.steps!r}"
            )
        for name in ("batch_size", "epochs", "steps"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        if self.image_size is not None:
            from imgenlib.models.blocks import check_image_side

            check_image_side(self.image_size, "a preset")

    def epochs_for(self, train_images: int, batch_size: int | None = None) -> int:
        """The epochs that train this preset on `train_images` images.

        With a step budget: the fewest epochs giving at least `steps` steps, an epoch being
        ``train_images // batch_size`` steps (incomplete batches are dropped).

        Args:
            train_images: the number of training images.
            batch_size: the run's batch size; default: the preset's.

        Raises:
            ValueError: fewer images than one batch.
        """
        if self.steps is None:
            return self.epochs
        batch_size = check_positive_int("batch_size", batch_size or self.batch_size)
        per_epoch = check_positive_int("train_images", train_images) // batch_size
        if per_epoch == 0:
            raise ValueError(
                f"batch_size must not exceed the number of training images ({train_images}). "
                f"Received: batch_size={batch_size}"
            )
        return math.ceil(self.steps / per_epoch)


EMOJI_GAN = GANConfig(
    latent_dim=128, width_multiplier=0.5, ema_decay=0.999, augment="color,translation,cutout"
)
"""The 64x64 colour GAN of the ``emoji`` and ``small_colour`` presets."""
EMOJI_VAE = VAEConfig(latent_dim=64, width_multiplier=0.25, likelihood="discretised_logistic")
"""The 64x64 colour VAE of the ``emoji`` and ``small_colour`` presets."""

TEXT_GAN = GANConfig(
    latent_dim=32,
    width_multiplier=0.5,
    ema_decay=0.99,
    g_learning_rate=2e-3,
    d_learning_rate=2e-3,
    word_loss=10.0,
)
"""The text-conditional GAN of the ``text`` preset: the recipe of the TextGAN learning test
(lr 2e-3, EMA 0.99, latent 32; `imgenlib.models.text_gan`) at twice its width, with the
caption-word classifier at weight 10 (30 minutes: every attribute right for 92 % / 88 % of
seen / held-out prompts, against 40 % / 25 % for 30 epochs without it)."""

FASHION_MNIST_DIFFUSION = DiffusionConfig(
    widths=(16, 32, 64), blocks_per_level=1, learning_rate=1e-3
)
"""The 28x28 U-Net of the ``fashion_mnist`` diffusion preset (sized for CPU minutes)."""
TEXT_DIFFUSION = DiffusionConfig(
    widths=(16, 32, 64),
    blocks_per_level=1,
    learning_rate=1e-3,
    prediction="v",
    ema_decay=0.995,
    text_map=8,
    scale_shift=True,
    cross_attention=True,
    text_tokens="words",
)
"""The text-conditional U-Net of the ``text`` diffusion preset: the fashion_mnist preset's
small U-Net, v-prediction (`imgenlib.models.text_diffusion` measured it ahead of ε for text),
EMA 0.995, caption dropout 0.1 for classifier-free guidance, and an 8-channel caption layout
map (`imgenlib.models.unet`: position accuracy 0.16 → 0.99 where it was measured), AdaGN
(``scale_shift``) and cross-attention to word states (``text_tokens="words"``: each token's
word plus position vector, the same for "square" beside any colour). The table in
`imgenlib.models.diffusion_words` measured the last two: held-out exact match 0.33 → 0.95
after 30 CPU minutes."""
EMOJI_DIFFUSION = DiffusionConfig(
    widths=(16, 32, 64), blocks_per_level=1, learning_rate=1e-3, prediction="v"
)
"""The U-Net of the ``emoji`` diffusion preset, trained on emoji taken to 32x32 with
v-prediction (ε-prediction lost the layout at high noise: see the preset's description)."""

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
            EMOJI_GAN,
            64,
            500,
            "the source article's 64x64 DCGAN (Dense -> 4x4 -> transposed convs), half width "
            "for 2 CPU cores, generator EMA and DiffAugment (3,415 images is small data); "
            "meant for --max-minutes with --precision mixed_bfloat16 where the CPU has "
            "AVX512_BF16 (1.3x the images/s of float32, FID 16.4 vs 20.1 after 5 minutes); "
            "FID 4.48 after 30 minutes (benchmarks/time_to_quality.py --data emoji)",
        ),
        "small_colour": Preset(
            EMOJI_GAN,
            64,
            None,
            f"chosen for a folder of at most {SMALL_FOLDER_IMAGES:,} colour images: the emoji "
            "preset's 64x64 DCGAN (half width for 2 CPU cores, generator EMA 0.999, DiffAugment, "
            "which small data needs) for a budget of "
            f"{SMALL_COLOUR_STEPS:,} steps of 64 images (~30 min at ~146 img/s) whatever the "
            "folder's size",
            steps=SMALL_COLOUR_STEPS,
        ),
        "text": Preset(
            TEXT_GAN,
            64,
            20,
            "text-conditional GAN-CLS (imgenlib.models.TextGAN: caption encoder trained by "
            "D's matching-aware loss, projection discriminator, caption-word classifier on D's "
            "features, word_loss 10) at 32x32, half-width DCGAN, latent 32, Adam 2e-3, "
            "generator EMA 0.99; chosen for --text runs",
            image_size=32,
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
            EMOJI_VAE,
            64,
            500,
            "64x64 colour conv VAE with a discretised-logistic likelihood (the probability of "
            "each pixel's 8-bit level, one learned scale): a per-pixel Bernoulli on three "
            "colour channels is not a likelihood one can quote, and a learned-sigma Gaussian "
            "density rewards a shrinking sigma; quarter width (half width overfits sooner): "
            "FID 18.8 and 4.93 held-out bits/dim after 30 minutes (see the README)",
        ),
        "small_colour": Preset(
            EMOJI_VAE,
            64,
            None,
            f"chosen for a folder of at most {SMALL_FOLDER_IMAGES:,} colour images: the emoji "
            f"VAE (64x64, discretised logistic, latent 64) for a budget of {SMALL_COLOUR_STEPS:,} "
            "steps of 64 images whatever the folder's size",
            steps=SMALL_COLOUR_STEPS,
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
        "fashion_mnist": Preset(
            FASHION_MNIST_DIFFUSION,
            64,
            8,
            "small 28x28 U-Net (widths 16-32-64, one block per level, attention at 7x7, "
            "640k parameters), Adam 1e-3, batch 64: 5-minute pilots preferred it to the "
            "default U-Net (3.6M parameters, 50 img/s) and to batch 128; meant for --max-minutes",
        ),
        "emoji": Preset(
            EMOJI_DIFFUSION,
            64,
            500,
            "the fashion_mnist preset's small U-Net (widths 16-32-64, one block per level), "
            "Adam 1e-3, batch 64, trained on the emoji taken to 32x32: 4x the images/s of "
            "64x64 on 2 CPU cores (119 vs 30 img/s in 5-minute pilots), and its samples "
            "upsampled to 64x64 scored FID 21.3 vs 103 at 64x64 after equal time (n=500; "
            "the floor of the 32x32 round trip is 5.37); meant for --max-minutes. "
            "v-prediction: 8-minute pilots with epsilon-prediction (FID 17.2-18.8 for EMA "
            "0.995, widths 32-64-128, category labels, min-SNR 5, batch 32) drew colour "
            "textures without the white background, because their x0 estimate at high noise "
            "is poor; with v the layout appears and after 30 minutes FID 13.4, KID 0.178 "
            "(n=2000, 25 DDIM steps; epsilon: 19.6), still far behind the emoji GAN's "
            "4.48: on 2 CPU cores the GAN is the emoji model",
            image_size=32,
        ),
        "text": Preset(
            TEXT_DIFFUSION,
            64,
            30,
            "text-conditional diffusion (imgenlib.models.TextDiffusion: the caption's text "
            "vector added to the time embedding, caption dropout 0.1 for guidance): the "
            "fashion_mnist preset's small U-Net, v-prediction, EMA 0.995, Adam 1e-3, 32x32, "
            "an 8-channel caption layout map (text_map), AdaGN and cross-attention to "
            "word states (text_tokens='words'); chosen for --text runs",
            image_size=32,
        ),
        "tiny": Preset(
            DiffusionConfig.tiny(timesteps=20),
            32,
            2,
            "minimal U-Net for tests and smoke runs; T = 20, so a sample grid takes 20 DDIM steps",
        ),
    },
}
_RECOMMENDED = {
    ("gan", "fashion_mnist"): "fashion_mnist",
    ("gan", "digits"): "demo",
    ("vae", "fashion_mnist"): "fashion_mnist",
    ("vae", "digits"): "demo",
    ("gan", "emoji"): "emoji",
    ("vae", "emoji"): "emoji",
    ("diffusion", "fashion_mnist"): "fashion_mnist",
    ("diffusion", "emoji"): "emoji",
}


def available(kind: str | None = None) -> dict:
    """Preset names and descriptions, for one model kind or all."""
    kinds = PRESETS if kind is None else {check_choice("model kind", kind, PRESETS): PRESETS[kind]}
    return {k: {name: p.description for name, p in presets.items()} for k, presets in kinds.items()}


def get(kind: str, name: str) -> Preset:
    """Return preset `name` for model `kind` (``"gan"`` or ``"vae"``)."""
    check_choice("model kind", kind, PRESETS)
    return PRESETS[kind][check_choice("preset", name, PRESETS[kind])]


def default_preset(kind: str, data: str, *, text: bool = False) -> str:
    """The recommended preset for training `kind` on `data` (see `choose_preset`)."""
    return choose_preset(kind, data, text=text)[0]


def choose_preset(kind: str, data: str, *, text: bool = False) -> tuple[str, str]:
    """The preset for training `kind` on a dataset or folder `data`, and why, in one line.

    A text-conditional run (`text`) gets the kind's ``"text"`` preset. A dataset gets its
    recommended preset (else ``"default"``). A folder of images gets
    ``"small_colour"`` when it holds at most `SMALL_FOLDER_IMAGES` image files and they are
    in colour (`imgenlib.data.describe_folder`): small data is where DiffAugment pays
    (Zhao et al. 2020, https://arxiv.org/abs/2006.10738: its gains grow as the data
    shrinks, from CIFAR-10's 50,000 images down to 100-image sets), and with at most
    20,000 images the 4,000 steps of 64 (~30 CPU minutes) still show each image 12 times
    or more. A greyscale or larger folder keeps ``"default"``.

    Returns:
        ``(name, reason)``, e.g. ``("small_colour", "preset small_colour: 1,203 colour image
        files in icons/ (at most 20,000: ...)")``.
    """
    from imgenlib.data import DATASETS, describe_folder

    check_choice("model kind", kind, PRESETS)
    if text and "text" in PRESETS[kind]:
        return "text", f"preset text: recommended for text-conditional {kind} runs"
    if data in DATASETS or not Path(data).is_dir():
        name = _RECOMMENDED.get((kind, data), "default")
        why = "recommended for" if (kind, data) in _RECOMMENDED else "no recommended preset for"
        return name, f"preset {name}: {why} {data}"
    folder = describe_folder(data)
    found = f"{folder.files:,} {'colour' if folder.colour else 'greyscale'} image files in {data}"
    if "small_colour" not in PRESETS[kind]:
        return "default", f"preset default: {found} (no small-folder preset for a {kind} yet)"
    if not folder.colour:
        return "default", f"preset default: {found} (small_colour is for colour images)"
    if folder.files > SMALL_FOLDER_IMAGES:
        return "default", (
            f"preset default: {found} (small_colour is for at most {SMALL_FOLDER_IMAGES:,})"
        )
    return "small_colour", (
        f"preset small_colour: {found} (at most {SMALL_FOLDER_IMAGES:,}: small data, so "
        f"DiffAugment, generator EMA and a budget of {PRESETS[kind]['small_colour'].steps:,} "
        "steps rather than epochs)"
    )


def build(
    kind: str, config, image_shape, *, num_classes=None, class_names=None, captions=None,
    text_encoder=None, seed: int = 0,
):  # fmt: skip
    """Build and compile a model of `kind` from its config.

    A conditional model gets `num_classes`, or `class_names` (then one class per name); a
    text-conditional one the training `captions` (the words its new text encoder knows), or
    a ready `text_encoder` (e.g. a Mini-CLIP's), which stays frozen.
    """
    check_choice("model kind", kind, PRESETS)
    if captions is not None or text_encoder is not None:
        text = (
            {"captions": captions}
            if text_encoder is None
            else {"text_encoder": text_encoder, "text_training": "frozen"}
        )
        if kind == "diffusion":
            from imgenlib.models.text_diffusion import build_text_diffusion

            return build_text_diffusion(config, image_shape, **text, seed=seed)
        if kind != "gan":
            raise ValueError(
                f"Text-conditional models are GANs and diffusion models. Received: kind={kind!r}"
            )
        from imgenlib.models.text_gan import build_text_gan

        return build_text_gan(config, image_shape, **text, seed=seed)
    builder = {"gan": build_gan, "vae": build_vae, "diffusion": build_diffusion}[kind]
    if class_names is not None and num_classes is None:
        num_classes = len(class_names)
    return builder(config, image_shape, num_classes=num_classes, class_names=class_names, seed=seed)
