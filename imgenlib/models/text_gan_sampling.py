"""Sampling of a `imgenlib.models.TextGAN`: prompts → images through one compiled function.

A mixin, kept apart from the model so that text_gan.py reads in one sitting: `generate`
checks the prompts (`imgenlib.models.conditions.check_prompts`: empty, unknown words, counts)
and the latents, tokenises the prompts once, and runs the compiled sampler
(`imgenlib.models.compiled`: XLA for one or two float32 images, the graph otherwise) over
chunks of ``batch_size`` images.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from imgenlib._validation import check_int, check_positive_int
from imgenlib.models.compiled import run_in_batches, sampling_function
from imgenlib.models.conditions import check_prompts
from imgenlib.models.latents import resolve_latents

__all__ = ["TextGANSampling"]


class TextGANSampling:
    """Mixin of `imgenlib.models.TextGAN`: `generate` from prompts and its compiled sampler.

    The model provides ``text_encoder``, ``latent_dim``, ``sampler()`` and ``text_vectors``.
    """

    def generate(self, prompts=None, n: int | None = None, z=None, seed: int | None = None, *,
                 batch_size: int = 256, precision: str | None = None):  # fmt: skip
        """Generate images of `prompts` from `n` random latents (drawn from `seed`) or given `z`.

        Args:
            prompts: a string, or a list of strings: one prompt for all images or one per
                image.
            n: number of images; default one per prompt (or ``len(z)``).
            z: latent vectors (n, latent_dim); overrides `seed`.
            seed: seed for drawing z; the same seed and prompts give identical images.
            batch_size: images per forward pass.
            precision: the generator's arithmetic, as in `GenerativeModel.generate`: None
                (the model's own), ``"float32"``, ``"bfloat16"`` or ``"auto"``; the text
                encoder keeps its own.

        Returns:
            float32 array (n, H, W, C) in [-1, 1].

        Raises:
            ValueError: bad prompts (empty, not strings, only unknown words, a count other
                than 1 or n; the message lists the words the model knows), bad n / z, or an
                unknown `precision`. Unknown words in a partly known prompt are named in a
                `UserWarning`.
        """
        if z is not None:
            z = resolve_latents(self, n, z, seed, None)
            prompts = check_prompts(prompts, len(z), self.text_encoder)
        else:
            prompts = check_prompts(prompts, n, self.text_encoder)
            z = resolve_latents(self, len(prompts), None, seed, None)
        batch_size = check_positive_int("batch_size", batch_size)
        function = self.sampling_function(min(len(z), batch_size), precision)
        return run_in_batches(function, [z, self.text_encoder.tokenizer(prompts)], batch_size)

    def interpolate_prompts(self, start: str, end: str, steps: int = 8, z=None, seed: int = 0):
        """Images along the straight line between two prompts' text vectors, from one latent.

        Image k has the text vector (1 − β)·t(`start`) + β·t(`end`), β = k / (steps − 1), and
        the same z for all (given as one vector, or drawn from `seed`), so the first and last
        are ``generate(start, z=z)`` and ``generate(end, z=z)``. Between them lie captions
        no one wrote; a model trained with ``caption_interpolation`` (GAN-INT) was asked to
        draw them well.

        Returns:
            float32 array (steps, H, W, C) in [-1, 1].

        Raises:
            ValueError, TypeError: a prompt the model cannot read (the message lists the
                words it knows), steps < 2, or a z that is not one latent vector.
        """
        prompts = check_prompts([start, end], 2, self.text_encoder)
        steps = check_int("steps", steps, minimum=2)
        z = resolve_latents(self, 1, z, seed, None)
        ends = tf.cast(self.text_vectors(self.text_encoder.tokenizer(prompts)), tf.float32)
        beta = tf.linspace(0.0, 1.0, steps)[:, None]
        vectors = (1.0 - beta) * ends[0] + beta * ends[1]
        images = self.sampler()([tf.repeat(tf.constant(z), steps, axis=0), vectors], training=False)
        return np.asarray(tf.cast(images, tf.float32))

    def sampling_function(self, batch: int, precision: str | None = None):
        """The compiled sampler of (z, token ids) for chunks of `batch` images (see
        `GenerativeModel.sampling_function`)."""
        return sampling_function(self, precision, batch, self._sampler_forward)

    def _sampler_forward(self):
        sampler = self.sampler()
        specs = [
            tf.TensorSpec([None, self.latent_dim], tf.float32),
            tf.TensorSpec([None, self.text_encoder.max_length], tf.int64),
        ]

        def forward(z, token_ids):
            images = sampler([z, self.text_vectors(token_ids)], training=False)
            return tf.cast(images, tf.float32)

        return sampler, forward, specs
