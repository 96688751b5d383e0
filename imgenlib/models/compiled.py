"""The compiled forward passes behind `generate`: one per (precision, batch class), traced once.

Every family whose sampler maps inputs to images in one pass (GANs, VAEs, the text GAN)
samples through `sampling_function`, which calls the *concrete* function of a
fixed-signature `tf.function` directly, skipping `tf.function`'s per-call argument
matching (about 0.7 ms less per call for one 28×28 image on a 2-core CPU).

**Batch-tuned.** A chunk of at most `SMALL_BATCH` images (one image for an interactive tool
or a server) runs through a function compiled with XLA (``jit_compile=True``): XLA fuses
the network into a few kernels and its call costs about 0.05 ms against 0.16 ms for a
graph, so one 28×28 image takes 0.82 ms instead of 1.08 on the 2-core Xeon
(``benchmarks/sampling.py``, ``xla_vs_graph_float32``). Larger batches keep the graph:
there XLA's CPU convolutions were 3.3× slower than oneDNN's (batch 256: 2,095 against
6,932 img/s). Only float32 samplers use XLA: it agrees with the graph to 1e-7, so an
image is the same alone or in a batch, where a bfloat16 sampler's fused kernels round
differently (by ~3e-4). If XLA cannot compile a sampler (an op without an XLA kernel),
the graph takes over with one warning.

**Precision-tuned.** ``precision="auto"`` means bfloat16 for batches on hardware that
computes it natively (`imgenlib.precision.sampling_policy`) but float32 for
`SMALL_BATCH` images or fewer: with weights kept in float32 and cast per call, one image
in bfloat16 took 1.29 ms against 1.08 in float32 (both graphs; 0.82 with XLA) in the same
run. An explicit ``"bfloat16"`` or ``"float32"`` is always honoured.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import tensorflow as tf

from imgenlib._env import progress
from imgenlib.precision import AUTO, computing_in, sampling_policy

__all__ = ["SMALL_BATCH", "run_in_batches", "sampling_function", "sampling_plan", "traced"]

SMALL_BATCH = 2
# What XLA raises when it cannot compile a graph (an op with no XLA kernel, say).
_XLA_ERRORS = (
    tf.errors.InvalidArgumentError,
    tf.errors.UnimplementedError,
    tf.errors.InternalError,
)


def traced(function, input_signature, *, jit_compile: bool = False):
    """`tf.function` of `function` with a fixed signature, traced once per model.

    TensorFlow counts traces per Python *code object*, so one closure traced for many
    models (a notebook comparing several) triggers its "excessive retracing" warning
    although each model traces only once. Wrapping in `functools.partial` gives every
    model's function its own identity.
    """
    return tf.function(
        functools.partial(function), input_signature=input_signature, jit_compile=jit_compile
    )


def sampling_plan(precision: str | None, batch: int) -> tuple[str | None, bool]:
    """The (dtype policy, XLA or not) a chunk of `batch` images samples with.

    `precision` as in `GenerativeModel.generate`: None keeps the model's own policy (None
    is returned); ``"auto"`` becomes float32 for at most `SMALL_BATCH` images (see the
    module docstring), else `imgenlib.precision.sampling_policy`'s choice.

    Raises:
        ValueError: `precision` is not None or one of `SAMPLING_PRECISIONS`.
    """
    small = batch <= SMALL_BATCH
    if precision is None:
        return None, small
    policy = sampling_policy(precision)  # checks the name
    if precision == AUTO and small:
        policy = "float32"
    return policy, small


def sampling_function(owner, precision: str | None, batch: int, build):
    """The compiled sampler for chunks of `batch` images in `precision`, cached on `owner`.

    `build()` returns ``(network, forward, specs)``: ``forward`` is traced with the input
    `specs` while `network` computes in the policy `sampling_plan` gives; it is called
    only the first time a (precision, batch class) is asked for. The result is a callable
    taking arrays (or tensors) in the order of `specs` and returning ``forward``'s tensor;
    its attributes ``concrete`` (the traced function) and ``xla`` say what runs (only a
    float32 network gets XLA). One trace per (policy, XLA) and owner; the graph reads the
    network's variables, so it sees later training.

    Raises:
        ValueError: an unknown `precision` (as `sampling_plan`).
    """
    plans = owner.__dict__.setdefault("_sampling_plans", {})
    key = (precision, batch <= SMALL_BATCH)
    if key not in plans:  # the plan is asked once: "auto" reads the hardware
        policy, xla = sampling_plan(precision, batch)
        network, forward, specs = build()
        xla = xla and _computes_in_float32(network, policy)
        plans[key] = _traced_sampler(owner, network, forward, specs, policy, xla)
    return plans[key]


def _traced_sampler(owner, network, forward, specs, policy, xla):
    functions = owner.__dict__.setdefault("_sampling_functions", {})
    if (policy, xla) not in functions:
        with computing_in(network, policy):  # the trace keeps the policy's casts
            concrete = traced(forward, specs, jit_compile=xla).get_concrete_function()
        dtypes = [spec.dtype for spec in specs]

        def call(*arrays):
            return concrete(*(tf.constant(a, d) for a, d in zip(arrays, dtypes, strict=True)))

        call.concrete, call.xla = concrete, xla
        if xla:
            graph = lambda: _traced_sampler(owner, network, forward, specs, policy, False)  # noqa: E731
            call = _with_graph_fallback(call, graph, getattr(network, "name", "the sampler"))
        functions[policy, xla] = call
    return functions[policy, xla]


def _computes_in_float32(network, policy) -> bool:
    """Whether `network` computes in float32 under `policy` (None: its layers' own policies)."""
    if policy is not None:
        return policy == "float32"
    # Layer._flatten_layers also walks custom layers' sub-layers (as in `computing_in`).
    layers = network._flatten_layers(include_self=True, recursive=True)
    return all(layer.compute_dtype == "float32" for layer in layers)


def _with_graph_fallback(compiled, make_graph, name):
    """`compiled` (XLA), replaced for good by ``make_graph()`` if XLA cannot compile it."""

    def call(*arrays):
        if call.xla:
            try:
                return compiled(*arrays)
            except _XLA_ERRORS as error:
                if "XLA" not in str(error) and "compil" not in str(error):
                    raise  # a real error of the sampler: the graph would raise it too
                warnings.warn(
                    f"XLA could not compile {name!r} for small batches "
                    f"({type(error).__name__}); sampling them without XLA.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                call.graph = make_graph()
                call.concrete, call.xla = call.graph.concrete, False
        return call.graph(*arrays)

    call.concrete, call.xla = compiled.concrete, True
    return call


def run_in_batches(function, arrays, batch_size: int) -> np.ndarray:
    """``function`` on `batch_size` rows of every array at a time, with a progress bar for
    long jobs; outputs concatenated as float32 NumPy."""
    starts = range(0, len(arrays[0]), batch_size)
    outputs = [
        function(*(a[start : start + batch_size] for a in arrays)).numpy()
        for start in progress(starts, total=len(starts), desc="generate")
    ]
    images = outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
    return images.astype(np.float32, copy=False)
