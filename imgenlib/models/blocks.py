"""Convolutional building blocks shared by the GAN and VAE networks.

Both families use the same two shapes of network, chosen by image size:

- an *up* stack (generator / decoder): Dense → reshape to a small grid → transposed
  convolutions (kernel 4, stride 2) doubling the size each time, with BatchNorm and
  LeakyReLU → an output layer with `image_shape[-1]` channels;
- a *down* stack (discriminator / encoder): strided convolutions (kernel 4, stride 2)
  halving the size each time, with LeakyReLU (and optional BatchNorm, spectral norm,
  dropout) → flattened features (or their global sum over positions).

Sizes follow DCGAN (Radford et al. 2016, https://arxiv.org/abs/1511.06434), the
architecture of the source article: 64×64 uses four blocks each way, 32×32 one fewer,
and MNIST-sized 28×28 images start the generator from a 7×7 grid.
"""

from __future__ import annotations

import math

import keras

from imgenlib._validation import check_choice, check_float
from imgenlib.models.renames import renamed_keywords

__all__ = [
    "ARCHITECTURES",
    "FEATURES",
    "NORMS",
    "check_image_shape",
    "check_image_side",
    "check_private_norm",
    "down_stack",
    "norm_layer",
    "resolve_norm",
    "up_stack",
]

FEATURES = ("flatten", "sum")
NORMS = ("batch", "group", "layer", "none")

# size: (start grid, dense filters, transposed-conv filters, output layer, down filters)
ARCHITECTURES = {
    16: (4, 256, (128,), "transpose", (64, 128)),
    28: (7, 256, (128, 64), "conv", (64, 128)),
    32: (4, 512, (256, 128), "transpose", (64, 128, 256)),
    64: (4, 512, (256, 128, 64), "transpose", (64, 128, 256, 512)),
}


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """Validate an (H, W, C) image shape supported by the builders and return it as ints."""
    try:
        height, width, channels = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"image_shape must be (height, width, channels). Received: image_shape={image_shape!r}"
        ) from None
    if height != width or height not in ARCHITECTURES or channels not in (1, 3):
        sizes = ", ".join(f"{s}x{s}" for s in ARCHITECTURES)
        raise ValueError(
            f"image_shape must be square with a side in ({sizes}) and 1 or 3 channels. "
            f"Received: image_shape={tuple(image_shape)!r}"
        )
    return height, width, channels


def check_image_side(image_size, network: str = "these networks") -> int:
    """Return `image_size` if the builders support square images of that side, else raise.

    Every network here (and the diffusion U-Net, which shares this check) is built for the
    sides in `ARCHITECTURES`: DCGAN stacks doubling a 4×4 grid to 16, 32 or 64, or a 7×7
    grid to 28. Checked before any data is loaded, so a bad ``--image-size`` fails at once.

    Args:
        image_size: the side, in pixels.
        network: what the message says the sizes are for, e.g. ``"the 'emoji' gan"``.

    Raises:
        ValueError: naming the received value and the sides that work.
    """
    if image_size not in ARCHITECTURES or isinstance(image_size, bool):
        sizes = ", ".join(str(size) for size in sorted(ARCHITECTURES))
        raise ValueError(
            f"image_size must be one of {sizes} for {network} (its networks double a 4x4 "
            f"grid to 16, 32 or 64, or a 7x7 grid to 28). Received: image_size={image_size!r}"
        )
    return image_size


def resolve_norm(norm, batch_norm: bool) -> str:
    """The normalisation of a network: `norm` if given, else the legacy `batch_norm` flag's.

    Args:
        norm: one of `NORMS`, or None to follow `batch_norm`.
        batch_norm: the older switch: True is ``"batch"``, False ``"none"``.

    Returns:
        One of `NORMS`.

    Raises:
        ValueError: if `norm` is not in `NORMS`.
    """
    if norm is None:
        return "batch" if batch_norm else "none"
    return check_choice("norm", norm, NORMS)


def check_private_norm(field: str, norm: str, *, implied_by: str | None = None) -> str:
    """Refuse BatchNorm in a network trained with DP-SGD; return `norm` otherwise.

    BatchNorm normalises each example with statistics of the whole batch, so one
    example's output (and gradient) depends on the others: per-example clipping no longer
    bounds what one example contributes.

    Args:
        field: the config field that chooses the normalisation, e.g. ``"d_norm"``.
        norm: its resolved value.
        implied_by: when `field` was left None, the settings that chose `norm`, e.g.
            ``"batch_norm=True"``, for the message.

    Raises:
        ValueError: if `norm` is ``"batch"``, naming the field and value.

    Example:
        >>> check_private_norm("norm", "group")
        'group'
    """
    norm = check_choice(field, norm, NORMS)
    if norm == "batch":
        received = f"{field}='batch'" if implied_by is None else f"{field}=None ({implied_by})"
        raise ValueError(
            f"{field} must be 'group', 'layer' or 'none' when dp is set: BatchNorm mixes the "
            f"examples of a batch, so per-example clipping would not bound one example's "
            f"influence. Received: {received}"
        )
    return norm


def _groups(channels: int) -> int:
    """At most 32 groups (Wu & He's default) of at least 4 channels where possible."""
    groups = math.gcd(channels, 32)
    while groups > 1 and channels // groups < 4:
        groups //= 2
    return groups


