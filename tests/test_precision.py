"""`precision="auto"`: the hardware decides between float32 and mixed_bfloat16."""

import numpy as np
import pytest

from imgenlib.precision import BF16_CPU_FLAGS, PrecisionChoice, choose_precision, cpu_flags
from imgenlib.runs import RunConfig

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16
processor\t: 1
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16
"""


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert cpu_flags(path) == {"fpu", "sse2", "avx2", "fma", "avx512f", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") is None
    path.write_text("processor\t: 0\n")
    assert cpu_flags(path) is None


def test_this_machine_is_read_like_grep_reads_it():
    """The choice on this machine agrees with the flags as a plain text search finds them."""
    text = open("/proc/cpuinfo").read()
    native = any(f" {flag}" in text for flag in BF16_CPU_FLAGS)
    chosen = choose_precision("gan", gpus=[])
    assert chosen.policy == ("mixed_bfloat16" if native else "float32"), chosen.reason


@pytest.mark.parametrize(
    ("kind", "flags", "gpus", "policy", "words"),
    [
        ("gan", {"avx2", "avx512_bf16"}, [], "mixed_bfloat16", "natively (avx512_bf16)"),
        ("gan", {"amx_bf16", "amx_tile"}, [], "mixed_bfloat16", "natively (amx_bf16)"),
        ("diffusion", {"amx_bf16", "amx_tile"}, [], "mixed_bfloat16", "natively (amx_bf16)"),
        ("gan", {"avx2", "fma", "avx512f"}, [], "float32", "would be emulated"),
        ("diffusion", None, [], "float32", "could not be read"),
        ("vae", {"avx512_bf16"}, [], "float32", "for a VAE"),
        ("vae", set(), [(9, 0)], "float32", "for a VAE"),
        ("gan", set(), [(8, 0)], "mixed_bfloat16", "compute capability 8.0"),
        ("diffusion", {"avx512_bf16"}, [(7, 5)], "mixed_float16", "compute capability 7.5"),
        ("gan", set(), [None], "float32", "compute capability unknown"),
    ],
)
def test_choice_table(kind, flags, gpus, policy, words):
    chosen = choose_precision(kind, flags=flags, gpus=gpus)
    assert isinstance(chosen, PrecisionChoice) and chosen.policy == policy
    assert chosen.reason.startswith(f"auto: {policy}") and words in chosen.reason


def test_bad_kind_names_the_value():
    with pytest.raises(ValueError, match="Unknown kind 'gam'"):
        choose_precision("gam", flags=set(), gpus=[])


def test_run_config_accepts_auto_for_every_kind_and_refuses_a_float16_vae():
    for kind in ("gan", "vae", "diffusion"):
        assert RunConfig(kind=kind, data="digits", out="x", precision="auto").precision == "auto"
    vae = RunConfig(kind="vae", data="digits", out="x", precision="mixed_bfloat16")
    assert vae.precision == "mixed_bfloat16"  # bfloat16 networks, float32 ELBO
    with pytest.raises(ValueError, match="Received: precision='mixed_float16' for a vae"):
        RunConfig(kind="vae", data="digits", out="x", precision="mixed_float16")
    with pytest.raises(ValueError, match="Unknown precision 'float16'"):
        RunConfig(kind="gan", data="digits", out="x", precision="float16")


def test_private_runs_stay_float32_on_a_bfloat16_cpu():
    chosen = choose_precision("gan", flags={"avx512_bf16"}, gpus=[], private=True)
    assert chosen.policy == "float32" and "private (DP-SGD) training" in chosen.reason
    assert choose_precision("gan", flags={"avx512_bf16"}, gpus=[]).policy == "mixed_bfloat16"


def test_the_kinds_are_the_run_configs():
    from imgenlib import precision, run_config

    assert precision._KINDS == run_config.KINDS


@pytest.mark.parametrize(
    ("capability", "private", "policy"),
    [((7, 5), False, "mixed_float16"), ((7, 0), True, "float32"), ((6, 1), False, "float32")],
)
def test_gpus_without_bfloat16_get_float16_unless_private_or_older(capability, private, policy):
    chosen = choose_precision("gan", flags=set(), gpus=[capability], private=private)
    assert chosen.policy == policy, chosen.reason
    assert f"compute capability {capability[0]}.{capability[1]}" in chosen.reason


@pytest.mark.parametrize(
    ("recorded", "choice", "resolved"),
    [
        (None, "mixed_float16", "mixed_float16"),  # a new run: the machine's choice
        ("float32", "mixed_float16", "float32"),  # a float16 GPU resuming a float32 run
        ("mixed_bfloat16", "mixed_float16", "mixed_bfloat16"),
        ("mixed_float16", "mixed_bfloat16", "mixed_float16"),  # a float16 run moved machine
        ("mixed_bfloat16", "float32", "float32"),  # allowed switches follow the machine
        ("float32", "mixed_bfloat16", "mixed_bfloat16"),
    ],
)
def test_auto_keeps_a_resumed_runs_loss_scaling(tmp_path, monkeypatch, recorded, choice, resolved):
    """ "auto" never asks for the one switch a resume refuses (into or out of float16)."""
    import json

    from imgenlib import precision

    if recorded is not None:
        (tmp_path / "run.json").write_text(json.dumps({"precision": recorded}))
    chosen = precision.PrecisionChoice(choice, f"auto: {choice}, the test's machine")
    monkeypatch.setattr(precision, "choose_precision", lambda kind, private=False: chosen)
    config = RunConfig(kind="gan", data="digits", out=tmp_path, precision="auto")
    config, reason = precision.resolve_auto(config)
    assert config.precision == resolved
    if resolved == choice:
        assert reason == chosen.reason
    else:
        assert reason.startswith(f"auto: {recorded}, the precision of the run being resumed")
        assert f"{choice}, the test's machine" in reason


def test_run_config_refuses_float16_for_a_private_run():
    with pytest.raises(ValueError, match=r"per-example.*Received: precision='mixed_float16'"):
        RunConfig(kind="gan", data="digits", out="x", precision="mixed_float16", dp_epsilon=10)


def test_a_loss_scaled_step_equals_the_unscaled_step(tiny_gan_pair):
    """Loss scaling is exact in float32 (the scale is a power of two): one GAN step with
    both optimisers wrapped in LossScaleOptimizer moves every weight as the plain step does.
    A train_step that forgot `scale_loss` would divide its gradients by 2**15."""
    plain, scaled, batch = tiny_gan_pair
    plain.train_on_batch(batch)
    scaled.train_on_batch(batch)
    for a, b in zip(plain.weights, scaled.weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_jit_compile_auto_is_off_on_this_cpu_and_an_xla_gan_step_trains(tiny_gan_pair):
    """Keras' ``jit_compile="auto"`` (what imgenlib's models keep) resolves to False on a
    machine without a GPU; asked for explicitly, XLA compiles the GAN's training step (the
    GPU path, run here on the CPU): finite losses, every weight moved, and D's score of the
    real batch, which draws no noise, equal to the graph step's. (The noise itself differs:
    TensorFlow's XLA kernel turns a stateless seed above 2**32 into another Philox key than
    its CPU kernel does, so a run's seed means other noise with XLA.)"""
    import tensorflow as tf

    plain, xla, batch = tiny_gan_pair
    assert not tf.config.list_physical_devices("GPU")
    assert plain.jit_compile is False  # "auto", resolved at compile time
    xla.set_weights(plain.get_weights())
    before = [np.asarray(w).copy() for w in xla.trainable_weights]
    xla.jit_compile = True
    graph_logs = plain.train_on_batch(batch, return_dict=True)
    logs = xla.train_on_batch(batch, return_dict=True)
    assert set(logs) == set(graph_logs) and all(np.isfinite(float(v)) for v in logs.values())
    assert logs["d_real"] == pytest.approx(graph_logs["d_real"], rel=1e-5)
    assert all(np.abs(np.asarray(w) - b).max() > 0 for w, b in zip(xla.trainable_weights, before, strict=True))  # fmt: skip


