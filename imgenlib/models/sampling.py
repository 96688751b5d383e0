"""The reverse chain of a `imgenlib.models.diffusion.Diffusion` model, run in one graph.

`DiffusionSampler` traces the whole chain (every step of DDIM or ancestral DDPM, with
classifier-free guidance) as one `tf.function` whose loop is a `tf.while_loop` over a tensor
of timesteps: a single trace serves every batch size and every number of steps, and a
sample costs `steps` network calls inside TensorFlow's runtime, not `steps` Python calls of
``predict`` (what keras.io's DDPM/DDIM examples do). DDIM inversion is a second traced loop,
up to a level that keeps some of the image (`NoiseSchedule.inversion_level` says why);
a third runs the same `DiffusionSampler.step` and also stacks every x_t and predicted x_0
(`DiffusionSampler.trajectory`, for `imgenlib.widgets.DenoisingScrubber`).
The update algebra is `imgenlib.models.schedules`.

Classifier-free guidance (Ho & Salimans 2022, https://arxiv.org/abs/2207.12598) combines
the conditional and the "no condition" noise estimates of a conditional model,

    ε̂ = ε̂(x_t, ∅) + w · (ε̂(x_t, y) − ε̂(x_t, ∅)),

so guidance w = 0 is the unconditional model, w = 1 the conditional one, w > 1 stronger.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from imgenlib._env import progress
from imgenlib._validation import check_choice, check_float, check_int, check_positive_int
from imgenlib.models.base import traced
from imgenlib.models.conditions import check_labels
from imgenlib.models.latents import resolve_latents
from imgenlib.models.schedules import (
    ddim_sigma,
    ddim_update,
    ddpm_posterior,
    epsilon_from_prediction,
    predict_x0,
    sampling_timesteps,
)
from imgenlib.models.unet import FLOAT32_LAYERS
from imgenlib.precision import computing_in
from imgenlib.sampling_options import DEFAULT_STEPS, SAMPLERS

__all__ = ["SAMPLERS", "DiffusionSampler"]


class DiffusionSampler:
    """The traced reverse chain (and DDIM inversion) of one diffusion model.

    Args:
        model: a `Diffusion` model; its sampling network (the EMA copy) is used.
        sampler: ``"ddim"`` or ``"ddpm"``.
        clip: clip each predicted x_0 to [-1, 1] and re-derive ε̂ from it.
        policy: the Keras dtype policy the network computes in inside the traced chains
            (`imgenlib.precision.sampling_policy`), its `FLOAT32_LAYERS` excepted; None:
            the network's own. The chain's algebra (x_t, the updates) is float32 always.
    """

    def __init__(self, model, *, sampler: str = "ddim", clip: bool = True, policy=None):
        self.model = model
        self.sampler = check_choice("sampler", sampler, SAMPLERS)
        self.clip = bool(clip)
        self.policy = policy
        self._run = None
        self._trajectory = None
        self._invert = None

    def levels(self, steps, level=None, spacing: str = "uniform") -> np.ndarray:
        """The chain's timesteps, descending: `steps` of them from `level`, by `spacing`.

        Args:
            steps: network evaluations, 1..level + 1; None: min(50, level + 1)
                (`imgenlib.sampling_options.DEFAULT_STEPS`).
            level: the timestep the chain starts from (the level of z), 0..T − 1; None:
                T − 1, pure noise.
            spacing: ``"uniform"``, ``"quadratic"`` or ``"linspace"``
                (`imgenlib.models.schedules.sampling_timesteps`).

        Returns:
            int32 array (steps,): `imgenlib.models.schedules.sampling_timesteps`.

        Raises:
            ValueError / TypeError: a level or steps out of range, an unknown spacing
                (naming the received value).
        """
        top = self.model.timesteps - 1
        if level is not None:
            level = check_int("level", level)
            if not 0 <= level <= top:
                raise ValueError(
                    f"level must be a timestep in 0..{top} (T − 1). Received: level={level}"
                )
        start = top if level is None else level
        if steps is None:
            steps = min(DEFAULT_STEPS, start + 1)
        steps = check_int("steps", steps, minimum=1, maximum=top + 1)
        if steps > start + 1:
            raise ValueError(
                f"steps must be at most level + 1 = {start + 1}. Received: steps={steps}"
            )
        return sampling_timesteps(self.model.timesteps, steps, level, spacing)

    def check(
        self, steps, eta, guidance, level=None, spacing="uniform"
    ) -> tuple[np.ndarray, float, float]:
        """(`levels` of `steps` from `level` by `spacing`, `eta` ≥ 0, `guidance` a finite
        number), checked."""
        timesteps = self.levels(steps, level, spacing)
        eta = check_float("eta", eta, minimum=0)
        guidance = check_float("guidance", guidance)
        return timesteps, eta, guidance

    def inputs(self, n, z, seed, labels, steps, eta, guidance, level=None, spacing="uniform"):
        """The checked x_T, labels, (timesteps, eta, guidance) and noise key of a call.

        Args:
            n, z, seed, labels, steps, eta, guidance, level, spacing: as in
                `Diffusion.generate` (steps None: min(50, level + 1),
                `imgenlib.sampling_options.DEFAULT_STEPS`).

        Returns:
            ``(x_T, labels, (timesteps, eta, guidance), key)``: x_T (n, H, W, C) float32
            (x at `level`), the checked labels (or None), the chain's timesteps (`levels`)
            and the int key of the chain's noise, from `seed`.

        Raises:
            ValueError / TypeError: as `Diffusion.generate`; guidance ≠ 1 without labels.
        """
        model = self.model
        timesteps, eta, guidance = self.check(steps, eta, guidance, level, spacing)
        z = resolve_latents(model, n, z, seed, labels)
        labels = check_labels(labels, len(z), model.num_classes)
        if guidance != 1.0 and labels is None:
            raise ValueError(
                f"guidance needs a conditional model; use 1.0. Received: guidance={guidance}"
            )
        key = np.random.default_rng(None if seed is None else [seed, 1]).integers(2**31, size=1)
        settings = (timesteps, eta, guidance)
        return z.reshape(-1, *model.image_shape), labels, settings, int(key[0])

    # --- one network evaluation ---------------------------------------------------------

    def null_condition(self, labels):
        """The "no condition" of a batch of `labels`: the null label (classifier-free guidance)."""
        return tf.fill(tf.shape(labels)[:1], self.model.null_label)

    def epsilon(self, x, t, labels, guidance):
        """ε̂ at x_t (batch of images) and scalar timestep t, guided when conditional."""
        model = self.model
        network = model.sampler()
        batch = tf.shape(x)[0]
        times = tf.fill([batch], t)
        alpha_bar = model.schedule.alpha_bar(t)

        def predict(x, times, labels):  # labels: a tensor, or a tuple of them (text)
            inputs = [x, times] if labels is None else [x, times, *tf.nest.flatten(labels)]
            output = tf.cast(network(inputs, training=False), tf.float32)
            return epsilon_from_prediction(output, x, alpha_bar, model.prediction)

        if labels is None:
            return predict(x, times, None)

        def guided():
            null = self.null_condition(labels)
            pair = tf.nest.map_structure(lambda a, b: tf.concat([a, b], 0), labels, null)
            both = predict(tf.concat([x, x], 0), tf.concat([times, times], 0), pair)
            conditional, unconditional = both[:batch], both[batch:]
            return unconditional + guidance * (conditional - unconditional)

        return tf.cond(tf.equal(guidance, 1.0), lambda: predict(x, times, labels), guided)

    # --- the chains ---------------------------------------------------------------------

    def step(self, i, x, timesteps, labels, guidance, eta, key):
        """Step `i` of the chain: (x at the next timestep, the predicted x_0) (graph code).

        `key` seeds the step noise; None is deterministic DDIM only (η must be 0).
        """
        schedule = self.model.schedule
        t, s = timesteps[i], tf.concat([timesteps[1:], [-1]], 0)[i]
        alpha_t, alpha_s = schedule.alpha_bar(t), schedule.alpha_bar(s)
        epsilon = self.epsilon(x, t, labels, guidance)
        x0 = predict_x0(x, epsilon, alpha_t)
        if self.clip:
            x0 = tf.clip_by_value(x0, -1.0, 1.0)
            epsilon = (x - tf.sqrt(alpha_t) * x0) / tf.sqrt(1.0 - alpha_t)
        if key is None:  # deterministic DDIM (η = 0): no random ops, e.g. for TFLite
            noise = tf.zeros_like(x)
        else:
            noise = tf.random.stateless_normal(
                tf.shape(x), tf.random.experimental.stateless_fold_in(key, i)
            )
        if self.sampler == "ddpm":
            mean, variance = ddpm_posterior(x0, x, alpha_t, alpha_s)
            return mean + tf.sqrt(variance) * noise, x0
        sigma = ddim_sigma(alpha_t, alpha_s, eta)
        return ddim_update(x, epsilon, alpha_t, alpha_s, sigma, noise, x0=x0), x0

    def reverse(self, x, timesteps, labels, guidance, eta, key):
        """Run the chain from x at timesteps[0] down to x_0 (graph code)."""

        def body(i, x):
            x, _ = self.step(i, x, timesteps, labels, guidance, eta, key)
            return i + 1, x

        _, x = tf.while_loop(lambda i, x: i < tf.shape(timesteps)[0], body, (tf.constant(0), x))
        return x

    def reverse_trajectory(self, x, timesteps, labels, guidance, eta, key):
        """`reverse`, also returning every step's x and predicted x_0: (x_0, xs, x0s) with
        xs[i] the input of step i (xs[0] = x_T) and x0s[i] its prediction (graph code)."""
        count = tf.shape(timesteps)[0]
        xs = tf.TensorArray(tf.float32, size=count)
        x0s = tf.TensorArray(tf.float32, size=count)

        def body(i, x, xs, x0s):
            x_next, x0 = self.step(i, x, timesteps, labels, guidance, eta, key)
            return i + 1, x_next, xs.write(i, x), x0s.write(i, x0)

        _, x, xs, x0s = tf.while_loop(lambda i, *_: i < count, body, (tf.constant(0), x, xs, x0s))
        return x, xs.stack(), x0s.stack()

    def forward(self, x, timesteps, labels):
        """Deterministic DDIM from x_0 up through ascending timesteps (graph code)."""
        schedule = self.model.schedule
        previous = tf.concat([[-1], timesteps[:-1]], 0)

        def body(i, x):
            t, s = timesteps[i], previous[i]
            epsilon = self.epsilon(x, t, labels, tf.constant(1.0))
            return i + 1, ddim_update(x, epsilon, schedule.alpha_bar(s), schedule.alpha_bar(t))

        _, x = tf.while_loop(lambda i, x: i < tf.shape(timesteps)[0], body, (tf.constant(0), x))
        return x

    def serving_function(self, steps: int, guidance: float = 1.0):
        """``(z[, labels]) -> images`` by this chain with fixed `steps` and `guidance` and no
        randomness (deterministic DDIM: η = 0, no key), for `imgenlib.export`."""
        timesteps = sampling_timesteps(self.model.timesteps, steps)
        shape = self.model.image_shape

        def generate(inputs, training=False):
            z, labels = inputs if isinstance(inputs, list) else (inputs, None)
            x = tf.reshape(z, [-1, *shape])
            return self.reverse(
                x,
                tf.constant(timesteps),
                labels,
                tf.constant(guidance, tf.float32),
                tf.constant(0.0),
                None,
            )

        return generate

    def _signature(self, *extra):
        image = tf.TensorSpec([None, *self.model.image_shape], tf.float32)
        specs = [image, tf.TensorSpec([None], tf.int32)]
        if self.model.conditional:
            specs.append(tf.TensorSpec([None], tf.int32))
        return [*specs, *extra]

    def _trace(self, body):
        """The concrete function of a chain `body` (`reverse` or `reverse_trajectory`)."""
        scalar = tf.TensorSpec([], tf.float32)
        extra = [scalar, scalar, tf.TensorSpec([2], tf.int64)]
        if self.model.conditional:
            function = traced(body, self._signature(*extra))
        else:
            function = traced(
                lambda x, ts, *rest: body(x, ts, None, *rest), self._signature(*extra)
            )
        return self._concrete(function)

    def _concrete(self, function):
        """`function`'s concrete function, traced with the network in `policy`."""
        with computing_in(self.model.sampler(), self.policy, keep=FLOAT32_LAYERS):
            return function.get_concrete_function()

    def _run_function(self):
        if self._run is None:
            self._run = self._trace(self.reverse)
        return self._run

    def _trajectory_function(self):
        if self._trajectory is None:
            self._trajectory = self._trace(self.reverse_trajectory)
        return self._trajectory

    def _invert_function(self):
        if self._invert is None:
            if self.model.conditional:
                function = traced(self.forward, self._signature())
            else:
                function = traced(lambda x, ts: self.forward(x, ts, None), self._signature())
            self._invert = self._concrete(function)
        return self._invert

    def run(self, x_T, labels, timesteps, eta, guidance, key, batch_size):
        """Images from `x_T` (n, H, W, C) at timesteps[0], `batch_size` at a time, as NumPy.

        Batch k's step noise comes from (key, k), so results depend on `batch_size` when
        the chain is stochastic (η > 0 or DDPM).
        """
        batch_size = check_positive_int("batch_size", batch_size)
        function = self._run_function()
        timesteps = tf.constant(timesteps, tf.int32)
        scalars = [tf.constant(guidance, tf.float32), tf.constant(eta, tf.float32)]
        starts = range(0, len(x_T), batch_size)
        outputs = []
        for index, start in enumerate(progress(starts, total=len(starts), desc="generate")):
            x = tf.constant(x_T[start : start + batch_size], tf.float32)
            args = [x, timesteps]
            if labels is not None:
                args.append(tf.constant(labels[start : start + batch_size], tf.int32))
            seed = tf.constant([key, index], tf.int64)
            outputs.append(function(*args, *scalars, seed).numpy())
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def trajectory(self, x_T, labels, timesteps, eta, guidance, key):
        """Every step of the chain from `x_T` (one batch): (x_0, xs, x0s) as NumPy.

        xs (len(timesteps), n, H, W, C) holds the input x_t of each step (xs[0] = x_T), x0s the
        predicted x_0 at it; x_0 equals ``run(x_T, ..., key, batch_size >= n)``: the
        same traced step, the same noise.
        """
        function = self._trajectory_function()
        args = [tf.constant(x_T, tf.float32), tf.constant(timesteps, tf.int32)]
        if labels is not None:
            args.append(tf.constant(labels, tf.int32))
        scalars = [tf.constant(guidance, tf.float32), tf.constant(eta, tf.float32)]
        x, xs, x0s = function(*args, *scalars, tf.constant([key, 0], tf.int64))
        return x.numpy(), xs.numpy(), x0s.numpy()

    def invert(self, images, labels, timesteps, batch_size):
        """x at timesteps[0] of `images` by deterministic DDIM up through the descending
        `timesteps` (the chain `run` takes back down), as NumPy."""
        batch_size = check_positive_int("batch_size", batch_size)
        function = self._invert_function()
        timesteps = tf.constant(np.asarray(timesteps)[::-1].copy(), tf.int32)
        outputs = []
        for start in range(0, len(images), batch_size):
            args = [tf.constant(images[start : start + batch_size], tf.float32), timesteps]
            if labels is not None:
                args.append(tf.constant(labels[start : start + batch_size], tf.int32))
            outputs.append(function(*args).numpy())
        return np.concatenate(outputs).astype(np.float32, copy=False)
