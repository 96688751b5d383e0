"""Cross-attention from a U-Net's feature maps to a caption's token states (spatial text).

A pooled text vector added to the time embedding (`imgenlib.models.unet`, ``text_dim``)
shifts every pixel alike, so it cannot say *where* ("in the top left"). Stable Diffusion
(Rombach et al. 2022, https://arxiv.org/abs/2112.10752) and Imagen (Saharia et al. 2022,
https://arxiv.org/abs/2205.11487) let every position of the low-resolution feature maps
attend to the caption's token states instead; `CrossAttention` is that block:

    h = MHA(query = GroupNorm(x) flattened to (B, H·W, C),
            key = value = token states (B, L, D), padding tokens masked out)
    out = x + present · h,   present = 1 if the caption has any token, else 0

(``keras.layers.MultiHeadAttention`` projects the token states to keys and values.)

**"No text" stays exact.** Classifier-free guidance needs the empty caption (every token
masked) to be the null condition. A softmax over nothing but masked keys is not zero
(Keras gives them equal weights), so for a row whose mask is all False the block attends
to the (zero) token states unmasked, which keeps it finite, and multiplies its output by
``present`` = 0: it adds exactly zero and x passes through unchanged; the row then
depends on the pooled vector's path only (zero: the Dense bias, the learned "no text").
Padding tokens (mask False) of a real caption get zero attention weight, so their
states cannot change the output.

Built with ``dtype="float32"`` by `imgenlib.models.unet.build_unet` (like its
self-attention block): its softmax and its residual stay float32 under ``mixed_bfloat16``.
"""

from __future__ import annotations

import keras
from keras import ops

from imgenlib._validation import check_positive_int

__all__ = ["CrossAttention"]


@keras.saving.register_keras_serializable(package="imgenlib")
class CrossAttention(keras.layers.Layer):
    """``x (B, H, W, C), tokens (B, L, D), mask (B, L) → x + present · MHA(GN(x), tokens)``.

    Args:
        heads: attention heads (key size ``max(C // heads, 1)``).
        groups: GroupNorm groups (they must divide C).

    Call arguments:
        x: the feature map.
        tokens: the caption's token states.
        mask: 1 (or True) at real tokens, 0 at padding; a row of zeros is "no text", for
            which the block adds exactly zero (module docstring).
    """

    def __init__(self, heads: int = 4, groups: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.heads = check_positive_int("heads", heads)
        self.groups = check_positive_int("groups", groups)
        self.norm = None
        self.attention = None

    def build(self, x_shape, tokens_shape=None, mask_shape=None):
        channels = x_shape[-1]
        self.norm = keras.layers.GroupNormalization(
            self.groups, name="norm", dtype=self.dtype_policy
        )
        self.attention = keras.layers.MultiHeadAttention(
            self.heads, max(channels // self.heads, 1), name="mha", dtype=self.dtype_policy
        )
        height, width = x_shape[1], x_shape[2]
        self.norm.build(x_shape)
        query = (x_shape[0], height * width, channels)
        self.attention.build(query, tuple(tokens_shape))

    def call(self, x, tokens, mask):
        height, width, channels = x.shape[1:]
        mask = ops.greater(ops.cast(mask, "float32"), 0.5)
        present = ops.any(mask, axis=1)  # (B,)
        keys = ops.logical_or(mask, ops.logical_not(present)[:, None])  # all-masked: all keys
        pairs = ops.repeat(keys[:, None, :], height * width, axis=1)  # (B, H·W, L)
        h = ops.reshape(self.norm(x), (-1, height * width, channels))
        h = self.attention(h, ops.cast(tokens, h.dtype), attention_mask=pairs)
        h = ops.reshape(h, (-1, height, width, channels))
        return x + h * ops.cast(present, h.dtype)[:, None, None, None]

    def compute_output_shape(self, x_shape, tokens_shape=None, mask_shape=None):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "groups": self.groups}
