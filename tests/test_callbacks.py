import math
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from imgenlib.callbacks import (
    SampleGrid,
    TrainingDiverged,
    TrainingHealth,
    TrainingHealthWarning,
    diversity,
)
from imgenlib.data import make_dataset
from imgenlib.models import GANConfig, build_gan
from imgenlib.optimizers import make_optimizer


class StubModel:
    """Just enough of a GAN for callbacks: kind, stop_training, loss_name and generate."""

    kind = "gan"

    def __init__(self, images_per_epoch=None):
        self.stop_training = False
        self.loss_name = "non_saturating"
        self.num_classes = None
        self._images = images_per_epoch or []
        self.calls = 0

    def generate(self, n, seed=0, labels=None):
        images = self._images[min(self.calls, len(self._images) - 1)]
        self.calls += 1
        return images[:n]


def attach(callback, model):
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    return callback


def feed(callback, d_values, g_values):
    """Feed per-step values as Keras does: running means since the epoch started."""
    d_sum = g_sum = 0.0
    for step, (d, g) in enumerate(zip(d_values, g_values, strict=True)):
        d_sum, g_sum = d_sum + d, g_sum + g
        callback.on_train_batch_end(
            step, {"d_loss": d_sum / (step + 1), "g_loss": g_sum / (step + 1)}
        )


def test_nan_stops_with_epoch_and_step():
    model = StubModel()
    callback = attach(TrainingHealth(window=10), model)
    callback.on_epoch_begin(2)
    callback.on_train_batch_end(0, {"d_loss": 0.7, "g_loss": 0.7})
    with pytest.raises(TrainingDiverged, match=r"epoch 3, step 2: g_loss is nan.*learning rate"):
        callback.on_train_batch_end(1, {"d_loss": 0.7, "g_loss": math.nan})
    assert model.stop_training


def test_discriminator_winning_is_reported_once():
    callback = attach(TrainingHealth(window=20), StubModel())
    with pytest.warns(TrainingHealthWarning, match="discriminator is winning outright") as record:
        feed(callback, [0.01] * 40, list(np.linspace(2, 8, 40)))
    assert len(record) == 1


def test_healthy_losses_raise_nothing(rng):
    callback = attach(TrainingHealth(window=20), StubModel())
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingHealthWarning)
        feed(callback, 1.2 + 0.1 * rng.standard_normal(60), 0.9 + 0.1 * rng.standard_normal(60))
    assert callback.problems == []


def test_frozen_losses():
    callback = attach(TrainingHealth(window=10, on_warning="stop"), model := StubModel())
    with pytest.warns(TrainingHealthWarning, match="have not changed"):
        feed(callback, [0.5] * 10, [0.5] * 10)
    assert model.stop_training


def test_mode_collapse_needs_a_fall_in_diversity(rng):
    real = rng.uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
    collapsed = np.repeat(real[:1], 64, axis=0) + 0.01 * rng.standard_normal((64, 8, 8, 1)).astype(
        np.float32
    )
    model = StubModel([collapsed, real, collapsed])
    callback = attach(TrainingHealth(reference_images=real), model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingHealthWarning)
        callback.on_epoch_end(0)  # a fresh generator is not diverse yet: no warning
        callback.on_epoch_end(1)
    with pytest.warns(TrainingHealthWarning, match="mode collapse after epoch 3"):
        callback.on_epoch_end(2)


class ForeignGenerator:
    """A generator that is not an imgenlib model: no `kind`, only `generate`."""

    num_classes = None
    stop_training = False

    def __init__(self, images_per_epoch):
        self._images, self.calls = images_per_epoch, 0

    def generate(self, n, seed=0, labels=None):
        images = self._images[min(self.calls, len(self._images) - 1)]
        self.calls += 1
        return images[:n]


def test_mode_collapse_is_caught_for_a_generator_without_kind(rng):
    real = rng.uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
    collapsed = np.repeat(real[:1], 64, axis=0)
    callback = attach(TrainingHealth(reference_images=real), ForeignGenerator([real, collapsed]))
    callback.on_epoch_end(0)
    with pytest.warns(TrainingHealthWarning, match="mode collapse after epoch 2"):
        callback.on_epoch_end(1)


def test_diversity_matches_direct_computation(rng):
    images = rng.standard_normal((5, 3, 3, 1))
    flat = images.reshape(5, -1)
    direct = np.mean(
        [np.linalg.norm(flat[i] - flat[j]) for i in range(5) for j in range(5) if i != j]
    )
    assert diversity(images) == pytest.approx(direct)


