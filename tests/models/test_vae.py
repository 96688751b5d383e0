import keras
import numpy as np
import pytest
from scipy import stats

from imgenlib.data import load_images, make_dataset
from imgenlib.models import (
    LIKELIHOODS,
    VAE,
    NoiseSalt,
    Sampling,
    VAEConfig,
    build_decoder,
    build_encoder,
    build_vae,
    kl_divergence,
    load_model,
    reconstruction_nll,
)


def one_batch(images, labels=None, batch_size=16):
    return make_dataset(images, labels, batch_size=batch_size, shuffle=False).take(1)


def numpy_reconstruction_nll(images, logits, likelihood, sigma=None):
    """-log p(x | z) summed per image, from scipy's distributions."""
    logits = logits.astype(np.float64)
    if likelihood == "bernoulli":
        targets = (images.astype(np.float64) + 1) / 2
        p = 1 / (1 + np.exp(-logits))
        log_lik = targets * np.log(p) + (1 - targets) * np.log1p(-p)
    elif likelihood == "discretised_logistic":
        # the bin of the nearest of the 256 levels, the end bins reaching to ±infinity
        x = np.round((images.astype(np.float64) + 1) * 127.5) / 127.5 - 1
        logistic = stats.logistic(loc=np.tanh(logits / 2), scale=sigma)
        upper, lower = logistic.cdf(x + 1 / 255), logistic.cdf(x - 1 / 255)
        mass = np.where(x > 1 - 1e-6, 1.0, upper) - np.where(x < -1 + 1e-6, 0.0, lower)
        log_lik = np.log(mass)
    else:
        mean = 2 / (1 + np.exp(-logits)) - 1
        log_lik = stats.norm.logpdf(images, loc=mean, scale=sigma)
    return -log_lik.reshape(len(images), -1).sum(axis=1)


def numpy_kl(z_mean, z_log_var):
    return 0.5 * (np.exp(z_log_var) + z_mean**2 - 1 - z_log_var).sum(axis=1)


def test_kl_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(0)
    z_mean = rng.normal(0, 1.5, (4, 3))
    z_log_var = rng.normal(0, 1.0, (4, 3))
    closed = kl_divergence(z_mean.astype(np.float32), z_log_var.astype(np.float32)).numpy()
    std = np.exp(0.5 * z_log_var)
    z = z_mean + std * rng.standard_normal((200_000, 4, 3))
    log_ratio = stats.norm.logpdf(z, z_mean, std).sum(-1) - stats.norm.logpdf(z, 0, 1).sum(
        -1
    )  # log q(z|x) - log p(z), one column per example
    estimate = log_ratio.mean(axis=0)
    standard_error = log_ratio.std(axis=0, ddof=1) / np.sqrt(len(log_ratio))
    np.testing.assert_array_less(np.abs(closed - estimate), 4 * standard_error + 1e-6)
    np.testing.assert_allclose(closed, numpy_kl(z_mean, z_log_var), rtol=1e-5)
    assert kl_divergence(
        np.zeros((2, 5), np.float32), np.zeros((2, 5), np.float32)
    ).numpy().tolist() == [0, 0]


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "discretised_logistic"])
def test_reconstruction_nll_matches_numpy(likelihood, rng):
    images = rng.uniform(-1, 1, (3, 8, 8, 2)).astype(np.float32)
    images[0, 0] = -1.0  # the end levels, whose bins reach to infinity
    images[0, 1] = 1.0
    logits = rng.normal(0, 3, (3, 8, 8, 2)).astype(np.float32)
    got = reconstruction_nll(images, logits, likelihood=likelihood, log_sigma=np.log(0.2)).numpy()
    expected = numpy_reconstruction_nll(images, logits, likelihood, sigma=0.2)
    np.testing.assert_allclose(got, expected, rtol=2e-5)


