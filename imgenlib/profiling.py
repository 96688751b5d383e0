"""Measuring cost: latency percentiles, throughput, training img/s, and a network's size and MACs.

Used by notebook 07 and the ``benchmarks/`` scripts, so the course and the published
figures measure the same way.

- `latency_ms(fn, calls)` — p50 / p95 / mean of single calls after warm-up calls (tracing and
  first-call allocation are not latency a user sees twice).
- `throughput(fn, items, repeats)` — items per second over `repeats` calls after one warm-up.
- `StepTimes` and `training_throughput(model, data, steps, images_per_step)` — the
  steady-state training rate between the first and the last step of a ``fit`` call (the
  first step, which includes tracing and the iterator start, is excluded).
- `model_cost(network)` — parameters, bytes in float32 / float16, and multiply-accumulates
  (MACs) of one forward pass for one input, counted layer by layer for Dense, Conv2D and
  Conv2DTranspose (the layers that dominate a DCGAN's cost).
"""

from __future__ import annotations

import time

import numpy as np

from imgenlib._validation import check_positive_int

__all__ = ["StepTimes", "latency_ms", "model_cost", "throughput", "training_throughput"]


def _check_callable(name, value):
    if not callable(value):
        raise TypeError(f"{name} must be callable. Received: {value!r}")


def latency_ms(function, calls: int = 100, warmup: int = 2) -> dict:
    """Time `calls` calls of ``function()`` after `warmup` untimed ones.

    Returns:
        ``{"p50": ms, "p95": ms, "mean": ms, "calls": calls}`` (milliseconds, 3 decimals).
    """
    _check_callable("function", function)
    calls = check_positive_int("calls", calls)
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0. Received: warmup={warmup!r}")
    for _ in range(warmup):
        function()
    seconds = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        function()
        seconds[i] = time.perf_counter() - start
    ms = seconds * 1000
    return {
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p95": round(float(np.percentile(ms, 95)), 3),
        "mean": round(float(ms.mean()), 3),
        "calls": calls,
    }


def throughput(function, items: int, repeats: int = 5) -> float:
    """Items per second of ``function()``, which processes `items` items per call."""
    _check_callable("function", function)
    items = check_positive_int("items", items)
    repeats = check_positive_int("repeats", repeats)
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return round(items * repeats / (time.perf_counter() - start), 1)


def _callback_base():
    import keras

    return keras.callbacks.Callback


class StepTimes(_callback_base()):
    """Keras callback: ``times`` holds the wall-clock time at the end of every training step."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())

    def images_per_second(self, images_per_step: int) -> float:
        """Steady-state rate: steps after the first, over the time between them."""
        if len(self.times) < 2:
            raise ValueError(
                f"Need at least 2 timed steps for a rate. Received: {len(self.times)} step(s)"
            )
        return (len(self.times) - 1) * images_per_step / (self.times[-1] - self.times[0])


def training_throughput(model, data, steps: int, images_per_step: int) -> float:
    """Steady-state images/s of ``model.fit(data)`` over `steps` steps (see `StepTimes`).

    `data` must yield at least `steps` batches (e.g. a repeated ``tf.data.Dataset``). The
    model must be compiled. Call it once first to warm up (trace) if the number matters.
    """
    steps = check_positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the first step is not timed). Received: steps={steps}")  # fmt: skip
    images_per_step = check_positive_int("images_per_step", images_per_step)
    timer = StepTimes()
    model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0, shuffle=False)
    return round(timer.images_per_second(images_per_step), 1)


def _layer_macs(layer, shapes=None) -> int:
    """Multiply-accumulates of one layer for one input (0 for layers not counted).

    `shapes` is the layer whose input/output shapes to use: a wrapper's (such as
    ``SpectralNormalization``) for the layer it wraps, which is never called symbolically.
    """
    import keras

    shapes = layer if shapes is None else shapes
    inner = getattr(layer, "layer", None)
    if isinstance(layer, keras.layers.Wrapper) and inner is not None:
        return _layer_macs(inner, shapes)
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(layer.kernel.shape))
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # Every input pixel scatters a k×k×C_out patch: H_in·W_in·k_h·k_w·C_in·C_out.
        height, width = shapes.input.shape[1:3]
        return int(height * width * np.prod(layer.kernel.shape))
    if isinstance(layer, keras.layers.Conv2D):
        # Every output pixel gathers a k×k×C_in patch per output channel.
        height, width = shapes.output.shape[1:3]
        return int(height * width * np.prod(layer.kernel.shape))
    return 0


def _layers(network):
    import keras

    for layer in network.layers:
        if isinstance(layer, keras.Model) and not isinstance(layer, keras.layers.Wrapper):
            yield from _layers(layer)
        else:
            yield layer


def model_cost(network) -> dict:
    """Size and compute of a built functional or Sequential Keras network.

    Returns:
        ``{"parameters", "trainable_parameters", "float32_mb", "float16_mb", "macs",
        "macs_per_layer"}`` where ``macs`` is the multiply-accumulates of one forward pass
        for **one** input (≈ FLOPs / 2), summed over Dense, Conv2D and Conv2DTranspose
        layers (normalisation and activations add a few percent, not counted).

    Raises:
        TypeError: `network` is not a Keras model.
        ValueError: it is not built (call it on an input or give it an ``Input``).
    """
    import keras

    if not isinstance(network, keras.Model):
        raise TypeError(f"network must be a keras.Model. Received: {type(network).__name__}")
    if not network.built:
        raise ValueError(f"network {network.name!r} is not built; build it on an input first.")
    per_layer = {}
    for layer in _layers(network):
        try:
            macs = _layer_macs(layer)
        except (AttributeError, ValueError, TypeError) as error:
            raise ValueError(
                f"Cannot infer the shapes of layer {layer.name!r} of {network.name!r}: build the "
                "network with a keras.Input (functional or Sequential) first."
            ) from error
        if macs:
            per_layer[layer.name] = macs
    parameters = int(network.count_params())
    trainable = int(sum(np.prod(w.shape) for w in network.trainable_weights))
    return {
        "parameters": parameters,
        "trainable_parameters": trainable,
        "float32_mb": round(parameters * 4 / 2**20, 3),
        "float16_mb": round(parameters * 2 / 2**20, 3),
        "macs": int(sum(per_layer.values())),
        "macs_per_layer": per_layer,
    }
