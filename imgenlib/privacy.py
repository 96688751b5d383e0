"""DP-SGD: per-example gradients, clipping, Gaussian noise and one private optimiser step.

DP-SGD (Abadi et al. 2016, https://arxiv.org/abs/1607.00133) makes a training step
differentially private by bounding what any one example can contribute and hiding that
contribution in noise:

1. `per_example_gradients`: one gradient per example (or per microbatch), vectorised
   with `tf.vectorized_map`, so no example's gradient mixes with another's.
2. `clip_gradients`: scale each example's gradient so its global L2 norm (over all
   variables together) is at most ``clip_norm`` = C.
3. `clip_and_noise`: sum the clipped gradients, add N(0, (σ·C)²) noise to every
   coordinate, divide by the *expected* batch size.
4. `dp_step`: the three above plus ``optimizer.apply_gradients``, for any Keras optimiser.

`DPConfig` (from `imgenlib.privacy_config`) holds the settings of a private model: a
`imgenlib.models.VAE` or the discriminator of a `imgenlib.models.GAN` given ``dp=`` trains
with `dp_step` (`imgenlib.models.private`).

The privacy guarantee of the whole run comes from `imgenlib.privacy_accounting`, which
turns (σ, sampling rate, steps) into (ε, δ); it is only valid when batches are drawn
the way the accountant assumes: `poisson_sample` draws the batch of one step exactly as
the default (Poisson) accounting assumes; a shuffled ``tf.data`` pipeline does not.

A private network must not mix examples in its forward pass: no BatchNorm (use
GroupNorm or LayerNorm). The per-example gradients here are computed on one example at
a time, so BatchNorm would not leak through them, but it would compute its statistics
on a single example and train a different network than the one you evaluate.
"""

from __future__ import annotations

import numbers

import tensorflow as tf

from imgenlib._validation import check_float, check_positive_int
from imgenlib.privacy_config import DPConfig

__all__ = [
    "DPConfig",
    "clip_and_noise",
    "clip_gradients",
    "dp_step",
    "per_example_gradients",
    "poisson_sample",
]


def _check_clip_norm(clip_norm) -> float:
    return check_float("clip_norm", clip_norm, minimum=0, min_inclusive=False)


def _check_noise_multiplier(noise_multiplier) -> float:
    return check_float("noise_multiplier", noise_multiplier, minimum=0)


def _as_tuple(batch) -> tuple:
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise ValueError(f"batch must hold at least one tensor. Received: batch={batch!r}")
        return tuple(tf.convert_to_tensor(t) for t in batch)
    return (tf.convert_to_tensor(batch),)


