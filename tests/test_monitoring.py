"""QualityMonitor: metrics in Keras' logs, driving EarlyStopping and best checkpoints."""

import keras
import numpy as np
import pytest

from imgenlib.data import load_images, make_dataset
from imgenlib.evaluation import extractor_for, real_features
from imgenlib.metrics import fid_from_features, kid_from_features
from imgenlib.models import GANConfig, build_gan
from imgenlib.monitoring import QualityMonitor

N = 200
REAL, _ = load_images("digits", n=N)
NOISE = np.random.default_rng(0).standard_normal(REAL.shape).astype(np.float32)


class WorseningGenerator(keras.Model):
    """A 'generator' whose samples are the real digits plus noise that follows a schedule.

    Its only state, ``epochs_done``, is a weight incremented by its one training step per
    epoch, so a saved checkpoint tells which epoch it came from.
    """

    num_classes = None

    def __init__(self, schedule, **kwargs):
        super().__init__(**kwargs)
        self.schedule = schedule
        self.epochs_done = self.add_weight(shape=(), initializer="zeros", trainable=False)
        self.built = True

    def train_step(self, data):
        self.epochs_done.assign_add(1.0)
        return {"epochs_done": self.epochs_done}

    def generate(self, n, seed=0, labels=None):
        level = self.schedule[int(self.epochs_done.numpy()) - 1]
        return np.clip(REAL[:n] + level * NOISE[:n], -1, 1)


def fit(model, epochs, callbacks):
    model.compile(optimizer="sgd")
    data = make_dataset(REAL[:8], batch_size=8, seed=0)
    return model.fit(data, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)


@pytest.mark.slow
def test_early_stopping_and_best_checkpoint_follow_kid(tmp_path):
    schedule = [0.5, 0.25, 0.0, 0.35, 0.7, 0.8, 0.9, 1.0]
    monitor = QualityMonitor("digits", every=1, n=N, metrics=("kid", "fid"))
    stop = keras.callbacks.EarlyStopping(monitor="kid", mode="min", patience=2)
    path = tmp_path / "best.weights.h5"
    checkpoint = keras.callbacks.ModelCheckpoint(
        path, monitor="kid", mode="min", save_best_only=True, save_weights_only=True
    )
    history = fit(WorseningGenerator(schedule), 8, [monitor, stop, checkpoint])

    kid = history.history["kid"]
    assert len(kid) == 5  # best at epoch 3, two epochs without improvement, stop
    assert int(np.argmin(kid)) == 2 and stop.stopped_epoch == 4
    assert monitor.best("kid") == (3, min(kid))
    restored = WorseningGenerator(schedule)
    restored.load_weights(path)
    assert restored.epochs_done.numpy() == 3  # the checkpoint is the lowest-KID epoch

    # Logged values equal a direct computation from the extractor's features.
    real = real_features("digits", "train", N)
    fake = extractor_for("digits").features(np.clip(REAL + 0.5 * NOISE, -1, 1))
    assert history.history["fid"][0] == pytest.approx(fid_from_features(real, fake), rel=1e-6)
    expected_kid, _ = kid_from_features(real, fake, subsets=50, subset_size=N // 2, seed=0)
    assert kid[0] == pytest.approx(expected_kid, rel=1e-6)


def test_every_n_epochs_carries_values_and_checkpoints_only_evaluations(tmp_path):
    schedule = [0.5, 0.25, 0.2, 0.1, 0.0]
    monitor = QualityMonitor("digits", every=2, n=N, metrics="kid")
    checkpoint = keras.callbacks.ModelCheckpoint(
        tmp_path / "m_{epoch}.weights.h5",
        monitor="kid",
        mode="min",
        save_best_only=True,
        save_weights_only=True,
    )
    history = fit(WorseningGenerator(schedule), 5, [monitor, checkpoint])
    kid = history.history["kid"]
    assert monitor.history["epoch"] == [1, 2, 4]
    assert len(kid) == 5 and kid[2] == kid[1] and kid[4] == kid[3]
    saved = sorted(int(p.name.split("_")[1].split(".")[0]) for p in tmp_path.glob("m_*"))
    assert saved == [1, 2, 4]  # carried values never count as improvements


@pytest.mark.slow
def test_tiny_gan_on_digits_logs_kid_and_fid():
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    images, _ = load_images("digits", n=128)
    history = gan.fit(
        make_dataset(images, batch_size=32, seed=0),
        epochs=2,
        verbose=0,
        callbacks=[QualityMonitor("digits", n=N)],
    )
    assert len(history.history["kid"]) == len(history.history["fid"]) == 2
    assert np.all(np.isfinite(history.history["fid"])) and min(history.history["fid"]) > 0
    assert set(history.history) >= {"d_loss", "g_loss", "kid", "fid"}


def test_bad_arguments():
    with pytest.raises(ValueError, match="metrics must be a non-empty selection"):
        QualityMonitor("digits", metrics=("kid", "ssim"))
    with pytest.raises(ValueError, match="every must be a positive int. Received: every=0"):
        QualityMonitor("digits", every=0)
    with pytest.raises(ValueError, match="Unknown classifier 'cifar10'"):
        QualityMonitor("cifar10")
    with pytest.raises(ValueError, match="No evaluations"):
        QualityMonitor("digits").best()