@pytest.fixture
def tiny_gan_pair():
    import keras

    from imgenlib.models import GANConfig, build_gan
    from imgenlib.precision import use_loss_scaling

    images = np.random.default_rng(0).uniform(-1, 1, (16, 16, 16, 1)).astype("float32")
    models = []
    for wrap in (False, True):
        keras.utils.set_random_seed(0)
        gan = build_gan(GANConfig.tiny(), (16, 16, 1))
        gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1))
        if wrap:
            use_loss_scaling(gan)
            use_loss_scaling(gan)  # idempotent
            assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
            assert not isinstance(
                gan.g_optimizer.inner_optimizer, keras.optimizers.LossScaleOptimizer
            )
        gan.build_for_training()
        models.append(gan)
    models[1].set_weights(models[0].get_weights())
    return models[0], models[1], images


@pytest.mark.slow
def test_a_float16_diffusion_model_trains_with_loss_scaling():
    """mixed_float16 on the CPU, for correctness: the U-Net's loss-scaled steps stay finite,
    apply (the loss scale skips only overflowing steps), keep float32 variables, and the
    model samples float32 images."""
    import keras

    from imgenlib.models import DiffusionConfig, build_diffusion
    from imgenlib.precision import use_loss_scaling

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_diffusion(DiffusionConfig.tiny(), (16, 16, 1))
        use_loss_scaling(model)
        model.build_for_training()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    images = np.random.default_rng(0).uniform(-1, 1, (32, 16, 16, 1)).astype("float32")
    before = [w.copy() for w in model.network.get_weights()]
    losses = model.fit(images, batch_size=8, epochs=1, verbose=0, shuffle=False).history["loss"]
    assert all(np.isfinite(losses))
    assert int(model.optimizer.iterations) >= 2  # of 4 steps; an overflowing one is skipped
    assert {v.dtype for v in model.network.weights} == {"float32"}
    moved = zip(model.network.get_weights(), before, strict=True)
    assert max(np.abs(a - b).max() for a, b in moved) > 1e-4
    samples = model.generate(4, seed=0, steps=3)
    assert samples.dtype == np.float32 and np.all(np.isfinite(samples))