def per_example_gradients(
    loss_fn, variables, batch, *, microbatches: int | None = None, return_losses: bool = False
):
    """Gradients of `loss_fn` for each example of `batch` separately, vectorised.

    `loss_fn` is called on a batch of one example (or one microbatch) at a time, inside
    `tf.vectorized_map`, so the result equals computing each example's gradient alone
    (up to float rounding) at roughly the cost of one batched backward pass. Works
    eagerly and inside `tf.function`. Ops without a vectorised rule (stateful random ops,
    e.g. Dropout's) make `tf.vectorized_map` fall back to a slow loop: avoid them in a
    private network. TensorFlow's rule for a convolution's filter gradient is such a
    loop when the inputs differ per example (it logs "Conv2DBackpropFilter uses a
    while_loop"): on a two-conv discriminator (28×28, batch 64) this cost ≈ 9× an
    ordinary step, 16 microbatches ≈ 3.5×, and ``tape.jacobian`` with pfor ≈ 36×
    (measured on the project's busy 2-core machine at nice 19; re-measure).

    Args:
        loss_fn: callable taking the tensors of `batch` (positionally, each with a leading
            batch axis) and returning a scalar loss for them, e.g.
            ``lambda x, y: keras.ops.mean(loss(y, model(x, training=True)))``.
        variables: list of variables to differentiate, e.g. ``model.trainable_variables``.
        batch: a tensor or a tuple of tensors sharing the leading batch axis (size B).
        microbatches: ``None`` for per-example gradients, or a number m dividing B: the
            batch is split into m consecutive groups of B/m examples and one gradient of
            the group's loss is returned per group (the unit that is clipped is then a
            microbatch; one example still changes only one unit, so the privacy analysis
            is unchanged, but more noise is added per example).
        return_losses: also return the loss of each example (or microbatch).

    Returns:
        A list with one tensor per variable, shaped ``(n, *variable.shape)`` where n is B
        (or `microbatches`); with ``return_losses=True``, a pair ``(losses, gradients)``
        with `losses` of shape ``(n,)``.

    Raises:
        ValueError: if `microbatches` is not a positive int dividing the batch size, or
            `variables` is empty.

    Example:
        >>> grads = per_example_gradients(
        ...     lambda x, y: keras.ops.mean((model(x) - y) ** 2),
        ...     model.trainable_variables, (images, targets))
        >>> grads[0].shape  # (batch_size, *kernel.shape)
    """
    variables = list(variables)
    if not variables:
        raise ValueError(f"variables must not be empty. Received: variables={variables!r}")
    tensors = _as_tuple(batch)
    if microbatches is not None:
        microbatches = check_positive_int("microbatches", microbatches)
        size = tensors[0].shape[0]
        if size is not None and size % microbatches:
            raise ValueError(
                f"microbatches must divide the batch size {size}. "
                f"Received: microbatches={microbatches}"
            )
        tensors = tuple(
            tf.reshape(t, tf.concat([[microbatches, -1], tf.shape(t)[1:]], axis=0)) for t in tensors
        )

    def one_unit(unit):
        inputs = unit if microbatches is not None else tuple(t[tf.newaxis] for t in unit)
        with tf.GradientTape() as tape:
            loss = tf.cast(tf.reshape(loss_fn(*inputs), []), tf.float32)
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return loss, grads

    losses, grads = tf.vectorized_map(one_unit, tensors)
    return (losses, list(grads)) if return_losses else list(grads)


def _global_norms(per_example_grads) -> tf.Tensor:
    squares = [
        tf.reduce_sum(tf.reshape(tf.square(tf.cast(g, tf.float32)), [tf.shape(g)[0], -1]), axis=1)
        for g in per_example_grads
    ]
    return tf.sqrt(tf.add_n(squares))


def clip_gradients(per_example_grads, clip_norm: float):
    """Scale each example's gradient so its global L2 norm is at most `clip_norm`.

    The norm of example i is taken over all variables together,
    ``sqrt(sum_v ||g_v[i]||²)``, and example i is multiplied by
    ``min(1, clip_norm / norm_i)``: gradients already inside the ball are unchanged,
    larger ones keep their direction and get norm `clip_norm` exactly.

    Args:
        per_example_grads: list of tensors ``(n, *variable.shape)`` from
            `per_example_gradients`.
        clip_norm: C > 0.

    Returns:
        ``(clipped, norms)``: the clipped list (same shapes) and the norms before
        clipping, shape ``(n,)``.

    Raises:
        ValueError: if `clip_norm` is not a positive finite number.

    Example:
        >>> clipped, norms = clip_gradients(grads, clip_norm=1.0)
        >>> fraction_clipped = float(tf.reduce_mean(tf.cast(norms > 1.0, tf.float32)))
    """
    clip_norm = _check_clip_norm(clip_norm)
    per_example_grads = list(per_example_grads)
    norms = _global_norms(per_example_grads)
    scale = tf.minimum(1.0, clip_norm / tf.maximum(norms, 1e-30))
    clipped = []
    for g in per_example_grads:
        shape = tf.concat([[-1], tf.ones([tf.rank(g) - 1], tf.int32)], axis=0)
        clipped.append(g * tf.cast(tf.reshape(scale, shape), g.dtype))
    return clipped, norms