def norm_layer(norm: str, channels: int, name: str):
    """The normalisation layer `norm` for feature maps of `channels` channels, or None.

    ``"batch"``: `keras.layers.BatchNormalization` (statistics over the batch: mixes
    examples). ``"group"``: `keras.layers.GroupNormalization` with at most 32 groups of at
    least 4 channels where the channel count allows. ``"layer"``: statistics over all of
    one example's positions and channels with a per-channel scale and offset (GroupNorm
    with one group, the conv-net layer norm of Ba et al. 2016). ``"none"``: None.

    Example:
        >>> norm_layer("group", 64, "d_gn1").groups
        16
    """
    norm = check_choice("norm", norm, NORMS)
    if norm == "batch":
        return keras.layers.BatchNormalization(name=name)
    if norm == "group":
        return keras.layers.GroupNormalization(_groups(channels), name=name)
    if norm == "layer":
        return keras.layers.GroupNormalization(1, name=name)
    return None


_NORM_SUFFIX = {"batch": "bn", "group": "gn", "layer": "ln"}


def _normalise(x, norm: str, name: str, index: int):
    if norm == "none":
        return x
    return norm_layer(norm, x.shape[-1], f"{name}_{_NORM_SUFFIX[norm]}{index}")(x)


def _filters(count: int, width_multiplier: float) -> int:
    return max(4, int(round(count * width_multiplier)))


@renamed_keywords(width="width_multiplier")
def up_stack(
    x,
    image_shape,
    *,
    width_multiplier: float = 1.0,
    batch_norm: bool = True,
    norm: str | None = None,
    name: str = "up",
):
    """Map a vector batch (B, D) to an image-shaped tensor (B, H, W, C) of pre-activations.

    `batch_norm=False` drops the BatchNorm layers (and gives the convolutions biases), so
    each output depends on its own input only, as a VAE's per-image likelihood should.
    `norm` (one of `NORMS`) overrides `batch_norm`; layers without a normalisation after
    them get biases.
    """
    height, _, channels = check_image_shape(image_shape)
    norm = resolve_norm(norm, batch_norm)
    width_multiplier = check_float(
        "width_multiplier", width_multiplier, minimum=0, min_inclusive=False
    )
    start, dense_filters, filters, output, _ = ARCHITECTURES[height]
    dense_filters = _filters(dense_filters, width_multiplier)
    x = keras.layers.Dense(
        start * start * dense_filters, use_bias=norm == "none", name=f"{name}_dense"
    )(x)
    x = keras.layers.Reshape((start, start, dense_filters), name=f"{name}_reshape")(x)
    x = _normalise(x, norm, name, 0)
    x = keras.layers.LeakyReLU(0.2, name=f"{name}_act0")(x)
    for i, count in enumerate(filters, start=1):
        x = keras.layers.Conv2DTranspose(
            _filters(count, width_multiplier),
            4,
            strides=2,
            padding="same",
            use_bias=norm == "none",
            name=f"{name}_deconv{i}",
        )(x)
        x = _normalise(x, norm, name, i)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_act{i}")(x)
    if output == "transpose":
        return keras.layers.Conv2DTranspose(
            channels, 4, strides=2, padding="same", name=f"{name}_out"
        )(x)
    return keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_out")(x)


@renamed_keywords(width="width_multiplier")
def down_stack(
    x,
    image_shape,
    *,
    width_multiplier: float = 1.0,
    batch_norm: bool = True,
    norm: str | None = None,
    spectral_norm: bool = False,
    dropout: float = 0.0,
    features: str = "flatten",
    name: str = "down",
):
    """Map images (B, H, W, C) to features (B, F) with strided convolutions.

    The first block has no normalisation (DCGAN); `batch_norm=False` removes it everywhere
    (WGAN-GP needs per-example gradients, which BatchNorm mixes across the batch), and
    `norm` (one of `NORMS`) overrides `batch_norm`.
    `features` is ``"flatten"`` (every position's channels, DCGAN) or ``"sum"`` (the
    global sum over positions of each channel, SNGAN/BigGAN).
    """
    height, _, _ = check_image_shape(image_shape)
    width_multiplier = check_float(
        "width_multiplier", width_multiplier, minimum=0, min_inclusive=False
    )
    features = check_choice("features", features, FEATURES)
    norm = resolve_norm(norm, batch_norm)
    dropout = check_float("dropout", dropout, minimum=0, maximum=1, max_inclusive=False)
    for i, count in enumerate(ARCHITECTURES[height][4]):
        conv = keras.layers.Conv2D(
            _filters(count, width_multiplier), 4, strides=2, padding="same", name=f"{name}_conv{i}"
        )
        x = (
            keras.layers.SpectralNormalization(conv, name=f"{name}_sn{i}")
            if spectral_norm
            else conv
        )(x)
        if i > 0:
            x = _normalise(x, norm, name, i)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_act{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_drop{i}")(x)
    if features == "sum":
        area = x.shape[1] * x.shape[2]
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_mean_pool")(x)
        return keras.layers.Rescaling(float(area), name=f"{name}_sum_pool")(x)
    return keras.layers.Flatten(name=f"{name}_flatten")(x)
