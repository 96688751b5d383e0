"""Exact resume in-process: EMA weights, DiffAugment and multi-step D noise survive an interruption."""

import keras
import numpy as np
import pytest

from imgenlib.data import load_images
from imgenlib.models import GANConfig, build_gan
from imgenlib.resume import AtomicBackupAndRestore, epoch_batches, to_device

STEPS, EPOCHS, BATCH = 8, 3, 16


class Crash(keras.callbacks.Callback):
    """Die in the middle of epoch 2, as a kill would (nothing after this point is written)."""

    def on_train_batch_end(self, batch, logs=None):
        if self.model.g_optimizer.iterations.numpy() == STEPS + 3:
            raise KeyboardInterrupt("killed")


def _state(gan):
    state = [np.asarray(v) for v in gan.weights]
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        state += [np.asarray(v) for v in optimizer.variables]
    return state


def _fit(images, backup_dir, init_seed, callbacks=()):
    keras.utils.set_random_seed(init_seed)
    config = GANConfig.tiny(ema_decay=0.9, augment="color,translation,cutout", d_steps=2)
    gan = build_gan(config, (16, 16, 1), seed=5).build_for_training()
    backup = AtomicBackupAndRestore(backup_dir)
    data = epoch_batches(
        images, batch_size=BATCH, seed=0, epochs=(backup.finished_epochs(), EPOCHS)
    )
    gan.fit(data, epochs=EPOCHS, steps_per_epoch=STEPS, callbacks=[backup, *callbacks], verbose=0)
    return gan


@pytest.mark.slow
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path):
    images, _ = load_images("digits", image_size=16, n=STEPS * BATCH + 5)
    expected = _state(_fit(images, tmp_path / "a", init_seed=0))
    with pytest.raises(KeyboardInterrupt):
        _fit(images, tmp_path / "b", init_seed=0, callbacks=[Crash()])
    assert AtomicBackupAndRestore(tmp_path / "b").finished_epochs() == 1
    resumed = _fit(
        images, tmp_path / "b", init_seed=99
    )  # other init: all must come from the backup
    assert resumed.ema_generator is not None
    assert int(resumed.d_optimizer.iterations.numpy()) == 2 * STEPS * EPOCHS
    got = _state(resumed)
    assert len(got) == len(expected) > 50
    for index, (a, b) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"variable {index}")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "epoch-0003.weights.h5",
        "state.json",
    ]


def test_to_device_prefetches_the_same_batches_and_fit_trains_on_them(tmp_path):
    """The GPU path of `to_device`, exercised on the CPU device: the same batches in the
    same order, and a GAN fit on them gives the losses of the plain pipeline."""
    import tensorflow as tf

    images = np.random.default_rng(0).uniform(-1, 1, (64, 16, 16, 1)).astype("float32")
    plain = epoch_batches(images, batch_size=BATCH, seed=0, epochs=(0, 2))
    prefetched = to_device(plain, device="/cpu:0")
    assert prefetched is not plain and prefetched.element_spec == plain.element_spec
    for a, b in zip(plain, prefetched, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    def losses(data):
        keras.utils.set_random_seed(1)
        gan = build_gan(GANConfig.tiny(), (16, 16, 1), seed=5).build_for_training()
        history = gan.fit(data, epochs=2, steps_per_epoch=4, verbose=0, shuffle=False)
        return np.array([history.history[key] for key in sorted(history.history)])

    measured = losses(prefetched)
    assert np.isfinite(measured).all()
    np.testing.assert_allclose(measured, losses(plain), rtol=1e-5, atol=1e-6)
    # no GPU here: without a device the dataset is returned as it is
    assert not tf.config.list_logical_devices("GPU") and to_device(plain) is plain


def test_to_device_leaves_a_distribution_strategys_datasets_to_the_strategy():
    import tensorflow as tf

    images = np.zeros((32, 16, 16, 1), "float32")
    data = epoch_batches(images, batch_size=BATCH, seed=0, epochs=(0, 1))
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert to_device(data, mirrored, device="/cpu:0") is data
    with mirrored.scope():
        assert to_device(data, device="/cpu:0") is data
    default = tf.distribute.get_strategy()
    assert to_device(data, default, device="/cpu:0") is not data
