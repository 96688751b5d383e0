"""The denoising U-Net of the diffusion family: ``[x_t, t(, labels | text)] → prediction``.

A small version of the network of Ho et al. 2020 (https://arxiv.org/abs/2006.11239), itself
a PixelCNN++-style U-Net: residual blocks with GroupNorm and swish, the timestep's
sinusoidal embedding (Vaswani et al. 2017) passed through an MLP and added inside every
block, optional self-attention at the lowest resolution, and skip connections from each
down-sampling level to the matching up-sampling level. Built from Keras layers only (one
registered layer, `SinusoidalEmbedding`; no Lambda), so ``.keras`` files load in safe mode.

Class conditioning adds a learned class vector to the time embedding. Its table has
``num_classes + 1`` rows: the last, index ``num_classes`` (`null_label`), is the "no
condition" class that classifier-free guidance (Ho & Salimans 2022,
https://arxiv.org/abs/2207.12598) trains by condition dropout and samples with. Text
conditioning (``text_dim``) adds a Dense projection of a caption's pooled text vector instead
(`imgenlib.models.text_diffusion`), the way Imagen adds its pooled text embedding to the
time embedding (Saharia et al. 2022, https://arxiv.org/abs/2205.11487). With
``cross_attention=True`` the network also takes the caption's token states and padding mask
and attends to them after every residual block at sides ≤ 16 and in the middle
(`imgenlib.models.cross_attention`).

**Where** a caption puts something is what this additive conditioning cannot say: the
embedding is added equally at every pixel and convolutions are translation-equivariant, so
"top left" reaches the pixels only through the zero padding at the borders (a GAN's
generator has no such problem: its Dense → 4×4 first layer is already a layout).
``text_map=C`` gives the network that layout: a Dense projection of the text vector to a
4×4×C map, resized to the image and concatenated to x_t. On 16×16 one-object scenes (tiny
U-Net, 20 epochs, guidance 4, ``python benchmarks/text_diffusion_learning.py``), position
accuracy went from 0.16 without it (chance 0.11; cross-attention 0.08, two coordinate
channels 0.41) to 0.99 with ``--text-map 8``; colour stayed between 0.2 and 0.4 either way.
At 32×32 the map carries position when the caption's vector does (one-object scenes: 0.91,
and 1.00 with the frozen Mini-CLIP encoder, ``--image-size 32``); with half the scenes
holding two objects an encoder trained by the denoiser left it at chance, and a frozen
Mini-CLIP encoder restored it: the zoo's ``shapes_captions_text_diffusion`` (``train
diffusion --text --text-encoder clip``, 30 minutes) draws the asked position for 0.99 of
held-out prompts.

Mixed precision: built under the ``mixed_bfloat16`` policy the residual blocks compute in
bfloat16, but the layers in `FLOAT32_LAYERS` (built with `EXACT`) stay float32 whatever
the policy:

- the input convolution (``stem``): at small t, x_t = sqrt(ᾱ)·x_0 + sqrt(1 − ᾱ)·ε holds ε
  at 0.006 of x_0's scale (t = 0, cosine schedule), about bfloat16's rounding error (up to
  2^−8 of a value), so rounding x_t erased much of what the network has to predict. The
  zoo's ``fashion_mnist_diffusion`` with its weights in a bfloat16 U-Net, on 128 test
  images: ε̂ off by 28 % of its norm at t = 0 and 7 % at t = 10 with a bfloat16 stem, 9 %
  and 2.6 % with a float32 one, 0.2–0.6 % at t ≥ 300 either way
  (``tests/models/test_diffusion_precision.py`` checks these bounds);
- the time (and class) embedding: t is cast to float32 before the sinusoids (in bfloat16
  t = 999 would be 1000), and its MLP costs little;
- the attention block at the lowest resolution (a softmax over H·W scores);
- the output GroupNorm and convolution, so that ε̂ leaves the network in float32.

GroupNorm statistics are float32 in every block (Keras upcasts), and the variables are
float32 under either policy.

Image sizes: ``len(widths)`` levels halve the resolution ``len(widths) − 1`` times, so the
side must be divisible by 2^(levels − 1). A side that is not is zero-padded inside the
network to the next multiple and the output cropped back: 28×28 with three levels runs at
28 → 14 → 7 unpadded; with four levels it is padded to 32 (→ 16 → 8 → 4).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from imgenlib._validation import check_float, check_int, check_positive_int
from imgenlib.models.blocks import check_image_shape
from imgenlib.models.cross_attention import CrossAttention
from imgenlib.models.scale_shift import ScaleShift

__all__ = [
    "EXACT",
    "FLOAT32_LAYERS",
    "ScaleShift",
    "SinusoidalEmbedding",
    "build_unet",
    "denoiser_image_shape",
    "group_count",
    "null_label",
]

TIME_INPUT = "timesteps"
LABELS_INPUT = "labels"
TEXT_INPUT = "text"
TOKENS_INPUT = "text_tokens"
MASK_INPUT = "text_mask"
CROSS_ATTENTION_SIDE = 16
"""Cross-attention runs at the levels whose side is at most this (and in the middle)."""
CLASS_EMBEDDING = "class_embedding"
TEXT_EMBEDDING = "text_embedding"
TEXT_MAP = "text_map"
TEXT_MAP_SIDE = 4
"""The side of the caption's learned layout map (``build_unet(text_map=)``)."""
EXACT = {"dtype": "float32"}
"""Keyword of the layers that compute in float32 under any policy (module docstring)."""
FLOAT32_LAYERS = (
    "time_sinusoids", "time_mlp1", "time_mlp2", CLASS_EMBEDDING, "time_and_class",
    TEXT_EMBEDDING, "time_and_text",
    "embedding_act", "pad", TEXT_MAP + "_dense", TEXT_MAP + "_layout", TEXT_MAP + "_resize",
    TEXT_MAP + "_concat", "stem", "middle_attention_norm", "middle_attention_flatten",
    "middle_attention_mha", "middle_attention_unflatten", "out_norm", "out_act", "out_conv",
    "crop",
)  # fmt: skip
"""The layers of `build_unet` (those it builds) that take `EXACT`."""


