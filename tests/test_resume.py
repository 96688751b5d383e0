"""Exact resume in-process: EMA weights, DiffAugment and multi-step D noise survive an interruption."""

import keras
import numpy as np
import pytest

from imgenlib.data import load_images
from imgenlib.models import GANConfig, build_gan
from imgenlib.resume import AtomicBackupAndRestore, epoch_batches

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
