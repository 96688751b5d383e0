import numpy as np
import pytest

from imgenlib import pretrained
from imgenlib.models import GANConfig, build_gan


def _pack(model, directory, name="toy"):
    return pretrained.pack(
        model,
        name,
        description="a toy model",
        command="python -m imgenlib train gan --data digits --preset tiny",
        train_seconds=1.5,
        quality={"fid": 1.0},
        directory=directory,
    )


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_pack_and_load_give_the_same_samples_within_float16(tmp_path, keras_seed, ema):
    gan = build_gan(GANConfig.tiny(ema_decay=ema), (16, 16, 1))
    for network in (gan.generator, gan.ema_generator):
        if network is not None:  # move the sampler away from its initial weights
            network.set_weights([w + 0.01 for w in network.get_weights()])
    path = _pack(gan, tmp_path)
    loaded = pretrained.load("toy", registry=tmp_path / "pretrained.json")
    expected = gan.generate(8, seed=3)
    restored = loaded.generate(8, seed=3)
    assert type(loaded).__name__ == "GAN" and loaded.ema_decay == ema
    np.testing.assert_allclose(restored, expected, atol=2e-2)
    assert not np.array_equal(restored, loaded.generate(8, seed=4))
    assert (
        loaded.pretrained_info["sha256"]
        == pretrained.info("toy", registry=tmp_path / "pretrained.json")["sha256"]
    )
    assert path.stat().st_size < 0.6 * sum(w.nbytes for w in gan.sampler().get_weights())


def test_conditional_gan_round_trip(tmp_path, keras_seed):
    gan = build_gan(GANConfig.tiny(), (16, 16, 1), num_classes=3)
    _pack(gan, tmp_path, "toy_cgan")
    loaded = pretrained.load("toy_cgan", registry=tmp_path / "pretrained.json")
    labels = np.array([0, 1, 2, 0])
    np.testing.assert_allclose(
        loaded.generate(4, seed=0, labels=labels),
        gan.generate(4, seed=0, labels=labels),
        atol=2e-2,
    )


def test_tampered_or_missing_weights_are_refused(tmp_path, keras_seed):
    path = _pack(build_gan(GANConfig.tiny(), (16, 16, 1)), tmp_path)
    registry = tmp_path / "pretrained.json"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        pretrained.load("toy", registry=registry)
    path.unlink()
    with pytest.raises(ValueError, match="missing"):
        pretrained.load("toy", registry=registry)
    with pytest.raises(ValueError, match="Unknown pretrained model 'nope'"):
        pretrained.load("nope", registry=registry)


def test_pack_refuses_what_is_not_a_generative_model(tmp_path):
    with pytest.raises(TypeError, match="Received: a str"):
        _pack("not a model", tmp_path)


@pytest.mark.parametrize("name", sorted(pretrained.available()))
def test_shipped_models_load_offline_and_sample(name):
    entry = pretrained.info(name)
    assert entry["bytes"] <= 5 * 2**20
    model = pretrained.load(name)
    labels = 0 if model.num_classes else None
    images = model.generate(4, seed=0, labels=labels)
    assert images.shape == (4, *entry["image_shape"])
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.05


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian_learned"])
def test_vae_round_trip_keeps_encoder_decoder_and_learned_sigma(tmp_path, keras_seed, likelihood):
    from imgenlib.models import VAEConfig, build_vae

    vae = build_vae(VAEConfig.tiny(likelihood=likelihood), (16, 16, 1))
    if vae.raw_log_sigma is not None:
        vae.raw_log_sigma.assign(-1.25)
    _pack(vae, tmp_path, "toy_vae")
    loaded = pretrained.load("toy_vae", registry=tmp_path / "pretrained.json")
    images = vae.generate(4, seed=0)
    np.testing.assert_allclose(loaded.generate(4, seed=0), images, atol=2e-2)
    np.testing.assert_allclose(loaded.encode(images)[0], vae.encode(images)[0], atol=2e-2)
    assert loaded.log_sigma == pytest.approx(vae.log_sigma, abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(pretrained.available()))
def test_stated_quality_is_what_a_fresh_evaluation_gives(name):
    """The quality recorded for a shipped model is reproduced by evaluating the shipped
    weights again (same n and seed; tolerance for another CPU's rounding)."""
    from imgenlib.data import load_images
    from imgenlib.evaluation import evaluate

    stated = pretrained.info(name)["quality"]
    model = pretrained.load(name)
    assert stated["command"].endswith("seed=0)")  # benchmarks/train_pretrained.py
    fresh = evaluate(model, stated["dataset"], n=stated["n"], seed=0)
    for key in ("fid", "kid", "precision", "recall", "class_entropy"):
        assert fresh[key] == pytest.approx(stated[key], rel=0.02, abs=0.005), key
    if "test_negative_elbo_nats" in stated:
        images, labels = load_images("fashion_mnist", "test")
        labels = (
            labels if model.num_classes else None
        )  # a conditional VAE's bound is given the class
        nelbo = float(np.mean(model.negative_elbo(images, labels, seed=0)))
        assert nelbo == pytest.approx(stated["test_negative_elbo_nats"], abs=0.05)