def _check_seed(seed) -> tf.Tensor:
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        seed = [int(seed), 0]
    if isinstance(seed, (tuple, list)):
        parts = [tf.convert_to_tensor(part) for part in seed]
        if all(part.shape.rank == 0 and part.dtype.is_integer for part in parts):
            seed = tf.stack([tf.cast(part, tf.int64) for part in parts])
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank != 1 or seed.shape[0] != 2 or not seed.dtype.is_integer:
        raise ValueError(
            f"seed must be an int or an integer tensor of shape [2]. Received: seed={seed!r}"
        )
    return tf.cast(seed, tf.int64)


def clip_and_noise(
    per_example_grads,
    *,
    clip_norm: float,
    noise_multiplier: float,
    expected_batch_size: float,
    seed,
):
    """The private gradient: clip each example to `clip_norm`, sum, add noise, normalise.

    Returns ``(sum_i clip(g_i) + N(0, (σ·C)² I)) / expected_batch_size`` for every
    variable. The sum of clipped gradients changes by at most C in L2 norm when one
    example is added or removed, so the noise std σ·C makes it a Gaussian mechanism
    with noise multiplier σ, which is what `imgenlib.privacy_accounting` accounts.

    Normalisation: the denominator is a constant, the *expected* batch size q·N under
    Poisson sampling (the fixed size B under fixed-size sampling), never the number of
    examples actually drawn. Dividing by the realised count would make the denominator
    depend on whether the example is present, so the result would no longer be the
    analysed mechanism (a noisy sum) post-processed by a public constant (as in
    Abadi et al. 2016's "lot size" L and Opacus' ``expected_batch_size``). The result
    is then an unbiased estimate of the mean clipped gradient with noise std
    σ·C / expected_batch_size per coordinate.

    Noise is drawn with stateless ops from `seed`, each variable from its own
    ``stateless_fold_in(seed, index)``: pass a seed keyed on the optimiser step (e.g.
    ``[run_seed, optimizer.iterations]``) so a resumed run draws the same noise and no
    two steps share noise.

    Args:
        per_example_grads: list of tensors ``(n, *variable.shape)``.
        clip_norm: C > 0, the bound on each example's global gradient norm.
        noise_multiplier: σ ≥ 0; 0 adds no noise (clipping only, not private).
        expected_batch_size: the constant denominator (> 0), see above.
        seed: an int or an integer tensor of shape [2].

    Returns:
        A list of tensors with the variables' shapes.

    Raises:
        ValueError: if `clip_norm` or `expected_batch_size` is not positive,
            `noise_multiplier` is negative, or `seed` has the wrong shape.

    Example:
        >>> grads = per_example_gradients(loss_fn, model.trainable_variables, images)
        >>> private = clip_and_noise(grads, clip_norm=1.0, noise_multiplier=1.1,
        ...                          expected_batch_size=256, seed=[0, step])
    """
    clip_norm = _check_clip_norm(clip_norm)
    noise_multiplier = _check_noise_multiplier(noise_multiplier)
    expected_batch_size = check_float(
        "expected_batch_size", expected_batch_size, minimum=0, min_inclusive=False
    )
    seed = _check_seed(seed)
    clipped, _ = clip_gradients(per_example_grads, clip_norm)
    return _noisy_mean(clipped, noise_multiplier * clip_norm, expected_batch_size, seed)


def _noisy_mean(clipped, std: float, expected_batch_size: float, seed) -> list:
    private = []
    for index, g in enumerate(clipped):
        total = tf.reduce_sum(tf.cast(g, tf.float32), axis=0)
        if std > 0:
            noise_seed = tf.random.experimental.stateless_fold_in(seed, index)
            total += tf.random.stateless_normal(tf.shape(total), noise_seed, stddev=std)
        private.append(tf.cast(total / expected_batch_size, g.dtype))
    return private