def test_absurd_learning_rate_stops_a_real_fit():
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    gan.compile(g_optimizer=make_optimizer("sgd", 1e12), d_optimizer=make_optimizer("sgd", 1e12))
    images = np.random.default_rng(0).uniform(-1, 1, (256, 28, 28, 1)).astype(np.float32)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+"):
        gan.fit(
            make_dataset(images, batch_size=16), epochs=2, verbose=0, callbacks=[TrainingHealth()]
        )


def test_sample_grid_writes_epochs_latest_and_gif(tmp_path):
    gan = build_gan(GANConfig.tiny(), (16, 16, 3), num_classes=3)
    callback = SampleGrid(
        tmp_path / "samples", n=6, seed=1, latest=tmp_path / "samples.png", scale=1, gif=True
    )
    callback.set_model(gan)
    callback.on_epoch_end(0)
    callback.on_epoch_end(1)
    bias = gan.generator.get_layer("g_out").bias
    bias.assign(bias + 0.5)  # "training" changed the generator
    callback.on_epoch_end(2)
    callback.on_train_end()
    first, second, third = (tmp_path / "samples" / f"epoch_00{i}.png" for i in (1, 2, 3))
    assert first.read_bytes() == second.read_bytes()  # same weights, same fixed z
    assert third.read_bytes() != second.read_bytes()
    assert (tmp_path / "samples.png").read_bytes() == third.read_bytes()
    assert Image.open(tmp_path / "samples" / "progress.gif").n_frames == 2  # identical frames merge
    assert Image.open(first).size == (3 * 17 - 1, 2 * 17 - 1)
    assert [epoch for epoch, _ in callback.history] == [1, 2, 3]
    assert callback.history[0][1].shape == (6, 16, 16, 3)


def test_sample_grid_in_memory_only():
    gan = build_gan(GANConfig.tiny(), (16, 16, 1))
    callback = SampleGrid(None, n=4)
    callback.set_model(gan)
    callback.on_epoch_end(0)
    callback.on_train_end()
    np.testing.assert_array_equal(callback.history[0][1], gan.generate(4, seed=0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="on_warning"):
        TrainingHealth(on_warning="ignore")
    with pytest.raises(ValueError, match="at least 16 images"):
        TrainingHealth(reference_images=np.zeros((4, 8, 8, 1)))
    with pytest.raises(ValueError, match="n must be a positive int"):
        SampleGrid("x", n=0)


class StubVAE:
    """Just enough of a VAE for TrainingHealth: kind, warm-up settings, an optimizer."""

    kind = "vae"

    def __init__(self, kl_warmup_steps=0, iterations=0):
        self.stop_training = False
        self.encoder = object()
        self.kl_warmup_steps = kl_warmup_steps
        self.optimizer = type("Optimizer", (), {"iterations": iterations})()


def test_vae_gets_vae_checks_not_gan_checks():
    callback = attach(
        TrainingHealth(window=10, reference_images=np.zeros((16, 4, 4, 1))), StubVAE()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in range(30):  # no d_loss/g_loss: the GAN checks must not fire or fail
            callback.on_train_batch_end(step, {"loss": 100.0 - step, "kl_loss": 5.0})
        callback.on_epoch_end(0, {"loss": 90.0, "kl_loss": 5.0})
    assert callback.problems == []
    with pytest.warns(TrainingHealthWarning, match="posterior collapse.*0.01 nats"):
        callback.on_epoch_end(1, {"loss": 90.0, "kl_loss": 0.01})
    with pytest.warns(TrainingHealthWarning, match="losses have not changed"):
        for step in range(10):
            callback.on_train_batch_end(step, {"loss": 90.0, "kl_loss": 0.01})
    with pytest.raises(TrainingDiverged, match="loss is nan.*Lower the learning rate"):
        callback.on_train_batch_end(10, {"loss": math.nan})


def test_no_posterior_collapse_warning_during_kl_warmup():
    callback = attach(TrainingHealth(window=10), StubVAE(kl_warmup_steps=100, iterations=50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback.on_epoch_end(0, {"loss": 90.0, "kl_loss": 0.01})
    callback.model.optimizer.iterations = 100
    with pytest.warns(TrainingHealthWarning, match="posterior collapse"):
        callback.on_epoch_end(1, {"loss": 90.0, "kl_loss": 0.01})
