"""Which projection discriminator for a class-conditional DCGAN? (issue 13, defect 5)

SNGAN/BigGAN project a spectrally normalised class embedding onto globally sum-pooled
features; imgenlib's default projects an unnormalised embedding onto the flattened last
feature map. This trains the same conditional GAN on Fashion-MNIST with each variant
(width 0.25, latent 64, EMA 0.99, batch 64, one seed) and scores it with the shipped
extractor: FID and KID against the test split, and how often the shipped classifier
recognises the requested class in the samples.

    python benchmarks/projection.py            # 1,000 steps per variant (~7 min on 2 cores)
    python benchmarks/projection.py --steps 20 # smoke run
"""

from __future__ import annotations

import argparse
import time

from _common import machine, write_result

import imgenlib

imgenlib.quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from imgenlib.data import load_images, make_dataset  # noqa: E402
from imgenlib.evaluation import evaluate  # noqa: E402
from imgenlib.features import FeatureExtractor  # noqa: E402
from imgenlib.models import GAN, GANConfig, build_gan  # noqa: E402
from imgenlib.models.blocks import down_stack  # noqa: E402
from imgenlib.models.networks import normalized_class_embedding  # noqa: E402

VARIANTS = {
    "flatten": {"projection": "flatten", "spectral_norm": False},
    "flatten, SN (imgenlib's default with --spectral-norm)": {"projection": "flatten", "spectral_norm": True},
    "flatten, SN, normalised embedding": {"projection": "flatten", "spectral_norm": True, "normalise": True},
    "pooled": {"projection": "pooled", "spectral_norm": False},
    "pooled, SN, normalised embedding (SNGAN/BigGAN)": {"projection": "pooled", "spectral_norm": True},
}  # fmt: skip
CONFIG = {"latent_dim": 64, "width_multiplier": 0.25, "ema_decay": 0.99}


def flatten_with_normalised_embedding(reference: GAN) -> GAN:
    """The flatten discriminator with the class embedding spectrally normalised too."""
    images = keras.Input((28, 28, 1))
    labels = keras.Input((), dtype="int32")
    features = down_stack(images, (28, 28, 1), width_multiplier=0.25, spectral_norm=True)
    logit = keras.layers.SpectralNormalization(keras.layers.Dense(1))(features)
    embedded = normalized_class_embedding(labels, 10, features.shape[-1])
    projection = keras.layers.Dot(axes=1)([embedded, features])
    discriminator = keras.Model([images, labels], keras.layers.Add()([logit, projection]))
    gan = GAN(reference.generator, discriminator, latent_dim=64, ema_decay=0.99, num_classes=10)
    gan.compile(reference.g_optimizer, reference.d_optimizer)
    return gan


def run(steps: int = 1000, batch_size: int = 64, n: int = 2000) -> dict:
    images, labels = load_images("fashion_mnist", n=steps * batch_size)
    classifier = FeatureExtractor("fashion_mnist")
    results = {}
    for name, variant in VARIANTS.items():
        keras.utils.set_random_seed(0)
        data = make_dataset(images, labels, batch_size=batch_size, seed=0)  # same order for all
        config = GANConfig(
            **CONFIG, projection=variant["projection"], spectral_norm=variant["spectral_norm"]
        )
        gan = build_gan(config, (28, 28, 1), num_classes=10)
        if variant.get("normalise"):
            gan = flatten_with_normalised_embedding(gan)
        start = time.perf_counter()
        gan.fit(data, epochs=1, verbose=0, shuffle=False)
        seconds = time.perf_counter() - start
        quality = evaluate(gan, "fashion_mnist", n=n, seed=0)
        wanted = np.arange(n) % 10
        samples = gan.generate(n, seed=1, labels=wanted)
        recognised = float(np.mean(classifier.probabilities(samples).argmax(axis=1) == wanted))
        results[name] = {
            "fid": round(quality["fid"], 2),
            "kid": round(quality["kid"], 4),
            "class_accuracy": round(recognised, 3),
            "discriminator_parameters": int(gan.discriminator.count_params()),
            "train_seconds": round(seconds, 1),
        }
        print(name, results[name], flush=True)
    return {"benchmark": "projection", "steps": steps, "batch_size": batch_size, "n": n,
            "config": CONFIG, "variants": results, "machine": machine()}  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args(argv)
    result = run(steps=args.steps)
    rows = [
        "| variant | FID | KID | class accuracy | D parameters |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| {name} | {v['fid']} | {v['kid']} | {v['class_accuracy']} | {v['discriminator_parameters']:,} |"
        for name, v in result["variants"].items()
    ]
    table = "\n".join(rows) + "\n"
    print(table)
    if args.steps >= 1000:
        write_result("projection", result, table)


if __name__ == "__main__":
    main()