def dp_step(
    optimizer,
    loss_fn,
    variables,
    batch,
    *,
    clip_norm: float,
    noise_multiplier: float,
    expected_batch_size: float,
    seed,
    microbatches: int | None = None,
) -> dict:
    """One DP-SGD step: private gradients of `loss_fn`, applied by any Keras optimiser.

    Usable inside a model's `train_step` (graph mode): pass the variables of the part of
    the model that sees real data (a GAN's discriminator, a whole VAE). The optimiser
    only post-processes the private gradient, so Adam, RMSprop or SGD keep the guarantee.

    Args:
        optimizer: a built or unbuilt `keras.optimizers.Optimizer`.
        loss_fn: as in `per_example_gradients`.
        variables: the variables to update.
        batch: a tensor or tuple of tensors with a leading batch axis.
        clip_norm: C > 0.
        noise_multiplier: σ ≥ 0.
        expected_batch_size: the constant denominator (see `clip_and_noise`); with
            `microbatches`, the expected number of microbatches.
        seed: stateless seed of shape [2]; key it on the step (see `clip_and_noise`).
        microbatches: as in `per_example_gradients`.

    Returns:
        A dict of scalar tensors: ``loss`` (mean over the examples, not private: log it,
        do not publish it as a private statistic), ``grad_norm`` (mean per-example norm
        before clipping) and ``clipped_fraction``.

    Raises:
        ValueError: for invalid DP arguments (see `clip_and_noise`).

    Example:
        >>> optimizer = keras.optimizers.Adam(1e-3)
        >>> stats = dp_step(optimizer, loss_fn, model.trainable_variables, (x, y),
        ...                 clip_norm=1.0, noise_multiplier=1.1, expected_batch_size=256,
        ...                 seed=[0, optimizer.iterations])
    """
    clip_norm = _check_clip_norm(clip_norm)
    noise_multiplier = _check_noise_multiplier(noise_multiplier)
    expected_batch_size = check_float(
        "expected_batch_size", expected_batch_size, minimum=0, min_inclusive=False
    )
    seed = _check_seed(seed)
    variables = list(variables)
    losses, grads = per_example_gradients(
        loss_fn, variables, batch, microbatches=microbatches, return_losses=True
    )
    clipped, norms = clip_gradients(grads, clip_norm)
    private = _noisy_mean(clipped, noise_multiplier * clip_norm, expected_batch_size, seed)
    optimizer.apply_gradients(zip(private, variables, strict=True))
    return {
        "loss": tf.reduce_mean(losses),
        "grad_norm": tf.reduce_mean(norms),
        "clipped_fraction": tf.reduce_mean(tf.cast(norms > clip_norm, tf.float32)),
    }


def poisson_sample(dataset_size: int, sampling_rate: float, seed) -> tf.Tensor:
    """Indices of one Poisson-sampled batch: each example joins with probability q.

    This is the sampling that ``privacy_accounting.epsilon(..., sampling="poisson")``
    accounts: at every step each of the N examples is included independently, so the
    batch size varies (Binomial(N, q), mean q·N). Draw a fresh batch per step with a
    seed keyed on the step; gather the examples with ``tf.gather(images, indices)``
    and divide by the constant ``expected_batch_size = q·N`` (see `clip_and_noise`).
    An empty batch is a valid draw (its private gradient is pure noise).

    Args:
        dataset_size: N ≥ 1.
        sampling_rate: q in (0, 1].
        seed: an int or an integer tensor of shape [2].

    Returns:
        An int32 tensor of sorted indices into the dataset, of random length.

    Raises:
        ValueError: if `dataset_size` is not a positive int or `sampling_rate` is not
            in (0, 1].

    Example:
        >>> indices = poisson_sample(60_000, 256 / 60_000, seed=[0, step])
        >>> batch = tf.gather(images, indices)
    """
    dataset_size = check_positive_int("dataset_size", dataset_size)
    sampling_rate = check_float(
        "sampling_rate", sampling_rate, minimum=0, min_inclusive=False, maximum=1
    )
    draws = tf.random.stateless_uniform([dataset_size], _check_seed(seed))
    return tf.cast(tf.where(draws < sampling_rate)[:, 0], tf.int32)
