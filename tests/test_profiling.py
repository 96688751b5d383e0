"""imgenlib.profiling: MAC counts against hand counts and TensorFlow's own profiler, timing helpers."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from imgenlib.profiling import (
    StepTimes,
    latency_ms,
    model_cost,
    throughput,
    training_throughput,
)


def small_network():
    return keras.Sequential(
        [
            keras.Input((5, 5, 2)),
            keras.layers.Conv2D(8, 3, padding="same", name="conv"),  # 5·5 outputs · 3·3·2·8
            keras.layers.BatchNormalization(),
            keras.layers.Conv2DTranspose(
                4, 4, strides=2, padding="same", name="up"
            ),  # 5·5 inputs · 4·4·8·4
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="dense"),  # (10·10·4)·3
        ]
    )


def test_model_cost_matches_hand_counts():
    cost = model_cost(small_network())
    assert cost["macs_per_layer"] == {
        "conv": 5 * 5 * 3 * 3 * 2 * 8,
        "up": 5 * 5 * 4 * 4 * 8 * 4,
        "dense": 400 * 3,
    }
    assert cost["macs"] == 3600 + 12800 + 1200
    params = (3 * 3 * 2 * 8 + 8) + 4 * 8 + (4 * 4 * 8 * 4 + 4) + (400 * 3 + 3)
    assert cost["parameters"] == params
    assert cost["trainable_parameters"] == params - 16  # BN's moving mean and variance
    assert cost["float32_mb"] == round(params * 4 / 2**20, 3)
    assert cost["float16_mb"] == round(params * 2 / 2**20, 3)


def test_model_cost_agrees_with_tensorflows_profiler():
    """TF's graph profiler counts 2 FLOPs per multiply-accumulate of Conv2D, its transpose and MatMul."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    network = small_network()
    function = tf.function(lambda x: network(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((1, 5, 5, 2), tf.float32))
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options)
    by_type, nodes = {}, list(profile.children)
    while nodes:  # the "op" view nests op types; each node's own float_ops is its type's total
        node = nodes.pop()
        by_type[node.name] = node.float_ops
        nodes += node.children
    counted = sum(by_type.get(op, 0) for op in ("Conv2D", "Conv2DBackpropInput", "MatMul"))
    if not counted:
        pytest.skip(f"this TensorFlow's profiler reports no conv/matmul FLOPs: {by_type}")
    assert counted == 2 * model_cost(network)["macs"]


def test_model_cost_sees_inside_the_gan_generator():
    from imgenlib.models import GANConfig, build_gan

    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    cost = model_cost(gan.generator)
    assert cost["parameters"] == gan.generator.count_params()
    assert cost["macs"] > cost["parameters"] / 2  # convolutions reuse each weight many times
    assert set(cost["macs_per_layer"])  # at least one counted layer


def test_model_cost_counts_a_spectrally_normalised_convolution_like_a_plain_one():
    def network(wrap):
        conv = keras.layers.Conv2D(8, 3, padding="same", name="conv")
        return keras.Sequential([keras.Input((6, 6, 3)), wrap(conv) if wrap else conv])

    plain = model_cost(network(None))
    wrapped = model_cost(network(keras.layers.SpectralNormalization))
    assert plain["macs"] == 6 * 6 * 3 * 3 * 3 * 8 == wrapped["macs"]


def test_model_cost_bad_input():
    with pytest.raises(TypeError, match="keras.Model. Received: str"):
        model_cost("generator")
    with pytest.raises(ValueError, match="is not built"):
        model_cost(keras.Sequential([keras.layers.Dense(2)]))


def test_latency_counts_calls_and_reports_milliseconds():
    calls = []

    def sleep_5ms():
        calls.append(1)
        time.sleep(0.005)

    result = latency_ms(sleep_5ms, calls=10, warmup=3)
    assert len(calls) == 13 and result["calls"] == 10
    assert 5.0 <= result["p50"] <= result["p95"]  # a sleep lasts at least as long as asked
    assert result["mean"] >= 5.0


def test_throughput_is_bounded_by_the_work():
    rate = throughput(lambda: time.sleep(0.01), items=100, repeats=3)
    assert 0 < rate <= 100 / 0.01


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: latency_ms("f"), TypeError, "function must be callable. Received: 'f'"),
        (lambda: latency_ms(print, calls=0), ValueError, "calls"),
        (lambda: latency_ms(print, warmup=-1), ValueError, "warmup=-1"),
        (lambda: throughput(print, items=0), ValueError, "items"),
    ],
)
def test_timing_helpers_reject_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_training_throughput_times_every_step_after_the_first():
    from imgenlib.models import GANConfig, build_gan

    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    images = np.random.default_rng(0).uniform(-1, 1, (64, 28, 28, 1)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(images).repeat().batch(16)
    rate = training_throughput(gan, data, steps=4, images_per_step=16)
    assert rate > 0
    timer = StepTimes()
    gan.fit(data, epochs=1, steps_per_epoch=3, callbacks=[timer], verbose=0)
    assert len(timer.times) == 3 and timer.times == sorted(timer.times)
    assert timer.images_per_second(16) == pytest.approx(2 * 16 / (timer.times[-1] - timer.times[0]))
    with pytest.raises(ValueError, match="steps must be at least 2"):
        training_throughput(gan, data, steps=1, images_per_step=16)
