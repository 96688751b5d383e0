"""The diffusion family under tf.distribute: MirroredStrategy over two logical CPUs trains to
the weights of one device (its noise — timesteps, ε and dropped labels — is drawn for the
global batch and sliced per replica, and GroupNorm has no batch statistics; see
tests/test_distribute.py for why the comparison is exact to float rounding)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

TOLERANCE = 1e-6

WORKER = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from imgenlib import distribute
    distribute.use_logical_cpus(2)
    strategy = distribute.make_strategy("mirrored")
    import numpy as np
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from test_diffusion_distribute import fit_small_diffusion
    np.savez(sys.argv[1], *fit_small_diffusion(strategy))
    """
)


def fit_small_diffusion(strategy):
    """Two epochs of a tiny conditional diffusion model on 256 digits under `strategy`."""
    import keras

    from imgenlib import distribute
    from imgenlib.data import load_images
    from imgenlib.models import DiffusionConfig, build_diffusion
    from imgenlib.resume import epoch_batches

    images, labels = load_images("digits", image_size=16, n=256)
    with strategy.scope():
        keras.utils.set_random_seed(1)
        model = build_diffusion(
            DiffusionConfig.tiny(label_dropout=0.3), (16, 16, 1), num_classes=10, seed=3
        )
        model.build_for_training()
    distribute.prepare_model(model, strategy)
    data = epoch_batches(images, labels, batch_size=32, seed=0, epochs=(0, 2))
    model.fit(data, epochs=2, steps_per_epoch=8, verbose=0)
    assert int(np.asarray(model.optimizer.iterations)) == 16
    return [np.asarray(w) for w in model.weights]


@pytest.mark.slow
def test_mirrored_two_logical_cpus_matches_one_device(tmp_path):
    import tensorflow as tf

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "IMGENLIB_QUICK": "1"}
    env["PYTHONPATH"] = os.pathsep.join([tests_dir, env.get("PYTHONPATH", "")])
    weights_file = tmp_path / "weights.npz"
    worker = subprocess.Popen(
        ["timeout", "-k", "5", "240", sys.executable, str(script), str(weights_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reference = fit_small_diffusion(tf.distribute.get_strategy())
    _, stderr = worker.communicate()
    assert worker.returncode == 0, stderr[-2000:]
    loaded = np.load(weights_file)
    weights = [loaded[f"arr_{i}"] for i in range(len(loaded.files))]
    assert len(weights) == len(reference) > 4
    worst = max(float(np.abs(a - b).max()) for a, b in zip(weights, reference, strict=True))
    assert worst < TOLERANCE, worst
