"""Sampling methods of `imgenlib.models.diffusion.Diffusion`: `generate`, `trajectory`, `invert`.

A mixin, kept apart so that the model file holds the model and its training step; every
method runs a traced reverse chain from `imgenlib.models.sampling`.
"""

from __future__ import annotations

from imgenlib._validation import check_choice
from imgenlib.models.sampling import SAMPLERS, DiffusionSampler
from imgenlib.precision import sampling_policy

__all__ = ["DiffusionSampling"]


class DiffusionSampling:
    """`Diffusion`'s sampling methods (needs ``network``, ``ema_network``, ``_samplers``,
    ``inversion_level``, ``latent_dim`` and ``check_image_inputs`` from the model)."""

    SAMPLER_CLASS = DiffusionSampler  # the traced chains' class (TextDiffusion: its own)

    def sampler(self):
        """The denoising network that samples: the EMA copy when there is one."""
        return self.ema_network if self.ema_network is not None else self.network

    def diffusion_sampler(
        self, sampler: str = "ddim", clip: bool = True, precision: str | None = None
    ) -> DiffusionSampler:
        """The traced reverse chain of `sampler` (cached; one graph for any batch and steps)
        computing in `precision` (as `generate`'s)."""
        policy = None if precision is None else sampling_policy(precision, kind="diffusion")
        key = (check_choice("sampler", sampler, SAMPLERS), bool(clip), policy)
        if key not in self._samplers:
            chain = self.SAMPLER_CLASS(self, sampler=sampler, clip=clip, policy=policy)
            self._samplers[key] = chain
        return self._samplers[key]

    def generate(
        self,
        n: int | None = None,
        z=None,
        seed: int | None = None,
        labels=None,
        *,
        steps: int | None = None,
        eta: float = 0.0,
        guidance: float = 1.0,
        sampler: str = "ddim",
        clip: bool = True,
        batch_size: int = 256,
        level: int | None = None,
        spacing: str = "uniform",
        precision: str | None = None,
    ):
        """Generate images by running the reverse chain from x_T = z (drawn from `seed`).

        Args:
            n: number of images; omit when `z` (or an array of `labels`) fixes it.
            z: initial noise x_T, flattened: (k, H·W·C); overrides `n` and `seed`.
            seed: seed of z and of the sampler's noise (η > 0 or DDPM); the same seed (and
                `batch_size`) gives identical images. None: random.
            labels: class labels of a conditional model (an int, n ints or ``"balanced"``).
            steps: network evaluations, 1..level + 1 (default min(50, level + 1):
                `imgenlib.sampling_options.DEFAULT_STEPS`).
            eta: DDIM stochasticity η ≥ 0 (0: deterministic; 1: DDPM's variance). Ignored
                by ``sampler="ddpm"``.
            guidance: classifier-free guidance scale w (0: unconditional, 1: conditional).
            sampler: ``"ddim"`` or ``"ddpm"`` (ancestral, posterior variance).
            clip: clip each predicted x_0 to [-1, 1] (and re-derive ε̂ from it).
            batch_size: images per run of the chain.
            level: the timestep z is at, where the chain starts (0..T − 1). None: T − 1,
                z is noise. Latents from `invert` are at `inversion_level` (its default).
            spacing: which timesteps the steps visit: ``"uniform"`` (evenly spaced),
                ``"quadratic"`` or ``"linspace"`` (`imgenlib.models.schedules.sampling_timesteps`).
            precision: the arithmetic of the U-Net. None (default): the model's own.
                ``"bfloat16"``: its residual blocks compute in bfloat16 and its
                `imgenlib.models.unet.FLOAT32_LAYERS` (stem, embeddings, attention, output)
                stay float32, as in mixed-precision training; ``"float32"``; ``"auto"``:
                bfloat16 where `imgenlib.precision.choose_precision` would train a
                diffusion model in it (`imgenlib.precision.sampling_policy`).

        Returns:
            float32 array (n, H, W, C) in [-1, 1] (with `clip`).

        Raises:
            ValueError / TypeError: a bad n, z, labels, steps (not in 1..level + 1), eta
                (< 0), guidance, sampler, level, spacing or precision.
        """
        chain = self.diffusion_sampler(sampler, clip, precision)
        x_T, labels, settings, key = chain.inputs(
            n, z, seed, labels, steps, eta, guidance, level, spacing
        )
        return chain.run(x_T, labels, *settings, key, batch_size)

    def trajectory(
        self,
        n: int | None = None,
        z=None,
        seed: int | None = None,
        labels=None,
        *,
        steps: int | None = None,
        eta: float = 0.0,
        guidance: float = 1.0,
        sampler: str = "ddim",
        clip: bool = True,
        level: int | None = None,
        spacing: str = "uniform",
    ) -> dict:
        """Every step of `generate` for the same arguments: x_t and the predicted x_0.

        The same traced step and noise as `generate`, in one batch: ``["images"]`` equals
        ``generate(...)`` for up to `generate`'s batch size (256) images.

        Args:
            n, z, seed, labels, steps, eta, guidance, sampler, clip, level, spacing: as in
                `generate`.

        Returns:
            A dict: ``"x_t"`` (steps, n, H, W, C), the input of each step (``x_t[0]`` is
            z); ``"x0"`` (steps, n, H, W, C), the predicted x_0 at that step (clipped when
            `clip`); ``"timesteps"`` (steps,) int32, the t of each step; ``"images"``.
        """
        chain = self.diffusion_sampler(sampler, clip)
        x_T, labels, settings, key = chain.inputs(
            n, z, seed, labels, steps, eta, guidance, level, spacing
        )
        images, xs, x0s = chain.trajectory(x_T, labels, *settings, key)
        return {"x_t": xs, "x0": x0s, "timesteps": settings[0], "images": images}

    def invert(
        self,
        images,
        labels=None,
        *,
        steps: int | None = None,
        level: int | None = None,
        batch_size: int = 256,
    ):
        """DDIM inversion: the x at `level` from which ``generate(z=..., level=level,
        steps=steps, clip=False)`` gives `images` back (approximately: each step evaluates
        the network at the level it comes from). The default level is `inversion_level`
        (ᾱ ≥ 0.01), not T − 1, where ᾱ ≈ 0 makes the way back ill-conditioned
        (`imgenlib.models.schedules.NoiseSchedule.inversion_level`).

        Args:
            images: (n, H, W, C) in [-1, 1], the model's image shape.
            labels: class labels of a conditional model (inversion uses guidance 1).
            steps: network evaluations, 1..level + 1 (default min(50, level + 1)).
            level: the timestep to invert to, 0..T − 1 (default `inversion_level`).
            batch_size: images per run.

        Returns:
            float32 array (n, latent_dim): z for ``generate(z=..., level=level)``.

        Raises:
            ValueError / TypeError: bad images, labels, steps or level.
        """
        images, labels = self.check_image_inputs(images, labels)
        chain = self.diffusion_sampler("ddim", clip=False)
        level = self.inversion_level if level is None else level
        timesteps = chain.levels(steps, level)
        x = chain.invert(images, labels, timesteps, batch_size)
        return x.reshape(len(images), self.latent_dim)
