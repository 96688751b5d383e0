"""`VAE`'s inference methods: encode, decode, reconstruct and the per-image −ELBO.

A mixin kept apart from the model so that `imgenlib.models.vae` reads in one sitting; it
needs ``encoder``, ``latent_dim``, ``generate``, ``_terms``, ``check_image_inputs``,
``traced_on_images`` and ``batched`` from the model.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from imgenlib._validation import check_int, check_positive_int

__all__ = ["VAEInference"]


class VAEInference:
    """Encoding, decoding, reconstruction and the −ELBO of a trained `VAE`."""

    def encode(self, images, labels=None, *, batch_size: int = 256):
        """Encode images into the mean and log-variance of q(z | x).

        Args:
            images: (n, H, W, C) in [-1, 1], the model's image shape.
            labels: class labels for a conditional VAE (an int or n ints); else None.
            batch_size: images per forward pass.

        Returns:
            ``(z_mean, z_log_var)``, float32 arrays of shape (n, latent_dim).

        Raises:
            ValueError / TypeError: images of the wrong shape or range, labels missing for
                a conditional model or given to an unconditional one.
        """
        images, labels = self.check_image_inputs(images, labels)

        def body(images, labels):
            return self.encoder(self.with_labels(images, labels), training=False)

        function = self.traced_on_images("_encode_tf_function", body, [])
        z_mean, z_log_var = self.batched(function, [images, labels], batch_size)
        return z_mean.astype(np.float32), z_log_var.astype(np.float32)

    def decode(self, z, labels=None, *, batch_size: int = 256):
        """Decode latent vectors to mean images in [-1, 1] (the likelihood's mean, tanh(h / 2)).

        Raises:
            ValueError / TypeError: z missing or not of shape (n, latent_dim); bad labels.
        """
        if z is None:
            raise ValueError(
                f"decode needs latent vectors z of shape (n, {self.latent_dim}). Received: z=None"
            )
        return self.generate(z=z, labels=labels, batch_size=batch_size)

    def reconstruct(self, images, labels=None, *, batch_size: int = 256):
        """Reconstruct images: decode(encode(images).z_mean), in [-1, 1]."""
        z_mean, _ = self.encode(images, labels, batch_size=batch_size)
        return self.decode(z_mean, labels, batch_size=batch_size)

    def negative_elbo(
        self, images, labels=None, *, batch_size: int = 256, seed: int = 0, samples: int = 1
    ):
        """Per-image −ELBO in nats: exact KL plus a Monte-Carlo reconstruction term.

        The reconstruction term averages `samples` reparameterised draws of z (noise from
        NumPy with `seed`, so the result does not depend on `batch_size`). What the nats
        measure depends on the likelihood (`imgenlib.models.elbo`): Bernoulli nats of
        pixels mapped to [0, 1], Gaussian densities on the [-1, 1] scale (subtract
        ``H·W·C·log 2`` for the [0, 1] scale), or discretised-logistic probabilities of
        the 8-bit levels (divide by ``H·W·C·log 2`` for bits per dimension).

        Args:
            images: (n, H, W, C) in [-1, 1].
            labels: class labels for a conditional VAE.
            batch_size: images per forward pass.
            seed: seed of the sampling noise.
            samples: number of z draws per image.

        Returns:
            float64 array (n,): −ELBO of each image (an upper bound on −log p(x)).
        """
        images, labels = self.check_image_inputs(images, labels)
        seed = check_int("seed", seed, minimum=0)
        samples = check_positive_int("samples", samples)
        noise = np.random.default_rng(seed).standard_normal(
            (samples, len(images), self.latent_dim), dtype=np.float32
        )

        def body(images, epsilon, labels):
            return self._terms(images, labels, epsilon, training=False)

        function = self.traced_on_images(
            "_elbo_tf_function", body, [tf.TensorSpec([None, self.latent_dim], tf.float32)]
        )
        recon = np.zeros(len(images))
        for epsilon in noise:
            recon_k, kl = self.batched(function, [images, epsilon, labels], batch_size)
            recon += recon_k / samples
        return recon + kl.astype(np.float64)
