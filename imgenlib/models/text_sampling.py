"""The reverse chains of a `imgenlib.models.text_diffusion.TextDiffusion`: prompts in.

Kept apart from the model so that the model file reads in one sitting; the model builds
one per sampler (``TextDiffusion.diffusion_sampler``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from imgenlib.models.base import traced
from imgenlib.models.conditions import check_prompts
from imgenlib.models.latents import resolve_latents
from imgenlib.models.sampling import DiffusionSampler

__all__ = ["TextDiffusionSampler"]


class TextDiffusionSampler(DiffusionSampler):
    """`DiffusionSampler` whose condition is a batch of token ids (int32, (n, max_length)).

    The traced chains encode the ids once (the sampling text encoder) and pass the text
    condition (`TextDiffusion.text_condition`: the pooled vectors, and with cross-attention
    the token states and mask too) down the chain in place of labels; all-padding ids are
    the "no text" zeros.
    """

    def prompt_inputs(self, prompts, n, z, seed, steps, eta, guidance, level, spacing):
        """``(x_T, token ids, (timesteps, eta, guidance), key)`` of a `TextDiffusion` call."""
        model = self.model
        settings = self.check(steps, eta, guidance, level, spacing)
        if z is not None:
            n = len(resolve_latents(model, n, z, seed, None))
        if prompts is not None:
            prompts = check_prompts(prompts, n, model.text_encoder)
        z = resolve_latents(model, n if prompts is None else len(prompts), z, seed, None)
        if prompts is None:
            token_ids = np.zeros((len(z), model.text_encoder.max_length), np.int32)
        else:
            token_ids = np.asarray(model.text_encoder.tokenizer(prompts), np.int32)
        key = np.random.default_rng(None if seed is None else [seed, 1]).integers(2**31, size=1)
        return z.reshape(-1, *model.image_shape), token_ids, settings, int(key[0])

    def null_condition(self, text):
        """ "No text": zeros (vectors, token states and mask), what an empty caption gives."""
        return tf.nest.map_structure(tf.zeros_like, text)

    def epsilon(self, x, t, text, guidance):
        """ε̂ at x_t and scalar t for the text condition `text`, guided by `guidance`;
        guidance 0 runs the no-text branch alone (exactly the unconditional model).

        Guidance 0 swaps in the null condition at guidance 1 (`tf.where` on the inputs)
        rather than branching the chain: the traced graph holds the U-Net twice (unguided
        and guided, `DiffusionSampler.epsilon`) instead of four times, which halves the
        tracing a fresh model spends before its first image.
        """
        off = tf.equal(guidance, 0.0)
        text = tf.nest.map_structure(
            lambda a, b: tf.where(off, b, a), text, self.null_condition(text)
        )
        guidance = tf.where(off, tf.ones_like(guidance), guidance)
        return DiffusionSampler.epsilon(self, x, t, text, guidance)

    def _signature(self, *extra):
        model = self.model
        image = tf.TensorSpec([None, *model.image_shape], tf.float32)
        token_ids = tf.TensorSpec([None, model.text_encoder.max_length], tf.int32)
        return [image, tf.TensorSpec([None], tf.int32), token_ids, *extra]

    def _encoded(self, body):
        def chain(x, timesteps, token_ids, *rest):
            encoder = self.model.sampling_text_encoder()
            text = self.model.text_condition(token_ids, encoder=encoder)
            return body(x, timesteps, text, *rest)

        return chain

    def _trace(self, body):
        scalar = tf.TensorSpec([], tf.float32)
        specs = self._signature(scalar, scalar, tf.TensorSpec([2], tf.int64))
        return self._concrete(traced(self._encoded(body), specs))  # the U-Net in `policy`

    def _invert_function(self):
        if self._invert is None:
            function = traced(self._encoded(self.forward), self._signature())
            self._invert = function.get_concrete_function()
        return self._invert