@pytest.mark.parametrize(
    "mean, scale", [(0.3, 0.05), (-0.99, 0.01), (0.999, 0.3), (0.0, 1e-3), (0.5, 2.0), (1.0, 1e-3)]
)
def test_discretised_logistic_is_a_distribution_over_the_256_levels(mean, scale):
    """exp(−nll) summed over the 256 levels of an 8-bit channel is 1, for sharp and flat
    logistics, means at the edges included; a level's neighbours within half a bin get the
    same probability (targets are rounded to their level)."""
    levels = (np.arange(256) / 255 * 2 - 1).astype(np.float32).reshape(256, 1, 1, 1)
    logits = np.full_like(levels, 2 * np.arctanh(np.clip(mean, -1 + 1e-6, 1 - 1e-6)))
    nll = reconstruction_nll(
        levels, logits, likelihood="discretised_logistic", log_sigma=np.log(scale)
    ).numpy()
    assert np.all(nll >= -1e-6)  # a probability: never above 1
    assert np.exp(-nll.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)  # float32
    nudged = reconstruction_nll(
        levels + 0.4 / 127.5, logits, likelihood="discretised_logistic", log_sigma=np.log(scale)
    ).numpy()
    np.testing.assert_allclose(nudged[:-1], nll[:-1], rtol=1e-5, atol=1e-5)


