import logging

import numpy as np

from imgenlib.models import GANConfig, VAEConfig, build_gan, build_vae


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_many_models_sample_without_retracing_warnings(keras_seed):
    import tensorflow as tf

    handler = _Collect()
    tf.get_logger().addHandler(handler)
    try:
        for _ in range(4):  # a notebook comparing several models
            gan = build_gan(GANConfig.tiny(), (16, 16, 1))
            vae = build_vae(VAEConfig.tiny(), (16, 16, 1))
            images = gan.generate(3, seed=0)
            vae.encode(images)
            assert np.isfinite(vae.generate(3, seed=0)).all()
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [m for m in handler.messages if "retracing" in m]
