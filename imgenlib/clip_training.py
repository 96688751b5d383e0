"""Training a `imgenlib.clip.MiniCLIP`: Adam, a cosine-decayed learning rate, a fixed seed.

`train_mini_clip` is also ``imgenlib.train_mini_clip``;
``benchmarks/train_mini_clip.py`` trains the shipped models with it.
"""

from __future__ import annotations

import time

import keras

from imgenlib import contrastive
from imgenlib import text as textlib
from imgenlib._validation import check_float, check_int, check_positive_int
from imgenlib.clip import MiniCLIP, build_mini_clip
from imgenlib.images import check_images

__all__ = ["train_mini_clip"]


def train_mini_clip(
    images,
    captions,
    *,
    epochs: int = 20,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    seed: int = 0,
    keys=None,
    verbose: int = 0,
    model: MiniCLIP | None = None,
    **config,
) -> tuple[MiniCLIP, dict]:
    """Build (unless `model` is given) and train a `MiniCLIP` on (image, caption) pairs.

    Adam with a cosine-decayed learning rate; the seed fixes initialisation and shuffling.

    Args:
        images: float32 (N, H, W, C) in [-1, 1].
        captions: N strings.
        epochs, batch_size, learning_rate, seed, verbose: the training run.
        keys: optional N keys grouping pairs that are positives of each other.
        model: a model to continue training (then `config` must be empty).
        **config: `build_mini_clip` arguments.

    Returns:
        (model, history): the history dict has per-epoch lists plus ``"cpu_seconds"``.
    """
    images = check_images(images)
    captions = textlib.check_captions(captions)
    contrastive.check_pairs(images, captions)
    epochs = check_positive_int("epochs", epochs)
    learning_rate = check_float("learning_rate", learning_rate, minimum=0, min_inclusive=False)
    if model is not None and config:
        raise ValueError(f"Pass either model or build arguments. Received: {sorted(config)}")
    keras.utils.set_random_seed(check_int("seed", seed, minimum=0))
    if model is None:
        model = build_mini_clip(captions, images.shape[1:], **config)
    dataset = contrastive.caption_dataset(
        images, captions, keys=keys, batch_size=batch_size, seed=seed
    )
    steps = epochs * int(dataset.cardinality())
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    start = time.process_time()
    history = model.fit(dataset, epochs=epochs, verbose=verbose, shuffle=False)
    return model, {**history.history, "cpu_seconds": time.process_time() - start}