def test_discretised_logistic_cannot_profit_from_a_vanishing_scale(rng):
    """A Gaussian density grows without bound as σ → 0 around a perfect mean; the logistic
    bin's probability is at most 1 (0 nats) however small the scale."""
    images = np.round(rng.uniform(-1, 1, (2, 4, 4, 3)) * 127.5).astype(np.float32) / 127.5
    logits = 2 * np.arctanh(np.clip(images, -1 + 1e-6, 1 - 1e-6))
    for scale in (1e-1, 1e-2, 1e-3):
        gaussian = reconstruction_nll(
            images, logits, likelihood="gaussian", log_sigma=np.log(scale)
        )
        logistic = reconstruction_nll(
            images, logits, likelihood="discretised_logistic", log_sigma=np.log(scale)
        )
        assert np.all(logistic.numpy() >= -1e-4)
    assert np.all(gaussian.numpy() < -100)  # 48 values × log(1/σ): a "likelihood" above 1


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_negative_elbo_matches_numpy(likelihood, tiny_data):
    images = tiny_data[0][:6]
    keras.utils.set_random_seed(0)
    vae = build_vae(VAEConfig.tiny(likelihood=likelihood, sigma=0.5), (28, 28, 1))
    sigma = 0.5
    if likelihood in ("gaussian_learned", "discretised_logistic"):  # a learned scale
        vae.raw_log_sigma.assign(np.log(0.3))
        sigma = 0.3
    assert vae.log_sigma == pytest.approx(0.0 if likelihood == "bernoulli" else np.log(sigma))
    epsilon = np.random.default_rng(5).standard_normal((1, 6, 8), dtype=np.float32)[0]
    z_mean, z_log_var = (t.numpy() for t in vae.encoder(images, training=False))
    z = z_mean + np.exp(0.5 * z_log_var) * epsilon
    logits = vae.decoder(z, training=False).numpy()
    expected = numpy_reconstruction_nll(images, logits, likelihood, sigma) + numpy_kl(
        z_mean, z_log_var
    )
    got = vae.negative_elbo(images, seed=5, batch_size=4)
    assert got.shape == (6,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(
        vae.reconstruct(images), np.tanh(0.5 * vae.decoder(z_mean).numpy()), atol=1e-6
    )


def test_beta_and_warmup_change_the_loss_as_computed_by_hand(tiny_data):
    images = tiny_data[0][:16]
    keras.utils.set_random_seed(0)
    vae = build_vae(VAEConfig.tiny(beta=4.0, kl_warmup_steps=4), (28, 28, 1))
    dataset = one_batch(images)
    for step in range(6):
        epsilon = vae._epsilon(NoiseSalt.VAE_TRAIN, step, 16).numpy()
        z_mean, z_log_var = (t.numpy() for t in vae.encoder(images, training=True))
        logits = vae.decoder(z_mean + np.exp(0.5 * z_log_var) * epsilon, training=True).numpy()
        recon = numpy_reconstruction_nll(images, logits, "bernoulli")
        kl = numpy_kl(z_mean, z_log_var)
        beta = 4.0 * min(1.0, step / 4)
        history = vae.fit(dataset, epochs=1, verbose=0, shuffle=False).history
        assert history["beta"][0] == pytest.approx(beta)
        assert history["loss"][0] == pytest.approx(np.mean(recon + beta * kl), rel=1e-5)
        assert history["reconstruction_loss"][0] == pytest.approx(recon.mean(), rel=1e-5)
        assert history["kl_loss"][0] == pytest.approx(kl.mean(), rel=1e-4)
        # The beta term is far above the tolerance, so a wrong beta would fail the check.
        assert beta == 0 or beta * kl.mean() > 10 * 1e-5 * history["loss"][0]
    assert int(vae.optimizer.iterations) == 6
    assert vae.evaluate(dataset, verbose=0, return_dict=True)["beta"] == pytest.approx(4.0)


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_one_step_fit(tiny_data, likelihood, conditional):
    images, labels = tiny_data
    labels = labels if conditional else None
    keras.utils.set_random_seed(0)
    vae = build_vae(
        VAEConfig.tiny(likelihood=likelihood), (28, 28, 1), num_classes=4 if conditional else None
    )
    before = [w.copy() for w in vae.decoder.get_weights()]
    history = vae.fit(one_batch(images, labels), epochs=1, verbose=0, shuffle=False).history
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert all(np.isfinite(v[0]) for v in history.values())
    assert int(vae.optimizer.iterations) == 1
    assert any(
        not np.array_equal(a, b) for a, b in zip(before, vae.decoder.get_weights(), strict=True)
    )
    if likelihood in ("gaussian_learned", "discretised_logistic"):
        assert vae.log_sigma != pytest.approx(np.log(0.1), abs=1e-6)  # the scale is trained
    batch_labels = None if labels is None else labels[:5]
    z_mean, z_log_var = vae.encode(images[:5], batch_labels)
    assert z_mean.shape == z_log_var.shape == (5, 8) and z_mean.dtype == np.float32
    for out in (vae.decode(z_mean, batch_labels), vae.reconstruct(images[:5], batch_labels),
                vae.generate(5, seed=0, labels=batch_labels)):  # fmt: skip
        assert out.shape == (5, 28, 28, 1) and out.dtype == np.float32
        assert -1 <= out.min() and out.max() <= 1
    result = vae.evaluate(one_batch(images, labels), verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(
        result["reconstruction_loss"] + result["kl_loss"], rel=1e-5
    )


@pytest.mark.parametrize("image_shape", [(16, 16, 1), (28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_image_sizes(image_shape):
    encoder = build_encoder(image_shape, 4, width_multiplier=0.125)
    decoder = build_decoder(image_shape, 4, width_multiplier=0.125)
    convs = [layer for layer in encoder.layers if type(layer) is keras.layers.Conv2D]
    assert convs and all(layer.strides == (2, 2) for layer in convs)  # strided, not transposed
    assert any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in decoder.layers)
    assert [tuple(o.shape) for o in encoder.outputs] == [(None, 4), (None, 4)]
    assert decoder.output_shape == (None, *image_shape)
    vae = VAE(encoder, decoder, latent_dim=4)
    images = np.zeros((2, *image_shape), np.float32)
    assert vae.reconstruct(images).shape == (2, *image_shape)


def test_sampling_layer_standalone():
    z_mean = keras.Input((3,))
    z_log_var = keras.Input((3,))
    model = keras.Model([z_mean, z_log_var], Sampling(seed=1, name="s")([z_mean, z_log_var]))
    means = np.full((20000, 3), 2.0, np.float32)
    log_vars = np.full((20000, 3), np.log(0.25), np.float32)
    z = model([means, log_vars]).numpy()
    np.testing.assert_allclose(z.mean(0), 2.0, atol=4 * 0.5 / np.sqrt(20000))
    np.testing.assert_allclose(z.std(0), 0.5, rtol=0.03)
    layer = Sampling.from_config(Sampling(seed=3).get_config())
    assert layer.seed == 3
    epsilon = np.array([[1.0, -2.0, 0.5]], np.float32)
    np.testing.assert_allclose(
        layer([means[:1], log_vars[:1]], epsilon=epsilon).numpy(), 2.0 + 0.5 * epsilon, rtol=1e-6
    )


def test_keras_round_trip_same_outputs_and_training_continues(tiny_data, tmp_path):
    images, labels = tiny_data
    keras.utils.set_random_seed(1)
    config = VAEConfig.tiny(likelihood="gaussian_learned", kl_warmup_steps=10, beta=2.0)
    vae = build_vae(config, (28, 28, 1), num_classes=4, seed=3)
    dataset = one_batch(images, labels)
    vae.fit(dataset, epochs=2, verbose=0, shuffle=False)
    path = tmp_path / "vae.keras"
    vae.save(path)
    restored = load_model(path)
    assert isinstance(restored, VAE) and restored.num_classes == 4 and restored.beta == 2.0
    assert restored.likelihood == "gaussian_learned" and restored.kl_warmup_steps == 10
    assert restored.log_sigma == vae.log_sigma
    z = vae.sample_latent(8, seed=3)
    np.testing.assert_array_equal(restored.decode(z, 1), vae.decode(z, 1))
    np.testing.assert_array_equal(
        restored.generate(6, seed=2, labels=2), vae.generate(6, seed=2, labels=2)
    )
    for a, b in zip(vae.optimizer.variables, restored.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Both continue identically: weights, optimiser state, warm-up and noise stream restored.
    vae.fit(dataset, epochs=1, verbose=0, shuffle=False)
    restored.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert int(restored.optimizer.iterations) == 3
    for a, b in zip(vae.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_sampler_is_safe_mode_loadable(tmp_path):
    vae = build_vae(VAEConfig.tiny(), (16, 16, 3), num_classes=3)
    sampler = vae.sampler()
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in sampler.layers)
    sampler.save(tmp_path / "sampler.keras")
    loaded = keras.saving.load_model(tmp_path / "sampler.keras", safe_mode=True)
    z = vae.sample_latent(4, seed=0)
    labels = np.array([0, 1, 2, 0], np.int32)
    np.testing.assert_allclose(loaded([z, labels]).numpy(), vae.decode(z, labels), atol=1e-6)


def test_same_seed_same_training(tiny_data):
    def run():
        keras.utils.set_random_seed(7)
        vae = build_vae(VAEConfig.tiny(), (28, 28, 1), seed=7)
        vae.fit(one_batch(tiny_data[0]), epochs=2, verbose=0, shuffle=False)
        return vae.get_weights()

    for a, b in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (
            lambda v, c, x: v.encode(np.zeros((2, 32, 32, 1))),
            ValueError,
            r"images must have shape \(n, 28, 28, 1\) for this model. Received: images.shape=\(2, 32, 32, 1\)",
        ),
        (lambda v, c, x: v.encode(x * 3), ValueError, "must have values in \\[-1, 1\\]"),
        (lambda v, c, x: c.encode(x), ValueError, "conditional: give labels"),
        (lambda v, c, x: c.reconstruct(x), ValueError, "conditional: give labels"),
        (lambda v, c, x: v.encode(x, labels=1), ValueError, "unconditional; labels must be None"),
        (
            lambda v, c, x: v.decode(np.zeros((2, 5))),
            ValueError,
            r"z must have shape \(n, latent_dim=8\). Received: z.shape=\(2, 5\)",
        ),
        (lambda v, c, x: v.decode(None), ValueError, "Received: z=None"),
        (lambda v, c, x: v.negative_elbo(x, seed=-1), ValueError, "seed must be an int >= 0"),
        (lambda v, c, x: v.negative_elbo(x, batch_size=0), ValueError, "batch_size=0"),
        (
            lambda v, c, x: c.fit(one_batch(np.zeros((16, 28, 28, 1), np.float32)), verbose=0),
            ValueError,
            r"needs \(images, labels\) batches",
        ),
    ],
)
def test_bad_input(call, error, pattern, tiny_data):
    vae = build_vae(VAEConfig.tiny(), (28, 28, 1))
    cvae = build_vae(VAEConfig.tiny(), (28, 28, 1), num_classes=4)
    with pytest.raises(error, match=pattern):
        call(vae, cvae, tiny_data[0][:3])


def test_construction_errors():
    encoder, decoder = build_encoder((28, 28, 1), 8), build_decoder((28, 28, 1), 8)
    with pytest.raises(
        ValueError, match="Unknown likelihood 'poisson'; expected one of 'bernoulli'"
    ):
        VAE(encoder, decoder, latent_dim=8, likelihood="poisson")
    with pytest.raises(ValueError, match="Unknown likelihood 'laplace'"):
        build_vae(VAEConfig.tiny(likelihood="laplace"), (28, 28, 1))
    with pytest.raises(
        ValueError,
        match="encoder must output \\(z_mean, z_log_var\\), each of shape \\(batch, 16\\)",
    ):
        VAE(encoder, build_decoder((28, 28, 1), 16), latent_dim=16)
    with pytest.raises(ValueError, match="latent_dim must match the decoder's input size \\(16\\)"):
        VAE(encoder, build_decoder((28, 28, 1), 16), latent_dim=8)
    with pytest.raises(ValueError, match="both take labels"):
        VAE(encoder, decoder, latent_dim=8, num_classes=3)
    with pytest.raises(TypeError, match="decoder must be a keras.Model. Received: decoder='d'"):
        VAE(encoder, "d", latent_dim=8)
    with pytest.raises(ValueError, match="does not match encoder input shape"):
        VAE(encoder, build_decoder((32, 32, 3), 8), latent_dim=8)
    with pytest.raises(ValueError, match="sigma must be > 0. Received: sigma=0"):
        VAE(encoder, decoder, latent_dim=8, likelihood="gaussian", sigma=0)
    with pytest.raises(ValueError, match="beta must be >= 0. Received: beta=-1"):
        VAE(encoder, decoder, latent_dim=8, beta=-1)
    with pytest.raises(
        TypeError, match="kl_warmup_steps must be an int. Received: kl_warmup_steps=1.5"
    ):
        VAE(encoder, decoder, latent_dim=8, kl_warmup_steps=1.5)
    with pytest.raises(TypeError, match="config must be a VAEConfig"):
        build_vae({"latent_dim": 2}, (28, 28, 1))
    with pytest.raises(ValueError, match=r"Received: image_shape=\(30, 30, 1\)"):
        build_encoder((30, 30, 1), 8)


@pytest.mark.slow
def test_two_dimensional_latent_separates_digit_classes():
    """A 2-D-latent VAE trained ~20 CPU s on digits puts classes in separate regions of z_mean
    (k-NN accuracy at Adam 3e-3, seeds 0 / 1: batch 32, 8 epochs 0.71 / 0.74, 5 epochs
    0.68 / 0.63; batch 64, 20 epochs 0.72 / 0.69 in twice the time; at the default 1e-3 it
    took 25 epochs of batch 64 to reach 0.68)."""
    from sklearn.neighbors import KNeighborsClassifier

    images, labels = load_images("digits")
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1400], order[1400:]
    keras.utils.set_random_seed(0)
    vae = build_vae(VAEConfig(latent_dim=2, width_multiplier=0.25, learning_rate=3e-3), (28, 28, 1))
    vae.fit(make_dataset(images[train], batch_size=32, seed=0), epochs=8, verbose=0)
    z_train, _ = vae.encode(images[train])
    z_test, _ = vae.encode(images[test])
    accuracy = KNeighborsClassifier(5).fit(z_train, labels[train]).score(z_test, labels[test])
    assert accuracy >= 0.6, f"k-NN accuracy on z_mean is {accuracy:.2f} (chance 0.1)"


_MIRRORED_SCRIPT = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import json, numpy as np
from imgenlib.data import make_dataset
from imgenlib.models import VAEConfig, build_vae
x = np.random.default_rng(0).uniform(-1, 1, (64, 28, 28, 1)).astype("float32")
with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
    vae = build_vae(VAEConfig.tiny(kl_warmup_steps=2), (28, 28, 1), num_classes=4)
    vae.build_for_training()
history = vae.fit(make_dataset(x, np.arange(64) % 4, batch_size=16), epochs=2, verbose=0)
print(json.dumps({"history": history.history, "steps": int(vae.optimizer.iterations.numpy())}))
"""


@pytest.mark.slow  # a fresh process with two logical CPUs: ~15 s idle, ~50 s on a busy machine
def test_trains_under_mirrored_strategy():
    """Regression: fit() under MirroredStrategy used to try to build the Sampling layer symbolically."""
    import json
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["steps"] == 8
    assert report["history"]["beta"] == [pytest.approx(0.625), pytest.approx(1.0)]
    assert all(np.isfinite(v).all() for v in report["history"].values())


def test_evaluate_vae_gives_bits_per_dim_for_the_discretised_likelihood_only():
    from imgenlib.reconstruction import evaluate_vae

    keras.utils.set_random_seed(0)
    results = {
        likelihood: evaluate_vae(
            build_vae(VAEConfig.tiny(likelihood=likelihood), (28, 28, 1)), "fashion_mnist", n=32
        )
        for likelihood in ("discretised_logistic", "gaussian_learned")
    }
    discrete = results["discretised_logistic"]
    assert discrete["bits_per_dim"] == pytest.approx(
        discrete["negative_elbo_nats"] / (28 * 28 * np.log(2)), rel=1e-3
    )
    assert discrete["bits_per_dim"] > 0  # a probability of 8-bit levels: never below 0 bits
    assert "bits_per_dim" not in results["gaussian_learned"]  # a density: not a bit count
    from imgenlib.evaluation import format_report
    from imgenlib.reconstruction import reconstruction_metrics

    images = load_images("fashion_mnist", split="test")[0][:32]
    model = build_vae(VAEConfig.tiny(likelihood="discretised_logistic"), (28, 28, 1))
    metrics = reconstruction_metrics(model, images)
    assert metrics["bits_per_dim"] == pytest.approx(
        metrics["negative_elbo"] / (784 * np.log(2)), rel=1e-3
    )
    report = {
        "run": "r",
        "data": "fashion_mnist",
        "n": 32,
        "n_real": 32,
        "split": "test",
        "seed": 0,
    }
    report.update(seconds=0.1, reconstruction=metrics)
    assert "bits per dimension" in format_report(report)  # what `eval` prints


def test_a_bfloat16_vae_computes_its_networks_in_bfloat16_and_its_elbo_in_float32(tiny_data):
    """Under mixed_bfloat16 the −ELBO is the float32 sum of the bfloat16 networks' outputs: a
    bfloat16 sum of 784 per-pixel terms would be off by about 1e-2 relatively."""
    images = tiny_data[0][:6]
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        vae = build_vae(VAEConfig.tiny(likelihood="discretised_logistic"), (28, 28, 1))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {layer.compute_dtype for layer in vae.decoder.layers if layer.weights} == {"bfloat16"}
    epsilon = np.random.default_rng(5).standard_normal((1, 6, 8), dtype=np.float32)[0]
    z_mean, z_log_var = (np.asarray(t, np.float32) for t in vae.encoder(images, training=False))
    z = z_mean + np.exp(0.5 * z_log_var) * epsilon
    logits = np.asarray(vae.decoder(z, training=False), np.float32)
    expected = numpy_reconstruction_nll(
        images, logits, "discretised_logistic", sigma=0.1
    ) + numpy_kl(z_mean, z_log_var)
    got = vae.negative_elbo(images, seed=5, batch_size=6)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=2e-5)
    history = vae.fit(one_batch(images, batch_size=6), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