@pytest.mark.parametrize(
    ("precision", "flags", "gpus", "policy"),
    [
        ("float32", {"avx512_bf16"}, [], "float32"),
        ("bfloat16", {"avx2"}, [], "mixed_bfloat16"),  # asked for: given, even if emulated
        ("auto", {"avx2", "avx512_bf16"}, [], "mixed_bfloat16"),
        ("auto", {"amx_bf16"}, [], "mixed_bfloat16"),
        ("auto", {"avx2"}, [], "float32"),
        ("auto", None, [], "float32"),
        ("auto", {"avx2"}, [(8, 0)], "mixed_bfloat16"),
        ("auto", {"avx512_bf16"}, [(7, 5)], "float32"),  # float16 GPUs sample in float32
    ],
)
def test_sampling_policy(precision, flags, gpus, policy):
    from imgenlib.precision import sampling_policy

    assert sampling_policy(precision, flags=flags, gpus=gpus) == policy


@pytest.mark.parametrize(
    ("kind", "flags", "policy"),
    [
        ("gan", {"amx_bf16"}, "mixed_bfloat16"),
        ("vae", {"amx_bf16"}, "mixed_bfloat16"),  # a VAE samples as a GAN would
        ("diffusion", {"avx2"}, "float32"),
        ("diffusion", {"avx2", "avx512_bf16"}, None),  # what choose_precision trains in
    ],
)
def test_sampling_policy_of_each_family_follows_its_training_choice(kind, flags, policy):
    from imgenlib.precision import choose_precision, sampling_policy

    expected = policy or choose_precision(kind, flags=flags, gpus=[]).policy
    assert sampling_policy("auto", kind=kind, flags=flags, gpus=[]) == expected
    assert sampling_policy("bfloat16", kind=kind, flags=flags, gpus=[]) == "mixed_bfloat16"
    with pytest.raises(ValueError, match="'ddpm'"):
        sampling_policy("auto", kind="ddpm")


def test_computing_in_keeps_the_named_layers_and_what_is_inside_them():
    import keras

    from imgenlib.precision import computing_in

    inputs = keras.Input((4, 8))
    hidden = keras.layers.Dense(8, name="switched")(inputs)
    attention = keras.layers.MultiHeadAttention(2, 4, name="kept")
    network = keras.Model(inputs, attention(hidden, hidden))
    inner = [layer for layer in attention._flatten_layers(include_self=False)]
    assert inner  # the attention's own projections, not in network.layers
    with computing_in(network, "mixed_bfloat16", keep=("kept",)):
        assert network.get_layer("switched").dtype_policy.name == "mixed_bfloat16"
        assert {layer.dtype_policy.name for layer in [attention, *inner]} == {"float32"}
        assert network(np.ones((1, 4, 8), np.float32)).dtype == "float32"
    everything = network._flatten_layers(include_self=True)
    assert {layer.dtype_policy.name for layer in everything} == {"float32"}


def test_sampling_policy_names_a_bad_value():
    from imgenlib.precision import sampling_policy

    with pytest.raises(ValueError, match="'mixed_bfloat16'"):
        sampling_policy("mixed_bfloat16")