@keras.saving.register_keras_serializable(package="imgenlib")
class SinusoidalEmbedding(keras.layers.Layer):
    """Integer timesteps (batch,) → (batch, dim) sinusoids of geometrically spaced periods.

    embedding[i] = sin(t · ω_i) for i < dim/2 and cos(t · ω_(i − dim/2)) after, with
    ω_i = max_period^(−i / (dim/2 − 1)) (Vaswani et al. 2017, as in Ho et al. 2020).

    Args:
        dim: embedding size (even, at least 4).
        max_period: the longest period, in timesteps.
    """

    def __init__(self, dim: int, max_period: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = check_int("dim", dim, minimum=4)
        if self.dim % 2:
            raise ValueError(f"dim must be even. Received: dim={dim}")
        self.max_period = check_float("max_period", max_period, minimum=1)

    def call(self, t):
        half = self.dim // 2
        exponents = ops.arange(half, dtype="float32") / float(half - 1)
        frequencies = ops.exp(-math.log(self.max_period) * exponents)
        angles = ops.cast(ops.reshape(t, (-1, 1)), "float32") * frequencies[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


def null_label(num_classes: int) -> int:
    """The label index meaning "no condition" (classifier-free guidance): `num_classes`."""
    return check_int("num_classes", num_classes, minimum=2)


def denoiser_image_shape(
    network, num_classes: int | None = None, text_dim=None, text_tokens: bool = False
) -> tuple:
    """The image shape (H, W, C) of a network ``[x_t, timesteps(, labels | text)] → x_t's shape``.

    What `imgenlib.models.diffusion.Diffusion` asks of its network (`build_unet` builds one);
    `text_dim` is the size of the text vector a text-conditional network takes third, and
    `text_tokens` says it also takes token states and their mask (cross-attention).

    Raises:
        ValueError: not 2 inputs (3, with labels or text; 5 with token states), a text
            input of another size, or an output shape other than the input's.
    """
    condition = ", labels" if num_classes is not None else ", text" if text_dim else ""
    condition += ", text_tokens, text_mask" if text_dim and text_tokens else ""
    if len(network.inputs) != 2 + condition.count(","):
        raise ValueError(
            f"network must take [x_t, timesteps{condition}] for num_classes={num_classes}, "
            f"text_dim={text_dim}. Received: {len(network.inputs)} inputs"
        )
    if text_dim and network.inputs[2].shape[1:] != (text_dim,):
        raise ValueError(
            f"The network's text input has shape {tuple(network.inputs[2].shape[1:])}, the "
            f"text vectors ({text_dim},); they must match."
        )
    image_shape = tuple(network.inputs[0].shape[1:])
    made = tuple(network.outputs[0].shape[1:])
    if made != image_shape:
        raise ValueError(
            f"network output shape {made} does not match its input shape {image_shape}."
        )
    return image_shape


def group_count(channels: int, preferred: int = 8) -> int:
    """Groups for GroupNorm on `channels`: the largest divisor of `channels` ≤ `preferred`."""
    return max(g for g in range(1, min(preferred, channels) + 1) if channels % g == 0)


def _residual_block(x, embedding, width, dropout, name, scale_shift=False):
    """GroupNorm → swish → conv → + Dense(embedding) → GroupNorm → swish → dropout → conv, + skip;
    with `scale_shift`, GroupNorm → · (1 + scale) + shift from Dense(embedding) instead (AdaGN)."""
    layers = keras.layers
    skip = x
    if x.shape[-1] != width:
        skip = layers.Conv2D(width, 1, name=f"{name}_skip")(x)
    h = layers.GroupNormalization(group_count(x.shape[-1]), name=f"{name}_norm1")(x)
    h = layers.Activation("swish", name=f"{name}_act1")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv1")(h)
    if scale_shift:
        h = layers.GroupNormalization(group_count(width), name=f"{name}_norm2")(h)
        modulation = layers.Dense(2 * width, name=f"{name}_time")(embedding)
        h = ScaleShift(name=f"{name}_scale_shift")([h, modulation])
    else:
        shift = layers.Dense(width, name=f"{name}_time")(embedding)
        h = layers.Add(name=f"{name}_add_time")([h, layers.Reshape((1, 1, width))(shift)])
        h = layers.GroupNormalization(group_count(width), name=f"{name}_norm2")(h)
    h = layers.Activation("swish", name=f"{name}_act2")(h)
    if dropout:
        h = layers.Dropout(dropout, name=f"{name}_dropout")(h)
    h = layers.Conv2D(width, 3, padding="same", kernel_initializer="zeros", name=f"{name}_conv2")(h)
    return layers.Add(name=f"{name}_out")([skip, h])


def _attention_block(x, heads, name):
    """Pre-norm multi-head self-attention over the H·W positions, added to `x`."""
    layers = keras.layers
    height, width, channels = x.shape[1:]
    h = layers.GroupNormalization(group_count(channels), name=f"{name}_norm", **EXACT)(x)
    h = layers.Reshape((height * width, channels), name=f"{name}_flatten", **EXACT)(h)
    h = layers.MultiHeadAttention(heads, max(channels // heads, 1), name=f"{name}_mha", **EXACT)(
        h, h
    )
    h = layers.Reshape((height, width, channels), name=f"{name}_unflatten", **EXACT)(h)
    return layers.Add(name=f"{name}_out")([x, h])


def _cross_attention(x, context, heads, name):
    """`CrossAttention` of `x` to ``context = (tokens, mask)``, or `x` if there is none."""
    if context is None or x.shape[1] > CROSS_ATTENTION_SIDE:
        return x
    groups = group_count(x.shape[-1])
    return CrossAttention(heads, groups, name=f"{name}_xattn", **EXACT)(x, *context)


def _with_text_map(x, text, channels, side):
    """`x` with a learned TEXT_MAP_SIDE² layout of the text vector, resized to `side`, appended
    (every side `build_unet` allows, 16, 28, 32, 64 and their padded sizes, is a multiple of 4)."""
    layers = keras.layers
    layout = layers.Dense(TEXT_MAP_SIDE**2 * channels, name=f"{TEXT_MAP}_dense", **EXACT)(text)
    layout = layers.Reshape(
        (TEXT_MAP_SIDE, TEXT_MAP_SIDE, channels), name=f"{TEXT_MAP}_layout", **EXACT
    )(layout)
    layout = layers.UpSampling2D(
        side // TEXT_MAP_SIDE, interpolation="bilinear", name=f"{TEXT_MAP}_resize", **EXACT
    )(layout)
    return layers.Concatenate(name=f"{TEXT_MAP}_concat", **EXACT)([x, layout])


def build_unet(
    image_shape,
    *,
    widths=(32, 64, 128),
    blocks_per_level: int = 2,
    attention: bool = True,
    heads: int = 4,
    dropout: float = 0.0,
    embedding_dim: int | None = None,
    num_classes: int | None = None,
    text_dim: int | None = None,
    cross_attention: bool = False,
    text_map: int = 0,
    scale_shift: bool = False,
    patch: int = 1,
    name: str = "unet",
):
    """Build the denoising U-Net: ``[x_t, t]`` (or ``[x_t, t, labels | text]``) → ε̂ (or v̂).

    Args:
        image_shape: (H, W, C), C in 1, 3; H = W (e.g. 28, 32, 64); padded inside if H is
            not divisible by 2^(len(widths) − 1) (module docstring).
        widths: filters at each resolution level, highest resolution first.
        blocks_per_level: residual blocks per level on the way down (one more on the way up).
        attention: self-attention between the two middle residual blocks (lowest resolution).
        heads: attention heads.
        dropout: dropout rate inside residual blocks.
        embedding_dim: size of the time (and class) embedding; default 4 · widths[0].
        num_classes: a class-conditional network with ``num_classes + 1`` class vectors
            (the last is `null_label`, "no condition").
        text_dim: a text-conditional network: a third input ``text``, float (batch,
            text_dim), whose Dense projection is added to the time embedding.
        cross_attention: with `text_dim`, two more inputs, ``text_tokens`` (batch, L,
            text_dim) and ``text_mask`` (batch, L; 1 at real tokens, 0 at padding), that
            `CrossAttention` blocks read after every residual block at sides ≤ 16 and in
            the middle (any L; an all-zero mask adds exactly nothing).
        text_map: with `text_dim`, the channels of a learned layout map of the text vector
            (Dense → 4×4×text_map, resized bilinearly to the image and concatenated to x_t
            before the stem); 0: none. See the module docstring for why.
        scale_shift: the time (and condition) embedding scales and shifts each residual
            block's second GroupNorm (`ScaleShift`, "AdaGN") instead of being added before it.
        patch: side of the stem's patches (DiT's "patchify", Peebles & Xie 2022): a p×p
            stride-p stem and a p×p stride-p transposed output convolution, so every level
            runs at 1/p of the side (the side is padded to a multiple of p · 2^(levels − 1)).

    Returns:
        A functional `keras.Model` with int32 inputs ``timesteps`` (and ``labels``), shape
        (batch,) (or float ``text``, (batch, text_dim), and ``text_tokens``, ``text_mask``).

    Raises:
        ValueError / TypeError: a bad image shape, widths, or other argument.
    """
    height, width_px, channels = check_image_shape(image_shape)
    widths = tuple(widths) if isinstance(widths, (list, tuple)) else widths
    if not isinstance(widths, tuple) or not widths:
        raise ValueError(f"widths must be a non-empty tuple of ints. Received: widths={widths!r}")
    widths = tuple(check_positive_int("widths", w) for w in widths)
    blocks_per_level = check_positive_int("blocks_per_level", blocks_per_level)
    heads = check_positive_int("heads", heads)
    dropout = check_float("dropout", dropout, minimum=0, maximum=1, max_inclusive=False)
    embedding_dim = 4 * widths[0] if embedding_dim is None else embedding_dim
    embedding_dim = check_int("embedding_dim", embedding_dim, minimum=4)
    if text_dim is not None and num_classes is not None:
        raise ValueError(f"Give num_classes or text_dim, not both. Received: text_dim={text_dim}")
    text_map = check_int("text_map", text_map, minimum=0)
    if text_map and text_dim is None:
        raise ValueError(f"text_map needs text_dim (a text vector). Received: text_map={text_map}")
    if cross_attention and text_dim is None:
        raise ValueError(
            f"cross_attention needs text_dim (token states). Received: text_dim={text_dim}"
        )
    layers = keras.layers

    x_in = keras.Input((height, width_px, channels), name="x_t")
    t_in = keras.Input((), dtype="int32", name=TIME_INPUT)
    inputs = [x_in, t_in]
    embedding = SinusoidalEmbedding(
        embedding_dim - embedding_dim % 2, name="time_sinusoids", **EXACT
    )(t_in)
    embedding = layers.Dense(embedding_dim, activation="swish", name="time_mlp1", **EXACT)(
        embedding
    )
    embedding = layers.Dense(embedding_dim, name="time_mlp2", **EXACT)(embedding)
    if num_classes is not None:
        labels = keras.Input((), dtype="int32", name=LABELS_INPUT)
        inputs.append(labels)
        classes = layers.Embedding(
            null_label(num_classes) + 1, embedding_dim, name=CLASS_EMBEDDING, **EXACT
        )(labels)
        embedding = layers.Add(name="time_and_class", **EXACT)([embedding, classes])
    if text_dim is not None:
        text = keras.Input((check_positive_int("text_dim", text_dim),), name=TEXT_INPUT)
        inputs.append(text)
        projected = layers.Dense(embedding_dim, name=TEXT_EMBEDDING, **EXACT)(text)
        embedding = layers.Add(name="time_and_text", **EXACT)([embedding, projected])
    context = None
    if cross_attention:
        context = (
            keras.Input((None, text_dim), name=TOKENS_INPUT),
            keras.Input((None,), name=MASK_INPUT),
        )
        inputs.extend(context)
    embedding = layers.Activation("swish", name="embedding_act", **EXACT)(embedding)

    patch = check_positive_int("patch", patch)
    factor = patch * 2 ** (len(widths) - 1)
    padded = -(-max(height, width_px) // factor) * factor
    pad_h, pad_w = padded - height, padded - width_px
    x = x_in
    if pad_h or pad_w:
        padding = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))
        x = layers.ZeroPadding2D(padding, name="pad", **EXACT)(x)
    if text_map:
        x = _with_text_map(x, text, text_map, padded)
    stem = {"kernel_size": patch, "strides": patch} if patch > 1 else {"kernel_size": 3}
    x = layers.Conv2D(widths[0], padding="same", name="stem", **stem, **EXACT)(x)

    skips = [x]
    for level, width in enumerate(widths):
        for block in range(blocks_per_level):
            x = _residual_block(x, embedding, width, dropout, f"down{level}_{block}", scale_shift)
            x = _cross_attention(x, context, heads, f"down{level}_{block}")
            skips.append(x)
        if level < len(widths) - 1:
            x = layers.Conv2D(width, 3, strides=2, padding="same", name=f"down{level}_pool")(x)
            skips.append(x)

    x = _residual_block(x, embedding, widths[-1], dropout, "middle_0", scale_shift)
    if attention:
        x = _attention_block(x, heads, "middle_attention")
    x = _cross_attention(x, context, heads, "middle")
    x = _residual_block(x, embedding, widths[-1], dropout, "middle_1", scale_shift)

    for level in reversed(range(len(widths))):
        for block in range(blocks_per_level + 1):
            x = layers.Concatenate(name=f"up{level}_{block}_concat")([x, skips.pop()])
            x = _residual_block(
                x, embedding, widths[level], dropout, f"up{level}_{block}", scale_shift
            )
            x = _cross_attention(x, context, heads, f"up{level}_{block}")
        if level > 0:
            x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{level}_resize")(x)
            x = layers.Conv2D(widths[level], 3, padding="same", name=f"up{level}_conv")(x)

    x = layers.GroupNormalization(group_count(widths[0]), name="out_norm", **EXACT)(x)
    x = layers.Activation("swish", name="out_act", **EXACT)(x)
    out = layers.Conv2DTranspose if patch > 1 else layers.Conv2D
    x = out(channels, patch if patch > 1 else 3, strides=patch, padding="same",
            kernel_initializer="zeros", name="out_conv", **EXACT)(x)  # fmt: skip
    if pad_h or pad_w:
        x = layers.Cropping2D(padding, name="crop", **EXACT)(x)
    return keras.Model(inputs, x, name=name)
